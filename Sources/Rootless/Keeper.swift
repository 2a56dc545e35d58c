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

    /// Whether /proc/PID/uid_map (or gid_map) text, read from the caller's namespace,
    /// holds exactly these lines (the kernel pads columns; order is as written).
    public static func mapMatches(_ text: String, _ lines: [MapLine]) -> Bool {
        let nums = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt32($0) }
        let want = lines.flatMap { [$0.inside, $0.outside, $0.count] }
        return nums.count == want.count && zip(nums, want).allSatisfy { $0 == $1 }
    }
}
