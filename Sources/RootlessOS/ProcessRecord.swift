/// "PID STARTTIME [PATH]\n": how a process that must outlive rootless is recorded (the
/// keeper; a sandbox's cgroup for `rootless gc`). STARTTIME, field 22 of /proc/PID/stat,
/// tells the recorded process from a later one that reused its pid. Pure.
public struct ProcessRecord: Equatable, Sendable {
    public var pid: Int32
    public var startTime: UInt64
    /// What the process owns (the cgroup path), if anything.
    public var path: String?
    public init(pid: Int32, startTime: UInt64, path: String? = nil) {
        self.pid = pid
        self.startTime = startTime
        self.path = path
    }

    public var text: String { "\(pid) \(startTime)\(path.map { " " + $0 } ?? "")\n" }

    public init?(parsing s: String) {
        guard let line = s.split(separator: "\n", omittingEmptySubsequences: false).first else { return nil }
        let f = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard f.count >= 2, let p = Int32(f[0]), p > 0, let t = UInt64(f[1]) else { return nil }
        guard f.count == 2 || !f[2].isEmpty else { return nil }
        self.init(pid: p, startTime: t, path: f.count == 3 ? String(f[2]) : nil)
    }

    /// Field 22 (starttime) of /proc/PID/stat. The command name (field 2) may hold
    /// spaces and parentheses, so fields are counted after the last ')'.
    public static func startTime(stat s: String) -> UInt64? {
        guard let close = s.lastIndex(of: ")") else { return nil }
        let rest = s[s.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state), so field 22 is rest[19].
        return rest.count > 19 ? UInt64(rest[19]) : nil
    }
}
