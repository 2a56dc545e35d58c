import Glibc
import SeccompPolicy

/// Which policy a sandbox loads: a built-in one (policies/*.json, embedded), a file, or none.
public enum SeccompChoice: Equatable, Sendable, CustomStringConvertible {
    case unconfined
    case builtin(String)
    case file(String)

    /// `--seccomp NAME|PATH|unconfined`: a value with a '/' or ending in .json is a file.
    public static func parse(_ v: String) throws -> SeccompChoice {
        if v == "unconfined" { return .unconfined }
        if v.contains("/") || v.hasSuffix(".json") { return .file(v) }
        guard EmbeddedPolicies.text(v) != nil else {
            throw RootlessError("unknown seccomp policy \"\(v)\"",
                                fix: "use one of: \(EmbeddedPolicies.all.map(\.name).joined(separator: ", ")), unconfined, or a path to an OCI/Docker JSON profile")
        }
        return .builtin(v)
    }

    public var description: String {
        switch self {
        case .unconfined: return "unconfined"
        case let .builtin(n): return n
        case let .file(p): return p
        }
    }
}

/// Everything a compiled filter depends on besides the policy text. Part of the cache key.
public struct SeccompContext: Equatable, Sendable {
    public var arch: String           // SCMP_ARCH_X86_64
    public var caps: [String]         // the payload's capabilities (includes/excludes use them)
    public var kernel: (Int, Int)
    public init(arch: String, caps: [String], kernel: (Int, Int)) {
        self.arch = arch
        self.caps = caps
        self.kernel = kernel
    }
    public static func == (a: SeccompContext, b: SeccompContext) -> Bool { a.arch == b.arch && a.caps == b.caps && a.kernel == b.kernel }

    /// This host: uname's machine and release.
    public static func host(caps: [String]) -> SeccompContext {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let arches = ["x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "i686": "SCMP_ARCH_X86", "riscv64": "SCMP_ARCH_RISCV64",
                      "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE"]
        return SeccompContext(arch: arches[machine] ?? "SCMP_ARCH_" + machine.uppercased(), caps: caps.sorted(),
                              kernel: kernelVersion(release) ?? (0, 0))
    }
}

/// Policy -> BPF bytes, through a cache keyed by sha256(policy bytes, context, libseccomp
/// version). A hit reads one small file: no JSON parse, no libseccomp (issue 3: ≤ 0.2 ms).
public struct SeccompLoader {
    public var context: SeccompContext
    /// nil: no cache (no writable home); every load compiles.
    public var cacheDir: String?
    public private(set) var lastWasHit = false

    public init(context: SeccompContext, cacheDir: String?) {
        self.context = context
        self.cacheDir = cacheDir
    }

    /// $XDG_CACHE_HOME/rootless/seccomp, else $HOME/.cache/rootless/seccomp.
    public static func defaultCacheDir(env: [String]) -> String? {
        func get(_ k: String) -> String? { env.last { $0.hasPrefix(k + "=") }.map { String($0.dropFirst(k.count + 1)) }.flatMap { $0.hasPrefix("/") ? $0 : nil } }
        if let x = get("XDG_CACHE_HOME") { return x + "/rootless/seccomp" }
        if let h = get("HOME"), h != "/" { return h + "/.cache/rootless/seccomp" }
        return nil
    }

    /// The policy's text and the hex sha256 of its bytes.
    public static func source(_ c: SeccompChoice) throws -> (name: String, text: String?, sha: String?) {
        switch c {
        case .unconfined: return ("unconfined", nil, nil)
        case let .builtin(n):
            guard let e = EmbeddedPolicies.all.first(where: { $0.name == n }) else { throw RootlessError("unknown seccomp policy \"\(n)\"") }
            return (n, e.text, e.sha256)
        case let .file(p):
            guard let t = OS.readFile(p, limit: JSONParser.maxSize + 1) else {
                throw RootlessError("cannot read seccomp policy \(p): \(OS.errorText(errno))", fix: "check the path, or use a built-in policy (rootless policy show default)")
            }
            return (p, t, nil)
        }
    }

    func key(_ sha: String) -> String {
        var h = SHA256()
        h.update("rootless-seccomp-v1\0\(SeccompCompiler.libraryVersion)\0\(context.arch)\0\(context.caps.joined(separator: ","))\0\(context.kernel.0).\(context.kernel.1)\0\(sha)")
        return h.finish().prefix(20).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Compiles (or fetches) one choice. nil for unconfined.
    public mutating func load(_ c: SeccompChoice) throws -> [UInt8]? {
        lastWasHit = false
        if c == .unconfined { return nil }
        // A built-in policy's hash was computed when it was embedded: a hit costs one read.
        let builtinSHA: String? = { if case let .builtin(n) = c { return EmbeddedPolicies.all.first { $0.name == n }?.sha256 }; return nil }()
        var path: String?
        if let dir = cacheDir, let sha = builtinSHA {
            path = dir + "/" + key(sha) + ".bpf"
            if let b = SeccompLoader.readCache(path!) { lastWasHit = true; return b }
        }
        let src = try SeccompLoader.source(c)
        guard let text = src.text else { return nil }
        if path == nil, let dir = cacheDir {
            path = dir + "/" + key(SHA256.hex(text.utf8)) + ".bpf"
            if let b = SeccompLoader.readCache(path!) { lastWasHit = true; return b }
        }
        let compiled = try SeccompLoader.compile(text, name: src.name, context)
        if let path { SeccompLoader.writeCache(path, compiled.bpf) }
        return compiled.bpf
    }

    public static func compile(_ text: String, name: String, _ ctx: SeccompContext) throws -> CompiledFilter {
        let profile: Profile
        do { profile = try PolicyLoader.parse(text, file: name) } catch let e as PolicyError {
            throw RootlessError("\(e.file): \(e.path): \(e.message)", fix: e.hint)
        }
        let eff = profile.resolve(ResolveContext(arch: ctx.arch, caps: Set(ctx.caps), kernel: ctx.kernel))
        return try SeccompCompiler.compile(eff, file: name)
    }

    /// A cache entry is used only if it is ours, a regular file, and a whole number of
    /// BPF instructions (a torn or foreign file compiles afresh).
    static func readCache(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(),
              st.st_size > 0, st.st_size % 8 == 0, st.st_size <= 4096 * 8 else { return nil }
        var b = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = b.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n == Int(st.st_size) ? b : nil
    }

    /// temp file + rename: a reader never sees half a filter. Failures only cost speed.
    static func writeCache(_ path: String, _ bpf: [UInt8]) {
        let dir = String(path[..<path.lastIndex(of: "/")!])
        var partial = ""
        for c in dir.split(separator: "/") {
            partial += "/" + c
            mkdir(partial, 0o700)
        }
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let n = bpf.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if n == bpf.count { rename(tmp, path) } else { unlink(tmp) }
    }
}
