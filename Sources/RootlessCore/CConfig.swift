import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc
import SlirpNet

/// Owns the C memory behind one `rl_config` (strings, argv, mount array). The child
/// only reads it; it must stay alive until rl_supervise returns.
public final class CConfig {
    private var blocks: [UnsafeMutableRawPointer] = []
    public private(set) var config = rl_config()

    // linux/sched.h. Switches, not dictionaries: a Dictionary keyed by our enum costs the
    // runtime a protocol-conformance scan on first use, in every process (~30 us a start).
    static func cloneFlag(_ n: Namespace) -> UInt64 {
        switch n {
        case .user: 0x1000_0000
        case .mount: 0x0002_0000
        case .pid: 0x2000_0000
        case .uts: 0x0400_0000
        case .ipc: 0x0800_0000
        case .net: 0x4000_0000
        case .cgroup: 0x0200_0000
        }
    }

    // enum rl_mount_kind
    static func kind(_ k: MountOp.Kind) -> Int32 {
        switch k {
        case .bind: 1
        case .tmpfs: 2
        case .proc: 3
        case .sysfs: 4
        case .cgroup2: 5
        case .devpts: 6
        case .mqueue: 7
        case .mask: 8
        case .readonly: 9
        case .symlink: 10
        case .device: 11
        }
    }

    private var denialBuffer: UnsafeMutablePointer<rl_denial>?
    private var denialCount: UnsafeMutablePointer<Int32>?
    static let maxDenials = 256

    /// What the supervisor counted (--seccomp-log).
    var denials: [rl_denial] {
        guard let b = denialBuffer, let n = denialCount else { return [] }
        return Array(UnsafeBufferPointer(start: b, count: Int(min(n.pointee, Int32(CConfig.maxDenials)))))
    }

