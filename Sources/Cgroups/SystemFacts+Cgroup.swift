import RootlessOS
import CRootless
import Glibc

extension SystemFacts {
    /// The caller's cgroup2 and whether it is delegated: the directory is ours and its
    /// cgroup.procs and cgroup.subtree_control are writable. Reads two /proc files, one
    /// cgroup.controllers, and checks three permissions.
    public static func cgroup(_ p: HostPaths) -> CgroupFacts {
        let selfCgroup = Observe.readFile(p.proc + "/self/cgroup") ?? ""
        let layout =
            fastLayout(p, selfCgroup: selfCgroup)
            ?? CgroupLayout.detect(mountinfo: Observe.readFile(p.proc + "/self/mountinfo") ?? "", selfCgroup: selfCgroup)
        guard let mount = layout.v2Mount, let own = layout.ownPath else { return CgroupFacts(layout: layout, base: nil, delegated: false, available: []) }
        let base = CgroupFacts.base(mount: mount, own: own)
        let delegated =
            Observe.stat(base)?.uid == getuid() && Observe.access(base, W_OK)  // unobserved: getuid, an input
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

}
