import RootlessOS
import CRootless
import CSeccomp
import Glibc
import SeccompPolicy

/// A compiled classic-BPF program (struct sock_filter[], 8 bytes each) plus what the
/// compile had to say about it (lint notes for `policy check`).
public struct CompiledFilter: Equatable, Sendable {
    public var bpf: [UInt8]
    public var notes: [String]
    public var instructions: Int { bpf.count / 8 }
}

/// EffectivePolicy -> BPF with libseccomp (linked statically). Runs in the parent only,
/// before clone; the child just loads the bytes.
///
/// Order: init with the default action -> add every compat arch of the host (x86_64 also
/// gets x86, and x32 where the kernel serves it: a 32-bit `int 0x80` or an x32 call must
/// meet the same filter) ->
/// binary-tree optimisation -> rules in file order (first rule for a syscall wins, as the
/// kernel would only ever see one) -> export to a memfd (libseccomp 2.5 cannot export to
/// memory) -> read back.
public enum SeccompCompiler {
    /// Syscalls the kernel has (numbers 424+ are shared by x86_64, x86 and x32 (+0x40000000))
    /// that libseccomp 2.5.4 may not know by name. They are valid in a policy; an allow
    /// rule for one that libseccomp cannot resolve falls to the default action (noted).
    public static let newerSyscalls: [String: Int32] = [
        "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
        "close_range": 436, "openat2": 437, "pidfd_getfd": 438, "faccessat2": 439, "process_madvise": 440, "epoll_pwait2": 441,
        "mount_setattr": 442, "quotactl_fd": 443, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
        "landlock_restrict_self": 446, "memfd_secret": 447, "process_mrelease": 448, "futex_waitv": 449,
        "set_mempolicy_home_node": 450, "cachestat": 451, "fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454,
        "futex_wait": 455, "futex_requeue": 456, "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
        "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463, "getxattrat": 464,
        "listxattrat": 465, "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468, "file_setattr": 469,
        "uretprobe": 335,
    ]

