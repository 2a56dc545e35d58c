import RootlessOS
import Cgroups
import SeccompCompile
import IDMap

/// What the planner needs to know about the host, gathered by SystemFacts (effects) or
/// written by hand in tests.
public struct HostFacts {
    public var uid: UInt32
    public var gid: UInt32
    public var userName: String?
    public var cwd: String
    public var env: [String]
    public var subuid: SubIDTable?
    public var subgid: SubIDTable?
    public var uidHelper: HelperStatus
    public var gidHelper: HelperStatus
    public var subuidPath = "/etc/subuid"
    public var subgidPath = "/etc/subgid"
    /// nil: not gathered (the planner then plans no cgroup, and fails on limits).
    public var cgroup: CgroupFacts?
    /// nil: missing; true: directory; false: something else.
    public var lookup: (String) -> Bool?
    /// The path with its symlinks resolved (one that does not exist: its parent resolved,
    /// plus its name; nil: nothing resolves). Identity by default (tests with lexical paths).
    public var resolve: (String) -> String? = { $0 }

    public init(
        uid: UInt32, gid: UInt32, userName: String?, cwd: String, env: [String], subuid: SubIDTable?, subgid: SubIDTable?,
        uidHelper: HelperStatus, gidHelper: HelperStatus, lookup: @escaping (String) -> Bool?
    ) {
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.cwd = cwd
        self.env = env
        self.subuid = subuid
        self.subgid = subgid
        self.uidHelper = uidHelper
        self.gidHelper = gidHelper
        self.lookup = lookup
    }
}
