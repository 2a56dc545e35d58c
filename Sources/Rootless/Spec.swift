import IDMap
import SlirpNet

/// A bind or tmpfs request, in command-line order.
public enum MountRequest: Equatable, Sendable {
    case bind(source: String, target: String, readOnly: Bool)
    case tmpfs(target: String, options: String?)
}

/// What the user asked for, as values. Produced by RunArguments (or, later, an OCI
/// config); turned into a Plan by Planner with the host's facts.
public struct RunSpec: Equatable, Sendable {
    public var rootfs: String?
    public var readOnly = false
    public var mounts: [MountRequest] = []
    public var env: [String] = []          // "K=V" sets, "K" copies from the caller
    public var clearEnv = false
    public var workdir: String?
    public var hostname: String?
    public var user: (uid: UInt32, gid: UInt32?)?
    public var map: MapMode = .auto
    public var net: NetworkMode = .none
    public var noInit = false
    public var dieWithParent = false
    public var timeoutSeconds: Double?
    public var tty = false
    public var preserveFDs = 0
    public var dryRun = false
    public var command: [String] = []

    public init() {}

    public static func == (a: RunSpec, b: RunSpec) -> Bool {
        a.rootfs == b.rootfs && a.readOnly == b.readOnly && a.mounts == b.mounts && a.env == b.env
            && a.clearEnv == b.clearEnv && a.workdir == b.workdir && a.hostname == b.hostname
            && a.user?.uid == b.user?.uid && a.user?.gid == b.user?.gid && a.map == b.map && a.net == b.net
            && a.noInit == b.noInit && a.dieWithParent == b.dieWithParent && a.timeoutSeconds == b.timeoutSeconds
            && a.tty == b.tty && a.preserveFDs == b.preserveFDs && a.dryRun == b.dryRun && a.command == b.command
    }
}
