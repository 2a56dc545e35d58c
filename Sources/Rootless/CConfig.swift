import CRootless
import Glibc

/// Owns the C memory behind one `rl_config` (strings, argv, mount array). The child
/// only reads it; it must stay alive until rl_supervise returns.
final class CConfig {
    private var blocks: [UnsafeMutableRawPointer] = []
    private(set) var config = rl_config()

    // linux/sched.h
    static let cloneFlags: [Namespace: UInt64] = [
        .user: 0x1000_0000, .mount: 0x0002_0000, .pid: 0x2000_0000, .uts: 0x0400_0000,
        .ipc: 0x0800_0000, .net: 0x4000_0000, .cgroup: 0x0200_0000,
    ]
    static let kinds: [MountOp.Kind: Int32] = [
        .bind: 1, .tmpfs: 2, .proc: 3, .sysfs: 4, .cgroup2: 5, .devpts: 6, .mqueue: 7, .mask: 8,
        .readonly: 9, .symlink: 10, .device: 11,
    ]

    init(_ plan: Plan) {
        var c = rl_config()
        c.clone_flags = plan.namespaces.reduce(0) { $0 | (CConfig.cloneFlags[$1] ?? 0) }
        switch plan.root {
        case .hostView:
            c.host_view = 1
        case let .directory(d, ro):
            c.rootfs = string(d)
            c.root_readonly = ro ? 1 : 0
        }
        c.hostname = plan.namespaces.contains(.uts) ? string(plan.hostname) : nil
        c.loopback_up = plan.namespaces.contains(.net) ? 1 : 0
        let mounts = malloc(MemoryLayout<rl_mount>.stride * max(plan.mounts.count, 1))!
            .bindMemory(to: rl_mount.self, capacity: max(plan.mounts.count, 1))
        blocks.append(UnsafeMutableRawPointer(mounts))
        for (i, m) in plan.mounts.enumerated() {
            mounts[i] = rl_mount(kind: CConfig.kinds[m.kind]!, flags: m.flags.rawValue, source: string(m.source),
                                 target: string(m.target), data: string(m.data))
        }
        c.mounts = UnsafePointer(mounts)
        c.n_mounts = Int32(plan.mounts.count)
        c.argv = strings(plan.argv)
        c.envp = strings(plan.env)
        c.search_path = string(plan.searchPath)
        c.cwd = string(plan.cwd)
        c.uid = plan.uid
        c.gid = plan.gid
        c.cap_keep = Capabilities.mask(plan.capabilities)
        c.use_init = plan.useInit ? 1 : 0
        c.use_tty = plan.tty ? 1 : 0
        c.preserve_fds = Int32(plan.preserveFDs)
        c.timeout_ms = plan.timeoutMS
        config = c
    }

    deinit { blocks.forEach { free($0) } }

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
