import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc
import SlirpHost
import SlirpNet
import IDMap

/// The cold launcher's one way to start faster (keepers, warm sandboxes, cached starts:
/// KeeperStarts). It is called at two points and knows nothing else of them.
public protocol FastStarts {
    /// "Try to start it fast", before anything of the sandbox is made: either the sandbox
    /// ran whole (a warm one took the command: its result), or the namespaces the cold
    /// start joins instead of making them (a keeper's user namespace, whose maps need no
    /// writing, and a pooled network namespace), or none. `tap` (--net slirp only) is given
    /// a warm sandbox's WarmNet once it took the command and before it is supervised.
    func tryFast(_ plan: Plan, _ cfg: CConfig, writeMaps: (Int32) throws -> Void, tap: ((WarmNet) -> Void)?) -> FastTry
    /// "Remember this start": the cold start's child is cloned and its maps written, not
    /// yet released.
    func remember(_ plan: Plan, _ child: rl_child)
}

/// What a warm --net slirp sandbox comes with: the socket its TAP's fd waits in, and the
/// keeper's user namespace (joined before the engine starts, so that it may make -p's
/// sockets in the sandbox's network namespace, as a cold run's engine does). Both the run's
/// to close.
public struct WarmNet {
    public var tapSocket: Int32
    public var userns: Int32?
    public init(tapSocket: Int32, userns: Int32?) {
        self.tapSocket = tapSocket
        self.userns = userns
    }
}

public enum FastTry {
    case ran(rl_result)
    /// tap: --net slirp's TAP made ahead in netns (the socket it waits in), or nil.
    case cold(userns: Int32?, netns: Int32?, tap: Int32?)
}

/// No fast starts: every sandbox is made from scratch.
public struct ColdOnly: FastStarts {
    public init() {}
    public func tryFast(_ plan: Plan, _ cfg: CConfig, writeMaps: (Int32) throws -> Void, tap: ((WarmNet) -> Void)?) -> FastTry {
        .cold(userns: nil, netns: nil, tap: nil)
    }
    public func remember(_ plan: Plan, _ child: rl_child) {}
}

/// Walks a Plan: spawn (C) -> write the id maps -> release -> supervise -> exit status.
public struct Launcher {
    public var kernel: any Kernel
    public var fast: any FastStarts
    public var warn: (String) -> Void

    public init(
        kernel: any Kernel = LiveKernel(), fast: any FastStarts = ColdOnly(), warn: @escaping (String) -> Void = { OS.writeStderr("rootless: " + $0 + "\n") }
    ) {
        self.kernel = kernel
        self.fast = fast
        self.warn = warn
    }

