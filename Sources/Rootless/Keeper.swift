import IDMap

/// The keeper of a mapped user namespace (podman's pause process): the first `--map auto`
/// run starts a process that holds a user namespace whose maps newuidmap/newgidmap wrote;
/// later runs with the same maps setns() into it instead of running the two setuid
/// helpers (~3 ms) again. Everything here is pure: record text, /proc text, names.
/// The effects are in OS/KeeperStore.swift.
public enum Keeper {
    /// argv[0] the keeper is exec'd with; main.swift turns it into rl_keeper_loop().
    public static let processName = "rootless-keeper"

    /// One keeper per map layout: the same lines always join the same namespace, and a
    /// changed /etc/subuid gets a new one.
    public static func key(_ m: IDMapPlan) -> String {
        var h = SHA256()
        h.update("uid\n" + IDMapPlan.render(m.uidLines) + "gid\n" + IDMapPlan.render(m.gidLines))
        return SHA256.hexString(h.finish(), bytes: 8)
    }

    /// Where the keeper is recorded: "PID STARTTIME\n". STARTTIME (field 22 of
    /// /proc/PID/stat) tells a reused pid from the keeper.
    public struct Record: Equatable, Sendable {
        public var pid: Int32
        public var startTime: UInt64
        public init(pid: Int32, startTime: UInt64) {
            self.pid = pid
            self.startTime = startTime
        }
        public var text: String { "\(pid) \(startTime)\n" }
        public init?(parsing s: String) {
            let f = s.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard f.count == 2, let p = Int32(f[0]), p > 0, let t = UInt64(f[1]) else { return nil }
            self.init(pid: p, startTime: t)
        }
    }

    /// Field 22 (starttime) of /proc/PID/stat. The command name (field 2) may hold
    /// spaces and parentheses, so fields are counted after the last ')'.
    public static func startTime(stat s: String) -> UInt64? {
        guard let close = s.lastIndex(of: ")") else { return nil }
        let rest = s[s.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state), so field 22 is rest[19].
        return rest.count > 19 ? UInt64(rest[19]) : nil
    }

    /// Whether /proc/PID/uid_map (or gid_map) text, read from the caller's namespace,
    /// holds exactly these lines (the kernel pads columns; order is as written).
    public static func mapMatches(_ text: String, _ lines: [MapLine]) -> Bool {
        let nums = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt32($0) }
        let want = lines.flatMap { [$0.inside, $0.outside, $0.count] }
        return nums.count == want.count && zip(nums, want).allSatisfy { $0 == $1 }
    }
}
