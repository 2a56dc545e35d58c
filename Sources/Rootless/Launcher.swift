import CRootless
import Glibc
import IDMap

/// Walks a Plan: spawn (C) -> write the id maps -> release -> supervise -> exit status.
public struct Launcher {
    public var kernel: any Kernel
    public var warn: (String) -> Void

    public init(kernel: any Kernel = LiveKernel(), warn: @escaping (String) -> Void = { OS.writeStderr("rootless: " + $0 + "\n") }) {
        self.kernel = kernel
        self.warn = warn
    }

    /// Returns the exit status rootless should exit with.
    public func run(_ plan: Plan) -> Int32 {
        plan.notes.forEach(warn)
        return start(plan, warm: plan.warm && !StartCache.coldOnly)
    }

    func start(_ plan: Plan, warm allowWarm: Bool) -> Int32 {
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
                return fail(RootlessError("Landlock is not available on this kernel (\(abi < 0 ? OS.errorText(-abi) : "ABI 0"))",
                                          fix: "boot with lsm=...,landlock (kernel >= 5.13), or drop --landlock"))
            }
        }
        // Join the keeper's already-mapped user namespace when there is one (or one can be
        // started), and take a fresh network namespace from its pool; else the maps are
        // written for this sandbox below. The keeper before the cgroup: it outlives this
        // run, so it must not start inside the sandbox's cgroup (a systemd scope would then
        // never empty and go away).
        // The pool's namespaces are plain ones (only lo): asked for only by a run with its
        // own network namespace (--net none).
        // A warm start: the keeper built this sandbox ahead (for an earlier run exactly
        // like this one) and is asked with what identifies it; on a hit only the command is
        // left to send. On a miss it answers as usual and builds one for the next run.
        let warmCfg = allowWarm && plan.idmap != nil ? CConfig(plan, filters: filters, landlockABI: abi) : nil
        let request = warmCfg.flatMap { c in withUnsafePointer(to: c.config) { kernel.warmRequest($0) } }
        let keeper = plan.keeper ? plan.idmap.flatMap { m in kernel.keeper(m, net: plan.namespaces.contains(.net), warm: request) { try writeMaps(m, pid: $0) } } : nil
        PhaseTimer.mark("keeper")
        // The keeper took the request: a later run like this one can send it from its
        // entry (StartCache). The config as it stands, before a miss joins namespaces.
        if let k = keeper, let c = warmCfg, request != nil { withUnsafePointer(to: c.config) { kernel.rememberStart($0, plan, socket: k.socket) } }
        if let w = keeper?.warm, let c = warmCfg { return runWarm(w, c, plan) }
        let keeperFD = keeper?.userns
        let netnsFD = keeper?.netns
        defer { if let n = netnsFD { close(n) } }
        var cgroup: CgroupHandle?
        if let c = plan.cgroup {
            do { cgroup = try kernel.makeCgroup(c) } catch let e as RootlessError { return fail(e) } catch { return 125 }
        } else if let n = plan.cgroupNote, plan.stats || kernel.firstTime("no-cgroup") {
            warn("no cgroup for sandboxes here: \(n) (said once; rootless doctor explains)")
        }
        PhaseTimer.mark("cgroup")
        // A warm miss: the config made for the request serves (warm plans have no cgroup).
        let cfg: CConfig
        if let w = warmCfg, cgroup == nil {
            w.join(userns: keeperFD, netns: netnsFD)
            cfg = w
        } else {
            cfg = CConfig(plan, filters: filters, landlockABI: abi, usernsFD: keeperFD, netnsFD: netnsFD, cgroupFD: cgroup?.leafFD)
        }
        let started = OS.monotonicSeconds()
        let r: rl_result? = withUnsafePointer(to: cfg.config) { c in
            var child: rl_child
            do { child = try kernel.spawn(c) } catch let e as RootlessError { _ = fail(e); return nil } catch { return nil }
            PhaseTimer.mark("config+clone")
            do {
                if let idmap = plan.idmap, keeperFD == nil { try writeMaps(idmap, pid: child.pid) }
                // Before the child runs: the keeper holds the sandbox's mount namespace until
                // pid 1 exits and then drops it, so unmounting its ~35 mounts (and an RCU
                // grace period) is not on our path (~0.3 ms). Before release, because pid 1
                // turns non-dumpable before its payload runs (its /proc files are then the
                // initial namespace root's). Not for an image root, which this run removes
                // after pid 1 exits: an overlay's scratch dir has the upper tmpfs mounted on
                // it in that namespace (rmdir: EBUSY while it is held), so pid 1's exit
                // tears its namespace down first.
                if let k = keeper, !plan.rootRemovedAfter { kernel.deferTeardown(k, child) }
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
        // Whatever happened, the cgroup goes (everything in it killed first).
        let wall = OS.monotonicSeconds() - started
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
                warn(code == 137 ? "the command was killed by the OOM killer\(limit)" : "the OOM killer killed \(k) process\(k == 1 ? "" : "es") in the sandbox\(limit)")
            }
            if plan.stats { warn(s.text) }
            if let f = plan.statsJSON, !kernel.writeFile(atomically: f, s.json) {
                warn("cannot write --stats-json \(f): \(OS.errorText(errno))")
            }
        }
        return code
    }

    /// The command goes to the warm sandbox, which execs it; from then on it is supervised
    /// as a sandbox of our own (signals, timeout, status), except that pid 1 is the
    /// keeper's child. If the command cannot be sent, the sandbox is killed and this run
    /// starts cold.
    func runWarm(_ w: WarmSandbox, _ cfg: CConfig, _ plan: Plan) -> Int32 {
        let r: rl_result? = withUnsafePointer(to: cfg.config) { c in
            let rc = kernel.warmGo(w, c)
            guard rc == 0 else {
                _ = rl_pidfd_kill(w.pidfd, SIGKILL)
                close(w.pidfd)
                close(w.socket)
                return nil
            }
            PhaseTimer.mark("warm: command sent")
            var child = rl_child(pid: w.pid, pidfd: w.pidfd, sync_fd: -1, report_fd: w.socket, pty_master: -1, notify_sock: -1, foreign: 1)
            let r = kernel.supervise(c, &child)
            PhaseTimer.mark("payload")
            return r
        }
        guard let r else { return start(plan, warm: false) }
        return withExtendedLifetime(cfg) { status(r, plan) }
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

    func status(_ r: rl_result, _ plan: Plan) -> Int32 {
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
