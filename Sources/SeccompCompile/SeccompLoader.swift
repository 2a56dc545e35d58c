import RootlessOS
import CRootless
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
            throw RootlessError(
                "unknown seccomp policy \"\(v)\"",
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
    public var arch: String  // SCMP_ARCH_X86_64
    public var caps: [String]  // the payload's capabilities (includes/excludes use them)
    public var kernel: (Int, Int)
    /// Whether the x32 ABI gets its own branch. Without it, libseccomp's x86_64 branch
    /// kills any number >= 0x40000000: x32 binaries cannot run, nothing else changes,
    /// and the program is a third shorter (attach cost is per instruction).
    public var x32: Bool
    public init(arch: String, caps: [String], kernel: (Int, Int), x32: Bool = true) {
        self.arch = arch
        self.caps = caps
        self.kernel = kernel
        self.x32 = x32
    }
    public static func == (a: SeccompContext, b: SeccompContext) -> Bool { a.arch == b.arch && a.caps == b.caps && a.kernel == b.kernel && a.x32 == b.x32 }

    /// The profile's includes/excludes resolved for this context.
    public func effective(_ p: Profile) -> EffectivePolicy {
        p.resolve(ResolveContext(arch: arch, caps: Set(caps), kernel: kernel))
    }

    /// This host: uname's machine and release. Runs on every start: written as plain loops
    /// (a fresh process pays ~150 µs of first-use generic/conformance cost for the
    /// Dictionary/split version).
    public static func host(caps: [String]) -> SeccompContext {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { raw -> String in
            var n = 0
            while n < raw.count && raw[n] != 0 { n += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<n]), as: UTF8.self)
        }
        var nums = [0, 0]
        var part = 0
        withUnsafeBytes(of: &u.release) {
            for b in $0 {
                if b >= 0x30 && b <= 0x39 { nums[part] = nums[part] * 10 + Int(b - 0x30) } else if b == 0x2e && part == 0 { part = 1 } else { break }
            }
        }
        let arch = machine == "x86_64" ? "SCMP_ARCH_X86_64" : machine == "aarch64" ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_" + machine.uppercased()
        // caps in plan order (deterministic for a command line; another order is only
        // another cache entry): sorting Strings costs a fresh process ~40 µs.
        return SeccompContext(arch: arch, caps: caps, kernel: (nums[0], nums[1]), x32: arch == "SCMP_ARCH_X86_64" && rl_kernel_serves_x32() == 1)
    }
}

/// Policy -> BPF bytes, through a cache keyed by sha256(policy bytes, context, libseccomp
/// version). A hit reads one small file: no JSON parse, no libseccomp (≤ 0.2 ms).
public struct SeccompLoader {
    public var context: SeccompContext
    /// nil: no cache (no writable home); every load compiles.
    public var cacheDir: String?
    public private(set) var lastWasHit = false

    public init(context: SeccompContext, cacheDir: String?) {
        self.context = context
        self.cacheDir = cacheDir
    }

    /// $XDG_CACHE_HOME/rootless/seccomp, else $HOME/.cache/rootless/seccomp. `get` reads one
    /// variable (getenv at run time: no copy of the whole environment on the start path).
    public static func defaultCacheDir(_ get: (String) -> String?) -> String? {
        func abs(_ k: String) -> String? { get(k).flatMap { $0.hasPrefix("/") ? $0 : nil } }
        if let x = abs("XDG_CACHE_HOME") { return x + "/rootless/seccomp" }
        if let h = abs("HOME"), h != "/" { return h + "/.cache/rootless/seccomp" }
        return nil
    }

    public static func defaultCacheDir() -> String? { defaultCacheDir { getenv($0).map { String(cString: $0) } } }

