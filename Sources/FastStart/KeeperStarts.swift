import RootlessOS
import RootlessCore
import CRootless
import Glibc
import IDMap

/// What fast starts do to the system. LiveKeeperOps does it for real; tests record the
/// calls to check their order.
public protocol KeeperOps {
    /// The namespaces of the keeper holding these maps (started if needed, its maps
    /// written by `writeMaps(pid)`), with a pooled network namespace when `net`, or nil.
    /// With `warm` (a request from warmRequest) the handle may carry a warm sandbox instead.
    /// `tap` (--net slirp: rl_tap_key's bytes): the pooled namespace may come with its TAP
    /// made (a warm request is its own key).
    func keeper(_ idmap: IDMapPlan, net: Bool, warm: [UInt8]?, tap: [UInt8]?, writeMaps: (Int32) throws -> Void) -> KeeperHandle?
    /// What identifies the sandbox cfg describes for this caller (rl_warm_pack), or nil when
    /// the keeper may not build it (the caller is confined, a path is missing, too big).
    func warmRequest(_ cfg: UnsafePointer<rl_config>) -> [UInt8]?
    /// Leaves the entry a later run with the same inputs starts from (StartCache), when
    /// this run recorded its facts.
    func rememberStart(_ cfg: UnsafePointer<rl_config>, _ plan: Plan, socket: String)
    /// Sends a warm sandbox its command and our fds 0-2 (rl_warm_go): 0 or -errno.
    func warmGo(_ w: WarmSandbox, _ cfg: UnsafePointer<rl_config>) -> Int32
    /// Gives the keeper the sandbox's mount namespace to drop once pid 1 is gone.
    func deferTeardown(_ keeper: KeeperHandle, _ child: rl_child)
    func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result
}

/// Fast starts through the user's keeper: its mapped user namespace and pooled network
/// namespaces for every start, a warm sandbox it built ahead for a run like this one, and
/// the entry a later identical run starts from before main (StartCache). One per run.
public final class KeeperStarts: FastStarts {
    let ops: any KeeperOps
    var keeper: KeeperHandle?

    public init(ops: any KeeperOps = LiveKeeperOps()) { self.ops = ops }

    public func tryFast(_ plan: Plan, _ cfg: CConfig, writeMaps: (Int32) throws -> Void, tap: ((WarmNet) -> Void)?) -> FastTry {
        guard plan.keeper, let idmap = plan.idmap else { return .cold(userns: nil, netns: nil, tap: nil) }
        // A helper (--net slirp4netns, pasta) configures the namespace the child is cloned
        // with, before release: a pooled one, joined only after release, would not be it.
        let net = plan.namespaces.contains(.net) && plan.netHelper == nil
        // A warm start: the keeper built this sandbox ahead (for an earlier run exactly
        // like this one) and is asked with what identifies it; on a hit only the command is
        // left to send. On a miss it answers as usual and builds one for the next run.
        let request = plan.warm && !StartCache.coldOnly ? withUnsafePointer(to: cfg.config) { ops.warmRequest($0) } : nil
        // --net slirp: what the keeper's pool makes its TAP with (a warm request names it:
        // made only for a run that sends none, or asks again without one).
        let tapKey = { net ? withUnsafePointer(to: cfg.config) { KeeperStarts.tapKey($0) } : nil }
        keeper = ops.keeper(idmap, net: net, warm: request, tap: request == nil ? tapKey() : nil, writeMaps: writeMaps)
        guard let k = keeper else { return .cold(userns: nil, netns: nil, tap: nil) }
        // The keeper took the request: a later run like this one can send it from its
        // entry (StartCache). The config as it stands, before a miss joins namespaces.
        if request != nil { withUnsafePointer(to: cfg.config) { ops.rememberStart($0, plan, socket: k.socket) } }
        guard let w = k.warm else { return .cold(userns: k.userns, netns: k.netns, tap: k.tap) }
        if let r = withUnsafePointer(to: cfg.config, { runWarm(w, $0, tap: tap) }) { return .ran(r) }
        // The command could not be sent (the sandbox is gone): ask again, cold.
        keeper = ops.keeper(idmap, net: net, warm: nil, tap: tapKey(), writeMaps: writeMaps)
        return .cold(userns: keeper?.userns, netns: keeper?.netns, tap: keeper?.tap)
    }

    /// cfg's TAP as the keeper's pool makes it ahead (rl_tap_key), or nil: no TAP, or one
    /// the pool would not make.
    static func tapKey(_ cfg: UnsafePointer<rl_config>) -> [UInt8]? {
        guard cfg.pointee.tap != 0 else { return nil }
        var n = 0
        let key = [UInt8](unsafeUninitializedCapacity: Int(RL_TAP_KEY_MAX)) { b, count in
            n = rl_tap_key(cfg, b.baseAddress, b.count)
            count = n
        }
        return n > 0 ? key : nil
    }

