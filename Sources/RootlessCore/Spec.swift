import RootlessOS
import Cgroups
import SeccompCompile
import IDMap
import SlirpNet

/// `--userns auto` (a user namespace, the normal case) or `none`: no namespaces at all,
/// only Landlock + seccomp + no_new_privs (for hosts that forbid user namespaces).
public enum UsernsMode: String, Equatable, Sendable, CaseIterable {
    case auto
    case none
}

/// `--home`: what the sandbox sees at the caller's $HOME. `empty` (the default) keeps
/// the user's secrets (~/.ssh, tokens, cloud credentials) out of reach; `ro` shows it
/// read-only, `rw` read-write. Other users' homes, /root and /run/user are hidden in all three.
public enum HomeMode: String, Equatable, Sendable, CaseIterable {
    case empty, ro, rw
}

/// A bind or tmpfs request, in command-line order.
public enum MountRequest: Equatable, Sendable {
    case bind(source: String, target: String, readOnly: Bool)
    case tmpfs(target: String, options: String?)
}

/// What the user asked for, as values. Produced by RunArguments (or, later, an OCI
/// config); turned into a Plan by Planner with the host's facts.
public struct RunSpec: Equatable, Sendable {
    public var rootfs: String?
    /// `rootless run IMAGE -- CMD` / --image: a stored image, resolved (effects: reading
    /// the store) into `imageRoot` before planning.
    public var image: String?
    public var storageDriver: StorageDriver = .auto
    public var storeRoot: String?
    public var imageRoot: ImageRoot?
    public var readOnly = false
    public var mounts: [MountRequest] = []
    public var env: [String] = []  // "K=V" sets, "K" copies from the caller
    public var clearEnv = false
    public var workdir: String?
    public var hostname: String?
    public var user: (uid: UInt32, gid: UInt32?)?
    public var map: MapMode = .auto
    public var net: NetworkMode = .none
    /// --net slirp's options, and the egress flags (--allow-net, --deny-net, --net-log).
    public var slirp = SlirpConfig()
    public var allowNet: [NetRule] = []
    public var allowNames: [NameRule] = []
    public var denyNet: [NetRule] = []
    public var netLog = false
    public var publish: [PortForward] = []
    public var noInit = false
    public var dieWithParent = false
    public var timeoutSeconds: Double?
    public var tty = false
    public var preserveFDs = 0
    public var dryRun = false
    public var command: [String] = []
    /// --entrypoint: replaces an image's Entrypoint (without an image: put before CMD).
    public var entrypoint: [String]?
    /// --env-file: host files of K=V lines, read by the CLI before planning.
    public var envFiles: [String] = []
    public var seccomp: SeccompChoice = .builtin("default")
    /// nil: on when the sandbox has one mapped id and the payload is root (see Planner).
    public var fakeRoot: Bool?
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var landlock = false
    public var landlockRO: [String] = []
    public var landlockRW: [String] = []
    public var userns: UsernsMode = .auto
    /// With --userns auto: where user namespaces are forbidden, run the no-userns rung.
    public var allowNoUserns = false
    /// Report the syscalls the policy denied (USER_NOTIF; the payload sees the same errno).
    public var seccompLog = false
    /// Join the keeper's user namespace (and take a pooled netns) (--no-keeper: off).
    public var keeper = true
    /// Take a sandbox the keeper built ahead of this run when one matches (--no-warm: off).
    public var warm = true
    public var limits = ResourceLimits()
    public var ulimits: [Ulimit] = []
    public var cgroup: CgroupMode = .auto
    public var cgroupDelegate = false
    /// --stats: peak memory, CPU, peak pids, OOM kills and wall time at exit (stderr).
    public var stats = false
    public var statsJSON: String?
    public var home: HomeMode = .empty

    public init() {}

    public static func == (a: RunSpec, b: RunSpec) -> Bool {
        a.rootfs == b.rootfs && a.readOnly == b.readOnly && a.mounts == b.mounts && a.env == b.env
            && a.clearEnv == b.clearEnv && a.workdir == b.workdir && a.hostname == b.hostname
            && a.user?.uid == b.user?.uid && a.user?.gid == b.user?.gid && a.map == b.map && a.net == b.net
            && a.slirp == b.slirp && a.allowNet == b.allowNet && a.allowNames == b.allowNames && a.denyNet == b.denyNet && a.netLog == b.netLog
            && a.publish == b.publish
            && a.noInit == b.noInit && a.dieWithParent == b.dieWithParent && a.timeoutSeconds == b.timeoutSeconds
            && a.tty == b.tty && a.preserveFDs == b.preserveFDs && a.dryRun == b.dryRun && a.command == b.command
            && a.seccomp == b.seccomp && a.fakeRoot == b.fakeRoot && a.capAdd == b.capAdd && a.capDrop == b.capDrop
            && a.landlock == b.landlock && a.landlockRO == b.landlockRO && a.landlockRW == b.landlockRW && a.userns == b.userns
            && a.allowNoUserns == b.allowNoUserns && a.seccompLog == b.seccompLog && a.keeper == b.keeper && a.warm == b.warm
            && a.limits == b.limits && a.ulimits == b.ulimits && a.cgroup == b.cgroup && a.cgroupDelegate == b.cgroupDelegate
            && a.stats == b.stats && a.statsJSON == b.statsJSON && a.home == b.home
    }
}

/// `--storage-driver`: how an image becomes a writable root.
public enum StorageDriver: String, Equatable, Sendable, CaseIterable {
    case auto, overlay, fuseOverlayfs = "fuse-overlayfs", copy
}

/// An image resolved for one run: its layer directories and what its config says.
public struct ImageRoot: Equatable, Sendable {
    public enum Mount: Equatable, Sendable {
        /// Native overlayfs: layers top first, a tmpfs upper on `scratch`.
        /// fuse: the fuse-overlayfs binary (nil: the kernel's overlayfs).
        case overlay(layers: [String], scratch: String, fuse: String? = nil)
        /// The layers copied into one directory (removed at exit).
        case copy(dir: String)
    }
    public var mount: Mount
    public var name: String
    /// The image's Env (the base the -e flags apply to; the caller's is not passed).
    public var env: [String]
    public init(mount: Mount, name: String, env: [String]) {
        self.mount = mount
        self.name = name
        self.env = env
    }
}
