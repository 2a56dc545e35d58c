import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc
import IDMap
import SlirpNet

/// RunSpec + HostFacts -> Plan. Pure: no syscalls, so every decision is golden-tested.
public enum Planner {
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    public static let defaultHostname = "rootless"

    /// OCI runtimes' masked paths (runc/crun defaults): files get /dev/null, dirs an
    /// empty read-only tmpfs. Missing ones are skipped.
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ]
    public static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    public static func plan(_ s: RunSpec, _ h: HostFacts) throws -> Plan {
        if s.userns == .none { return try planNoUserns(s, h) }
        let hostView = s.rootfs == nil && s.imageRoot == nil
        if let r = s.rootfs, h.lookup(r) != true {
            throw RootlessError("rootfs \(r) does not exist or is not a directory", fix: "create it (e.g. unpack an image into it) or fix the path")
        }
        for case let .bind(src, _, _) in s.mounts where h.lookup(src) == nil {
            throw RootlessError("bind source \(src) does not exist", fix: "create it first or fix the path")
        }

        var inputs = MapInputs(
            mode: s.map, uid: h.uid, gid: h.gid, userName: h.userName, subuid: h.subuid, subgid: h.subgid,
            uidHelper: h.uidHelper, gidHelper: h.gidHelper)
        inputs.subuidPath = h.subuidPath
        inputs.subgidPath = h.subgidPath
        let idmap: IDMapPlan
        do { idmap = try IDMapPlanner.plan(inputs) } catch let e as IDMapError { throw RootlessError(e.description) }

        let uid = s.user?.uid ?? idmap.defaultUID
        let gid = s.user?.gid ?? (s.user != nil && idmap.mapsGID(uid) ? uid : idmap.defaultGID)
        guard idmap.mapsUID(uid) else {
            throw RootlessError(
                "uid \(uid) is not mapped in the sandbox (--map \(s.map.rawValue) maps \(idmap.uidLines.map(\.description)))",
                fix: "use --map auto with a subuid range that covers it, or choose a mapped uid")
        }
        guard idmap.mapsGID(gid) else {
            throw RootlessError(
                "gid \(gid) is not mapped in the sandbox (--map \(s.map.rawValue) maps \(idmap.gidLines.map(\.description)))",
                fix: "use --map auto with a subgid range that covers it, or choose a mapped gid")
        }

        var ns: [Namespace] = [.user, .mount, .pid, .uts, .ipc]
        if s.net.newNamespace { ns.append(.net) }
        ns.append(.cgroup)

        let cwd = s.workdir ?? (hostView ? h.cwd : "/")
        let state = statePaths(s, h)
        // Made before planning (StateDirs); looked at so that a cached start is planned
        // afresh if one is gone (its mask would be skipped).
        for p in state { _ = h.lookup(p) }
        // Host paths as the kernel will find them: every symlink resolved here (the child
        // then refuses any symlink in a source, so none can be swapped in after this check).
        let homeAlias = homeDir(h)
        let home = homeAlias.map { h.resolve($0) ?? $0 }
        let rootfs = s.rootfs.map { h.resolve($0) ?? $0 }
        let userMountsResolved: [MountRequest] = s.mounts.map {
            if case let .bind(src, dst, ro) = $0 { return .bind(source: h.resolve(src) ?? src, target: dst, readOnly: ro) }
            return $0
        }
        // The whole host writable is never a side effect (a symlink planted by an earlier
        // sandbox in a project directory: rootfs -> /): it must be asked for read-only.
        func symlinkNote(_ given: String, _ real: String) -> String { given == real ? "" : " (\(given) is a symlink to \(real))" }
        if let r = rootfs, r == "/", !s.readOnly {
            throw RootlessError(
                "--rootfs \(s.rootfs!) is the host's whole /\(symlinkNote(s.rootfs!, r)), writable",
                fix: "leave out --rootfs for the read-only view of the host, or add --read-only")
        }
        for (given, m) in zip(s.mounts, userMountsResolved) {
            if case let .bind(src, _, ro) = m, src == "/", !ro, case let .bind(g, _, _) = given {
                throw RootlessError("--bind \(g) binds the host's whole / writable\(symlinkNote(g, src))", fix: "bind the directory you mean, or use --ro-bind")
            }
        }
        // Nor is the home: a symlink that leads to it (or to a directory holding it) is
        // refused; --home ro|rw, or the home's own path, says it on purpose.
        if let home {
            let given = s.mounts.compactMap { if case let .bind(g, _, _) = $0 { return g } else { return nil } } + (s.rootfs.map { [$0] } ?? [])
            let real = userMountsResolved.compactMap { if case let .bind(r, _, _) = $0 { return r } else { return nil } } + (rootfs.map { [$0] } ?? [])
            for (g, r) in zip(given, real) where g != r && (r == home || Paths.isBeneath(home, r)) {
                throw RootlessError(
                    "\(g) is a symlink to \(r), which holds your home", fix: "use --home ro or --home rw to show your home, or name \(r) itself")
            }
        }
        var notes: [String] = []
        // The caller's directory is shared read-write, unless it holds more than one
        // project's files (/, /tmp, a home) or rootless's own state: then a note says so.
        var cwdBound = false
        if hostView && s.workdir == nil {
            if let why = unsharedCwd(h.cwd, home: home, state: state) {
                notes.append("your current directory \(h.cwd) is not shared with the sandbox (\(why)); cd into your project, or --bind \(h.cwd) to share it")
            } else {
                cwdBound = true
            }
        }
        var m: [MountOp] = []
        var userMounts = userMountsResolved
        /// A default tmpfs (with a size: a payload must not fill the host's memory), unless
        /// the user gave its own options with --tmpfs on the same target.
        func defaultTmpfs(_ target: String, _ data: String, _ flags: MountOp.Flags) -> MountOp {
            if let i = userMounts.firstIndex(where: { if case .tmpfs(target, _) = $0 { return true } else { return false } }),
                case let .tmpfs(_, opts) = userMounts.remove(at: i)
            {
                return MountOp(.tmpfs, target, data: opts ?? data, flags: flags)
            }
            return MountOp(.tmpfs, target, data: data, flags: flags)
        }
        if hostView {
            // /tmp first: the current directory may live under it and must stay visible.
            m.append(defaultTmpfs("/tmp", "mode=1777,size=\(tmpSize)", [.nosuid, .nodev]))
            // Homes: none but the caller's, and that one by --home. /home is a small tmpfs
            // (so $HOME and the cwd can be made in it), /root and /run/user are masked.
            if h.lookup("/home") == true { m.append(MountOp(.tmpfs, "/home", data: "mode=0755,size=1m", flags: [.nosuid, .nodev, .noexec])) }
            for p in ["/root", "/run/user"] where home != p {
                m.append(MountOp(.mask, p, flags: [.optional, .noCreate]))
            }
        }
        let homeShown = home.map { h.lookup($0) == true } ?? false
        if let home, homeShown {
            switch s.home {
            case .empty:
                if hostView { m.append(MountOp(.tmpfs, home, data: "mode=0700,size=\(tmpSize),uid=\(uid),gid=\(gid)", flags: [.nosuid, .nodev])) }
            case .ro: m.append(MountOp(.bind, home, source: home, flags: [.readOnly, .nosuid, .nodev]))
            case .rw: m.append(MountOp(.bind, home, source: home, flags: [.nosuid, .nodev]))
            }
        }
        // $HOME reached through a symlink (/home/u -> /data/u): the home is mounted where it
        // really is, and the name $HOME gives is made again inside /home's tmpfs.
        if hostView, homeShown, let a = homeAlias, let r = home, a != r, Paths.isBeneath(a, "/home") {
            m.append(MountOp(.symlink, a, source: r))
        }
        if cwdBound { m.append(MountOp(.bind, h.cwd, source: h.cwd, flags: [.nosuid, .nodev])) }
        m.append(MountOp(.proc, "/proc", flags: [.nosuid, .nodev, .noexec, .noSymlinks]))
        if s.net.newNamespace {
            // A fresh sysfs shows only our own network devices; cgroup2 shows only our
            // cgroup namespace. Both read-only (CVE-2023-25809 class).
            m.append(MountOp(.sysfs, "/sys", flags: [.readOnly, .nosuid, .nodev, .noexec, .noSymlinks]))
            m.append(MountOp(.cgroup2, "/sys/fs/cgroup", flags: [.readOnly, .nosuid, .nodev, .noexec, .noSymlinks, .optional]))
        } else if !hostView {
            m.append(MountOp(.bind, "/sys", source: "/sys", flags: [.readOnly, .nosuid, .nodev, .noexec, .noSymlinks]))
        }
        m.append(MountOp(.tmpfs, "/dev", data: "mode=0755,size=65536", flags: [.nosuid, .noexec, .noSymlinks]))
        for d in devices { m.append(MountOp(.device, "/dev/" + d, source: "/dev/" + d)) }
        m.append(MountOp(.devpts, "/dev/pts", data: "newinstance,ptmxmode=0666,mode=0620", flags: [.nosuid, .noexec]))
        m.append(MountOp(.symlink, "/dev/ptmx", source: "pts/ptmx"))
        m.append(defaultTmpfs("/dev/shm", "mode=1777,size=\(shmSize)", [.nosuid, .nodev, .noexec]))
        m.append(MountOp(.mqueue, "/dev/mqueue", flags: [.nosuid, .nodev, .noexec, .optional]))
        m.append(MountOp(.symlink, "/dev/fd", source: "/proc/self/fd"))
        for (i, n) in ["stdin", "stdout", "stderr"].enumerated() {
            m.append(MountOp(.symlink, "/dev/" + n, source: "/proc/self/fd/\(i)"))
        }
        for r in userMounts {
            switch r {
            case let .bind(src, dst, ro):
                m.append(MountOp(.bind, dst, source: src, flags: ro ? [.readOnly, .nosuid, .nodev] : [.nosuid, .nodev]))
            case let .tmpfs(dst, opts):
                m.append(MountOp(.tmpfs, dst, data: opts ?? "mode=1777", flags: [.nosuid, .nodev]))
            }
        }
        for p in maskedPaths { m.append(MountOp(.mask, p, flags: [.optional, .noCreate])) }
        for p in readOnlyPaths { m.append(MountOp(.readonly, p, flags: [.optional, .nosuid, .nodev, .noexec, .noCreate])) }
        // Last: rootless's own state is masked wherever the view shows it (connect() works
        // on a read-only mount, so read-only is not enough), and a bind *inside* it is refused.
        var views: [(String, String)] = []
        if hostView { views.append(("/", "/")) } else if let r = rootfs { views.append((r, "/")) }
        if let home, homeShown, s.home != .empty { views.append((home, home)) }
        if cwdBound { views.append((h.cwd, h.cwd)) }
        for case let .bind(src, dst, _) in userMounts { views.append((src, dst)) }
        for (src, dst) in views {
            for p in state {
                if src == p || Paths.isBeneath(src, p) {
                    throw RootlessError(
                        "\(src) is rootless's own state (\(p): keeper sockets, start entries, caches, images); a sandbox must not reach it",
                        fix: "bind a directory of your own instead")
                }
                guard Paths.isBeneath(p, src) else { continue }
                let t = dst == "/" ? String(p.dropFirst(src == "/" ? 0 : src.count)) : dst + p.dropFirst(src == "/" ? 0 : src.count)
                if !m.contains(where: { $0.kind == .mask && $0.target == t }) { m.append(MountOp(.mask, t, flags: [.optional, .noCreate])) }
            }
        }
        guard m.count <= Plan.maxMounts else {
            throw RootlessError("too many mounts (\(m.count), at most \(Plan.maxMounts))", fix: "bind a common parent directory instead")
        }

        let env = environment(s, h)
        let path = searchPath(env)
        if let n = idmap.note { notes.insert(n, at: 0) }
        let root: RootPlan
        switch s.imageRoot?.mount {
        case let .overlay(layers, scratch, fuse)?: root = .overlay(layers: layers, scratch: scratch, fuse: fuse)
        case let .copy(dir)?: root = .directory(dir, readOnly: s.readOnly)
        case nil: root = hostView ? .hostView : .directory(rootfs!, readOnly: s.readOnly)
        }
        var plan = Plan(
            namespaces: ns, idmap: idmap, root: root,
            mounts: m, hostname: s.hostname ?? defaultHostname, argv: s.command, env: env, searchPath: path,
            cwd: cwd, uid: uid, gid: gid, capabilities: capabilities(s), useInit: !s.noInit, tty: s.tty,
            preserveFDs: s.preserveFDs, dieWithParent: s.dieWithParent, timeoutMS: timeoutMS(s), notes: notes)
        // Sandboxes with the same maps share one user namespace held by a keeper, as
        // podman's do (and take their network namespaces from its pool); --no-keeper gives
        // this one its own.
        plan.keeper = s.keeper
        if hostView, homeShown, s.home == .empty { plan.hiddenHome = home }
        if plan.capabilities.contains("CAP_SYS_ADMIN") || plan.capabilities.contains("CAP_SYS_PTRACE") {
            guard plan.useInit else {
                throw RootlessError(
                    "--no-init with CAP_SYS_ADMIN or CAP_SYS_PTRACE would let the command unlock the sandbox's mounts",
                    fix: "drop --no-init (rootless's pid 1 then runs the command in a nested user namespace), or the capability")
            }
            plan.nestUserns = true
        }
        // An image's WorkingDir need not exist in its layers (docker and podman create it);
        // only on an image root, which is a private writable copy.
        plan.createCwd = s.imageRoot != nil && !s.readOnly
        plan.rootRemovedAfter = s.imageRoot != nil
        plan.slirp = try slirpPlan(s)
        if let tool = NetHelperTool(rawValue: s.net.rawValue) {
            // The peer tools run IPv4-only (pasta --ipv4-only; slirp4netns's API takes an
            // IPv4 host_addr only).
            if let f = s.publish.first(where: { !$0.hostIP.isV4 }) {
                throw RootlessError(
                    "\(f.named): --net \(tool.rawValue) forwards IPv4 host addresses only", step: "args",
                    fix: "use --net slirp, or an IPv4 HOSTIP such as -p 127.0.0.1:\(f.hostPort):\(f.guestPort)")
            }
            guard let path = NetHelperTool.dirs.map({ $0 + "/" + tool.rawValue }).first(where: { h.lookup($0) == false }) else {
                throw RootlessError(
                    "--net \(tool.rawValue): \(tool.rawValue) is not installed (looked in \(NetHelperTool.dirs.joined(separator: ", ")))", step: "args",
                    fix: "apt-get install \(tool.rawValue), or use --net slirp (rootless's own)")
            }
            plan.netHelper = NetHelperPlan(tool: tool, path: path, publish: s.publish, apiDir: state.first ?? "/tmp", lingerMS: s.slirp.lingerMS)
            // pasta is started by this process, which would be inside a pooled user
            // namespace (the keeper's) by then; from there it cannot open the sandbox's
            // namespaces. The run makes its own user namespace instead.
            if tool == .pasta { plan.keeper = false }
        }
        // A user-mode network's DNS forwarder (the helpers' is at 10.0.2.3, as SlirpNet's default).
        if let dns = plan.slirp?.config.dns ?? (plan.netHelper != nil ? IPv4(10, 0, 2, 3) : nil) {
            let file = (state.first ?? "/tmp") + "/resolv-\(dns).conf"
            plan.resolvConf = ResolvConf(path: file, text: "nameserver \(dns)\n")
            plan.mounts.append(MountOp(.bind, "/etc/resolv.conf", source: file, flags: [.readOnly, .nosuid, .nodev, .optional]))
        }
        (plan.cgroup, plan.cgroupNote) = try cgroupPlan(s, h)
        if let c = plan.cgroup, c.delegate, let i = plan.mounts.firstIndex(where: { $0.kind == .cgroup2 }) {
            plan.mounts[i].flags.remove(.readOnly)
        }
        plan.rlimits = s.ulimits
        plan.stats = s.stats
        plan.statsJSON = s.statsJSON
        try applySeccomp(&plan, s)
        // Fake root by default where it is needed: one mapped id (files cannot belong to
        // anyone else) and the payload is root (package managers will chown and setuid).
        let singleID = idmap.uidLines.count == 1 && idmap.uidLines[0].count == 1
        if s.fakeRoot ?? (singleID && uid == 0 && s.seccomp != .unconfined) { plan.seccomp.append(.builtin("fake-root")) }
        // Without -t the command shares the caller's terminal: what would outlive the run
        // (its line discipline, exclusive mode, console redirection) is refused; its
        // settings (echo, raw mode) are put back when the run ends (supervise.c).
        if !s.tty && s.seccomp != .unconfined { plan.seccomp.append(.builtin("terminal")) }
        // An extra Landlock path must exist where the sandbox sees it (a typo grants nothing).
        if hostView || s.rootfs != nil {
            for (flag, paths) in [("--landlock-ro", s.landlockRO), ("--landlock-rw", s.landlockRW)] {
                for p in paths where h.lookup(hostView ? p : s.rootfs! + p) == nil {
                    throw RootlessError(
                        "\(flag) \(p): no such path in the sandbox", fix: "name a path that exists there (Landlock rules grant access beneath existing paths)")
                }
            }
        }
        if s.landlock {
            var rules = landlockRules(s, hostView: hostView, cwdBound: cwdBound, cwd: h.cwd)
            if let home, homeShown, s.home == .rw || (s.home == .empty && hostView) { rules.insert(LandlockRule(home, writable: true), at: 1) }
            plan.landlock = rules
        }
        plan.warmOff = warmOff(s, plan)
        return plan
    }

    /// --net slirp: the engine's link and policy. The egress flags need it.
    public static func slirpPlan(_ s: RunSpec) throws -> SlirpPlan? {
        guard s.net == .slirp else {
            if !s.allowNet.isEmpty || !s.allowNames.isEmpty || !s.denyNet.isEmpty || s.netLog || s.slirp.dnsUpstream != nil {
                throw RootlessError("--allow-net, --deny-net, --net-log and --dns need --net slirp", step: "args", fix: "add --net slirp")
            }
            if !s.publish.isEmpty && s.net != .pasta && s.net != .slirp4netns {
                throw RootlessError("-p needs a network of the sandbox's own: --net slirp, pasta or slirp4netns", step: "args", fix: "add --net slirp")
            }
            return nil
        }
        var policy = EgressPolicy(allow: s.allowNet, deny: s.denyNet, allowHostLoopback: s.slirp.allowHostLoopback)
        policy.allowNames = s.allowNames
        return SlirpPlan(config: s.slirp, policy: policy, log: s.netLog, publish: s.publish)
    }

    /// Default sizes of the sandbox's own tmpfs mounts (tmpfs takes a share of RAM):
    /// /tmp and an empty $HOME 10% each, /dev/shm 64 MiB as podman's.
    static let tmpSize = "10%"
    static let shmSize = "64m"

    /// The caller's $HOME (absolute, not /), from its environment.
    static func homeDir(_ h: HostFacts) -> String? {
        guard let v = h.env.last(where: { $0.hasPrefix("HOME=") })?.dropFirst(5), v.hasPrefix("/"), v != "/" else { return nil }
        return (try? Paths.normalize(String(v), "HOME")) ?? nil
    }

    /// What rootless itself trusts on disk: the runtime directory (keeper sockets, start
    /// entries, cgroup records, the MAC key), the seccomp cache and the image store. The
    /// same rules as RuntimeDir (rl_runtime_dir), SeccompLoader.defaultCacheDir and
    /// Store.defaultRoot, from the caller's environment.
    public static func statePaths(_ s: RunSpec, _ h: HostFacts) -> [String] {
        func env(_ k: String) -> String? {
            guard let v = h.env.last(where: { $0.hasPrefix(k + "=") })?.dropFirst(k.count + 1), v.hasPrefix("/") else { return nil }
            return (try? Paths.normalize(String(v), k)) ?? nil
        }
        let home = homeDir(h)
        // Both runtime directories a run may use: the one another run (without
        // XDG_RUNTIME_DIR: cron, ssh) would trust must not be planted from here either.
        var out = ["/tmp/rootless-\(h.uid)"]
        if let x = env("XDG_RUNTIME_DIR") { out.insert(x + "/rootless", at: 0) }
        if let c = env("XDG_CACHE_HOME").map({ $0 + "/rootless" }) ?? home.map({ $0 + "/.cache/rootless" }) { out.append(c) }
        if let d = s.storeRoot ?? env("XDG_DATA_HOME").map({ $0 + "/rootless" }) ?? home.map({ $0 + "/.local/share/rootless" }) { out.append(d) }
        // Where each really is (a path that does not exist yet: its parent resolved, plus its name).
        return out.map { h.resolve($0) ?? $0 }
    }

    /// Why the caller's directory is not shared read-write by default (nil: it is).
    static func unsharedCwd(_ cwd: String, home: String?, state: [String]) -> String? {
        if cwd == "/" { return "it is the whole host; the sandbox sees it read-only" }
        if ["/tmp", "/var/tmp", "/dev/shm"].contains(cwd) { return "it is shared by every program on the host" }
        if cwd == "/home" { return "it holds every user's home" }
        if cwd == home { return "it is your home, with your keys and tokens; the sandbox gets an empty one (--home)" }
        if state.contains(where: { cwd == $0 || Paths.isBeneath(cwd, $0) }) { return "it is rootless's own state" }
        return nil
    }

    /// Why the keeper may not build this sandbox ahead (nil: it may). A warm sandbox is
    /// the keeper's child, built from the config alone: whatever ties a sandbox to its
    /// run's process (its tty, fds, cgroup, parent, a notify listener, rusage) or to
    /// files named at run time (a policy file, an image's layers) keeps it cold.
    static func warmOff(_ s: RunSpec, _ plan: Plan) -> String? {
        if !s.warm { return "--no-warm" }
        if let n = plan.netHelper { return "--net \(n.tool.rawValue) (a helper serves the run's own namespace)" }
        if plan.tty { return "-t" }
        if plan.preserveFDs > 0 { return "--preserve-fds" }
        if plan.dieWithParent { return "--die-with-parent" }
        if !plan.useInit { return "--no-init" }
        if plan.cgroup != nil { return "a cgroup of its own" }
        if plan.stats || plan.statsJSON != nil { return "--stats" }
        if plan.seccompLog { return "--seccomp-log" }
        if plan.seccomp.contains(where: { if case .file = $0 { return true } else { return false } }) { return "a seccomp policy file" }
        // An image root (overlay or copy) is the run's own, removed after it: a sandbox
        // built over it for a later run could never be used.
        if plan.rootRemovedAfter { return "an image root" }
        if case .keep = plan.root { return "no new root" }
        return nil
    }

    /// Where the sandbox's cgroup goes: under the caller's own cgroup when it is delegated
    /// (and offers the controllers the limits need); else, on a pure v2 host with a
    /// session bus and limits, --stats or --cgroup-delegate asked, in a systemd scope; else none — an error when limits or
    /// --cgroup-delegate were asked for, unless --cgroup optional.
    static func cgroupPlan(_ s: RunSpec, _ h: HostFacts) throws -> (CgroupPlan?, String?) {
        let asked = !s.limits.isEmpty || s.cgroupDelegate
        if s.cgroup == .none {
            if asked {
                throw RootlessError("--cgroup none leaves nothing to enforce the limits (or --cgroup-delegate) given", fix: "drop --cgroup none, or the limits")
            }
            return (nil, nil)
        }
        let needed = s.limits.controllers
        let why: String
        if let c = h.cgroup, let mount = c.layout.v2Mount, let base = c.base {
            // A delegated cgroup2 subtree serves even on a hybrid host (kill-all cleanup, CPU
            // stats); limits need their controllers in it, which a hybrid host lacks.
            if c.delegated {
                let missing = needed.filter { !c.available.contains($0) }
                if missing.isEmpty {
                    // --stats reads memory.peak and pids.peak: those need their controllers on.
                    let extra = s.stats ? ["memory", "pids"].filter { c.available.contains($0) && !needed.contains($0) } : []
                    return (
                        CgroupPlan(
                            parent: base, controllers: (needed + extra).sorted(), limits: s.limits.files().map { CgroupSetting($0.0, $0.1) },
                            delegate: s.cgroupDelegate), nil
                    )
                }
                why =
                    c.layout.kind == .hybrid
                    ? "this host is hybrid: your cgroup2 subtree \(base) is delegated, but the controllers are in cgroup v1 (it has \(c.available.isEmpty ? "none" : "only " + Text.join(c.available, " ")))"
                    : "your cgroup \(base) is delegated but offers no \(Text.join(missing, "/")) controller (it has: \(c.available.isEmpty ? "none" : Text.join(c.available, " ")))"
            } else if c.layout.kind == .unified, let bus = c.userBus, asked || s.stats {
                // Path (b): the systemd user manager makes us a delegated scope. Which
                // controllers it delegates is seen only inside it (checked at launch).
                let extra = s.stats ? ["memory", "pids"].filter { !needed.contains($0) } : []
                return (
                    CgroupPlan(
                        parent: "", scopeBus: bus, controllers: (needed + extra).sorted(), limits: s.limits.files().map { CgroupSetting($0.0, $0.1) },
                        delegate: s.cgroupDelegate), nil
                )
            } else if c.layout.kind == .hybrid {
                why =
                    "this host is hybrid: cgroup v1 controllers, and the cgroup2 tree at \(mount) has \(c.available.isEmpty ? "no controllers" : "only " + Text.join(c.available, " "))"
            } else {
                why =
                    "your cgroup \(base) is not delegated to you"
                    + (c.layout.kind == .unified && c.userBus != nil ? " (limits, --stats and --cgroup-delegate get a systemd user scope)" : "")
            }
        } else {
            why = h.cgroup == nil ? "cgroups were not looked at" : "no cgroup v2 is mounted (cgroup v1 only)"
        }
        if h.cgroup == nil && !asked { return (nil, nil) }
        if asked && s.cgroup != .optional {
            let flags =
                (s.limits.isEmpty ? [] : ["limits (\(s.limits.files().map(\.0).joined(separator: ", ")))"]) + (s.cgroupDelegate ? ["--cgroup-delegate"] : [])
            throw RootlessError(
                "\(flags.joined(separator: " and ")) need a delegated cgroup v2 subtree, and \(why)",
                fix:
                    "run inside one: systemd-run --user --scope -p Delegate=yes rootless run ... (on a cgroup v2 host; a hybrid host needs systemd.unified_cgroup_hierarchy=1 at boot), or add --cgroup optional to run without limits"
            )
        }
        return (nil, why + (asked ? "; limits not enforced (--cgroup optional)" : ""))
    }

    /// --cap-drop ALL starts from nothing, --cap-add ALL from everything (as podman).
    static func capabilities(_ s: RunSpec) -> [String] {
        func norm(_ c: String) -> String { c.uppercased().hasPrefix("CAP_") ? c.uppercased() : "CAP_" + c.uppercased() }
        let dropAll = s.capDrop.contains { $0.uppercased() == "ALL" }
        var caps = dropAll ? [] : s.capAdd.contains { $0.uppercased() == "ALL" } ? Capabilities.names : Capabilities.defaultSet
        for a in s.capAdd.map(norm) where a != "CAP_ALL" && !caps.contains(a) { caps.append(a) }
        if !dropAll { caps.removeAll { s.capDrop.map(norm).contains($0) } }
        return caps
    }

    /// Landlock from the mounts: writable where a writable bind or tmpfs is, read/execute
    /// everywhere else — including the root of a writable --rootfs (the point of asking).
    static func landlockRules(_ s: RunSpec, hostView: Bool, cwdBound: Bool, cwd: String) -> [LandlockRule] {
        var r = [LandlockRule("/", writable: false)]
        if hostView { r.append(LandlockRule("/tmp", writable: true)) }
        if cwdBound { r.append(LandlockRule(cwd, writable: true)) }
        r.append(LandlockRule("/dev", writable: true))
        for m in s.mounts {
            switch m {
            case let .bind(_, dst, ro): r.append(LandlockRule(dst, writable: !ro))
            case let .tmpfs(dst, _): r.append(LandlockRule(dst, writable: true))
            }
        }
        return r + extraLandlock(s)
    }

    /// --landlock-ro / --landlock-rw, after the rules a mode derives itself.
    static func extraLandlock(_ s: RunSpec) -> [LandlockRule] {
        s.landlockRO.map { LandlockRule($0, writable: false) } + s.landlockRW.map { LandlockRule($0, writable: true) }
    }

    static func timeoutMS(_ s: RunSpec) -> Int64 { s.timeoutSeconds.map { Int64(($0 * 1000).rounded(.up)) } ?? 0 }

    static func searchPath(_ env: [String]) -> String { env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath }

    /// The policy filter (none for unconfined) and whether its denials are logged.
    static func applySeccomp(_ plan: inout Plan, _ s: RunSpec) throws {
        if s.seccompLog && s.seccomp == .unconfined {
            throw RootlessError(
                "--seccomp-log has nothing to log with --seccomp unconfined", fix: "name a policy (e.g. --seccomp default), or drop --seccomp-log")
        }
        plan.seccomp = s.seccomp == .unconfined ? [] : [s.seccomp]
        plan.seccompLog = s.seccompLog
    }

    /// The no-user-namespace rung: nothing is unshared, so nothing can be mounted or
    /// remapped. What is left: a new session, no_new_privs, Landlock (read/execute
    /// everywhere, write only in the working directory and --landlock-rw paths, no TCP
    /// with --net none, signals and abstract sockets scoped), and seccomp.
    static func planNoUserns(_ s: RunSpec, _ h: HostFacts) throws -> Plan {
        let unsupported: [(Bool, String)] = [
            (s.rootfs != nil, "--rootfs"), (!s.mounts.isEmpty, "--bind/--tmpfs"), (s.hostname != nil, "--hostname"),
            (s.user != nil, "--user"), (s.fakeRoot == true, "--fake-root"), (s.map != .auto, "--map"),
        ]
        if let f = unsupported.first(where: { $0.0 }) {
            throw RootlessError(
                "\(f.1) needs a user namespace, which --userns none does not create",
                fix: "drop \(f.1), or run where user namespaces are allowed (rootless doctor)")
        }
        let env = environment(s, h)
        let cwd = s.workdir ?? h.cwd
        var rules = [LandlockRule("/", writable: false), LandlockRule("/dev", writable: true)]
        // The same rule as with a namespace: a directory of more than one project's files
        // (or rootless's own) is not made writable; one line says so.
        let why = s.workdir == nil ? unsharedCwd(cwd, home: homeDir(h), state: statePaths(s, h)) : nil
        if cwd != "/" && why == nil { rules.append(LandlockRule(cwd, writable: true)) }
        rules += extraLandlock(s)
        var plan = Plan(
            namespaces: [], idmap: nil, root: .hostView, mounts: [], hostname: nil, argv: s.command, env: env,
            searchPath: searchPath(env), cwd: cwd, uid: h.uid, gid: h.gid, capabilities: [], useInit: false, tty: s.tty,
            preserveFDs: s.preserveFDs, dieWithParent: s.dieWithParent, timeoutMS: timeoutMS(s),
            notes: [
                "--userns none: no user, mount, pid, ipc, uts or cgroup namespace — the command runs as you, sees the host's files (read-only under Landlock except \(cwd == "/" || why != nil ? "--landlock-rw paths" : cwd)) and processes\(s.net.newNamespace ? ", and keeps UDP/unix networking (Landlock blocks TCP only)" : " and network")"
            ]
                + (why.map { ["your current directory \(cwd) is not writable by the command (\($0)); cd into your project, or --landlock-rw \(cwd)"] } ?? []))
        try applySeccomp(&plan, s)
        plan.landlock = rules
        plan.blockTCP = s.net.newNamespace
        return plan
    }

    /// The caller's environment (as bwrap does) unless --clearenv; then -e in order. An
    /// image brings its own environment: the caller's is not passed into it (but -e NAME
    /// still copies the caller's). The recipe is rl_env_recipe's, which a cached start
    /// uses too: one rule, in C, so the two can never differ.
    static func environment(_ s: RunSpec, _ h: HostFacts) -> [String] {
        let base = s.imageRoot?.env ?? h.env
        func cStrings(_ a: [String]) -> [UnsafeMutablePointer<CChar>?] { a.map { strdup($0) } + [nil] }
        let b = cStrings(base), c = cStrings(h.env), e = cStrings(s.env)
        defer { for p in b + c + e { free(p) } }
        var out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var path: UnsafePointer<CChar>?
        let rc = b.withUnsafeBufferPointer { bp in
            c.withUnsafeBufferPointer { cp in
                e.withUnsafeBufferPointer { ep in
                    ep.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: e.count) { sets in
                        rl_env_recipe(bp.baseAddress, cp.baseAddress, s.clearEnv ? 1 : 0, sets, defaultPath, &out, &path)
                    }
                }
            }
        }
        guard rc == 0, let out else { return [] }
        defer { free(out) }
        var env: [String] = []
        var i = 0
        while let p = out[i] { env.append(String(cString: p)); i += 1 }
        return env
    }
}
