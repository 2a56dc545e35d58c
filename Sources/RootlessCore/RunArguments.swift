import RootlessOS
import Cgroups
import SeccompCompile
import IDMap
import SlirpNet

/// `rootless run [OPTIONS] [--] CMD [ARGS...]` -> RunSpec. Pure; every rejection is a
/// RootlessError naming the flag and the fix. The first non-option word starts the
/// command, so `rootless run ls -l` works as with bwrap; a command literally named
/// "--bind" needs `--` before it and is then only ever a program name.
public enum RunArguments {
    public static let usage = """
        usage: rootless run [OPTIONS] [--] CMD [ARGS...]
               rootless run [OPTIONS] IMAGE -- [CMD [ARGS...]]
          --rootfs DIR            pivot_root into DIR (default: read-only view of the host /)
          --image IMAGE           run a stored image (rootless images); CMD replaces its Cmd
          --storage-driver D      auto|overlay|copy: how the image becomes a writable root
          --root DIR              the image store (default: $XDG_DATA_HOME/rootless)
          --read-only             make the rootfs read-only
          --bind SRC[:DST[:ro]]   bind mount (read-write unless :ro); SRC, like the
                                  --rootfs and --root DIRs, may be relative; DST may not
          --ro-bind SRC[:DST]     read-only bind mount
          --tmpfs DST[:OPTS]      tmpfs (OPTS e.g. size=64m,mode=1777; /tmp and /dev/shm have a
                                  size by default: --tmpfs /tmp:size=8g to change it)
          --home empty|ro|rw      what the sandbox sees at your $HOME (default: empty; other
                                  homes, /root and /run/user are never shown)
          -e, --env K[=V]         set (or copy from the caller) an environment variable
          --clearenv              start from an empty environment
          -w, --workdir DIR       working directory inside
          --hostname NAME         hostname inside (default: rootless)
          --user UID[:GID]        identity inside (default: 0:0, keep-id: yours)
          --map MODE              auto | subids | self | keep-id (default: auto)
          --net MODE              none | host | pasta | slirp4netns | slirp[:mtu=N,cidr=NET,allow_host_loopback=true]
                                  (default: none; slirp: our user-mode stack, the internet
                                  but not the host's loopback or 169.254.0.0/16; pasta,
                                  slirp4netns: the peer tools, same addresses, no host
                                  loopback, but metadata and the host's addresses reachable)
          --allow-net CIDR|NAME[:PORTS][,..]   slirp: only these destinations (a NAME: the
                                  addresses the sandbox's own lookups of it returned; DNS
                                  always works; PORTS: 443 or 8000-8100; :PORTS alone: any address)
          --deny-net CIDR[:PORTS][,..]   slirp: never these
          --net-log               slirp: report at exit each destination reached or refused
          -p, --publish [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]   slirp, pasta: the host's port
                                  reaches the sandbox's PORT (HOSTIP default 0.0.0.0)
          --dns IP[:PORT]         slirp: where the DNS forwarder sends queries (default: the
                                  host's resolvers)
          --no-init               run CMD as pid 1 (no reaper)
          --die-with-parent       kill the sandbox when rootless' parent dies
          --timeout SECONDS       kill the whole sandbox after SECONDS (exit 124)
          -t, --tty               give CMD a pseudo-terminal
          -i, --interactive       accepted for podman compatibility (stdin is always passed)
          --preserve-fds N        pass fds 3..3+N-1 to CMD
          --dry-run               print the plan and exit
          --seccomp NAME|PATH     seccomp policy: default | untrusted | fake-root | unconfined | a JSON file
          --seccomp-log           report at exit which syscalls the policy denied (and how often)
          --fake-root             succeed-without-effect chown/setuid/mknod (default with one mapped id as root)
          --no-fake-root          never add the fake-root rules
          --cap-add CAP, --cap-drop CAP   change the payload's capabilities (ALL drops all)
          --landlock              Landlock: write only where a writable mount is, read/execute elsewhere
          --landlock-ro PATH, --landlock-rw PATH   extra Landlock rules (imply --landlock)
          --userns auto|none      none: no namespaces, only Landlock + seccomp + no_new_privs
          --allow-no-userns       with auto: fall back to --userns none where user namespaces are forbidden
          --memory SIZE           memory limit (cgroup v2 memory.max), e.g. 512m
          --memory-swap SIZE      memory + swap limit (-1: unlimited swap)
          --pids-limit N          most processes/threads at once (pids.max)
          --cpus N                CPU time, in CPUs (cpu.max), e.g. 1.5
          --cpu-weight N, --io-weight N   relative shares (1-10000)
          --ulimit NAME=SOFT[:HARD]       an rlimit for the command (works without cgroups)
          --cgroup auto|optional|none     auto: a cgroup where one is delegated to you, and
                                  limits fail (exit 125) where none is; optional: run without
          --cgroup-delegate       /sys/fs/cgroup inside is writable (a nested manager)
          --stats                 at exit: peak memory, CPU, peak pids, OOM kills, wall time
          --stats-json FILE       the same as JSON
          --no-keeper             map a private user namespace (default: join the one `rootless keeper`
                                  holds for these maps, as podman's pause process, and take
                                  a fresh network namespace from its pool)
          --no-warm               build this sandbox now (default: take the one the keeper built
                                  ahead for a run exactly like this, and let it build the next)
        """

