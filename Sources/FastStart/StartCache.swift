import RootlessOS
import RootlessCore
import CRootless
import Glibc

/// Cached starts (starts.c). A C constructor looks first: a run whose entry is valid (same
/// inputs, same host facts) gets its warm sandbox and runs there before any Swift; the
/// rest plan as usual, and a run that found no entry records its facts (Observe) and
/// leaves one when it makes its warm request (Launcher).
public enum StartCache {
    static var fast: rl_fast { rl_start_state().pointee }

    /// What an entry keeps beside the config: the host directory the plan was made in,
    /// and how the sandbox's environment is made from the caller's (--clearenv, -e).
    public struct Recipe {
        public var cwd: String
        public var clearEnv: Bool
        public var sets: [String]
        public init(cwd: String, clearEnv: Bool, sets: [String]) {
            self.cwd = cwd
            self.clearEnv = clearEnv
            self.sets = sets
        }
    }

    /// First thing in main: what the C constructor (starts.c) did before it. A run that
    /// found no entry records its facts; one done there with a plain status has exited.
    public static func begin() {
        if fast.state == Int32(RL_FAST_NONE.rawValue) { Observe.recording = true }
    }

    /// A run done from its entry whose status needs the plan to be told (a setup failure
    /// names the step's mount, a timeout its seconds): the CLI plans it, nothing more.
    package static var finished: rl_result? { fast.state == Int32(RL_FAST_DONE.rawValue) ? fast.result : heldResult }

    /// Its warm sandbox took the command but could not run it: this run starts cold.
    static var coldOnly: Bool { fast.state == Int32(RL_FAST_COLD.rawValue) || heldNotSent }

    nonisolated(unsafe) static var heldResult: rl_result?
    nonisolated(unsafe) static var heldNotSent = false
    /// A --net slirp run whose entry held a warm sandbox (starts.c): its engine, from the
    /// run's flags alone (the entry stands for the rest of the plan), and the command
    /// (sent already when no -p listener had to be bound first: tap_go_first). The exit
    /// status when the run is over with a plain one; nil when the CLI goes on: to plan the
    /// status a failure needs (finished), or to start cold (coldOnly), or when nothing is
    /// held.
    package static func runHeld(_ spec: RunSpec) -> Int32? {
        guard fast.state == Int32(RL_FAST_HELD.rawValue) else { return nil }
        let h = fast.held
        let sent = h.cfg.pointee.tap_go_first != 0
        let w = WarmSandbox(pid: h.pid, pidfd: h.pidfd, socket: h.sock, tap: WarmNet(tapSocket: h.tap, userns: h.userns >= 0 ? h.userns : nil))
        // The entry was made from these very flags, so they plan a --net slirp network;
        // if not, the sandbox goes and the run plans from scratch (and says what is wrong),
        // unless its command went already: then it ends here.
        let plan = Result { try Planner.slirpPlan(spec) }
        guard case let .success(n?) = plan else {
            KeeperStarts.drop(w)
            if sent { return stopSent(plan) }
            heldNotSent = true
            return nil
        }
        // Supervised (and sent) as a warm sandbox the keeper hands a run (KeeperStarts).
        switch Launcher().runHeld(n, send: { tap in KeeperStarts().runWarm(w, h.cfg, tap: tap, sent: sent) }) {
        case let .ran(r):
            if r.outcome == Int32(RL_EXITED.rawValue) { return r.code }
            if r.outcome == Int32(RL_SIGNALED.rawValue) { return 128 + r.code }
            heldResult = r
            return nil
        case let .failed(code):
            KeeperStarts.drop(w)  // the engine failed: a sent command is killed with it
            if sent { OS.writeStderr(startedNote) }
            return code
        case .notSent:
            if sent { return stopSent(plan) }
            heldNotSent = true
            return nil
        }
    }

    /// A sent command whose network could not be had (killed with its sandbox): never run
    /// again cold, the run ends with what went wrong.
    static func stopSent(_ plan: Result<SlirpPlan?, Error>) -> Int32 {
        var e = RootlessError("the sandbox's network could not be set up", fix: "run it again")
        if case let .failure(f as RootlessError) = plan { e = f }
        OS.writeStderr("rootless: " + e.description + "\n" + startedNote)
        return e.exitCode
    }
    static let startedNote = "rootless: the command, started already, was killed (it may have partly run)\n"

    /// Stops recording (a fact the log cannot carry, or a plan made from one).
    package static func forgo() { Observe.recording = false }

    /// The entry for this run: its config, the plan's notes, the keeper's socket.
    static func save(_ cfg: UnsafePointer<rl_config>, _ plan: Plan, socket: String, _ recipe: Recipe) {
        guard Observe.recording, !Observe.spoiled else { return }
        let cwd = recipe.cwd
        // A value given with -e (often a token) would be written to disk twice: in the
        // entry's argv and in its recipe. Such a run leaves no entry; it starts warm still.
        guard !recipe.sets.contains(where: { $0.contains("=") }) else { Observe.recording = false; return }
        Observe.recording = false
        var notes = ""
        for n in plan.notes { notes += "rootless: " + n + "\n" }
        let sets = recipe.sets.map { strdup($0) } + [nil]
        defer { sets.forEach { free($0) } }
        sets.withUnsafeBufferPointer { setsPtr in
            Observe.log.withUnsafeBytes { obs in
                notes.withCString { notesPtr in
                    socket.withCString { sockPtr in
                        Planner.defaultPath.withCString { pathPtr in
                            setsPtr.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: sets.count) { setsC in
                                var e = rl_start()
                                e.obs = obs.baseAddress?.assumingMemoryBound(to: CChar.self)
                                e.n_obs = obs.count
                                e.notes = notesPtr
                                e.sock = sockPtr
                                e.clear_env = recipe.clearEnv ? 1 : 0
                                e.sets = setsC
                                e.default_path = pathPtr
                                _ = rl_start_save(cwd, &e, cfg)
                            }
                        }
                    }
                }
            }
        }
    }
}
