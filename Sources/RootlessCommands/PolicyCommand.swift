import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import CSeccomp
import Glibc
import SeccompPolicy

/// `rootless policy check FILE [--strict] | show NAME|FILE | list`.
public enum PolicyCommand {
    static let usage = """
        usage: rootless policy check FILE [--strict]   validate and lint an OCI/Docker seccomp profile
               rootless policy show NAME|FILE          the effective rules on this host (after includes/excludes)
               rootless policy list                    the built-in policies
               rootless policy bpf NAME|FILE           the compiled filter on stdout (e.g. for bwrap --seccomp FD)
               rootless policy time NAME|FILE [N]      load time: cold (compile) vs cached, mean of N
        """

    static let command = CommandSpec<Void>(
        "policy",
        synopsis: [
            "rootless policy check FILE [--strict]", "rootless policy show NAME|FILE", "rootless policy list", "rootless policy bpf NAME|FILE",
            "rootless policy time NAME|FILE [N]",
        ],
        summary: """
            Seccomp policies: check validates and lints an OCI/Docker profile (--strict: warnings fail too); show prints the \
            effective rules on this host; list the built-in ones; bpf the compiled filter on stdout (e.g. for bwrap --seccomp FD); \
            time the load time, compiled vs cached, mean of N runs.
            """,
        options: [Opt(["--strict"], nil, "check: warnings fail too") { _, _, _ in }])

    public static func main(_ args: [String]) -> Int32 {
        if args.first == "--help" || args.first == "-h" {
            OS.writeStdout(command.help)
            return 0
        }
        switch (args.first, args.count) {
        case ("list", 1):
            for p in EmbeddedPolicies.all { OS.writeStdout(p.name + "\n") }
            return 0
        case ("show", 2):
            return report { try show(args[1]) }
        case ("bpf", 2):
            return report {
                let text = try SeccompLoader.source(try SeccompChoice.parse(args[1])).text ?? ""
                let f = try SeccompLoader.compile(text, name: args[1], hostContext)
                OS.writeBytes(1, f.bpf)
                return 0
            }
        case ("time", 2), ("time", 3):
            return report { try time(args[1], runs: args.count == 3 ? Int(args[2]) ?? 200 : 200) }
        case ("check", 2),
            ("check", 3) where args.last == "--strict":
            return report { try check(args[1], strict: args.count == 3) }
        default:
            OS.writeStderr(usage + "\n")
            return 125
        }
    }

    static func report(_ body: () throws -> Int32) -> Int32 {
        do { return try body() } catch let e as RootlessError {
            OS.writeStderr("rootless: \(e.description)\n")
            return 1
        } catch {
            OS.writeStderr("rootless: \(error)\n")
            return 1
        }
    }

    static func load(_ nameOrPath: String) throws -> (name: String, profile: Profile) {
        let src = try SeccompLoader.source(try SeccompChoice.parse(nameOrPath))
        guard let text = src.text else { throw RootlessError("unconfined has no rules", fix: "name a policy or a file") }
        return (src.name, try SeccompLoader.parse(text, name: src.name))
    }

    /// Cold: parse + resolve + libseccomp + export, into an empty cache. Cached: what every
    /// `rootless run` after the first pays (hash lookup + one read). Monotonic clock, in-process.
    static func time(_ nameOrPath: String, runs: Int) throws -> Int32 {
        let choice = try SeccompChoice.parse(nameOrPath)
        let dir = "/tmp/rootless-policy-time-\(getpid())"
        defer { _ = OS.removeTree(dir) }
        var cold = 0.0, warm = 0.0
        for i in 0..<max(runs, 1) {
            _ = OS.removeTree(dir)
            var l = SeccompLoader(context: hostContext, cacheDir: dir + "/\(i)")
            let t0 = OS.monotonicSeconds()
            _ = try l.load(choice)
            let t1 = OS.monotonicSeconds()
            _ = try l.load(choice)
            let t2 = OS.monotonicSeconds()
            guard l.lastWasHit else { throw RootlessError("the cache did not hit (is /tmp writable?)") }
            cold += t1 - t0
            warm += t2 - t1
        }
        // Steady state: hits in a row, as consecutive `rootless run`s see the cache.
        var l = SeccompLoader(context: hostContext, cacheDir: dir + "/steady")
        _ = try l.load(choice)
        let t0 = OS.monotonicSeconds()
        for _ in 0..<max(runs, 1) { _ = try l.load(choice) }
        let steady = OS.monotonicSeconds() - t0
        let n = Double(max(runs, 1))
        OS.writeStdout(
            "policy=\(nameOrPath) runs=\(runs) cold_ms=\(fmt(cold / n * 1000)) cached_after_compile_ms=\(fmt(warm / n * 1000)) cached_ms=\(fmt(steady / n * 1000))\n"
        )
        return 0
    }

    static func fmt(_ v: Double) -> String { String(Double(Int(v * 1000)) / 1000) }

    static var hostContext: SeccompContext { .host(caps: Capabilities.defaultSet) }

    static func show(_ nameOrPath: String) throws -> Int32 {
        OS.writeStdout(hostContext.effective(try load(nameOrPath).profile).render())
        return 0
    }

    /// Errors (exit 1): anything the loader or libseccomp rejects, and every syscall name
    /// unknown on any arch — in every rule, including rules for other arches or caps, so a
    /// typo cannot hide behind an includes. Warnings (exit 1 only with --strict): lint.
    static func check(_ path: String, strict: Bool) throws -> Int32 {
        let (name, p) = try load(path)
        var errors: [String] = []
        for r in p.syscalls {
            for (j, n) in r.names.enumerated() where seccomp_syscall_resolve_name(n) == __NR_SCMP_ERROR && SeccompCompiler.newerSyscalls[n] == nil {
                errors.append("\(name): \(r.path).names[\(j)]: unknown syscall \"\(n)\" — check the spelling (names as in `man 2 syscalls`)")
            }
        }
        var warnings: [String] = []
        if p.defaultAction == .allow {
            warnings.append(
                "\(name): $.defaultAction: allow-by-default lets every syscall the policy does not name through, including ones newer than it — prefer SCMP_ACT_ERRNO with defaultErrnoRet 38 (ENOSYS) and an allowlist"
            )
        }
        if p.defaultAction == .errno && p.defaultErrnoRet != 38 {
            warnings.append(
                "\(name): $.defaultErrnoRet: \(p.defaultErrnoRet ?? 1) instead of 38 (ENOSYS): programs cannot tell a filtered new syscall from a real failure and will not fall back — set defaultErrnoRet to 38"
            )
        }
        if errors.isEmpty {
            let c = hostContext
            do {
                let compiled = try SeccompCompiler.compile(c.effective(p), file: name, x32: c.x32)  // the profile parsed above
                warnings += compiled.notes.map { "\(name): \($0)" }
                for w in warnings { OS.writeStderr("warning: \(w)\n") }
                OS.writeStdout("\(name): ok — \(p.syscalls.count) rules, \(compiled.instructions) BPF instructions for \(c.arch) and its compat arches\n")
                return strict && !warnings.isEmpty ? 1 : 0
            } catch let e as RootlessError { errors.append(e.description) }
        }
        for w in warnings { OS.writeStderr("warning: \(w)\n") }
        for e in errors { OS.writeStderr("error: \(e)\n") }
        return 1
    }
}
