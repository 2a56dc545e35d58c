import CRootless
import Glibc
import IDMap

/// Finds, starts and stops keepers (see Keeper.swift). Records live in the caller's
/// RuntimeDir (no such directory: no keeper, nothing breaks).
public struct KeeperStore {
    public var dir: String
    public var proc = "/proc"

    public init?(env: [String] = OS.environment(), uid: UInt32 = getuid()) {
        guard let d = RuntimeDir.path(env: env, uid: uid) else { return nil }
        dir = d
    }

    /// A user-namespace fd of a live keeper with exactly these maps, starting one when
    /// there is none. nil when none can be had; the caller then maps a fresh namespace
    /// itself (and reports any helper failure with the usual message).
    public func userns(_ m: IDMapPlan, helpers: ([[String]]) throws -> Void) -> Int32? {
        let key = Keeper.key(m)
        if let fd = join(key, m) { return fd }
        // Slow path, once per map layout: serialise starters so two first runs make one keeper.
        let lock = open(dir + "/" + key + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { return nil }
        defer { close(lock) }
        guard rl_flock(lock, LOCK_EX) == 0 else { return nil }
        if let fd = join(key, m) { return fd }
        return start(key, m, helpers: helpers)
    }

    /// Order: pidfd first, then the start time through /proc (a pid reused before the
    /// pidfd was taken fails here), the maps, the namespace fd, and last a liveness check
    /// on the pidfd (a keeper that died after the start-time check could have had its pid
    /// reused by the time /proc/PID/ns/user was opened).
    func join(_ key: String, _ m: IDMapPlan) -> Int32? {
        guard let r = OS.readFile(dir + "/" + key, limit: 64).flatMap(ProcessRecord.init(parsing:)) else { return nil }
        let pidfd = rl_pidfd_open(r.pid)
        guard pidfd >= 0 else { return nil }
        defer { close(pidfd) }
        let p = proc + "/\(r.pid)"
        guard OS.isRunning(r, proc: proc) else { return nil }
        guard let u = OS.readFile(p + "/uid_map"), let g = OS.readFile(p + "/gid_map"),
              Keeper.mapMatches(u, m.uidLines), Keeper.mapMatches(g, m.gidLines) else {
            _ = rl_pidfd_kill(pidfd, SIGKILL)   // ours, but holding other maps: replace it
            return nil
        }
        let ns = open(p + "/ns/user", O_RDONLY | O_CLOEXEC)
        guard ns >= 0 else { return nil }
        guard rl_pidfd_alive(pidfd) == 1 else { close(ns); return nil }
        return ns
    }

    /// clone the keeper -> helpers write its maps -> release it -> record (temp + rename,
    /// so a reader never sees half a record) -> open its namespace.
    func start(_ key: String, _ m: IDMapPlan, helpers: ([[String]]) throws -> Void) -> Int32? {
        var child = rl_child()
        guard rl_keeper_spawn(&child) == 0 else { return nil }
        do {
            try helpers([IDMapPlan.helperArgv(m.uidHelper ?? "newuidmap", pid: child.pid, m.uidLines),
                         IDMapPlan.helperArgv(m.gidHelper ?? "newgidmap", pid: child.pid, m.gidLines)])
        } catch {
            rl_abort(&child)
            return nil
        }
        guard rl_release(&child) == 0,
              let t = OS.startTime(pid: child.pid, proc: proc) else {
            rl_abort(&child)
            return nil
        }
        let ns = open(proc + "/\(child.pid)/ns/user", O_RDONLY | O_CLOEXEC)
        guard ns >= 0, OS.replaceFile(dir + "/" + key, Array(ProcessRecord(pid: child.pid, startTime: t).text.utf8)) else {
            if ns >= 0 { close(ns) }
            rl_abort(&child)
            return nil
        }
        close(child.pidfd)
        return ns
    }

    /// Live keepers as (key, record).
    public func list() -> [(String, ProcessRecord)] {
        var out: [(String, ProcessRecord)] = []
        for e in OS.listDirectory(dir) ?? [] {
            guard e.name.utf8.count == 16, e.name.allSatisfy(\.isHexDigit),
                  let r = OS.readFile(dir + "/" + e.name, limit: 64).flatMap(ProcessRecord.init(parsing:)), OS.isRunning(r, proc: proc) else { continue }
            out.append((e.name, r))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// Kills every live keeper (SIGKILL through a pidfd checked against the record) and
    /// waits until each is gone. Returns how many were stopped.
    public func stopAll() -> Int {
        var n = 0
        for (key, r) in list() {
            let pidfd = rl_pidfd_open(r.pid)
            guard pidfd >= 0 else { continue }
            if OS.isRunning(r, proc: proc), rl_pidfd_kill(pidfd, SIGKILL) == 0 {
                var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 5000)
                n += 1
            }
            close(pidfd)
            unlink(dir + "/" + key)
        }
        return n
    }
}
