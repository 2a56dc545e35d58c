import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc
import IDMap

extension SystemFacts {
    /// `subIDs: false` (for --map self) skips /etc/passwd, /etc/subuid|subgid and the
    /// helper checks: that mode uses none of them, and this runs on every start.
    /// `cgroups: false` (--cgroup none) skips the cgroup facts.
    public static func gather(
        _ p: HostPaths = HostPaths(), subIDs: Bool = true, cgroups: Bool = true,
        cwd: String? = OS.knownDirectory()  // unobserved: the cwd is a cached start's input
    ) -> HostFacts {
        let uid = getuid(), gid = getgid()  // unobserved: inputs of a cached start (compared byte for byte)
        let unused = HelperStatus.missing(name: "not looked up for --map self")
        let name = subIDs ? Observe.readFile(p.etc + "/passwd").flatMap { Passwd.lookup(uid: uid, in: $0)?.name } : nil
        let nnp = subIDs && noNewPrivs(p)
        var f = HostFacts(
            uid: uid, gid: gid, userName: name, cwd: cwd ?? "/", env: OS.environment(),  // unobserved: a recipe's input (rl_env_recipe), made afresh per run
            subuid: subIDs ? Observe.readFile(p.etc + "/subuid").map { SubIDTable(parsing: $0) } : nil,
            subgid: subIDs ? Observe.readFile(p.etc + "/subgid").map { SubIDTable(parsing: $0) } : nil,
            uidHelper: subIDs ? helper("newuidmap", p, nnp) : unused,
            gidHelper: subIDs ? helper("newgidmap", p, nnp) : unused,
            lookup: Observe.lookup)
        f.resolve = Observe.realpath
        f.subuidPath = p.etc + "/subuid"
        f.subgidPath = p.etc + "/subgid"
        f.cgroup = cgroups ? cgroup(p) : nil
        // The planner reads these from f.env (the home it hides, where rootless's own state
        // lies): observed, so a cached start made under other values is planned afresh.
        for k in ["HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_DATA_HOME"] { _ = Observe.env(k) }
        return f
    }

}
