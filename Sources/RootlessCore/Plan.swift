import RootlessOS
import Cgroups
import SeccompCompile
import IDMap
import SlirpNet

/// One mount step, in the order the child performs it. Mirrors `struct rl_mount`.
public struct MountOp: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case bind, tmpfs, proc, sysfs, cgroup2, devpts, mqueue, mask, readonly, symlink, device
    }
    public struct Flags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readOnly = Flags(rawValue: 1 << 0)
        public static let nosuid = Flags(rawValue: 1 << 1)
        public static let nodev = Flags(rawValue: 1 << 2)
        public static let noexec = Flags(rawValue: 1 << 3)
        public static let optional = Flags(rawValue: 1 << 4)
        public static let noSymlinks = Flags(rawValue: 1 << 5)
        public static let noCreate = Flags(rawValue: 1 << 7)
        static let labels: [(Flags, String)] = [
            (.readOnly, "ro"), (.nosuid, "nosuid"), (.nodev, "nodev"), (.noexec, "noexec"),
            (.optional, "optional"), (.noSymlinks, "nosymlinks"), (.noCreate, "nocreate"),
        ]
        var label: String { Flags.labels.filter { contains($0.0) }.map(\.1).joined(separator: ",") }
    }
    public var kind: Kind
    public var target: String
    public var source: String?
    public var data: String?
    public var flags: Flags

    public init(_ kind: Kind, _ target: String, source: String? = nil, data: String? = nil, flags: Flags = []) {
        self.kind = kind
        self.target = target
        self.source = source
        self.data = data
        self.flags = flags
    }
}

public enum RootPlan: Equatable, Sendable {
    /// A clone of the host's "/" tree, read-only, nosuid, nodev.
    case hostView
    case directory(String, readOnly: Bool)
    /// No new root: the caller's filesystem as it is (rootless unshare, the unpacker).
    case keep
    /// An image: its layers (top first) under a throw-away tmpfs upper mounted on
    /// `scratch` (an empty directory) inside the sandbox's mount namespace.
    case overlay(layers: [String], scratch: String, fuse: String? = nil)
}

/// One Landlock grant: read/execute beneath `path`, or everything (writable).
public struct LandlockRule: Equatable, Sendable {
    public var path: String
    public var writable: Bool
    public init(_ path: String, writable: Bool) {
        self.path = path
        self.writable = writable
    }
}

public enum Namespace: String, CaseIterable, Sendable {
    case user, mount, pid, uts, ipc, net, cgroup
}

/// Everything the launcher will do, decided before anything is done. Printable
/// (`rootless run --dry-run`) and golden-tested.
public struct Plan: Equatable, Sendable {
    public static let maxMounts = 256

    public var namespaces: [Namespace]
    /// nil: no user namespace (--userns none).
    public var idmap: IDMapPlan?
    public var root: RootPlan
    public var mounts: [MountOp]
    public var hostname: String?
    public var argv: [String]
    public var env: [String]
    public var searchPath: String
    public var cwd: String
    /// Create cwd (root-owned, 0755) when it is missing: the image's WorkingDir.
    public var createCwd = false
    public var uid: UInt32
    public var gid: UInt32
    public var capabilities: [String]
    public var useInit: Bool
    /// The payload keeps a capability that could undo the sandbox (CAP_SYS_ADMIN: unmount,
    /// remount; CAP_SYS_PTRACE: pid 1): it runs in a nested user namespace, where every
    /// mount is locked and pid 1 is out of its reach.
    public var nestUserns = false
    /// The caller's home, replaced by an empty one (--home empty): a command found only
    /// under it is named in the "not found" error with the way to show it.
    public var hiddenHome: String?
    public var tty: Bool
    public var preserveFDs: Int
    public var dieWithParent: Bool
    public var timeoutMS: Int64
    public var notes: [String]
    /// Filters in load order (the kernel stacks them; the strictest result wins).
    public var seccomp: [SeccompChoice] = []
    /// --seccomp-log: the first filter (the policy) notifies instead of failing.
    public var seccompLog = false
    /// nil: no Landlock.
    public var landlock: [LandlockRule]?
    /// nil: the sandbox gets no cgroup of its own.
    public var cgroup: CgroupPlan?
    /// Why there is no cgroup, said once per boot (or on every run with --stats).
    public var cgroupNote: String?
    public var rlimits: [Ulimit] = []
    public var stats = false
    public var statsJSON: String?
    /// Join (or start) the keeper of these maps instead of mapping afresh.
    public var keeper = false
    /// An image's scratch dir or copy, which this run removes after pid 1 exits: the
    /// sandbox's mount namespace must be gone by then, so the keeper does not hold it.
    public var rootRemovedAfter = false
    /// The keeper may build this sandbox ahead of the run (see warm.c); nil when it may.
    public var warmOff: String?
    public var warm: Bool { keeper && warmOff == nil }
    /// --net slirp: the user-mode stack's link, policy and resolv.conf (nil: another mode).
    public var slirp: SlirpPlan?
    /// --net slirp4netns: the helper that serves the sandbox's network namespace.
    public var netHelper: NetHelperPlan?
    /// The sandbox's /etc/resolv.conf (a user-mode network's DNS forwarder): written by
    /// the launcher at `path` (the runtime directory, masked in every sandbox), bound
    /// read-only by the plan's mounts.
    public var resolvConf: ResolvConf?
    /// --userns none with --net none: Landlock (ABI >= 4) denies TCP bind/connect.
    public var blockTCP = false