    /// libseccomp's own version, part of the cache key (a new libseccomp may compile differently).
    public static var libraryVersion: String {
        guard let v = seccomp_version() else { return "?" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }

    static func actionValue(_ a: Action, _ errnoRet: UInt32?) -> UInt32 {
        switch a {
        case .allow: return 0x7fff_0000
        case .errno: return 0x0005_0000 | ((errnoRet ?? 1) & 0xffff)
        case .kill, .killThread: return 0x0000_0000
        case .killProcess: return 0x8000_0000
        case .trap: return 0x0003_0000
        case .trace: return 0x7ff0_0000 | ((errnoRet ?? 0) & 0xffff)
        case .log: return 0x7ffc_0000
        case .notify: return 0x7fc0_0000
        }
    }

    static func op(_ o: CompareOp) -> scmp_compare {
        switch o {
        case .ne: return SCMP_CMP_NE
        case .lt: return SCMP_CMP_LT
        case .le: return SCMP_CMP_LE
        case .eq: return SCMP_CMP_EQ
        case .ge: return SCMP_CMP_GE
        case .gt: return SCMP_CMP_GT
        case .maskedEq: return SCMP_CMP_MASKED_EQ
        }
    }

    /// Compat arches a filter must also cover on this native arch (x32 only where the
    /// kernel serves it; see SeccompContext.x32).
    static func compatArches(native: String, x32: Bool) -> [String] {
        native == "SCMP_ARCH_X86_64" ? (x32 ? ["x86", "x32"] : ["x86"]) : native == "SCMP_ARCH_AARCH64" ? ["arm"] : []
    }

    /// `notify`: every ERRNO action (rules and default) becomes USER_NOTIF (--seccomp-log).
    /// `compact`: libseccomp's program through BPFCompactor (same answers, ~3x fewer
    /// instructions: less for the kernel to convert and JIT at every start); off for tests
    /// that compare the two.
    public static func compile(_ p: EffectivePolicy, file: String, notify: Bool = false, x32: Bool = true, compact: Bool = true) throws -> CompiledFilter {
        func fail(_ path: String, _ m: String, _ fix: String) -> RootlessError { RootlessError("\(file): \(path): \(m)", fix: fix) }
        func actionValue(_ a: Action, _ e: UInt32?) -> UInt32 { notify && a == .errno ? 0x7fc0_0000 : SeccompCompiler.actionValue(a, e) }
        let defaultAction = actionValue(p.defaultAction, p.defaultErrnoRet)
        guard p.defaultAction != .notify else {
            throw fail("$.defaultAction", "SCMP_ACT_NOTIFY needs a listener rootless does not run", "use SCMP_ACT_ERRNO")
        }
        guard let ctx = seccomp_init(defaultAction) else {
            throw fail("$.defaultAction", "libseccomp refused the default action", "use SCMP_ACT_ERRNO or SCMP_ACT_ALLOW")
        }
        defer { seccomp_release(ctx) }
        // An unknown arch (a binary for another CPU) is killed, never allowed.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, actionValue(.killProcess, nil))
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)  // the child sets no_new_privs itself, earlier
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for a in compatArches(native: p.architectures.first ?? "", x32: x32) {
            let token = seccomp_arch_resolve_name(a)
            let rc = seccomp_arch_add(ctx, token)
            guard rc == 0 || rc == -EEXIST else { throw fail("$.architectures", "libseccomp cannot add arch \(a): \(OS.errorText(-rc))", "report this") }
        }

        var notes: [String] = []
        var unconditional: [String: UInt32] = [:]
        for r in p.rules {
            let action = actionValue(r.action, r.errnoRet)
            let nr = seccomp_syscall_resolve_name(r.name)
            if nr == __NR_SCMP_ERROR {
                guard newerSyscalls[r.name] != nil else {
                    throw fail(
                        r.path + ".names", "unknown syscall \"\(r.name)\"",
                        "check the spelling (names as in `man 2 syscalls`); remove it if it is for another kernel")
                }
                if action == defaultAction { continue }
                // libseccomp cannot express it on the compat arches. An allow rule then
                // falls to the (stricter) default: safe. A rule stricter than the default
                // would be silently lost: refuse.
                if r.action == .allow || p.defaultAction == .errno || p.defaultAction == .killProcess || p.defaultAction == .kill {
                    notes.append("\(r.path): \(r.name) is newer than libseccomp \(libraryVersion): left to the default action")
                    continue
                }
                throw fail(
                    r.path + ".names", "\(r.name) is newer than libseccomp \(libraryVersion) and cannot be filtered on every arch",
                    "use a stricter defaultAction (SCMP_ACT_ERRNO) so it is denied by default")
            }
            if action == defaultAction { continue }  // libseccomp refuses rules equal to the default
            if r.args.isEmpty {
                if let prev = unconditional[r.name] {
                    if prev != action { notes.append("\(r.path): \(r.name) already has a rule; the first one wins") }
                    continue
                }
                unconditional[r.name] = action
            } else if unconditional[r.name] != nil {
                notes.append("\(r.path): \(r.name) already has an unconditional rule; this conditional one is shadowed")
                continue
            }
            // Several conditions on one argument index cannot be ANDed by libseccomp: as
            // runc does, each becomes its own rule (OR).
            let indices = r.args.map(\.index)
            let groups: [[ArgMatch]] = Set(indices).count == indices.count ? [r.args] : r.args.map { [$0] }
            for g in groups {
                var cmps = g.map { scmp_arg_cmp(arg: $0.index, op: op($0.op), datum_a: $0.value, datum_b: $0.valueTwo) }
                let rc = cmps.withUnsafeMutableBufferPointer { b in
                    seccomp_rule_add_array(ctx, action, nr, UInt32(b.count), b.baseAddress)
                }
                if rc == -EEXIST { notes.append("\(r.path): \(r.name): duplicate rule ignored"); continue }
                guard rc == 0 else {
                    throw fail(
                        r.path, "libseccomp rejected the rule for \(r.name): \(OS.errorText(-rc))",
                        "check its args (index 0-5, op, value/valueTwo)")
                }
            }
        }
        let raw = try export(ctx, file)
        return CompiledFilter(bpf: compact ? BPFCompactor.compact(raw) ?? raw : raw, notes: notes)
    }

    static func export(_ ctx: scmp_filter_ctx, _ file: String) throws -> [UInt8] {
        let fd = rl_memfd("rootless-seccomp")
        guard fd >= 0 else { throw RootlessError("cannot create a memfd to export the seccomp filter", errno: -fd) }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw RootlessError("\(file): libseccomp could not generate the filter", errno: -rc) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0, size % 8 == 0, size / 8 <= 4096 else {
            throw RootlessError("\(file): the compiled filter has \(size / 8) instructions (the kernel takes at most 4096)", fix: "split or shorten the policy")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n == Int(size) else { throw RootlessError("cannot read back the compiled seccomp filter", errno: errno) }
        return out
    }
}
