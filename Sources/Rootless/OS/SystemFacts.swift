import CRootless
import Glibc
import IDMap

/// Kernel and config roots, injectable so tests can point them at a temp dir.
public struct HostPaths: Sendable {
    public var etc = "/etc"
    public var proc = "/proc"
    public var sys = "/sys"
    public var helperDirs = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
    public init() {}
}

public enum SystemFacts {
    /// `subIDs: false` (for --map self) skips /etc/passwd, /etc/subuid|subgid and the
    /// helper checks: that mode uses none of them, and this runs on every start.
    /// `cgroups: false` (--cgroup none) skips the cgroup facts.
    public static func gather(_ p: HostPaths = HostPaths(), subIDs: Bool = true, cgroups: Bool = true, cwd: String? = OS.knownDirectory()) -> HostFacts { // unobserved: the cwd is a cached start's input
        let uid = getuid(), gid = getgid() // unobserved: inputs of a cached start (compared byte for byte)
        let unused = HelperStatus.missing(name: "not looked up for --map self")
        let name = subIDs ? Observe.readFile(p.etc + "/passwd").flatMap { Passwd.lookup(uid: uid, in: $0)?.name } : nil
        let nnp = subIDs && noNewPrivs(p)
        var f = HostFacts(uid: uid, gid: gid, userName: name, cwd: cwd ?? "/", env: OS.environment(), // unobserved: a recipe's input (rl_env_recipe), made afresh per run
                          subuid: subIDs ? Observe.readFile(p.etc + "/subuid").map { SubIDTable(parsing: $0) } : nil,
                          subgid: subIDs ? Observe.readFile(p.etc + "/subgid").map { SubIDTable(parsing: $0) } : nil,
                          uidHelper: subIDs ? helper("newuidmap", p, nnp) : unused,
                          gidHelper: subIDs ? helper("newgidmap", p, nnp) : unused,
                          lookup: Observe.lookup)
        f.resolve = Observe.realpath
        f.subuidPath = p.etc + "/subuid"
        f.subgidPath = p.etc + "/subgid"
        f.cgroup = cgroups ? cgroup(p) : nil
        // The planner reads these from f.env (the home it hides, where rootless's own state
        // lies): observed, so a cached start made under other values is planned afresh.
        for k in ["HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_DATA_HOME"] { _ = Observe.env(k) }
        return f
    }

    /// The caller's cgroup2 and whether it is delegated: the directory is ours and its
    /// cgroup.procs and cgroup.subtree_control are writable. Reads two /proc files, one
    /// cgroup.controllers, and checks three permissions.
    public static func cgroup(_ p: HostPaths) -> CgroupFacts {
        let selfCgroup = Observe.readFile(p.proc + "/self/cgroup") ?? ""
        let layout = fastLayout(p, selfCgroup: selfCgroup)
            ?? CgroupLayout.detect(mountinfo: Observe.readFile(p.proc + "/self/mountinfo") ?? "", selfCgroup: selfCgroup)
        guard let mount = layout.v2Mount, let own = layout.ownPath else { return CgroupFacts(layout: layout, base: nil, delegated: false, available: []) }
        let base = CgroupFacts.base(mount: mount, own: own)
        let delegated = Observe.stat(base)?.uid == getuid() && Observe.access(base, W_OK) // unobserved: getuid, an input
            && Observe.access(base + "/cgroup.procs", W_OK) && Observe.access(base + "/cgroup.subtree_control", W_OK)
        let available = Text.words(Observe.readFile(base + "/cgroup.controllers", limit: 4096) ?? "")
        var facts = CgroupFacts(layout: layout, base: base, delegated: delegated, available: available)
        if !delegated && layout.kind == .unified { facts.userBus = userBus() }
        return facts
    }

    /// The usual places by statfs: cgroup2 at /sys/fs/cgroup (pure v2), or at
    /// /sys/fs/cgroup/unified under a tmpfs of v1 mounts (hybrid). Reading mountinfo is the
    /// costliest part of the start path where syscalls are slow (10 ms in the UML guest);
    /// it stays the fallback, and doctor's source for the v1 controller list.
    static func fastLayout(_ p: HostPaths, selfCgroup: String) -> CgroupLayout? {
        let cgroup2: Int = 0x6367_7270
        func type(_ path: String) -> Int { Observe.fsType(path) }
        let own = Text.line(in: selfCgroup, after: "0::")
        let root = p.sys + "/fs/cgroup"
        if type(root) == cgroup2 { return CgroupLayout(kind: .unified, v2Mount: root, v1Controllers: [], ownPath: own) }
        if type(root + "/unified") == cgroup2 { return CgroupLayout(kind: .hybrid, v2Mount: root + "/unified", v1Controllers: [], ownPath: own) }
        return nil
    }

    /// The session bus from DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus when it is
    /// a socket (what sd-bus does).
    static func userBus() -> String? {
        func value(_ k: String) -> String? { Observe.env(k) }
        if let a = value("DBUS_SESSION_BUS_ADDRESS") { return dbusUnixSocket(address: a) }
        guard let d = value("XDG_RUNTIME_DIR"), d.hasPrefix("/") else { return nil }
        return Observe.stat(d + "/bus").map { $0.mode & S_IFMT == S_IFSOCK } == true ? d + "/bus" : nil
    }

    public static func noNewPrivs(_ p: HostPaths) -> Bool {
        guard let s = OS.readFile(p.proc + "/self/status") else { return false } // unobserved: a run under it never leaves a cached start
        return Text.line(in: s, after: "NoNewPrivs:")?.hasSuffix("1") ?? false
    }

    /// A helper is usable when it is setuid root or carries file capabilities, and our
    /// own no_new_privs does not neuter both. (no_new_privs is not observed: a run under
    /// it has no warm request, so no cached start, and rl_warm_pack refuses it.)
    public static func helper(_ name: String, _ p: HostPaths, _ nnp: Bool) -> HelperStatus {
        for dir in p.helperDirs {
            let path = dir + "/" + name
            guard let st = Observe.stat(path), st.mode & S_IFMT == S_IFREG else { continue }
            let setuidRoot = st.uid == 0 && (st.mode & S_ISUID) != 0
            guard setuidRoot || Observe.fileCaps(path) == 1 else { return .notPrivileged(path: path) }
            return nnp ? .blockedByNoNewPrivs(path: path) : .usable(path: path)
        }
        return .missing(name: name)
    }
}