    public func render() -> String {
        var out: [String] = []
        out.append("namespaces: " + namespaces.map(\.rawValue).joined(separator: " "))
        if let idmap {
            out.append(
                "idmap: \(keeper ? "keeper (shared, maps \(idmap.method == .helpers ? "by helpers" : "written directly"))" : idmap.method.rawValue) uid [\(idmap.uidLines.map(\.description).joined(separator: ", "))] gid [\(idmap.gidLines.map(\.description).joined(separator: ", "))]"
            )
            switch root {
            case .hostView: out.append("root: host / (ro,nosuid,nodev)")
            case let .directory(d, ro): out.append("root: \(d)\(ro ? " (ro)" : "")")
            case .keep: out.append("root: unchanged (the caller's filesystem)")
            case let .overlay(layers, scratch, fuse):
                out.append(
                    "root: \(fuse.map { "fuse-overlayfs (\($0))" } ?? "overlay (userxattr)") of \(layers.count) layer\(layers.count == 1 ? "" : "s") [\(layers.joined(separator: " "))], upper on a tmpfs at \(scratch)"
                )
            }
        } else {
            out.append("idmap: none (no user namespace: your own ids, the host's mounts)")
        }
        for (i, m) in mounts.enumerated() {
            var line = "mount \(i): \(m.kind.rawValue) \(m.target)"
            if let s = m.source { line += (m.kind == .symlink ? " -> " : " <- ") + s }
            if let d = m.data { line += " [\(d)]" }
            if !m.flags.isEmpty { line += " (\(m.flags.label))" }
            out.append(line)
        }
        if keeper {
            out.append("warm: " + (warmOff.map { "no (\($0))" } ?? "yes (a sandbox the keeper built ahead for a run exactly like this one, when it has one)"))
        }
        if let c = cgroup {
            out.append(
                "cgroup: \(c.scopeBus.map { "<systemd user scope rootless-<pid>-<start>.scope, Delegate=yes, via \($0)>" } ?? c.parent)/rootless-<pid>/payload (into it at clone, own cgroup namespace\(c.delegate ? ", writable inside" : "")) controllers [\(c.controllers.joined(separator: " "))] limits [\(c.limits.map(\.description).joined(separator: ", "))]"
            )
        } else if let n = cgroupNote {
            out.append("cgroup: none (\(n))")
        }
        if !rlimits.isEmpty {
            out.append(
                "ulimits: "
                    + rlimits.map {
                        "\($0.name)=\($0.soft == Ulimit.infinity ? "unlimited" : String($0.soft)):\($0.hard == Ulimit.infinity ? "unlimited" : String($0.hard))"
                    }.joined(separator: " "))
        }
        if let n = slirp {
            let c = n.config
            out.append(
                "net: slirp tap0 \(c.guest)/\(c.network.prefix) gateway \(c.gateway) dns \(c.dns)\(c.dnsUpstream.map { " -> \(Endpoint($0, c.dnsUpstreamPort))" } ?? "")\(c.ipv6 ? "; \(SlirpConfig.guest6)/\(SlirpConfig.network6.prefix) gateway \(SlirpConfig.gateway6) dns \(SlirpConfig.dns6)" : "; no IPv6") mtu \(c.mtu); host loopback \(n.policy.allowHostLoopback ? "at \(c.gateway)" : "refused"); link-local \(n.policy.refuses(IP(IPv4(169, 254, 169, 254)), port: 80) == nil ? "allowed" : "refused")\(n.policy.allow.isEmpty && n.policy.allowNames.isEmpty ? "" : "; only " + (n.policy.allow.map(\.description) + n.policy.allowNames.map(\.description)).joined(separator: ","))\(n.policy.deny.isEmpty ? "" : "; never " + n.policy.deny.map(\.description).joined(separator: ","))\(n.log ? "; --net-log" : "")\(n.publish.isEmpty ? "" : "; -p " + n.publish.map(\.description).joined(separator: " "))"
            )
        }
        if let n = netHelper {
            out.append(
                "net: \(n.tool.rawValue) (\(n.path)) against the sandbox's namespaces, started before the command; host loopback refused\(n.publish.isEmpty ? "" : "; -p " + n.publish.map(\.description).joined(separator: " "))"
            )
        }
        if let h = hostname { out.append("hostname: \(h)") }
        out.append("process: uid=\(uid) gid=\(gid) cwd=\(cwd)\(createCwd ? " (created if missing)" : "") argv=\(argv)")
        out.append("path: \(searchPath)")
        out.append("env: \(env.count) variables")
        out.append("caps: " + (idmap == nil ? "(none: not in a user namespace)" : capabilities.joined(separator: ",")))
        out.append(
            "seccomp: " + (seccomp.isEmpty ? "unconfined" : seccomp.map(\.description).joined(separator: " + ")) + (seccompLog ? " (denials logged)" : ""))
        if let landlock {
            out.append("landlock: " + landlock.map { "\($0.path) \($0.writable ? "rw" : "ro")" }.joined(separator: ", "))
        }
        out.append("security: new session, no_new_privs, inheritable/ambient caps empty, fds > \(2 + preserveFDs) closed")
        if nestUserns { out.append("nested: the command runs in a user namespace of its own (its capabilities cannot unlock the mounts or reach pid 1)") }
        out.append(
            "init: \(useInit ? "rootless pid 1 (no capabilities but CAP_KILL, no_new_privs, non-dumpable, own seccomp filter)" : "none (command is pid 1)") tty: \(tty ? "yes" : "no") die-with-parent: \(dieWithParent ? "yes" : "no") timeout: \(timeoutMS > 0 ? "\(timeoutMS)ms" : "none")"
        )
        for n in notes { out.append("note: \(n)") }
        return out.joined(separator: "\n") + "\n"
    }
}

public struct ResolvConf: Equatable, Sendable {
    public var path: String
    public var text: String
}

/// --net slirp, planned: the link and policy the engine gets.
public struct SlirpPlan: Equatable, Sendable {
    public var config: SlirpConfig
    public var policy: EgressPolicy
    public var log: Bool
    public var publish: [PortForward] = []

    /// --net-log's line: each destination reached or refused, with counts.
    public static func report(_ log: [NetLogEntry: Int]) -> String {
        if log.isEmpty { return "net-log: no connection was made" }
        let items = log.sorted { ($0.key.refused != nil ? 1 : 0, $0.key.to.ip, $0.key.to.port) < ($1.key.refused != nil ? 1 : 0, $1.key.to.ip, $1.key.to.port) }
        return "net-log: "
            + items.map { e, n in "\(e.proto) \(e.proto == "icmp" ? "\(e.to.ip)" : "\(e.to)") x\(n)" + (e.refused.map { " refused (\($0))" } ?? "") }.joined(
                separator: "; ")
    }
}
