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
    public static var usage: String { command.help }

    /// `rootless run`'s options: the parser, --help, the man page and the completions.
    public static let command = CommandSpec<RunSpec>(
        "run", synopsis: ["rootless run [OPTIONS] [--] CMD [ARGS...]", "rootless run [OPTIONS] IMAGE -- [CMD [ARGS...]]"],
        summary: "Runs CMD in a new sandbox: root inside, your own uid outside. The first word that is not an option starts the command.",
        options: options,
        details: """
            The sandbox sees a read-only view of the host (or --rootfs, or an image) with its own /tmp, an empty $HOME, \
            its own pid, mount, network, IPC and UTS namespaces, and a seccomp policy. rootless exits with the command's \
            status, 125 for its own errors, 124 on --timeout.
            """)

    static let options: [Opt<RunSpec>] = roots + environment + network + process + security + limits + starts

    static let roots: [Opt<RunSpec>] = [
        Opt(["--rootfs"], "DIR", "pivot_root into DIR (default: read-only view of the host /)") { s, v, c in s.rootfs = try c.host(v) },
        Opt(["--image"], "IMAGE", "run a stored image (rootless images); CMD replaces its Cmd") { s, v, _ in s.image = v },
        Opt(["--entrypoint"], "PROG", "the program that runs first (an image's Entrypoint replaced; CMD are\nits arguments; \"\" clears the image's)") {
            s, v, _ in
            s.entrypoint = v.isEmpty ? [] : [v]
        },
        Opt(
            ["--storage-driver"], "D", "auto|overlay|fuse-overlayfs|copy: how the image becomes a writable root",
            choices: StorageDriver.allCases.map(\.rawValue)
        ) {
            s, v, _ in
            guard let d = StorageDriver(rawValue: v) else {
                throw RootlessError("unknown --storage-driver \"\(v)\"", fix: "use \(StorageDriver.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.storageDriver = d
        },
        Opt(["--root"], "DIR", "the image store (default: $XDG_DATA_HOME/rootless)") { s, v, c in s.storeRoot = try c.host(v) },
        Opt(["--read-only"], nil, "make the rootfs read-only") { s, _, _ in s.readOnly = true },
        Opt(
            ["--bind", "-v", "--volume"], "SRC[:DST[:ro]]",
            "bind mount (read-write unless :ro); SRC, like the --rootfs and --root DIRs,\nmay be relative; DST may not (bwrap's --bind SRC DST too)", pair: true
        ) { s, v, c in s.mounts.append(try bind(v, readOnly: false, c)) },
        Opt(["--ro-bind"], "SRC[:DST]", "read-only bind mount (bwrap's --ro-bind SRC DST too)", pair: true) { s, v, c in
            s.mounts.append(try bind(v, readOnly: true, c))
        },
        Opt(
            ["--tmpfs"], "DST[:OPTS]",
            "tmpfs (OPTS e.g. size=64m,mode=1777; /tmp and /dev/shm have a\nsize by default: --tmpfs /tmp:size=8g to change it)"
        ) { s, v, c in
            let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
            guard let t = parts.first else { throw RootlessError("--tmpfs needs a target", fix: "e.g. --tmpfs /scratch:size=64m") }
            s.mounts.append(.tmpfs(target: try absolute(t, c.flag), options: parts.count > 1 ? parts[1] : nil))
        },
        Opt(
            ["--home"], "empty|ro|rw", "what the sandbox sees at your $HOME (default: empty; other\nhomes, /root and /run/user are never shown)",
            choices: ["empty", "ro", "rw"]
        ) { s, v, _ in
            guard let m = HomeMode(rawValue: v) else { throw RootlessError("unknown --home mode \"\(v)\"", fix: "use empty, ro or rw") }
            s.home = m
        },
    ]

    static let environment: [Opt<RunSpec>] = [
        Opt(["-e", "--env"], "K[=V]", "set (or copy from the caller) an environment variable") { s, v, c in s.env.append(try envEntry(v, c.flag)) },
        Opt(["--env-file"], "FILE", "K=V lines from FILE (# comments and blank lines skipped)") { s, v, c in s.envFiles.append(try c.host(v)) },
        Opt(["--clearenv"], nil, "start from an empty environment") { s, _, _ in s.clearEnv = true },
        Opt(["-w", "--workdir"], "DIR", "working directory inside") { s, v, c in s.workdir = try absolute(v, c.flag) },
        Opt(["--hostname"], "NAME", "hostname inside (default: rootless)") { s, v, _ in s.hostname = try hostname(v) },
        Opt(["--user", "-u"], "UID[:GID]", "identity inside (default: 0:0, keep-id: yours)") { s, v, _ in s.user = try user(v) },
        Opt(["--map"], "MODE", "auto | subids | self | keep-id (default: auto)", choices: MapMode.allCases.map(\.rawValue)) { s, v, _ in
            guard let m = MapMode(rawValue: v) else {
                throw RootlessError("unknown --map mode \"\(v)\"", fix: "use one of: \(MapMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.map = m
        },
    ]

    static let network: [Opt<RunSpec>] = [
        Opt(
            ["--net", "--network"], "MODE",
            """
            none | host | pasta[:linger=SECONDS] |
            slirp4netns[:linger=SECONDS] |
            slirp[:mtu=N,cidr=NET,ipv6=false,allow_host_loopback=true,
                   poll=US,linger=SECONDS]
            (default: none; slirp: our user-mode stack, the internet
            over IPv4 and IPv6 but not the host's loopback or
            link-local/metadata; pasta,
            slirp4netns: the peer tools, same addresses, no host
            loopback, but metadata and the host's addresses reachable;
            linger: how long the run waits at the end for what the
            sandbox's connections still hold, 10 s by default)
            """, choices: NetworkMode.allCases.map(\.rawValue)
        ) { s, full, _ in
            let v = String(full.prefix(while: { $0 != ":" }))
            if full.contains(":") {
                let opts = full.drop(while: { $0 != ":" }).dropFirst()
                // The peer tools take linger (the wait for the sandbox's connections at its end).
                let peer = v == NetworkMode.pasta.rawValue || v == NetworkMode.slirp4netns.rawValue
                guard v == "slirp" || peer else {
                    throw RootlessError(
                        "--net \(v) takes no options (\"\(full)\")", fix: "options are for --net slirp:..., and linger for pasta and slirp4netns")
                }
                if peer, let other = opts.split(separator: ",").first(where: { !$0.hasPrefix("linger=") }) {
                    throw RootlessError(
                        "--net \(v) takes one option, linger (not \"\(other)\")", step: "args", fix: "e.g. --net \(v):linger=30; the others are --net slirp's")
                }
                do { s.slirp = try SlirpConfig.parse(options: opts, mode: v) } catch let e as SlirpError {
                    throw RootlessError(e.message, step: "args", fix: e.fix)
                }
            }
            guard let m = NetworkMode(rawValue: v) else {
                throw RootlessError("unknown --net mode \"\(v)\"", fix: "use one of: \(NetworkMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.net = m
        },
        Opt(
            ["--allow-net"], "CIDR|NAME[:PORTS][,..]",
            "slirp: only these destinations (a NAME: the addresses the\nsandbox's own lookups of it returned; DNS always works;\nPORTS: 443 or 8000-8100; :PORTS alone: any address;\nIPv6 with ports: [2001:db8::/32]:443)"
        ) { s, v, c in
            do {
                let (nets, names) = try EgressPolicy.targets(v, flag: c.flag, names: true)
                s.allowNet += nets
                s.allowNames += names
            } catch let e as SlirpError { throw RootlessError(e.message, step: "args", fix: e.fix) }
        },
        Opt(["--deny-net"], "CIDR[:PORTS][,..]", "slirp: never these") { s, v, c in
            do { s.denyNet += try EgressPolicy.targets(v, flag: c.flag, names: false).0 } catch let e as SlirpError {
                throw RootlessError(e.message, step: "args", fix: e.fix)
            }
        },
        Opt(["--net-log"], nil, "slirp: report at exit each destination reached or refused") { s, _, _ in s.netLog = true },
        Opt(
            ["-p", "--publish"], "[HOSTIP:]HOSTPORT:PORT[/tcp|/udp]",
            "slirp, pasta, slirp4netns: the host's port reaches the\nsandbox's PORT (HOSTIP default 0.0.0.0; IPv6 bracketed: [::1],\nslirp only)"
        ) { s, v, _ in
            do { s.publish.append(try PortForward.parse(v)) } catch let e as SlirpError { throw RootlessError(e.message, step: "args", fix: e.fix) }
        },
        Opt(["--dns"], "IP[:PORT]", "slirp: where the DNS forwarder sends queries (default: the\nhost's resolver; IPv6 with a port: [2001:db8::53]:53)") {
            s, v, _ in
            guard let e = Endpoint.parse(Substring(v), port: 53) else {
                throw RootlessError(
                    "--dns \"\(v)\" is not an IPv4 or IPv6 address (with an optional port)", step: "args",
                    fix: "e.g. --dns 192.0.2.53, --dns 127.0.0.1:5353 or --dns [2001:db8::53]:53")
            }
            s.slirp.dnsUpstream = e.ip
            s.slirp.dnsUpstreamPort = e.port
        },
    ]

    static let process: [Opt<RunSpec>] = [
        Opt(["--no-init"], nil, "run CMD as pid 1 (no reaper)") { s, _, _ in s.noInit = true },
        Opt(["--die-with-parent"], nil, "kill the sandbox when rootless' parent dies") { s, _, _ in s.dieWithParent = true },
        Opt(["--timeout"], "SECONDS", "kill the whole sandbox after SECONDS (exit 124)") { s, v, _ in
            guard let t = Double(v), t > 0, t < 1e9 else {
                throw RootlessError("--timeout \"\(v)\" is not a positive number of seconds", fix: "e.g. --timeout 30")
            }
            s.timeoutSeconds = t
        },
        Opt(["-t", "--tty"], nil, "give CMD a pseudo-terminal") { s, _, _ in s.tty = true },
        Opt(["-i", "--interactive"], nil, "accepted for podman compatibility (stdin is always passed)") { _, _, _ in },
        Opt(["-it", "-ti"], nil, "-i and -t", listed: false) { s, _, _ in s.tty = true },
        Opt(["--rm"], nil, "accepted for podman compatibility (a run always cleans up)") { _, _, _ in },
        Opt(["--preserve-fds"], "N", "pass fds 3..3+N-1 to CMD") { s, v, _ in
            guard let n = Int(v), n >= 0, n < 1024 else {
                throw RootlessError("--preserve-fds \"\(v)\" is not a count of fds", fix: "e.g. --preserve-fds 2 passes fds 3 and 4")
            }
            s.preserveFDs = n
        },
        Opt(["--dry-run"], nil, "print the plan and exit") { s, _, _ in s.dryRun = true },
    ]

    static let security: [Opt<RunSpec>] = [
        Opt(
            ["--seccomp"], "NAME|PATH", "seccomp policy: default | untrusted | fake-root | unconfined | a JSON file",
            choices: ["default", "untrusted", "fake-root", "unconfined"]
        ) { s, v, _ in s.seccomp = try SeccompChoice.parse(v) },
        Opt(["--seccomp-log"], nil, "report at exit which syscalls the policy denied (and how often)") { s, _, _ in s.seccompLog = true },
        Opt(["--fake-root"], nil, "succeed-without-effect chown/setuid/mknod (default with one mapped id as root)") { s, _, _ in s.fakeRoot = true },
        Opt(["--no-fake-root"], nil, "never add the fake-root rules") { s, _, _ in s.fakeRoot = false },
        Opt(["--cap-add"], "CAP", "add a capability to the payload's (CAP_NET_RAW or NET_RAW; commas for more)") { s, v, c in
            s.capAdd += try capabilities(v, c.flag)
        },
        Opt(["--cap-drop"], "CAP", "drop a capability (ALL drops all)") { s, v, c in s.capDrop += try capabilities(v, c.flag) },
        Opt(["--landlock"], nil, "Landlock: write only where a writable mount is, read/execute elsewhere") { s, _, _ in s.landlock = true },
        Opt(["--landlock-ro"], "PATH", "an extra read-only Landlock rule (implies --landlock)") { s, v, c in
            s.landlockRO.append(try absolute(v, c.flag))
            s.landlock = true
        },
        Opt(["--landlock-rw"], "PATH", "an extra writable Landlock rule (implies --landlock)") { s, v, c in
            s.landlockRW.append(try absolute(v, c.flag))
            s.landlock = true
        },
        Opt(["--userns"], "auto|none", "none: no namespaces, only Landlock + seccomp + no_new_privs", choices: ["auto", "none"]) { s, v, _ in
            guard let m = UsernsMode(rawValue: v) else { throw RootlessError("unknown --userns mode \"\(v)\"", fix: "use auto or none") }
            s.userns = m
        },
        Opt(["--allow-no-userns"], nil, "with auto: fall back to --userns none where user namespaces are forbidden") { s, _, _ in s.allowNoUserns = true },
    ]

    static let limits: [Opt<RunSpec>] = [
        Opt(["--memory", "-m"], "SIZE", "memory limit (cgroup v2 memory.max), e.g. 512m") { s, v, _ in
            s.limits.memory = try ResourceLimits.parseSize(v, flag: "--memory")
        },
        Opt(["--memory-swap"], "SIZE", "memory + swap limit (-1: unlimited swap)") { s, v, c in
            s.limits.memorySwap = v == "-1" ? -1 : Int64(try ResourceLimits.parseSize(v, flag: c.flag))
        },
        Opt(["--pids-limit"], "N", "most processes/threads at once (pids.max)") { s, v, _ in
            guard let n = Int64(v), n > 0 || n == -1 else { throw RootlessError("--pids-limit \"\(v)\" is not a positive count", fix: "e.g. --pids-limit 100") }
            s.limits.pids = n > 0 ? n : nil
        },
        Opt(["--cpus"], "N", "CPU time, in CPUs (cpu.max), e.g. 1.5") { s, v, _ in
            guard let n = Double(v), n >= 0.01, n <= 1024 else {
                throw RootlessError("--cpus \"\(v)\" is not a number of CPUs between 0.01 and 1024", fix: "e.g. --cpus 1.5")
            }
            s.limits.cpus = n
        },
        Opt(["--cpu-weight"], "N", "relative CPU share (1-10000, default 100)") { s, v, c in s.limits.cpuWeight = try weight(v, c.flag) },
        Opt(["--io-weight"], "N", "relative I/O share (1-10000, default 100)") { s, v, c in s.limits.ioWeight = try weight(v, c.flag) },
        Opt(["--ulimit"], "NAME=SOFT[:HARD]", "an rlimit for the command (works without cgroups)") { s, v, _ in s.ulimits.append(try Ulimit.parse(v)) },
        Opt(
            ["--cgroup", "--cgroups"], "auto|optional|none",
            "auto: a cgroup where one is delegated to you, and limits\nfail (exit 125) where none is; optional: run without",
            choices: ["auto", "optional", "none"]
        ) { s, v, _ in
            guard let m = CgroupMode(rawValue: v) else { throw RootlessError("unknown --cgroup mode \"\(v)\"", fix: "use auto, optional or none") }
            s.cgroup = m
        },
        Opt(["--cgroup-delegate"], nil, "/sys/fs/cgroup inside is writable (a nested manager)") { s, _, _ in s.cgroupDelegate = true },
        Opt(["--stats"], nil, "at exit: peak memory, CPU, peak pids, OOM kills, wall time") { s, _, _ in s.stats = true },
        Opt(["--stats-json"], "FILE", "the same as JSON") { s, v, c in
            s.statsJSON = try statsFile(v, c)
            s.stats = true
        },
    ]

    static let starts: [Opt<RunSpec>] = [
        Opt(
            ["--no-keeper"], nil,
            "map a private user namespace (default: join the one `rootless keeper`\nholds for these maps, as podman's pause process, and take\na fresh network namespace from its pool)"
        ) { s, _, _ in s.keeper = false },
        Opt(
            ["--no-warm"], nil, "build this sandbox now (default: take the one the keeper built\nahead for a run exactly like this, and let it build the next)"
        ) { s, _, _ in s.warm = false },
    ]

    /// `cwd`: the caller's working directory, against which a relative host path (the
    /// rootfs, the store root, a bind source) is resolved, as bwrap and podman do; nil
    /// (unknown, e.g. deleted) leaves such a path an error. Paths inside the sandbox
    /// (targets, -w, --tmpfs, Landlock) must be absolute either way.
    public static func parse(_ args: [String], cwd: String? = nil) throws -> RunSpec {
        var s = RunSpec()
        var rest = try command.parse(args, into: &s, cwd: cwd, firstOperandEnds: true)
        try s.limits.validate()
        // `IMAGE -- CMD`: a word right before "--" names an image (a command is never
        // followed by a bare "--" of ours: everything after the command is its own).
        if s.image == nil, rest.count >= 2, rest[1] == "--", rest[0] != "--" {
            s.image = rest[0]
            rest.removeFirst(2)
        }
        s.command = rest
        if s.image != nil && s.rootfs != nil { throw RootlessError("--rootfs and an image are two roots", fix: "give one of them") }
        guard !s.command.isEmpty || s.image != nil || s.entrypoint?.isEmpty == false else {
            throw RootlessError("no command given", fix: "e.g. rootless run -- sh")
        }
        if s.image == nil, let e = s.entrypoint { s.command = e + s.command }
        return s
    }

    static func capabilities(_ v: String, _ flag: String) throws -> [String] {
        try v.split(separator: ",").map(String.init).map { c in
            guard c.uppercased() == "ALL" || Capabilities.bit(c) != nil else {
                throw RootlessError("\(flag) \(c): unknown capability", fix: "use a name such as CAP_NET_RAW or NET_RAW (see capabilities(7)), or ALL")
            }
            return c
        }
    }

    static func weight(_ v: String, _ flag: String) throws -> Int {
        guard let n = Int(v), (1...10000).contains(n) else {
            throw RootlessError("\(flag) \"\(v)\" is not a weight from 1 to 10000", fix: "e.g. \(flag) 100 (the default)")
        }
        return n
    }

    static func absolute(_ p: String, _ flag: String) throws -> String {
        guard p.hasPrefix("/") else { throw RootlessError("\(flag) \(p): path must be absolute", fix: "write it as /\(p) or $PWD/\(p)") }
        return try Paths.normalize(p, flag)
    }

    /// SRC[:DST[:ro|rw]]; SRC a host path (a relative one against the caller's cwd), DST
    /// inside the sandbox (absolute; SRC's resolved path when omitted).
    static func bind(_ v: String, readOnly: Bool, _ c: OptContext) throws -> MountRequest {
        let flag = c.flag
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
        let source = try c.host(src)
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
    static func statsFile(_ v: String, _ c: OptContext) throws -> String {
        guard !v.isEmpty else { throw RootlessError("--stats-json needs a file", fix: "e.g. --stats-json stats.json") }
        let p = try c.host(v)
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