    /// Returns the exit status rootless should exit with.
    public func run(_ plan: Plan) -> Int32 {
        plan.notes.forEach(warn)
        if plan.dieWithParent { _ = rl_set_pdeathsig(SIGKILL) }
        // Everything that can fail on input is done before clone: the policy compile (or
        // cache read) and the Landlock ABI check.
        let filters: LoadedFilters
        do { filters = try kernel.loadFilters(plan) } catch let e as RootlessError { return fail(e) } catch { return 125 }
        PhaseTimer.mark("seccomp load")
        var abi: Int32 = 0
        if plan.landlock != nil {
            abi = kernel.landlockABI()
            guard abi >= 1 else {
                return fail(
                    RootlessError(
                        "Landlock is not available on this kernel (\(abi < 0 ? OS.errorText(-abi) : "ABI 0"))",
                        fix: "boot with lsm=...,landlock (kernel >= 5.13), or drop --landlock"))
            }
        }
        let cfg = CConfig(plan, filters: filters, landlockABI: abi)
        // The sandbox's resolv.conf (rewritten only when it changed): before a warm request,
        // which names the files the sandbox binds by their identity.
        if let r = plan.resolvConf, OS.readFile(r.path) != r.text, !kernel.writeFile(atomically: r.path, r.text) {
            return fail(RootlessError("cannot write the sandbox's resolv.conf at \(r.path)", errno: errno, step: "net", fix: "check the runtime directory"))
        }
        // --net slirp: its listeners and engine, for a warm start or a cold one.
        var net: SlirpStart?
        if let n = plan.slirp {
            switch SlirpStart.prepare(n) {
            case let .success(s):
                net = s
                cfg.tap(socket: s.childEnd)
            case let .failure(e): return fail(e)
            }
        }
        defer { if let n = net, let p = plan.slirp { n.finish(p, warn: warn) } }
        // Before the cgroup: a keeper started now outlives this run, so it must not start
        // inside the sandbox's cgroup (a systemd scope would then never empty).
        let joined: (userns: Int32?, netns: Int32?)
        let warmTap = net.map { n in { (w: WarmNet) in n.warmRunning(w, warn: warn) } }
        switch fast.tryFast(plan, cfg, writeMaps: { pid in if let m = plan.idmap { try writeMaps(m, pid: pid) } }, tap: warmTap) {
        case let .ran(r):
            if let n = net, let p = plan.slirp { n.finish(p, after: r, warn: warn) }
            return withExtendedLifetime(cfg) { status(r, plan) }
        case let .cold(userns, netns, tap):
            joined = (userns, netns)
            // The keeper made the TAP in that namespace already: the child makes none.
            if let t = tap {
                if let n = net {
                    n.tapMadeAhead(t)
                    cfg.tapMade()
                } else {
                    close(t)
                }
            }
        }
        PhaseTimer.mark(cfg.config.tap_made != 0 ? "keeper: TAP made ahead" : "keeper")
        defer { if let n = joined.netns { close(n) } }
        cfg.join(userns: joined.userns, netns: joined.netns)
        var cgroup: CgroupHandle?
        if let c = plan.cgroup {
            do { cgroup = try kernel.makeCgroup(c) } catch let e as RootlessError { return fail(e) } catch { return 125 }
            cfg.enter(cgroup: cgroup!.leafFD)
        } else if let n = plan.cgroupNote, plan.stats || kernel.firstTime("no-cgroup") {
            warn("no cgroup for sandboxes here: \(n) (said once; rootless doctor explains)")
        }
        PhaseTimer.mark("cgroup")
        var helper: NetHelper?
        let started = OS.monotonicSeconds()
        let r: rl_result? = withUnsafePointer(to: cfg.config) { c in
            var child: rl_child
            do { child = try kernel.spawn(c) } catch let e as RootlessError { _ = fail(e); return nil } catch { return nil }
            PhaseTimer.mark("config+clone")
            // The engine's thread, now that the clone is done (no namespace is made after a
            // thread exists); it waits for the TAP, which the child makes after release.
            net?.childMade(warn: warn)
            do {
                if let idmap = plan.idmap, joined.userns == nil { try writeMaps(idmap, pid: child.pid) }
                if let n = plan.netHelper {
                    let h = NetHelper(n)
                    helper = h
                    try h.start(child: child.pid)
                }
                fast.remember(plan, child)
                try kernel.release(&child)
                PhaseTimer.mark("id maps+release")
            } catch {
                kernel.abort(&child)
                if let e = error as? RootlessError { _ = fail(e) }
                return nil
            }
            let r = kernel.supervise(c, &child)
            PhaseTimer.mark("child setup+payload")
            return r
        }
        // The sandbox's time, not the wait for its connections below.
        let wall = OS.monotonicSeconds() - started
        // The peer tool stops once the connections the sandbox left have handed it what
        // they hold (not after a --timeout kill).
        if let h = helper {
            let tool = h.plan.tool.rawValue
            let (owing, when) = h.finish(linger: r != nil && r?.outcome != Int32(bitPattern: RL_TIMED_OUT.rawValue))
            if owing > 0 {
                warn(
                    "\(owing) connection(s) had not carried everything the sandbox sent through \(tool) \(when), and were cut short with it: their far ends may take them for whole (--net \(tool):linger=SECONDS waits longer)"
                )
            }
        }
        // The engine stops with the sandbox, once the connections it left have delivered
        // what it sent: every host socket it opened is closed.
        if let n = net, let p = plan.slirp {
            n.finish(p, after: r, warn: warn)
            net = nil
        }
        // Whatever happened, the cgroup goes (everything in it killed first).
        let stats = cgroup.map { kernel.finishCgroup($0, wallSeconds: wall, usage: plan.stats) } ?? (plan.stats ? kernel.childrenUsage(wallSeconds: wall) : nil)
        guard let r else { return 125 }
        if filters.log != nil {
            let lines = SeccompLogFilter.report(cfg.denials)
            warn(lines.isEmpty ? "seccomp-log: no syscall was denied" : "seccomp-log: denied " + lines.joined(separator: "; "))
        }
        let code = withExtendedLifetime(cfg) { status(r, plan) }
        if let s = stats {
            if let k = s.oomKills, k > 0 {
                let limit = plan.cgroup?.limits.first { $0.file == "memory.max" }.map { " (memory.max \($0.value) bytes reached)" } ?? ""
                warn(
                    code == 137
                        ? "the command was killed by the OOM killer\(limit)" : "the OOM killer killed \(k) process\(k == 1 ? "" : "es") in the sandbox\(limit)")
            }
            if plan.stats { warn(s.text) }
            if let f = plan.statsJSON, !kernel.writeFile(atomically: f, s.json) {
                warn("cannot write --stats-json \(f): \(OS.errorText(errno))")
            }
        }
        return code
    }

