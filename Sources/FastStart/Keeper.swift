import RootlessOS
import RootlessCore
import IDMap

/// The keeper of a mapped user namespace (podman's pause process): the first run with
/// some maps starts a process that holds a user namespace with those maps written
/// (by newuidmap/newgidmap, or directly for one id); later runs with the same maps setns()
/// into it instead of mapping again, and take a fresh network namespace from its pool.
/// Everything here is pure: names. The effects are in OS/KeeperStore.swift and keeper.c.
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
}
