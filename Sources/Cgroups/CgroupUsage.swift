import RootlessOS
/// What a sandbox used, read from its cgroup at exit (or, without one, from rusage), and
/// how --stats / --stats-json print it. Parsing is pure.
public struct SandboxStats: Equatable, Sendable {
    public var wallSeconds: Double
    public var cpuUserUsec: UInt64?
    public var cpuSystemUsec: UInt64?
    public var memoryPeak: UInt64?
    public var pidsPeak: UInt64?
    public var oomKills: UInt64?
    /// "cgroup" or "rusage" (no cgroup: CPU of the reaped processes only, no memory/pids).
    public var source: String
    public init(wallSeconds: Double, source: String) {
        self.wallSeconds = wallSeconds
        self.source = source
    }

    /// Values of "key value" lines (cpu.stat, memory.events).
    public static func keyed(_ text: String, _ key: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 && f[0] == key { return UInt64(f[1]) }
        }
        return nil
    }

    /// A single number file (memory.peak, pids.peak); "max" is not a number.
    public static func single(_ text: String?) -> UInt64? {
        text.flatMap { UInt64($0.split(separator: "\n").first ?? "") }
    }

    /// From the cgroup's files (nil where the kernel lacks the file: memory.peak needs
    /// 5.19, pids.peak 6.13).
    public mutating func apply(cpuStat: String?, memoryPeak: String?, memoryEvents: String?, pidsPeak: String?) {
        cpuUserUsec = cpuStat.flatMap { Self.keyed($0, "user_usec") }
        cpuSystemUsec = cpuStat.flatMap { Self.keyed($0, "system_usec") }
        self.memoryPeak = Self.single(memoryPeak)
        oomKills = memoryEvents.flatMap { Self.keyed($0, "oom_kill") }
        self.pidsPeak = Self.single(pidsPeak)
    }

    static func mib(_ b: UInt64) -> String {
        let v = Double(b) / 1_048_576
        return v < 10 ? String(Double(Int(v * 100)) / 100) + " MiB" : String(Double(Int(v * 10)) / 10) + " MiB"
    }
    static func secs(_ us: UInt64) -> String { String(Double(us / 1000) / 1000) + " s" }

    public var text: String {
        var parts = ["wall \(String(Double(Int(wallSeconds * 1000)) / 1000)) s"]
        if let u = cpuUserUsec, let s = cpuSystemUsec { parts.append("cpu user \(Self.secs(u)) system \(Self.secs(s))") }
        parts.append("peak memory " + (memoryPeak.map(Self.mib) ?? "n/a"))
        parts.append("peak pids " + (pidsPeak.map(String.init) ?? "n/a"))
        parts.append("oom kills " + (oomKills.map(String.init) ?? "n/a"))
        return "stats (\(source)): " + parts.joined(separator: ", ")
    }

    public var json: String {
        func n(_ v: UInt64?) -> String { v.map(String.init) ?? "null" }
        return "{\"source\":\"\(source)\",\"wall_seconds\":\(wallSeconds),\"cpu_user_usec\":\(n(cpuUserUsec)),\"cpu_system_usec\":\(n(cpuSystemUsec)),"
            + "\"memory_peak_bytes\":\(n(memoryPeak)),\"pids_peak\":\(n(pidsPeak)),\"oom_kills\":\(n(oomKills))}\n"
    }
}
