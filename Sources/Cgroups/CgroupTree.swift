import RootlessOS
import CRootless
import Glibc

/// One sandbox's cgroup on the live system: parent/rootless-<pid> (the limits) with a
/// `payload` leaf (the processes, the cgroup namespace root). Effects only; what to
/// create was decided by Planner.cgroupPlan.
public struct CgroupHandle: Equatable, Sendable {
    public var path: String
    /// O_DIRECTORY fd of the payload leaf, for CLONE_INTO_CGROUP (closed by finish).
    public var leafFD: Int32
    /// The gc record to remove at the end (nil: none was written).
    public var record: String?
    public init(path: String, leafFD: Int32, record: String? = nil) {
        self.path = path
        self.leafFD = leafFD
        self.record = record
    }
}

public enum CgroupTree {
    /// Order: controllers on in the parent (moving the parent's own processes into the
    /// `rootless-outer` leaf first: a cgroup with processes cannot give controllers to its
    /// children) -> mkdir the sandbox cgroup -> its limits -> controllers on in it -> mkdir
    /// the leaf -> a copy of the limits there (tools inside read them) -> open the leaf ->
    /// a record for `rootless gc`. On failure everything made so far is removed.
    public static func create(_ p: CgroupPlan, name: String = "rootless-\(getpid())") throws -> CgroupHandle {
        try enable(p.controllers, in: p.parent)
        let path = p.parent + "/" + name
        if mkdir(path, 0o755) != 0 {
            // EEXIST: left by a dead run that had our pid (we are the only live one).
            guard errno == EEXIST else {
                throw RootlessError("cannot create cgroup \(path)", errno: errno, fix: "check that \(p.parent) is delegated to you (rootless doctor)")
            }
            _ = remove(path)
            guard mkdir(path, 0o755) == 0 else {
                throw RootlessError("cannot create cgroup \(path)", errno: errno, fix: "remove it (rootless gc) and try again")
            }
        }
        do {
            for l in p.limits { try write(path + "/" + l.file, l.value, what: "set \(l.file)=\(l.value)") }
            if !p.controllers.isEmpty {
                try write(
                    path + "/cgroup.subtree_control", p.controllers.map { "+" + $0 }.joined(separator: " "),
                    what: "enable \(p.controllers.joined(separator: " "))")
            }
            let leaf = path + "/payload"
            guard mkdir(leaf, 0o755) == 0 else { throw RootlessError("cannot create cgroup \(leaf)", errno: errno) }
            for l in p.limits { try write(leaf + "/" + l.file, l.value, what: "set \(l.file)=\(l.value)") }
            let fd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw RootlessError("cannot open cgroup \(leaf)", errno: errno) }
            return CgroupHandle(path: path, leafFD: fd, record: record(name, path))
        } catch {
            _ = remove(path)
            throw error
        }
    }

    static func enable(_ controllers: [String], in parent: String) throws {
        let on = Set((OS.readFile(parent + "/cgroup.subtree_control") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let missing = controllers.filter { !on.contains($0) }
        guard !missing.isEmpty else { return }
        let outer = parent + "/" + CgroupFacts.outerLeaf
        // New processes can appear while we move (a shell forking): a few rounds.
        for _ in 0..<8 {
            let pids = (OS.readFile(parent + "/cgroup.procs") ?? "").split(separator: "\n")
            if pids.isEmpty { break }
            mkdir(outer, 0o755)
            for pid in pids { _ = try? write(outer + "/cgroup.procs", String(pid), what: "move process \(pid) into \(outer)") }
        }
        try write(
            parent + "/cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "), what: "enable \(missing.joined(separator: " "))",
            fix: "\(parent) must be delegated with these controllers (systemd: Delegate=yes); its processes must be movable into \(outer)")
    }

    /// At exit (or timeout, Ctrl-C): kill everything left (cgroup.kill; freeze, kill each
    /// pid, thaw where it is missing), wait until the cgroup is empty (cgroup.events
    /// "populated 0", woken by POLLPRI), read the usage, remove the tree and the record.
    /// `usage`: read everything --stats prints; else only memory.events (OOM kills).
    public static func finish(_ h: CgroupHandle, wallSeconds: Double, usage: Bool) -> SandboxStats {
        close(h.leafFD)
        if (try? write(h.path + "/cgroup.kill", "1", what: "kill")) == nil { freezeAndKill(h.path) }
        waitEmpty(h.path)
        var s = SandboxStats(wallSeconds: wallSeconds, source: "cgroup")
        s.apply(
            cpuStat: usage ? OS.readFile(h.path + "/cpu.stat") : nil, memoryPeak: usage ? OS.readFile(h.path + "/memory.peak") : nil,
            memoryEvents: OS.readFile(h.path + "/memory.events"), pidsPeak: usage ? OS.readFile(h.path + "/pids.peak") : nil)
        // The usual shape first (two rmdirs); a tree walk only when the payload made
        // cgroups of its own (--cgroup-delegate).
        if !(rmdir(h.path + "/payload") == 0 && rmdir(h.path) == 0) { _ = remove(h.path) }
        if let r = h.record { unlink(r) }
        return s
    }

    static func freezeAndKill(_ path: String) {
        _ = try? write(path + "/cgroup.freeze", "1", what: "freeze")
        for dir in tree(path) {
            for pid in (OS.readFile(dir + "/cgroup.procs") ?? "").split(separator: "\n") { if let p = Int32(pid) { kill(p, SIGKILL) } }
        }
        _ = try? write(path + "/cgroup.freeze", "0", what: "thaw")
    }

    static func waitEmpty(_ path: String) {
        let fd = open(path + "/cgroup.events", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256)
        for _ in 0..<50 {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 || String(decoding: buf[0..<n], as: UTF8.self).contains("populated 0") { return }
            var p = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
            _ = poll(&p, 1, 100)
        }
    }

    /// The directory and every cgroup below it, deepest first.
    static func tree(_ path: String) -> [String] {
        (OS.listDirectory(path) ?? []).filter(\.isDir).flatMap { tree(path + "/" + $0.name) } + [path]
    }

    /// rmdir deepest first (cgroupfs removes a directory with its interface files).
    @discardableResult
    static func remove(_ path: String) -> Bool {
        if (try? write(path + "/cgroup.kill", "1", what: "kill")) == nil { freezeAndKill(path) }
        waitEmpty(path)
        return tree(path).allSatisfy { rmdir($0) == 0 || errno == ENOENT }
    }

    static func write(_ path: String, _ value: String, what: String, fix: String = "check the value, and that the cgroup is delegated to you (rootless doctor)")
        throws
    {
        let e = OS.writeExisting(path, value)
        guard e == 0 else { throw RootlessError("cannot \(what) in \(path)", errno: e, fix: fix) }
    }

    // ---- records for `rootless gc`: RuntimeDir/cgroups/NAME = "PID STARTTIME PATH" ----------

    static func record(_ name: String, _ path: String) -> String? {
        guard let d = RuntimeDir.path(sub: "cgroups"), let t = OS.startTime(pid: getpid()),
            OS.replaceFile(d + "/" + name, Array(ProcessRecord(pid: getpid(), startTime: t, path: path).text.utf8))
        else { return nil }
        return d + "/" + name
    }

    /// Removes the cgroups of runs whose rootless process is gone (SIGKILLed, crashed).
    /// Returns the paths removed.
    public static func gc(proc: String = "/proc") -> [String] {
        guard let d = RuntimeDir.path(sub: "cgroups") else { return [] }
        var removed: [String] = []
        for e in OS.listDirectory(d) ?? [] where e.name.hasPrefix("rootless-") && !e.name.contains(".tmp.") {
            let file = d + "/" + e.name
            guard let r = OS.readFile(file, limit: 4096).flatMap(ProcessRecord.init(parsing:)), let path = r.path,
                // Only ever a rootless-* directory inside a cgroup2 tree.
                // (and no "..": the record names where it is, never a way out of the tree).
                path.hasPrefix("/sys/fs/cgroup/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }),
                path.split(separator: "/").last?.hasPrefix("rootless-") == true
            else { unlink(file); continue }
            if OS.isRunning(r, proc: proc) { continue }
            if OS.lookup(path) == true && remove(path) { removed.append(path) }
            if OS.lookup(path) == nil { unlink(file) }
        }
        return removed
    }
}