    /// Before the child runs: the keeper holds the sandbox's mount namespace until pid 1
    /// exits and then drops it, so unmounting its ~35 mounts (and an RCU grace period) is
    /// not on our path (~0.3 ms). Before release, because pid 1 turns non-dumpable before
    /// its payload runs (its /proc files are then the initial namespace root's). Not for an
    /// image root, which this run removes after pid 1 exits: an overlay's scratch dir has
    /// the upper tmpfs mounted on it in that namespace (rmdir: EBUSY while it is held), so
    /// pid 1's exit tears its namespace down first.
    public func remember(_ plan: Plan, _ child: rl_child) {
        if let k = keeper, k.warm == nil, !plan.rootRemovedAfter { ops.deferTeardown(k, child) }
    }

    /// The command goes to the warm sandbox, which execs it; from then on it is supervised
    /// as a sandbox of our own (signals, timeout, status), except that pid 1 is the
    /// keeper's child. nil: the command could not be sent, and the sandbox is dropped.
    /// --net slirp: the sandbox came with its TAP's socket, which `tap` takes once the
    /// command is sent (its engine then starts: a thread, which must not exist while a
    /// failed hand-off may still start cold, joining namespaces). Also how a cached start
    /// runs the --net slirp sandbox it holds (StartCache.runHeld).
    /// sent: the command went already (a cached start's, from its constructor).
    func runWarm(_ w: WarmSandbox, _ c: UnsafePointer<rl_config>, tap: ((WarmNet) -> Void)?, sent: Bool = false) -> rl_result? {
        // A TAP is the sandbox's if and only if the config asked for one (it is part of
        // the request); a keeper that says otherwise gets no command.
        let rc = (w.tap != nil) == (tap != nil) ? (sent ? 0 : ops.warmGo(w, c)) : -EPROTO
        guard rc == 0 else {
            KeeperStarts.drop(w)
            return nil
        }
        if !sent { PhaseTimer.mark("warm: command sent") }
        if let t = w.tap, let take = tap { take(t) }
        var child = rl_child(pid: w.pid, pidfd: w.pidfd, sync_fd: -1, report_fd: w.socket, pty_master: -1, notify_sock: -1, foreign: 1)
        let r = ops.supervise(c, &child)
        PhaseTimer.mark("payload")
        return r
    }

    /// A warm sandbox that will not get its command: killed, and every fd of it closed.
    static func drop(_ w: WarmSandbox) { rl_warm_drop(w.pidfd, w.socket, w.tap?.tapSocket ?? -1, w.tap?.userns ?? -1) }
}

public struct LiveKeeperOps: KeeperOps {
    /// What a cached start's entry keeps beside the config (nil: this run leaves none).
    var recipe: StartCache.Recipe?
    public init(recipe: StartCache.Recipe? = nil) { self.recipe = recipe }

    public func keeper(_ idmap: IDMapPlan, net: Bool, warm: [UInt8]?, tap: [UInt8]?, writeMaps: (Int32) throws -> Void) -> KeeperHandle? {
        KeeperStore()?.join(idmap, net: net, warm: warm, tapKey: tap, writeMaps: writeMaps)
    }

    public func warmRequest(_ cfg: UnsafePointer<rl_config>) -> [UInt8]? {
        // 32 KiB holds the default policy's filters and ~35 mounts; past 192 KiB the keeper
        // would not take it in one message anyway. Not zeroed first: a fresh 192 KiB cost
        // ~0.2 ms of page faults per start.
        for cap in [32 * 1024, 192 * 1024] {
            var n = 0
            let buf = [UInt8](unsafeUninitializedCapacity: cap) { b, count in
                n = rl_warm_pack(cfg, b.baseAddress, cap)
                count = max(n, 0)
            }
            if n > 0 { return buf }
            if n != -Int(E2BIG) { return nil }
        }
        return nil
    }

    public func rememberStart(_ cfg: UnsafePointer<rl_config>, _ plan: Plan, socket: String) {
        if let r = recipe { StartCache.save(cfg, plan, socket: socket, r) }
    }

    public func warmGo(_ w: WarmSandbox, _ cfg: UnsafePointer<rl_config>) -> Int32 { rl_warm_go(w.socket, cfg) }

    public func deferTeardown(_ keeper: KeeperHandle, _ child: rl_child) { _ = rl_keeper_defer(keeper.socket, child.pidfd, child.pid) }

    public func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result {
        var r = rl_result()
        _ = rl_supervise(cfg, &child, &r)
        return r
    }
}