    public init(
        _ plan: Plan, filters loaded: LoadedFilters = LoadedFilters(), landlockABI: Int32 = 0, usernsFD: Int32? = nil, netnsFD: Int32? = nil,
        cgroupFD: Int32? = nil
    ) {
        let filters = loaded.programs
        var c = rl_config()
        c.clone_flags = plan.namespaces.reduce(0) { $0 | CConfig.cloneFlag($1) }
        switch plan.root {
        case .hostView:
            c.host_view = 1
        case let .directory(d, ro):
            c.rootfs = string(d)
            c.root_readonly = ro ? 1 : 0
        case .keep:
            c.keep_root = 1
        case let .overlay(layers, scratch, fuse):
            c.overlay_fuse = fuse.flatMap { string($0) }
            c.overlay_lower = strings(layers)
            c.n_overlay_lower = Int32(layers.count)
            c.overlay_scratch = string(scratch)
        }
        c.hostname = plan.namespaces.contains(.uts) ? string(plan.hostname) : nil
        c.loopback_up = plan.namespaces.contains(.net) ? 1 : 0
        c.netns_fd = -1
        let mounts = malloc(MemoryLayout<rl_mount>.stride * max(plan.mounts.count, 1))!
            .bindMemory(to: rl_mount.self, capacity: max(plan.mounts.count, 1))
        blocks.append(UnsafeMutableRawPointer(mounts))
        for (i, m) in plan.mounts.enumerated() {
            mounts[i] = rl_mount(
                kind: CConfig.kind(m.kind), flags: m.flags.rawValue, source: string(m.source),
                target: string(m.target), data: string(m.data))
        }
        c.mounts = UnsafePointer(mounts)
        c.n_mounts = Int32(plan.mounts.count)
        c.argv = strings(plan.argv)
        c.envp = strings(plan.env)
        c.search_path = string(plan.searchPath)
        c.cwd = string(plan.cwd)
        c.cwd_create = plan.createCwd ? 1 : 0
        c.uid = plan.uid
        c.gid = plan.gid
        c.cap_keep = Capabilities.mask(plan.capabilities)
        c.use_init = plan.useInit ? 1 : 0
        c.nest_userns = plan.nestUserns ? 1 : 0
        c.use_tty = plan.tty ? 1 : 0
        c.preserve_fds = Int32(plan.preserveFDs)
        c.timeout_ms = plan.timeoutMS
        if !filters.isEmpty {
            let f = alloc(rl_bpf.self, filters.count)
            for (i, b) in filters.enumerated() {
                let prog = malloc(b.count)!
                blocks.append(prog)
                b.withUnsafeBytes { prog.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
                f[i] = rl_bpf(prog: UnsafeRawPointer(prog), len: Int32(b.count / 8), pad: 0)
            }
            c.filters = UnsafePointer(f)
            c.n_filters = Int32(filters.count)
        }
        c.notify_filter = -1
        if let log = loaded.log {
            c.notify_filter = 0
            let r = alloc(rl_notify_rule.self, log.rules.count)
            for (i, x) in log.rules.enumerated() { r[i] = x }
            c.notify_rules = UnsafePointer(r)
            c.n_notify_rules = Int32(log.rules.count)
            c.notify_default_errno = log.defaultErrno
            let d = alloc(rl_denial.self, CConfig.maxDenials)
            let n = alloc(Int32.self, 1)
            n.pointee = 0
            denialBuffer = d
            denialCount = n
            c.denials = d
            c.max_denials = Int32(CConfig.maxDenials)
            c.n_denials = n
        }
        if let rules = plan.landlock {
            let lm = CConfig.landlockMasks(abi: landlockABI, blockTCP: plan.blockTCP)
            c.landlock = 1
            c.ll_handled_fs = lm.fs
            c.ll_handled_net = lm.net
            c.ll_scoped = lm.scoped
            let r = alloc(rl_landlock_rule.self, rules.count)
            for (i, x) in rules.enumerated() { r[i] = rl_landlock_rule(path: string(x.path), access: x.writable ? lm.fs : CConfig.landlockRead) }
            c.ll_rules = UnsafePointer(r)
            c.n_ll_rules = Int32(rules.count)
        }
        c.no_userns = plan.idmap == nil ? 1 : 0
        c.net_sock = -1
        if let n = plan.slirp {
            // The TAP's setup, as rtnetlink requests (SlirpNet.Netlink), one element each.
            let msgs = Netlink.setup(n.config)
            let r = alloc(rl_nlmsg.self, msgs.count)
            for (i, m) in msgs.enumerated() {
                let b = malloc(m.count)!
                blocks.append(b)
                m.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: m.count) }
                r[i] = rl_nlmsg(bytes: UnsafeRawPointer(b), len: Int32(m.count), pad: 0)
            }
            c.tap = 1
            c.tap_go_first = n.publish.isEmpty ? 1 : 0
            c.net_setup = UnsafePointer(r)
            c.n_net_setup = Int32(msgs.count)
        }
        // The run waits for the sandbox's connections after it ends, reading Ctrl-C meanwhile.
        c.hold_signals = plan.slirp != nil || plan.netHelper != nil ? 1 : 0
        if !plan.rlimits.isEmpty {
            let r = alloc(rl_rlimit.self, plan.rlimits.count)
            for (i, u) in plan.rlimits.enumerated() { r[i] = rl_rlimit(resource: u.resource, pad: 0, soft: u.soft, hard: u.hard) }
            c.rlimits = UnsafePointer(r)
            c.n_rlimits = Int32(plan.rlimits.count)
        }
        config = c
        join(userns: usernsFD, netns: netnsFD)
        if let fd = cgroupFD { enter(cgroup: fd) }
    }

    /// SlirpNet: the child's end of the socket its TAP's fd comes back on.
    public func tap(socket fd: Int32) { config.net_sock = fd }

    /// SlirpNet: the network namespace joined has its TAP already (the keeper's pool made
    /// it with these setup requests); the child makes none and sends nothing.
    public func tapMade() {
        config.tap_made = 1
        config.net_sock = -1
    }

    /// The sandbox's cgroup leaf (clone3 with CLONE_INTO_CGROUP), once made: after the
    /// keeper was asked, which must not start inside it.
    public func enter(cgroup fd: Int32) {
        config.into_cgroup = 1
        config.cgroup_fd = fd
        config.clone_flags &= ~CConfig.cloneFlag(.cgroup)  // the child unshares it inside the leaf
    }

    /// The keeper's user namespace (joined before clone) and a pooled network namespace
    /// (the launcher passes one only for a plan with its own), once the keeper answered:
    /// a warm request's config is made before asking, and on a miss serves the cold start.
    public func join(userns: Int32?, netns: Int32?) {
        if let n = netns {
            config.netns_fd = n
            config.clone_flags &= ~CConfig.cloneFlag(.net)
        }
        if let fd = userns {
            config.join_userns = 1
            config.userns_fd = fd
            config.clone_flags &= ~CConfig.cloneFlag(.user)
        }
    }

    deinit { blocks.forEach { free($0) } }

    /// EXECUTE | READ_FILE | READ_DIR
    static let landlockRead: UInt64 = 1 | 4 | 8

    /// What this ABI can restrict: every fs right it knows (13 in ABI 1, REFER in 2,
    /// TRUNCATE in 3, IOCTL_DEV in 5), TCP bind/connect (4), signal and abstract-socket
    /// scoping (6).
    static func landlockMasks(abi: Int32, blockTCP: Bool) -> (fs: UInt64, net: UInt64, scoped: UInt64) {
        let fsBits: UInt64 = abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13
        return ((1 << fsBits) - 1, blockTCP && abi >= 4 ? 3 : 0, abi >= 6 ? 3 : 0)
    }

    private func alloc<T>(_: T.Type, _ n: Int) -> UnsafeMutablePointer<T> {
        let p = malloc(MemoryLayout<T>.stride * max(n, 1))!
        blocks.append(p)
        return p.bindMemory(to: T.self, capacity: max(n, 1))
    }

    private func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s, let p = strdup(s) else { return nil }
        blocks.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    private func strings(_ a: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let p = malloc(MemoryLayout<UnsafePointer<CChar>?>.stride * (a.count + 1))!
            .bindMemory(to: UnsafePointer<CChar>?.self, capacity: a.count + 1)
        blocks.append(UnsafeMutableRawPointer(p))
        for (i, s) in a.enumerated() { p[i] = string(s) }
        p[a.count] = nil
        return UnsafePointer(p)
    }
}