    /// The one place policy text becomes a Profile; PolicyError becomes the user's one line.
    public static func parse(_ text: String, name: String) throws -> Profile {
        do { return try PolicyLoader.parse(text, file: name) } catch let e as PolicyError {
            throw RootlessError("\(e.file): \(e.path): \(e.message)", fix: e.hint)
        }
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
                let why = errno == EINVAL ? "it is not a regular file" : OS.errorText(errno)
                throw RootlessError("cannot read seccomp policy \(p): \(why)", fix: "check the path, or use a built-in policy (rootless policy show default)")
            }
            return (p, t, nil)
        }
    }

    /// sha256 of every input the compiled program depends on; 40 hex digits name the file.
    func key(_ sha: String) -> String {
        // v2: programs are compacted (BPFCompactor). v3: files are sealed (a MAC follows the
        // program): an older build must not read them as programs.
        var text = "rootless-seccomp-v3\0" + SeccompCompiler.libraryVersion + "\0" + context.arch + "\0"
        for c in context.caps { text += c + "," }
        text += "\0" + String(context.kernel.0) + "." + String(context.kernel.1) + (context.x32 ? "\0x32" : "\0nox32") + "\0" + sha
        var h = SHA256()
        h.update(Array(text.utf8))
        return SHA256.hexString(h.finish(), bytes: 20)
    }

    /// Compiles (or fetches) one choice. nil for unconfined. A built-in policy's hash was
    /// computed when it was embedded; a file's bytes are hashed. A hit parses nothing.
    public mutating func load(_ c: SeccompChoice) throws -> [UInt8]? {
        lastWasHit = false
        let src = try SeccompLoader.source(c)
        guard let text = src.text else { return nil }
        let path = cacheDir.map { $0 + "/" + key(src.sha ?? SHA256.hex(text.utf8)) + ".bpf" }
        if let path, let b = SeccompLoader.readCache(path) {
            lastWasHit = true
            return b
        }
        let compiled = try SeccompLoader.compile(text, name: src.name, context, forRun: true)
        if let path { SeccompLoader.writeCache(path, compiled.bpf) }
        return compiled.bpf
    }

    /// Policies stacked in this (load) order, as one program where BPFCompactor.merge shows
    /// it answers as the stack does: one filter for the kernel to convert, JIT, cache and
    /// run on every syscall instead of two (default + fake-root: 226 + 78 instructions as
    /// two, 299 as one: the fake-root calls split default's runs). Else each, as load()
    /// gives them. The result is cached under a key made of the parts' keys: a hit reads
    /// one file. A stack that does not merge is remembered as such (a one-instruction
    /// marker), so the merge is tried once.
    public mutating func loadStack(_ cs: [SeccompChoice]) throws -> [[UInt8]] {
        func each(_ l: inout SeccompLoader) throws -> [[UInt8]] {
            var out: [[UInt8]] = []
            for c in cs { if let b = try l.load(c) { out.append(b) } }
            return out
        }
        // One policy (every --map auto start): as load gives it, its key hashed once.
        guard cs.filter({ $0 != .unconfined }).count >= 2, let dir = cacheDir else { return try each(&self) }
        var text = "rootless-seccomp-stack-v2"
        for c in cs {
            let src = try SeccompLoader.source(c)
            guard let t = src.text else { continue }
            text += "\0" + key(src.sha ?? SHA256.hex(t.utf8))
        }
        var h = SHA256()
        h.update(Array(text.utf8))
        let path = dir + "/" + SHA256.hexString(h.finish(), bytes: 20) + ".bpf"
        if let b = SeccompLoader.readCache(path) {
            if b == SeccompLoader.noMerge { return try each(&self) }
            lastWasHit = true
            return [b]
        }
        let programs = try each(&self)
        let merged = BPFCompactor.merge(programs)
        SeccompLoader.writeCache(path, merged ?? SeccompLoader.noMerge)
        return merged.map { [$0] } ?? programs
    }

    /// The cache's "these do not merge" (an opcode no program has).
    static let noMerge: [UInt8] = [0xff, 0xff, 0, 0, 0, 0, 0, 0]

    /// `forRun`: the program is for a sandbox to load (not `policy check`): a policy that
    /// would kill its start is refused first.
    public static func compile(_ text: String, name: String, _ ctx: SeccompContext, compact: Bool = true, forRun: Bool = false) throws -> CompiledFilter {
        let eff = ctx.effective(try parse(text, name: name))
        if forRun { try requireStartCalls(eff, name: name) }
        return try SeccompCompiler.compile(eff, file: name, x32: ctx.x32, compact: compact)
    }

    /// The calls the payload makes under the filter before the command runs: execve to
    /// start it, exit_group to report that it could not. A policy that denies them would
    /// kill every start (a kernel fault, exit 139, nothing said); it is refused instead.
    static let startCalls = ["execve", "exit_group"]
    static func requireStartCalls(_ eff: EffectivePolicy, name: String) throws {
        for c in startCalls {
            guard let a = eff.plainAction(c), a != .allow && a != .log else { continue }
            throw RootlessError(
                "seccomp policy \(name) denies \(c) (\(a.rawValue)), which the sandbox needs to start the command",
                fix: "allow \(c) in the policy (SCMP_ACT_ALLOW); deny what the command may do after it starts")
        }
    }

    /// A cache entry is used only if it is ours, a regular file, a whole number of BPF
    /// instructions, and sealed by the user's key (mac.c) for this file's name: a program
    /// a sandbox wrote, or another policy's program copied here, compiles afresh.
    static func readCache(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(),
            st.st_size > 32, (st.st_size - 32) % 8 == 0, st.st_size <= 4096 * 8 + 32
        else { return nil }
        var b = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = b.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n == Int(st.st_size) else { return nil }
        let body = Array(b.dropLast(32))
        let sealed = seal(path, body).withUnsafeBytes { data in
            b.withUnsafeBytes { rl_mac_check(data.baseAddress, data.count, $0.baseAddress! + body.count) }
        }
        return sealed == 1 ? body : nil
    }

    /// What the MAC covers: the file's name (its cache key) and the program.
    static func seal(_ path: String, _ bpf: [UInt8]) -> [UInt8] {
        Array(path.split(separator: "/").last.map(String.init)?.utf8 ?? "".utf8) + [0] + bpf
    }

    /// temp file + rename: a reader never sees half a filter. Failures only cost speed
    /// (no key: nothing is cached).
    static func writeCache(_ path: String, _ program: [UInt8]) {
        var mac = [UInt8](repeating: 0, count: 32)
        let data = seal(path, program)
        guard data.withUnsafeBytes({ rl_mac($0.baseAddress, $0.count, &mac) }) == 0 else { return }
        let bpf = program + mac
        let dir = String(path[..<path.lastIndex(of: "/")!])
        var partial = ""
        for c in dir.split(separator: "/") {
            partial += "/" + c
            mkdir(partial, 0o700)
        }
        OS.replaceFile(path, bpf)
    }
}
