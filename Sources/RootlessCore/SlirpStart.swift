import CRootless
import Glibc
import RootlessOS
import SlirpHost
import SlirpNet

/// --net slirp around one start, cold or warm: the -p listeners and the engine, made before
/// the sandbox is (a port in use fails the run there, before anything of it exists), and
/// the socket the sandbox's TAP comes back on. A cold start's child gets `childEnd` and
/// the engine starts once the clone is done (no namespace is made after a thread exists);
/// a warm sandbox made its TAP when the keeper built it, and its engine starts on the
/// keeper's socket once the command is sent. Either way it stops with the sandbox, and
/// every host socket it opened is closed.
final class SlirpStart {
    let runner: SlirpRunner
    /// The child's end (cfg.net_sock), ours to close once the child holds its own copy.
    private(set) var childEnd: Int32
    private var started = false
    private var finished = false

    /// -p forwards TCP: the engine splices those connections from a socket inside the
    /// sandbox's network namespace, which a warm run may make only once it has joined the
    /// keeper's user namespace (which owns that namespace).
    let splices: Bool

    private init(runner: SlirpRunner, childEnd: Int32, splices: Bool) {
        self.runner = runner
        self.childEnd = childEnd
        self.splices = splices
    }

    /// The listeners and the engine, not started; with `child`, the socket a child of ours
    /// sends the TAP on, whose child's end is childEnd (a cold start's config takes it).
    /// Without (a sandbox the keeper built, its TAP waiting in the keeper's socket), none.
    static func prepare(_ n: SlirpPlan, child: Bool = true) -> Result<SlirpStart, RootlessError> {
        var sp: [Int32] = [-1, -1]
        guard !child || socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sp) == 0 else {
            return .failure(RootlessError("cannot make the socket for the sandbox's TAP", errno: errno, step: "net"))
        }
        var listeners: [SlirpRunner.Listener] = []
        for f in n.publish {
            switch SlirpRunner.listen(f) {
            case let .success(fd): listeners.append(SlirpRunner.Listener(fd: fd, guestPort: f.guestPort, udp: f.udp))
            case let .failure(e):
                listeners.forEach { close($0.fd) }
                sp.filter { $0 >= 0 }.forEach { close($0) }
                return .failure(
                    RootlessError(
                        "\(f.named): cannot listen on that host port", errno: e.errno, step: "net",
                        fix: e.errno == EADDRINUSE ? "the port is in use; choose another host port" : "choose another host address or port"))
            }
        }
        return .success(
            SlirpStart(
                runner: SlirpRunner(config: n.config, policy: n.policy, tapSock: sp[0], listeners: listeners), childEnd: sp[1],
                splices: n.publish.contains { !$0.udp }))
    }

    /// The child exists (it holds its copy of childEnd): the engine starts and waits for the TAP.
    func childMade(warn: (String) -> Void) {
        closeChildEnd()
        start(warn: warn)
    }

    /// A warm sandbox took the command: its TAP waits in the keeper's socket. With TCP to
    /// splice, the keeper's user namespace is joined first, while this process has one
    /// thread (setns refuses more); failing that, those connections go over the TAP. Once
    /// joined, this process holds every capability in the namespace the sandbox's processes
    /// run in, so it turns non-dumpable: none of them (nor anything else of the user's)
    /// may ptrace it or take its fds, whatever capabilities it holds there.
    func warmRunning(_ w: WarmNet, warn: (String) -> Void) {
        closeChildEnd()
        if let u = w.userns {
            if splices {
                let rc = rl_setns_user(u)
                if rc == 0 {
                    _ = rl_set_dumpable(0)
                } else {
                    warn("cannot join the keeper's user namespace (\(OS.errorText(-rc))): -p's TCP connections go over the TAP, not spliced")
                }
            }
            close(u)
        }
        runner.takeTap(from: w.tapSocket)
        start(warn: warn)
    }

    /// The keeper's pool made the TAP in the network namespace the child joins: it waits
    /// in `socket` (as the child would have sent it), and the child has no end to send on.
    func tapMadeAhead(_ socket: Int32) {
        closeChildEnd()
        runner.takeTap(from: socket)
    }

    private func start(warn: (String) -> Void) {
        if runner.start() { started = true } else { warn("cannot start the network engine: \(OS.errorText(errno)); the sandbox has no network") }
    }

    private func closeChildEnd() {
        if childEnd >= 0 { close(childEnd) }
        childEnd = -1
    }

    /// The sandbox is over (or never ran): the engine stops and closes what it held; --net-log's report.
    /// `after`: how the sandbox ended; one killed at its timeout gets no wait for its connections.
    func finish(_ plan: SlirpPlan, after r: rl_result? = nil, warn: (String) -> Void) {
        closeChildEnd()
        if finished { return }
        finished = true
        guard started else { return runner.discard() }
        // Waited for: the connections the sandbox left deliver what it sent first.
        let log = runner.stop(linger: r?.outcome != Int32(bitPattern: RL_TIMED_OUT.rawValue), log: plan.log)
        if plan.log { warn(SlirpPlan.report(log)) }
    }
}