    /// What became of a warm sandbox a cached start held (runHeld).
    public enum HeldOutcome {
        case ran(rl_result)
        /// The run failed before the command was sent (its status); the sandbox is the caller's.
        case failed(Int32)
        /// The command could not be sent (the sandbox is dropped): the run starts cold.
        case notSent
    }

    /// A --net slirp warm sandbox a cached start holds (starts.c: its engine is Swift): the
    /// engine is made, its -p listeners first (a port in use fails the run before the
    /// command runs); then `send` sends the command and supervises the sandbox, giving the
    /// engine the sandbox's TAP once the command is sent (KeeperStarts.runWarm: nil when
    /// it could not be sent).
    public func runHeld(_ n: SlirpPlan, send: (_ tap: @escaping (WarmNet) -> Void) -> rl_result?) -> HeldOutcome {
        let net: SlirpStart
        switch SlirpStart.prepare(n, child: false) {
        case let .success(s): net = s
        case let .failure(e): return .failed(fail(e))
        }
        defer { net.finish(n, warn: warn) }
        guard let r = send({ net.warmRunning($0, warn: warn) }) else { return .notSent }
        net.finish(n, after: r, warn: warn)
        return .ran(r)
    }

    func writeMaps(_ m: IDMapPlan, pid: Int32) throws {
        switch m.method {
        case .direct:
            // setgroups must be denied before an unprivileged gid_map write is accepted.
            try kernel.writeFile("/proc/\(pid)/setgroups", "deny")
            try kernel.writeFile("/proc/\(pid)/uid_map", IDMapPlan.render(m.uidLines))
            try kernel.writeFile("/proc/\(pid)/gid_map", IDMapPlan.render(m.gidLines))
        case .helpers:
            try kernel.runHelpers([
                IDMapPlan.helperArgv(m.uidHelper ?? "newuidmap", pid: pid, m.uidLines),
                IDMapPlan.helperArgv(m.gidHelper ?? "newgidmap", pid: pid, m.gidLines),
            ])
        }
    }

    func fail(_ e: RootlessError) -> Int32 {
        warn(e.description)
        return e.exitCode
    }

    public func status(_ r: rl_result, _ plan: Plan) -> Int32 {
        switch r.outcome {
        case Int32(bitPattern: RL_EXITED.rawValue): return r.code
        case Int32(bitPattern: RL_SIGNALED.rawValue): return 128 + r.code
        case Int32(bitPattern: RL_SETUP_FAILED.rawValue): return fail(ChildStep.error(r.report, plan))
        case Int32(bitPattern: RL_TIMED_OUT.rawValue):
            warn("timed out after \(Double(plan.timeoutMS) / 1000)s; the whole sandbox was killed")
            return 124
        default:
            warn("the sandbox's pid 1 was killed from outside\(r.code < 0 ? " (signal \(-r.code))" : "")")
            return r.code < 0 ? 128 - r.code : 125
        }
    }
}
