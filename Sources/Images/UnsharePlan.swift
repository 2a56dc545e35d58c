import RootlessOS
import RootlessCore
import FastStart
import IDMap

extension Planner {
    /// `rootless unshare` and the store's own work (unpacking layers): a new user and
    /// mount namespace with the run's id maps, nothing else. The filesystem stays the
    /// caller's, the command is root inside with every capability of that namespace (as
    /// `podman unshare`), no seccomp policy, no pivot.
    public static func planUnshare(command: [String], map: MapMode, _ h: HostFacts) throws -> Plan {
        var s = RunSpec()
        s.command = command
        s.map = map
        s.seccomp = .unconfined
        s.fakeRoot = false
        s.capAdd = ["ALL"]
        s.cgroup = .none
        var p = try plan(s, h)
        p.namespaces = [.user, .mount]
        p.root = .keep
        p.mounts = []
        p.hostname = nil
        p.cwd = h.cwd
        p.useInit = false
        p.seccomp = []
        p.cgroup = nil
        p.cgroupNote = nil
        return p
    }
}