    /// `cwd`: the caller's working directory, against which a relative host path (the
    /// rootfs, the store root, a bind source) is resolved, as bwrap and podman do; nil
    /// (unknown, e.g. deleted) leaves such a path an error. Paths inside the sandbox
    /// (targets, -w, --tmpfs, Landlock) must be absolute either way.
    public static func parse(_ args: [String], cwd: String? = nil) throws -> RunSpec {
        var s = RunSpec()
        func host(_ p: String, _ flag: String) throws -> String {
            guard !p.hasPrefix("/"), let cwd, cwd.hasPrefix("/") else { return try absolute(p, flag) }
            return try Paths.normalize(cwd + "/" + p, flag)
        }
        var i = 0
        func value(_ flag: String, _ inline: String?) throws -> String {
            if let inline { return inline }
            i += 1
            guard i < args.count else { throw RootlessError("\(flag) needs a value", fix: "see rootless run --help") }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            if a == "--" { i += 1; break }
            if !a.hasPrefix("-") || a == "-" { break }
            var flag = a
            var inline: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                flag = String(a[..<eq])
                inline = String(a[a.index(after: eq)...])
            }
            switch flag {
            case "--rootfs": s.rootfs = try host(try value(flag, inline), flag)
            case "--image": s.image = try value(flag, inline)
            case "--root": s.storeRoot = try host(try value(flag, inline), flag)
            case "--storage-driver":
                let v = try value(flag, inline)
                guard let d = StorageDriver(rawValue: v) else {
                    throw RootlessError("unknown --storage-driver \"\(v)\"", fix: "use auto, overlay, fuse-overlayfs or copy")
                }
                s.storageDriver = d
            case "--read-only": s.readOnly = true
            case "--bind": s.mounts.append(try bind(try value(flag, inline), readOnly: false, flag, host: host))
            case "--ro-bind": s.mounts.append(try bind(try value(flag, inline), readOnly: true, flag, host: host))
            case "--tmpfs":
                let v = try value(flag, inline)
                let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
                guard let t = parts.first else { throw RootlessError("--tmpfs needs a target", fix: "e.g. --tmpfs /scratch:size=64m") }
                s.mounts.append(.tmpfs(target: try absolute(t, flag), options: parts.count > 1 ? parts[1] : nil))
            case "-e", "--env": s.env.append(try envEntry(try value(flag, inline), flag))
            case "--home":
                let v = try value(flag, inline)
                guard let m = HomeMode(rawValue: v) else { throw RootlessError("unknown --home mode \"\(v)\"", fix: "use empty, ro or rw") }
                s.home = m
            case "--clearenv": s.clearEnv = true
            case "-w", "--workdir": s.workdir = try absolute(try value(flag, inline), flag)
            case "--hostname": s.hostname = try hostname(try value(flag, inline))
            case "--user", "-u": s.user = try user(try value(flag, inline))
            case "--map":
                let v = try value(flag, inline)
                guard let m = MapMode(rawValue: v) else {
                    throw RootlessError("unknown --map mode \"\(v)\"", fix: "use one of: \(MapMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                s.map = m
            case "--net", "--network":
                let full = try value(flag, inline)
                let v = String(full.prefix(while: { $0 != ":" }))
                if full.contains(":") {
                    guard v == "slirp" else { throw RootlessError("--net \(v) takes no options (\"\(full)\")", fix: "options are for --net slirp:...") }
                    do { s.slirp = try SlirpConfig.parse(options: full.drop(while: { $0 != ":" }).dropFirst()) } catch let e as SlirpError {
                        throw RootlessError(e.message, step: "args", fix: e.fix)
                    }
                }
                guard let m = NetworkMode(rawValue: v) else {
                    throw RootlessError("unknown --net mode \"\(v)\"", fix: "use one of: \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                s.net = m
            case "--allow-net", "--deny-net":
                let v = try value(flag, inline)
                do {
                    let (c, names) = try EgressPolicy.targets(v, flag: flag, names: flag == "--allow-net")
                    if flag == "--allow-net" {
                        s.allowNet += c
                        s.allowNames += names
                    } else {
                        s.denyNet += c
                    }
                } catch let e as SlirpError { throw RootlessError(e.message, step: "args", fix: e.fix) }
            case "--net-log": s.netLog = true
            case "-p", "--publish":
                let v = try value(flag, inline)
                do { s.publish.append(try PortForward.parse(v)) } catch let e as SlirpError { throw RootlessError(e.message, step: "args", fix: e.fix) }
            case "--dns":
                let v = try value(flag, inline)
                let parts = v.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count <= 2, let ip = IPv4(parts[0]), parts.count == 1 || UInt16(parts[1]).map({ $0 > 0 }) == true else {
                    throw RootlessError(
                        "--dns \"\(v)\" is not an IPv4 address (with an optional port)", step: "args", fix: "e.g. --dns 192.0.2.53 or --dns 127.0.0.1:5353")
                }
                s.slirp.dnsUpstream = ip
                s.slirp.dnsUpstreamPort = parts.count == 2 ? (UInt16(parts[1]) ?? 53) : 53
            case "--no-init": s.noInit = true
            case "--die-with-parent": s.dieWithParent = true
            case "--timeout":
                let v = try value(flag, inline)
                guard let t = Double(v), t > 0, t < 1e9 else {
                    throw RootlessError("--timeout \"\(v)\" is not a positive number of seconds", fix: "e.g. --timeout 30")
                }
                s.timeoutSeconds = t
            case "-t", "--tty": s.tty = true
            case "-i", "--interactive": break
            case "-it", "-ti": s.tty = true
            case "--preserve-fds":
                let v = try value(flag, inline)
                guard let n = Int(v), n >= 0, n < 1024 else {
                    throw RootlessError("--preserve-fds \"\(v)\" is not a count of fds", fix: "e.g. --preserve-fds 2 passes fds 3 and 4")
                }
                s.preserveFDs = n
            case "--dry-run": s.dryRun = true
            case "--seccomp": s.seccomp = try SeccompChoice.parse(try value(flag, inline))
            case "--seccomp-log": s.seccompLog = true
            case "--fake-root": s.fakeRoot = true
            case "--no-fake-root": s.fakeRoot = false
            case "--cap-add", "--cap-drop":
                let v = try value(flag, inline)
                for c in v.split(separator: ",").map(String.init) {
                    guard c.uppercased() == "ALL" || Capabilities.bit(c) != nil else {
                        throw RootlessError("\(flag) \(c): unknown capability", fix: "use a name such as CAP_NET_RAW or NET_RAW (see capabilities(7)), or ALL")
                    }
                    if flag == "--cap-add" { s.capAdd.append(c) } else { s.capDrop.append(c) }
                }
            case "--landlock": s.landlock = true
            case "--landlock-ro": s.landlockRO.append(try absolute(try value(flag, inline), flag)); s.landlock = true
            case "--landlock-rw": s.landlockRW.append(try absolute(try value(flag, inline), flag)); s.landlock = true
            case "--userns":
                let v = try value(flag, inline)
                guard let m = UsernsMode(rawValue: v) else { throw RootlessError("unknown --userns mode \"\(v)\"", fix: "use auto or none") }
                s.userns = m
            case "--allow-no-userns": s.allowNoUserns = true
            case "--no-keeper": s.keeper = false
            case "--no-warm": s.warm = false
            case "--memory", "-m": s.limits.memory = try ResourceLimits.parseSize(try value(flag, inline), flag: "--memory")
            case "--memory-swap":
                let v = try value(flag, inline)
                s.limits.memorySwap = v == "-1" ? -1 : Int64(try ResourceLimits.parseSize(v, flag: flag))
            case "--pids-limit":
                let v = try value(flag, inline)
                guard let n = Int64(v), n > 0 || n == -1 else {
                    throw RootlessError("--pids-limit \"\(v)\" is not a positive count", fix: "e.g. --pids-limit 100")
                }
                s.limits.pids = n > 0 ? n : nil
            case "--cpus":
                let v = try value(flag, inline)
                guard let n = Double(v), n >= 0.01, n <= 1024 else {
                    throw RootlessError("--cpus \"\(v)\" is not a number of CPUs between 0.01 and 1024", fix: "e.g. --cpus 1.5")
                }
                s.limits.cpus = n
            case "--cpu-weight", "--io-weight":
                let v = try value(flag, inline)
                guard let n = Int(v), (1...10000).contains(n) else {
                    throw RootlessError("\(flag) \"\(v)\" is not a weight from 1 to 10000", fix: "e.g. \(flag) 100 (the default)")
                }
                if flag == "--cpu-weight" { s.limits.cpuWeight = n } else { s.limits.ioWeight = n }
            case "--ulimit": s.ulimits.append(try Ulimit.parse(try value(flag, inline)))
            case "--cgroup", "--cgroups":
                let v = try value(flag, inline)
                guard let m = CgroupMode(rawValue: v) else { throw RootlessError("unknown --cgroup mode \"\(v)\"", fix: "use auto, optional or none") }
                s.cgroup = m
            case "--cgroup-delegate": s.cgroupDelegate = true
            case "--stats": s.stats = true
            case "--stats-json": s.statsJSON = try statsFile(try value(flag, inline), host: host); s.stats = true
            default:
                throw RootlessError("unknown option \(flag)", fix: "see rootless run --help; put -- before a command that starts with '-'")
            }
            i += 1
        }
        try s.limits.validate()
        // `IMAGE -- CMD`: a word right before "--" names an image (a command is never
        // followed by a bare "--" of ours: everything after the command is its own).
        if s.image == nil, i + 1 < args.count, args[i + 1] == "--", args[i] != "--" {
            s.image = args[i]
            i += 2
        }
        s.command = Array(args[i...])
        if s.image != nil && s.rootfs != nil { throw RootlessError("--rootfs and an image are two roots", fix: "give one of them") }
        guard !s.command.isEmpty || s.image != nil else { throw RootlessError("no command given", fix: "e.g. rootless run -- sh") }
        return s
    }

    static func absolute(_ p: String, _ flag: String) throws -> String {
        guard p.hasPrefix("/") else { throw RootlessError("\(flag) \(p): path must be absolute", fix: "write it as /\(p) or $PWD/\(p)") }
        return try Paths.normalize(p, flag)
    }

    /// SRC[:DST[:ro|rw]]; SRC through `host` (a relative one against the caller's cwd),
    /// DST inside the sandbox (absolute; SRC's resolved path when omitted).
    static func bind(_ v: String, readOnly: Bool, _ flag: String, host: (String, String) throws -> String) throws -> MountRequest {
        var parts = v.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var ro = readOnly
        if parts.count == 3 || (parts.count == 2 && (parts[1] == "ro" || parts[1] == "rw")) {
            let mode = parts.removeLast()
            guard mode == "ro" || mode == "rw" else { throw RootlessError("\(flag) \(v): unknown mode \"\(mode)\"", fix: "use SRC[:DST[:ro|rw]]") }
            ro = ro || mode == "ro"
        }
        guard parts.count <= 2, let src = parts.first, !src.isEmpty else {
            throw RootlessError("\(flag) \(v): expected SRC[:DST[:ro]]", fix: "e.g. --bind $HOME/src:/src:ro")
        }
        let source = try host(src, flag)
        let target = parts.count == 2 && !parts[1].isEmpty ? try absolute(parts[1], flag) : source
        guard target != "/" else {
            throw RootlessError("\(flag) \(v): a bind on / would replace the whole root", fix: "use --rootfs \(source) to make it the root, or bind it below /")
        }
        return .bind(source: source, target: target, readOnly: ro)
    }

    /// K=V or K: a name that is not empty and holds no '=' (which would make it a value).
    static func envEntry(_ v: String, _ flag: String) throws -> String {
        let key = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !key.isEmpty else {
            throw RootlessError("\(flag) \"\(v)\": no variable name", fix: "write NAME=VALUE, or NAME to copy it from your environment")
        }
        return v
    }

    /// A hostname the kernel would take and a resolver would read back: 1-64 bytes of
    /// letters, digits, '-' and '.', not starting with either (RFC 1123).
    static func hostname(_ v: String) throws -> String {
        let ok =
            !v.isEmpty && v.utf8.count <= 64
            && v.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
            } && v.first != "-" && v.first != "."
        guard ok else {
            throw RootlessError("--hostname \"\(v)\" is not a hostname", fix: "use 1-64 letters, digits, '-' and '.', e.g. --hostname build-1")
        }
        return v
    }

    /// Where --stats-json writes: a host file, never in a kernel filesystem.
    static func statsFile(_ v: String, host: (String, String) throws -> String) throws -> String {
        guard !v.isEmpty else { throw RootlessError("--stats-json needs a file", fix: "e.g. --stats-json stats.json") }
        let p = try host(v, "--stats-json")
        for k in ["/proc", "/sys", "/dev"] where p == k || p.hasPrefix(k + "/") {
            throw RootlessError(
                "--stats-json \(v): \(k) is a kernel filesystem, not a place for a file",
                fix: "name a file in a directory of yours, e.g. --stats-json $PWD/stats.json")
        }
        return p
    }

    static func user(_ v: String) throws -> (uid: UInt32, gid: UInt32?) {
        let parts = v.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let u = UInt32(parts[0]), parts.count == 1 || UInt32(parts[1]) != nil else {
            throw RootlessError("--user \(v): expected numeric UID[:GID]", fix: "e.g. --user 1000:1000 (names are not looked up inside)")
        }
        return (u, parts.count == 2 ? UInt32(parts[1]) : nil)
    }
}

public enum Paths {
    /// `p` lies strictly below `dir` (both normalised absolute paths).
    public static func isBeneath(_ p: String, _ dir: String) -> Bool {
        dir == "/" ? p != "/" : p.hasPrefix(dir + "/")
    }

    /// Lexically normalises an absolute path ("//a/./b/" -> "/a/b"); ".." is refused so
    /// a target can never walk up and out of the root.
    public static func normalize(_ p: String, _ what: String) throws -> String {
        // Over the bytes: split/joined on Substrings instantiate generic metadata at run
        // time, which cost ~90 us of every start (this runs for each path flag).
        var out: [UInt8] = [UInt8(ascii: "/")]
        out.reserveCapacity(p.utf8.count + 1)
        var comp: [UInt8] = []
        func flush() throws {
            defer { comp.removeAll(keepingCapacity: true) }
            if comp.isEmpty || comp == [0x2E] { return }
            if comp == [0x2E, 0x2E] { throw RootlessError("\(what) \(p): \"..\" is not allowed in paths", fix: "write the path without ..") }
            if out.count > 1 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: comp)
        }
        for b in p.utf8 {
            if b == UInt8(ascii: "/") { try flush() } else { comp.append(b) }
        }
        try flush()
        return String(decoding: out, as: UTF8.self)
    }
}
