import RootlessOS
import CRootless
import CSeccomp
import Glibc
import SeccompPolicy

/// --seccomp-log: the policy compiled with its ERRNO actions turned into USER_NOTIF, and
/// the table the supervisor answers from (so the payload sees exactly the errno the policy
/// would have returned), plus turning the supervisor's counts into a report.
public struct SeccompLogFilter {
    public var bpf: [UInt8]
    public var rules: [rl_notify_rule]
    public var defaultErrno: Int32

    /// What the payload does under the notifying filter before exec: the listener hand-off
    /// (sendmsg, close) and the last steps (signal dispositions, execve). A policy that
    /// denies any of these would block the payload before rootless holds the listener.
    static let handOff = ["sendmsg", "close", "rt_sigaction", "rt_sigprocmask", "execve"]

    static let arches: [(token: String, audit: UInt32)] = [("x86_64", 0xc000_003e), ("x86", 0x4000_0003), ("x32", 0xc000_003e)]

    public static func build(_ text: String, name: String, _ ctx: SeccompContext) throws -> SeccompLogFilter {
        let eff = ctx.effective(try SeccompLoader.parse(text, name: name))
        for n in handOff where eff.defaultAction != .allow && !eff.rules.contains(where: { $0.name == n && $0.action == .allow && $0.args.isEmpty }) {
            throw RootlessError(
                "--seccomp-log: policy \(name) does not allow \(n), which the sandbox needs to hand the log over",
                fix: "allow \(n) in the policy, or run without --seccomp-log")
        }
        guard eff.defaultAction == .errno || eff.defaultAction == .allow else {
            throw RootlessError(
                "--seccomp-log: policy \(name) kills by default; only ERRNO denials can be logged", fix: "use SCMP_ACT_ERRNO as the default action")
        }
        var rules: [rl_notify_rule] = []
        for r in eff.rules where r.action == .errno && r.args.count <= 6 {
            for a in arches {
                let nr = seccomp_syscall_resolve_name_arch(seccomp_arch_resolve_name(a.token), r.name)
                guard nr >= 0 else { continue }  // not a syscall of that arch
                var x = rl_notify_rule()
                x.arch = a.audit
                x.nr = nr
                x.err = Int32(r.errnoRet ?? 1)
                x.n_args = Int32(r.args.count)
                withUnsafeMutableBytes(of: &x.args) { raw in
                    let p = raw.bindMemory(to: rl_notify_arg.self)
                    for (i, m) in r.args.enumerated() {
                        p[i] = rl_notify_arg(index: m.index, op: SeccompCompiler.op(m.op).rawValue, a: m.value, b: m.valueTwo)
                    }
                }
                rules.append(x)
            }
        }
        let compiled = try SeccompCompiler.compile(eff, file: name, notify: true, x32: ctx.x32)
        return SeccompLogFilter(bpf: compiled.bpf, rules: rules, defaultErrno: Int32(eff.defaultAction == .errno ? eff.defaultErrnoRet ?? 1 : 0))
    }

    /// "keyctl ×2 → EPERM" lines, most frequent first.
    public static func report(_ denials: [rl_denial]) -> [String] {
        denials.sorted { $0.count > $1.count }.map { d in
            let x32 = d.arch == 0xc000_003e && d.nr & 0x4000_0000 != 0
            let token = d.arch == 0x4000_0003 ? "x86" : x32 ? "x32" : "x86_64"
            var name = "syscall \(d.nr)"
            if let p = seccomp_syscall_resolve_num_arch(seccomp_arch_resolve_name(token), d.nr) {
                name = String(cString: p)
                free(p)
            } else if let n = SeccompCompiler.newerSyscalls.first(where: { $0.value == d.nr & ~0x4000_0000 })?.key {
                name = n
            }
            let errName = d.err == 0 ? "0 (success without effect)" : OS.errnoName(d.err)
            return "\(name)\(token == "x86_64" ? "" : " [\(token)]") ×\(d.count) → \(errName)"
        }
    }
}
