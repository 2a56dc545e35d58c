// includes/excludes resolved against the sandbox, as Docker and Podman do before they
// hand plain OCI seccomp to a runtime: the result is what gets compiled.

public struct ResolveContext: Equatable, Sendable {
    public var arch: String  // "SCMP_ARCH_X86_64"
    public var caps: Set<String>  // capabilities the payload keeps
    public var kernel: (Int, Int)
    public init(arch: String, caps: Set<String>, kernel: (Int, Int)) {
        self.arch = arch
        self.caps = caps
        self.kernel = kernel
    }
    public static func == (a: ResolveContext, b: ResolveContext) -> Bool {
        a.arch == b.arch && a.caps == b.caps && a.kernel == b.kernel
    }
}

public struct EffectiveRule: Equatable, Sendable {
    public var name: String
    public var action: Action
    public var errnoRet: UInt32?
    public var args: [ArgMatch]
    public var path: String
}

public struct EffectivePolicy: Equatable, Sendable {
    public var defaultAction: Action
    public var defaultErrnoRet: UInt32?
    /// Native architecture first, then the compat ones a 32-bit/x32 binary could use.
    public var architectures: [String]
    public var rules: [EffectiveRule]

    /// What a call with no argument conditions gets: the first rule for it without
    /// arguments, else the default; nil when rules with arguments decide (not knowable here).
    public func plainAction(_ name: String) -> Action? {
        let mine = rules.filter { $0.name == name }
        if let r = mine.first(where: { $0.args.isEmpty }) { return r.action }
        return mine.isEmpty ? defaultAction : nil
    }

    /// One line per rule, for `rootless policy show`.
    public func render() -> String {
        var out = [
            "default: \(defaultAction.rawValue)\(defaultErrnoRet.map { " errno=\($0)" } ?? "")",
            "architectures: \(architectures.joined(separator: " "))",
        ]
        for r in rules {
            let args = r.args.map { "arg\($0.index) \($0.op.rawValue.dropFirst(9)) \($0.value)\($0.op == .maskedEq ? "/\($0.valueTwo)" : "")" }
            out.append(
                "\(r.name): \(r.action.rawValue)\(r.errnoRet.map { " errno=\($0)" } ?? "")\(args.isEmpty ? "" : " if " + args.joined(separator: " && "))")
        }
        return out.joined(separator: "\n") + "\n"
    }
}

extension Profile {
    public func resolve(_ c: ResolveContext) -> EffectivePolicy {
        var arches = [c.arch]
        if let m = archMap.first(where: { $0.arch == c.arch }) { arches += m.subArchitectures }
        for a in architectures where !arches.contains(a) { arches.append(a) }
        var rules: [EffectiveRule] = []
        for r in syscalls where applies(r, c) {
            for n in r.names {
                rules.append(
                    EffectiveRule(
                        name: n, action: r.action, errnoRet: r.action == .errno ? (r.errnoRet ?? defaultErrnoRet ?? 1) : r.errnoRet,
                        args: r.args, path: r.path))
            }
        }
        return EffectivePolicy(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: arches, rules: rules)
    }

    func applies(_ r: SyscallRule, _ c: ResolveContext) -> Bool {
        if !r.includes.arches.isEmpty && !r.includes.arches.contains(where: { archMatches($0, c.arch) }) { return false }
        if !r.includes.caps.allSatisfy({ c.caps.contains($0) }) { return false }
        if let mk = r.includes.minKernel, let v = kernelVersion(mk), c.kernel < v { return false }
        if r.excludes.arches.contains(where: { archMatches($0, c.arch) }) { return false }
        if r.excludes.caps.contains(where: { c.caps.contains($0) }) { return false }
        return true
    }

    /// Docker's includes use Go arch names ("amd64"); OCI uses SCMP_ARCH_*.
    func archMatches(_ name: String, _ scmp: String) -> Bool {
        let go: [String: String] = [
            "amd64": "SCMP_ARCH_X86_64", "x86_64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32",
            "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM", "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE",
            "riscv64": "SCMP_ARCH_RISCV64",
        ]
        return name == scmp || go[name] == scmp
    }
}
