import RootlessOS
/// What the planner needs to know about the caller's cgroup, gathered by SystemFacts
/// (stat/access/reads) or written by hand in tests.
public struct CgroupFacts: Equatable, Sendable {
    public var layout: CgroupLayout
    /// The cgroup rootless may create sandboxes under: the caller's own cgroup, or its
    /// parent when the caller sits in the `rootless-outer` leaf an earlier run made.
    public var base: String?
    /// base, its cgroup.procs and cgroup.subtree_control are writable by the caller (and
    /// the directory is owned by it): delegated.
    public var delegated: Bool
    /// base's cgroup.controllers: what its children can be given.
    public var available: [String]
    /// The session bus socket (a path, or "@name" abstract) when the caller's cgroup is
    /// not delegated on a pure v2 host: the systemd user manager there can make a
    /// delegated scope. Looked up only in that case.
    public var userBus: String?
    public init(layout: CgroupLayout, base: String?, delegated: Bool, available: [String], userBus: String? = nil) {
        self.layout = layout
        self.base = base
        self.delegated = delegated
        self.available = available
        self.userBus = userBus
    }

    /// Name of the leaf the processes of `base` move into before controllers can be
    /// enabled for its children (the "no internal processes" rule).
    public static let outerLeaf = "rootless-outer"

    /// base for an own cgroup path under the v2 mount.
    public static func base(mount: String, own: String) -> String {
        let path = own == "/" ? mount : mount + own
        // A suffix test, not split: this runs on every start (see Text).
        let leaf = "/" + outerLeaf
        return path.hasSuffix(leaf) ? String(path.dropLast(leaf.count)) : path
    }
}

/// `--cgroup auto|optional|none`.
public enum CgroupMode: String, Equatable, Sendable, CaseIterable {
    case auto, optional, none
}

/// The sandbox's cgroup, decided before anything is created. The launcher makes
/// `parent/rootless-<pid>` with the limits, and a `payload` leaf inside it (where the
/// processes run and the cgroup namespace is rooted, holding a copy of the limits so
/// tools inside see them; the parent's copy is the one the payload cannot change).
public struct CgroupPlan: Equatable, Sendable {
    /// Where rootless-<pid> goes; with `scopeBus`, filled in at launch (the scope's path).
    public var parent: String
    /// Ask the systemd user manager on this bus for a `rootless-<pid>-<start>.scope` with
    /// Delegate=yes first, and use it as the parent.
    public var scopeBus: String?
    /// Controllers the limits need (enabled in parent's and the sandbox's subtree_control).
    public var controllers: [String]
    public var limits: [CgroupSetting]
    /// --cgroup-delegate: /sys/fs/cgroup inside is writable (nested managers).
    public var delegate: Bool
    public init(parent: String, scopeBus: String? = nil, controllers: [String], limits: [CgroupSetting], delegate: Bool) {
        self.parent = parent
        self.scopeBus = scopeBus
        self.controllers = controllers
        self.limits = limits
        self.delegate = delegate
    }

    /// Controllers the limits themselves need (the rest, for --stats, are best effort).
    public var required: [String] {
        controllers.filter { c in limits.contains { $0.file.hasPrefix(c + ".") } }
    }
}

public struct CgroupSetting: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var value: String
    public init(_ file: String, _ value: String) {
        self.file = file
        self.value = value
    }
    public var description: String { "\(file)=\(value)" }
}
