import RootlessOS
import Glibc

extension CgroupTree {
    /// Path (b): no delegated cgroup of our own, so the systemd user manager makes one.
    /// Order: StartTransientUnit with our pid and Delegate=yes -> wait for its job to
    /// finish (we are in the scope then) -> re-read our cgroup, which must now be ours ->
    /// the usual placement under it. The scope lives as long as a process is in it:
    /// systemd removes it (and what we made inside) once the sandbox and we are gone.
    public static func createInScope(_ p: CgroupPlan, bus: String, paths: HostPaths = HostPaths()) throws -> CgroupHandle {
        let unit = "rootless-\(getpid())-\(OS.startTime(pid: getpid()) ?? 0).scope"
        try SystemdScope.start(socket: bus, name: unit)
        let facts = SystemFacts.cgroup(paths)
        guard let base = facts.base, facts.delegated else {
            throw RootlessError(
                "systemd made scope \(unit), but the cgroup we are in (\(facts.base ?? "?")) is not delegated to us",
                fix:
                    "a systemd older than 238 cannot move processes of another session; run inside systemd-run --user --scope -p Delegate=yes, or use --cgroup optional"
            )
        }
        let missing = p.required.filter { !facts.available.contains($0) }
        guard missing.isEmpty else {
            throw RootlessError(
                "the systemd user manager delegates no \(missing.joined(separator: "/")) controller (scope \(base) offers: \(facts.available.isEmpty ? "none" : facts.available.joined(separator: " ")))",
                fix:
                    "delegate it to user sessions (a drop-in for user@.service with Delegate=\(missing.joined(separator: " ")) and systemctl daemon-reload), or use --cgroup optional"
            )
        }
        var q = p
        q.parent = base
        // Controllers asked for --stats only are best effort.
        q.controllers = p.controllers.filter { facts.available.contains($0) }
        return try create(q)
    }
}
