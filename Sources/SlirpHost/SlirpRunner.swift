import CRootless
import Glibc
import RootlessOS
import SlirpNet
import Synchronization

/// SlirpNet's host side: one thread, one epoll loop over the sandbox's TAP and every host
/// socket its flows opened, driving the pure engine (SlirpEngine) and doing its effects.
/// It runs in the process that supervises the sandbox, started once the sandbox's child exists (no
/// namespace is made once a thread exists). When the sandbox ends (stop), its connections
/// first deliver what it sent before the end (config.lingerMS at most), then everything
/// the loop opened is closed.
public final class SlirpRunner {
    let config: SlirpConfig
    let policy: EgressPolicy
    /// Made on the loop's thread (the host's resolvers and addresses are read there, off
    /// the start path), before the first frame.
    var engine: SlirpEngine!
    var tapSock: Int32
    /// The stop channel, a socket pair: the loop's end (its alone: closed by its cleanup)
    /// and the end stop() sends on (main's alone), sent on with MSG_NOSIGNAL, so a loop that
    /// ended by itself first (its child failed before the TAP came) costs no SIGPIPE.
    var stopRead: Int32 = -1
    var stopWrite: Int32 = -1
    var ep: Int32 = -1
    var tap: Int32 = -1
    var thread: pthread_t?
    /// Why the loop ended early (the TAP never came, epoll failed): said at once, on the
    /// loop's thread (stop may not wait for it).
    func fail(_ why: String) { OS.writeStderr("rootless: network: \(why)\n") }

    final class Conn {
        let id: Int
        let fd: Int32
        var connecting = true
        var out: [UInt8] = []
        var outStart = 0
        var paused = false
        var eof = false
        var watched = false
        var shutdownPending = false
        /// The flow is over in the engine, but bytes for the host still wait: written
        /// first, then the socket is shut and closed (closing now would drop them).
        var draining = false
        /// Set to be reset when closed (SO_LINGER 0): the sandbox has ended, and the
        /// connection has not passed on its whole stream (ending).
        var armed = false
        init(id: Int, fd: Int32) {
            self.id = id
            self.fd = fd
        }
        var pending: Int { out.count - outStart }
    }
    var tcp: [Int: Conn] = [:]
    var udp: [Int: Int32] = [:]
    var icmp: [Int: Int32] = [:]
    /// The host refuses us ICMP sockets (its ping_group_range leaves our group out): echo
    /// requests beyond the gateway go unanswered.
    var noPing = false
    var applying = false
    enum Owner {
        case tcp(Int), udp(Int), icmp(Int)
        case splice(PortSplice, Int)
    }
    /// -p's fast path (PortSplice): the sandbox's network namespace until first used,
    /// then the thread that makes sockets in it (neither: the TAP path), and the spliced
    /// connections open.
    var sandboxNet: Int32 = -1
    var nsSockets: NamespaceSockets?
    var splices: [ObjectIdentifier: PortSplice] = [:]
    var owners: [Int32: Owner] = [:]
    var buffer: [UInt8] = []  // 64 KiB + 64, made by the loop's thread (off the start path), as tapBuffer
    /// Where the TAP's frames are read: one buffer for every frame (the effects of one are
    /// applied before the next is read, so the slices they hold are gone by then).
    var tapBuffer: [UInt8] = []
    /// The VirtioNet headers of the frame read and of the frame written (the TAP has
    /// IFF_VNET_HDR: rl_net_tap).
    var vnetIn = [UInt8](repeating: 0, count: VirtioNet.headerLength)
    var vnetOut = [UInt8](repeating: 0, count: VirtioNet.headerLength)
    /// The effects being performed (traded with the engine's array each round).
    var batch: [Effect] = []
    /// The largest frame the TAP gives (MTU 65520 and the Ethernet header).
    static let frameMax = 65536 + 64

    /// frameMax bytes for reads to fill, not zeroed: only what a read wrote is looked at,
    /// and zeroing two fresh 64 KiB buffers cost every --net slirp start ~0.1 ms of page
    /// faults (and their teardown at exit) for pages most runs never touch.
    static func readBuffer() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: frameMax) { _, count in count = frameMax }
    }

    /// -p: a host socket (made by the caller, so a port in use fails the run early) and the
    /// sandbox port its connections or datagrams go to.
    public struct Listener {
        public var fd: Int32
        public var guestPort: UInt16
        public var udp: Bool
        public init(fd: Int32, guestPort: UInt16, udp: Bool) {
            self.fd = fd
            self.guestPort = guestPort
            self.udp = udp
        }
    }
    let listeners: [Listener]
    /// -p /udp: a forwarded flow's answers leave through its listener's socket, from the
    /// host address its sender wrote to (when the listener's is a wildcard, the kernel's own
    /// choice may be another, whose answer a connected client drops).
    /// The address is the kernel's, as rl_recv_dst gave it (AF_UNSPEC when not told: the
    /// kernel's choice then), handed back to rl_send_src as it is.
    var udpForward: [Int: (fd: Int32, from: sockaddr_storage)] = [:]

    /// tapSock: the front's end of the socket the child sends the TAP's fd on (-1: a warm
    /// sandbox's, given by takeTap before the start).
    public init(config: SlirpConfig, policy: EgressPolicy, tapSock: Int32, listeners: [Listener] = []) {
        self.config = config
        self.policy = policy
        self.tapSock = tapSock
        self.listeners = listeners
    }

    public struct ListenError: Error { public var errno: Int32 }

    /// A non-blocking socket bound to f's host address and port (listening, for TCP).
    public static func listen(_ f: PortForward) -> Result<Int32, ListenError> {
        let type = f.udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue
        let sa = SockAddr(f.host)
        let fd = socket(sa.family, Int32(type) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(ListenError(errno: errno)) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        // [::] is IPv6's every address only, whatever net.ipv6.bindv6only says: IPv4's
        // 0.0.0.0 is a port of its own (`-p 8080:80 -p [::]:8080:80` takes both, as podman).
        if sa.family == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        // A datagram's answer leaves from the address it came to (forwardDatagrams); without
        // the kernel telling it, from the kernel's choice, as before.
        if f.udp { _ = rl_udp_pktinfo(fd, sa.family) }
        let r = sa.withPointer { bind(fd, $0, $1) }
        guard r == 0, f.udp || Glibc.listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            return .failure(ListenError(errno: e))
        }
        return .success(fd)
    }

    /// The TAP comes on fd instead (a warm sandbox's: the keeper made the socket it waits
    /// in, not us); ours is closed. Before start.
    public func takeTap(from fd: Int32) {
        if tapSock >= 0 { close(tapSock) }
        tapSock = fd
    }

    /// The loop, on its own thread.
    public func start() -> Bool {
        var sp: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sp) == 0 else { return false }
        (stopRead, stopWrite) = (sp[0], sp[1])
        // Flows hold host sockets: as many fds as we may (the soft limit up to the hard one).
        var lim = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        }
        thread = Threads.start { [self] in loop() }
        if thread == nil {
            close(stopWrite)
            stopWrite = -1
        }
        return thread != nil
    }

    /// A runner that will not start (the sandbox failed first): what it holds, closed.
    public func discard() { cleanup() }

    /// The sandbox has ended: the loop takes the frames it sent last, lets its connections
    /// deliver what it sent (ending; not when `linger` is false: a sandbox killed at its
    /// timeout), then closes everything it holds. Returns once it has, with the
    /// destinations for --net-log. (Not returning at once: the process's exit would close
    /// a host socket whose bytes the sandbox's kernel still holds, and the far end would
    /// take the shortened stream for the whole one.)
    /// `log`: its destinations are wanted (the loop is then always waited for).
    /// The signals the run forwards to a sandbox are blocked in its threads from the
    /// sandbox's start to the run's exit (rl_spawn and rl_warm_go block them, and
    /// rl_supervise leaves them so for a run with a TAP): the loop reads them while it
    /// waits (Ctrl-C ends the wait); none may kill the run before it has cleaned up.
    public func stop(linger: Bool = true, log: Bool = false) -> [NetLogEntry: Int] {
        if !log, let t = thread, idle() {
            // Nothing to finish: the process's exit ends the loop (not woken and waited
            // for: a sandbox that never used its network costs its start nothing here).
            thread = nil
            Threads.detach(t)
            return [:]
        }
        if stopWrite >= 0 {
            var b: UInt8 = linger ? 1 : 0
            _ = send(stopWrite, &b, 1, Int32(MSG_NOSIGNAL))
            close(stopWrite)
            stopWrite = -1
        }
        guard let t = thread else { return [:] }
        thread = nil
        Threads.join(t)
        return engine?.log ?? [:]
    }

    /// The loop's side of stop's shortcut: odd while it works (from its start until it
    /// has the TAP, and after each wait), even inside wait() with no effect pending; and
    /// the TCP connections it holds (relayed and spliced, connecting and draining ones
    /// too), written before each such wait.
    let phase = Atomic<Int>(1)
    let connections = Atomic<Int>(0)

    /// Whether the loop has nothing to finish, with the sandbox gone: at one moment it
    /// waited for events (the same even phase before and after), held no TCP connection,
    /// and the TAP held no frame. By the time pid 1's exit is seen, the sandbox's other
    /// processes are gone (the kernel waits for them), what they sent has been handed to
    /// the TAP as the normal path reads it too, and without a connection the sandbox's
    /// kernel sends nothing that needs an answer. (A frame the loop read before the poll
    /// moved the phase first: the loop turns odd before it reads, and the TAP's read and
    /// poll take the same queue's lock.) Never with -p listeners: a client could be
    /// accepted meanwhile, and ending stops them listening first.
    func idle() -> Bool {
        guard listeners.isEmpty else { return false }
        let g = phase.load(ordering: .sequentiallyConsistent)
        guard g % 2 == 0, connections.load(ordering: .sequentiallyConsistent) == 0, tap >= 0 else { return false }
        var p = pollfd(fd: tap, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 0) == 0 else { return false }
        return phase.load(ordering: .sequentiallyConsistent) == g
    }

    /// The engine's clock, in ms.
    static func now() -> UInt64 { nowNs() / 1_000_000 }

    /// CLOCK_MONOTONIC in ns (the poll window's clock; `now` is it in ms).
    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func loop() {
        defer { cleanup() }
        // Made now, while fds are to be had (flows may take every one later).
        signals = rl_forwarded_signalfd()
        buffer = SlirpRunner.readBuffer()
        tapBuffer = SlirpRunner.readBuffer()
        engine = SlirpEngine(config: config, policy: policy, partialTCPChecksums: true)
        // The TAP first (or EOF: the child failed and has said why). A sandbox that ended
        // first may have sent frames already: its TAP is taken if it came, and read.
        var p = [pollfd(fd: tapSock, events: Int16(POLLIN), revents: 0), pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
        while poll(&p, 2, -1) < 0 && errno == EINTR {}
        if p[0].revents == 0 { return }
        var fds: [Int32] = [-1, -1]
        let got = rl_recv_fds(tapSock, &fds, 2)
        guard got > 0 else { return }
        tap = fds[0]
        if got == 2 { sandboxNet = fds[1] }
        ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard ep >= 0, watch(tap, EPOLLIN.rawValue), watch(stopRead, EPOLLIN.rawValue), listeners.allSatisfy({ watch($0.fd, EPOLLIN.rawValue) }) else {
            fail("cannot watch the TAP: \(OS.errorText(errno))")
            return
        }
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        polling = PollWindow(capMicros: config.pollMicros, cpus: Int(rl_cpus_allowed()))
        while true {
            let now = SlirpRunner.now()
            // The timers' earliest: ticked only once it is due (what this round's events
            // arm lies ahead of it, or in a later round's reckoning).
            let due = engine.nextDeadline
            // Effects left when apply reached its round cap: no wait, they go next.
            var timeout = !engine.effects.isEmpty ? 0 : due.map { Int32(clamping: $0 > now ? min($0 - now, 1000) : 0) } ?? 1000
            if let end = endBy { timeout = min(timeout, Int32(clamping: end > now ? end - now : 0)) }
            // At rest only with no effect left to do (apply's round cap).
            let resting = engine.effects.isEmpty
            if resting {
                connections.store(tcp.count + splices.count, ordering: .sequentiallyConsistent)
                phase.add(1, ordering: .sequentiallyConsistent)
            }
            let n = wait(&events, timeout)
            if resting { phase.add(1, ordering: .sequentiallyConsistent) }
            if n < 0 && errno != EINTR {
                fail("epoll_wait: \(OS.errorText(errno))")
                return
            }
            for i in 0..<max(Int(n), 0) {
                let fd = events[i].data.fd
                let ev = events[i].events
                if fd == stopRead {
                    var b: UInt8 = 1
                    _ = recv(stopRead, &b, 1, Int32(MSG_DONTWAIT))
                    beginEnding(linger: b != 0)
                } else if fd == signals {
                    // Those that stop a program end the wait (rl_signalfd_stops).
                    if rl_signalfd_stops(signals) != 0 {
                        endWhy = "when the wait for them was interrupted"
                        endBy = SlirpRunner.now()
                    }
                } else if fd == tap {
                    readTap()
                } else if endBy == nil, let l = listeners.first(where: { $0.fd == fd }) {
                    learnHost()
                    if l.udp { forwardDatagrams(l) } else { accept(l.fd, l.guestPort) }
                } else {
                    hostEvent(fd, ev)
                }
                apply()
            }
            if !engine.effects.isEmpty { apply() }
            if let d = due, SlirpRunner.now() >= d {
                engine.tick(now: SlirpRunner.now())
                apply()
            }
            // A listener set aside when fds ran out (EMFILE) is watched again after 100 ms.
            if let t = listenersResumeAt, SlirpRunner.now() >= t {
                listenersResumeAt = nil
                for l in listeners { _ = watch(l.fd, EPOLLIN.rawValue) }
            }
            if let end = endBy {
                let owing = armAndCount()
                let now = SlirpRunner.now()
                if (owing == 0 && engine.effects.isEmpty) || now >= end { return endConnections() }
                if !told && now >= end - config.lingerMS + 1000 {
                    told = true
                    fail(
                        "the sandbox has ended; \(owing) connection(s) still deliver what it sent (up to \((end - now + 999) / 1000) s more; Ctrl-C resets them)"
                    )
                }
            }
        }
    }

    // ---- the end ------------------------------------------------------------------------------

    /// Once the sandbox has ended (stop): the time by which the connections it left must be
    /// done (nil: it has not ended), and whether the wait has been said.
    var endBy: UInt64?
    var told = false
    /// When the connections not done by endBy were given up, for the run to say.
    var endWhy = ""
    /// The forwarded signals (SIGINT...) while ending: one ends the wait at once.
    var signals: Int32 = -1

    /// Whether a connection still owes the host bytes the sandbox sent: they wait in its
    /// buffer, or the sandbox's kernel may still send some (it holds what the sandbox
    /// wrote before it ended, with the FIN behind it). A -p connection spliced: its
    /// sandbox-to-host direction is not yet shut (once connected: one still connecting
    /// has carried nothing).
    func owes(_ c: Conn) -> Bool { c.pending > 0 || engine.sandboxStream(c.id) == .open }
    func owes(_ p: PortSplice) -> Bool { !p.connecting && !p.shut[1] }
    /// Whether a connection's host socket has the sandbox's whole stream, its end too: it
    /// may be closed as a program closes a socket it is done with. Any other is reset.
    func whole(_ c: Conn) -> Bool { c.pending == 0 && !c.shutdownPending && engine.sandboxStream(c.id) == .ended && engine.effects.isEmpty }
    func whole(_ p: PortSplice) -> Bool { !p.connecting && p.shut[1] }

    /// Once a round while ending: every connection not yet whole is set to be reset if
    /// this process dies before it is (Ctrl-C: the far end must not take a shortened
    /// stream for a whole one), and unset once it is; how many still owe bytes.
    func armAndCount() -> Int {
        var owing = 0
        for c in tcp.values {
            if owes(c) { owing += 1 }
            SlirpRunner.arm(c.fd, &c.armed, !whole(c))
        }
        for p in splices.values {
            if owes(p) { owing += 1 }
            SlirpRunner.arm(p.fds[0], &p.armed, !whole(p))
        }
        return owing
    }

    static func arm(_ fd: Int32, _ armed: inout Bool, _ want: Bool) {
        if armed != want { setLinger(fd, reset: want) }
        armed = want
    }

    /// The sandbox's processes are gone, its kernel is not (the TAP holds its network
    /// namespace): the frames it sent last are read, and no new -p connection is taken
    /// (the listeners are shut, not closed, so their fds are not reused meanwhile).
    /// Without `linger`, the loop ends this round.
    func beginEnding(linger: Bool) {
        endBy = SlirpRunner.now() + (linger ? config.lingerMS : 0)
        endWhy =
            !linger
            ? "when it was killed at its timeout"
            : config.lingerMS == 0
                ? "when it ended; --net slirp:linger=SECONDS lets them finish"
                : "\(config.lingerMS / 1000) s after it ended; --net slirp:linger=SECONDS gives them longer"
        epoll_ctl(ep, EPOLL_CTL_DEL, stopRead, nil)
        if signals >= 0 { _ = watch(signals, EPOLLIN.rawValue) }
        // A TCP listener shut stops listening (its waiting connections are reset) and keeps
        // its fd; a UDP one is only no longer read.
        for l in listeners {
            epoll_ctl(ep, EPOLL_CTL_DEL, l.fd, nil)
            if !l.udp { shutdown(l.fd, Int32(SHUT_RD)) }
        }
        listenersResumeAt = nil
        readTap()
    }

    /// Every connection is done, or the time is up: the ones whose stream is whole are
    /// closed as a program closes a socket it is done with (its host kernel sends what it
    /// holds, then the FIN), their unread input dropped first (a socket closed with bytes
    /// unread is reset, losing what it still had to send); the others are reset, and
    /// those that owed bytes are said.
    func endConnections() {
        var reset = 0
        for c in tcp.values {
            if owes(c) { reset += 1 }
            SlirpRunner.closeHost(c.fd, reset: !whole(c))
        }
        for p in splices.values {
            if owes(p) { reset += 1 }
            let w = whole(p)
            if w {
                SlirpRunner.setLinger(p.fds[0], reset: false)
                SlirpRunner.discardInput(p.fds[0])
            }
            p.closeAll(reset: !w)
        }
        tcp = [:]
        splices = [:]
        if reset > 0 { fail("\(reset) connection(s) were reset: they had not delivered everything the sandbox sent \(endWhy)") }
    }

    /// SO_LINGER: close resets the connection (reset), or ends it as usual.
    static func setLinger(_ fd: Int32, reset: Bool) {
        var l = Glibc.linger(l_onoff: reset ? 1 : 0, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    /// A host TCP socket closed: reset, or ended as usual once its unread input is dropped.
    static func closeHost(_ fd: Int32, reset: Bool) {
        setLinger(fd, reset: reset)
        if !reset { discardInput(fd) }
        Glibc.close(fd)
    }

    /// What a TCP socket has received and not been read, dropped (MSG_TRUNC: without a
    /// copy). A few rounds: a far end still sending fills the queue as fast as it empties.
    static func discardInput(_ fd: Int32) {
        var rounds = 0
        while rounds < 8 && recv(fd, nil, 1 << 30, Int32(MSG_DONTWAIT | MSG_TRUNC)) > 0 { rounds += 1 }
    }

    var polling = PollWindow(capMicros: 0, cpus: 1)
    /// When the last wait ended: the work on its events runs until the next one.
    var woke: UInt64 = 0

    /// The events ready within timeout ms (0: those ready now): polled for first
    /// (PollWindow), then slept for.
    func wait(_ events: inout [epoll_event], _ timeout: Int32) -> Int32 {
        let max = Int32(events.count)
        if timeout == 0 { return epoll_wait(ep, &events, max, 0) }
        let start = SlirpRunner.nowNs()
        let window = polling.pollFor
        var n: Int32 = 0
        var err: Int32 = 0
        var now = start
        while window > 0 {
            n = epoll_wait(ep, &events, max, 0)
            err = errno
            now = SlirpRunner.nowNs()
            if n != 0 || now &- start >= window { break }
            sched_yield()  // between polls, the CPU goes to whatever else could run on it
        }
        let polled = now &- start
        if n == 0 {
            n = epoll_wait(ep, &events, max, timeout)
            err = errno
            now = SlirpRunner.nowNs()
        }
        // A wait cut short by a signal says nothing of the link.
        if n >= 0 { polling.waited(now &- start, polling: polled, worked: woke == 0 ? 0 : start &- woke, at: now) }
        woke = now
        errno = err
        return n
    }

    /// A connection's place in the epoll set, from its state: readable unless paused or at
    /// EOF, writable while bytes wait. With neither it is taken out of the set: epoll
    /// reports hang-ups and errors whatever the mask, so a mask of 0 would spin the loop.
    func rewatch(_ c: Conn) {
        let want = (c.paused || c.eof ? 0 : EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLPRI.rawValue) | (c.pending > 0 ? EPOLLOUT.rawValue : 0)
        if want == 0 {
            if c.watched { epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nil) }
            c.watched = false
        } else {
            c.watched = watch(c.fd, want, modify: c.watched) || c.watched
        }
    }

    func watch(_ fd: Int32, _ events: UInt32, modify: Bool = false) -> Bool {
        var e = epoll_event()
        e.events = events
        e.data.fd = fd
        return epoll_ctl(ep, modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) == 0
    }

    /// The host's resolver and addresses, read once: before the first packet that may
    /// open a flow (mayOpenFlow) or the first -p connection. The frames a link sends by
    /// itself as it comes up (ARP, IPv6's router solicitations and MLD reports) need
    /// neither, so a sandbox that never uses the network never pays for the reads.
    var hostKnown = false
    func learnHost() {
        if hostKnown { return }
        hostKnown = true
        engine.learnHost(resolver: config.dnsUpstream == nil ? SlirpRunner.hostResolver() : nil, addresses: SlirpRunner.hostAddresses())
    }

    /// Whether a frame may open a flow: an IPv4 or IPv6 packet to a unicast address (the
    /// engine opens none to a group address), whatever its link address says. ARP and
    /// packets to group addresses (a link's router solicitations, MLD and IGMP reports)
    /// may not.
    static func mayOpenFlow(_ f: ArraySlice<UInt8>) -> Bool {
        let n = f.count, b = f.startIndex
        guard n >= 14 else { return false }
        switch (UInt16(f[b + 12]) << 8) | UInt16(f[b + 13]) {
        case 0x0800: return n < 34 || !(f[b + 30] >= 224)  // 224/4 multicast, 240/4 and broadcast
        case 0x86DD: return n < 54 || f[b + 38] != 0xff  // ff00::/8
        default: return false
        }
    }

    /// Frames from the sandbox, a batch per wake-up.
    func readTap() {
        for _ in 0..<256 {
            // The engine takes a slice of the buffer (no copy); the bytes for a host socket
            // are sent straight from it, and what a socket does not take is copied.
            // Each frame comes after its VirtioNet header: a TCP or UDP checksum the
            // sandbox's kernel left to the link (TUN_F_CSUM) is not checked.
            let got = vnetIn.withUnsafeMutableBytes { h in tapBuffer.withUnsafeMutableBytes { SlirpRunner.readv(tap, h, $0) } }
            let n = got - VirtioNet.headerLength
            if n <= 0 { break }
            // Only the n bytes read are looked at (the buffer is not zeroed: readBuffer).
            let frame = tapBuffer[0..<n]
            if !hostKnown && SlirpRunner.mayOpenFlow(frame) { learnHost() }
            engine.input(frame, summed: VirtioNet.summed(vnetIn), now: SlirpRunner.now())
            apply()
        }
    }

    func hostEvent(_ fd: Int32, _ ev: UInt32) {
        let now = SlirpRunner.now()
        switch owners[fd] {
        case let .tcp(id)?:
            guard let c = tcp[id] else { return }
            if c.connecting {
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                c.connecting = false
                if err != 0 || ev & EPOLLERR.rawValue != 0 {
                    engine.tcpConnected(id, ok: false, now: now)
                    return
                }
                rewatch(c)
                engine.tcpConnected(id, ok: true, now: now)
                return
            }
            if ev & EPOLLOUT.rawValue != 0 { flush(c) }
            if ev & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLPRI.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 && !c.paused {
                readHost(c, peerDone: SlirpRunner.peerDone(ev))
            }
        case let .udp(id)?:
            for _ in 0..<64 {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n < 0 { break }
                engine.udpReceived(id, buffer[0..<n], now: now)
            }
        case let .icmp(id)?:
            for _ in 0..<64 {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n < 0 { break }
                engine.icmpReceived(id, buffer[0..<n], now: now)
            }
        case let .splice(p, side)?:
            spliceEvent(p, side, ev)
        case nil: break
        }
    }

    var listenersResumeAt: UInt64?

    /// Port forwarding: each waiting connection becomes a flow the engine opens to the sandbox.
    func accept(_ lfd: Int32, _ guestPort: UInt16) {
        for _ in 0..<64 {
            let fd = rl_accept_nb(lfd)
            if fd == -EMFILE || fd == -ENFILE {
                // Out of fds: the connection waits in the backlog; the listeners are set
                // aside for a while (a readable listener would spin the loop meanwhile).
                for l in listeners { epoll_ctl(ep, EPOLL_CTL_DEL, l.fd, nil) }
                listenersResumeAt = SlirpRunner.now() + 100
                return
            }
            if fd < 0 { return }
            if splice(fd, guestPort) { continue }
            guard let id = engine.tcpAccepted(guestPort: guestPort, now: SlirpRunner.now()) else {
                SlirpRunner.closeHost(fd, reset: true)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let c = Conn(id: id, fd: fd)
            c.connecting = false
            tcp[id] = c
            owners[fd] = .tcp(id)
            rewatch(c)
            apply()
        }
    }

    /// Port forwarding, UDP: each datagram waiting goes to the sandbox's port from the
    /// gateway, one flow per host peer.
    func forwardDatagrams(_ l: Listener) {
        for _ in 0..<64 {
            var from = sockaddr_storage()
            var to = sockaddr_storage()
            let n = buffer.withUnsafeMutableBytes { b in rl_recv_dst(l.fd, b.baseAddress, b.count, &from, &to) }
            if n < 0 { return }
            guard let peer = SockAddr.endpoint(from) else { continue }
            if let id = engine.udpForwarded(guestPort: l.guestPort, from: peer, buffer[0..<n], now: SlirpRunner.now()) {
                udpForward[id] = (l.fd, to)
            }
            apply()
        }
    }

    /// -p's fast path for an accepted connection: true if it took it (spliced, or refused
    /// by the sandbox and reset); false: the TAP path is to carry it.
    func splice(_ fd: Int32, _ guestPort: UInt16) -> Bool {
        if sandboxNet >= 0 {
            // First use: the thread enters, or cannot (a run with a user namespace of its
            // own holds no CAP_SYS_ADMIN over the host's: the TAP path, from now on).
            nsSockets = NamespaceSockets(netns: sandboxNet)
            sandboxNet = -1
        }
        guard let ns = nsSockets else { return false }
        guard splices.count < SlirpEngine.maxTCPFlows, let sfd = ns.socket() else {
            PortSplice(host: fd, sandbox: -1).closeAll(reset: true)
            return true
        }
        PortSplice.configure(sfd, sandboxSide: true)
        let r = SlirpRunner.connect(sfd, to: Endpoint(config.guest, guestPort))
        guard r == 0 || errno == EINPROGRESS else {
            PortSplice(host: fd, sandbox: sfd).closeAll(reset: true)
            return true
        }
        let p = PortSplice(host: fd, sandbox: sfd)
        guard p.open() else {
            p.closeAll(reset: true)
            return true
        }
        PortSplice.configure(fd, sandboxSide: false)
        splices[ObjectIdentifier(p)] = p
        owners[fd] = .splice(p, 0)
        owners[sfd] = .splice(p, 1)
        rewatch(p)
        return true
    }

    func spliceEvent(_ p: PortSplice, _ side: Int, _ ev: UInt32) {
        var ok = true
        if p.connecting {
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(p.fds[1], SOL_SOCKET, SO_ERROR, &err, &len)
            ok = err == 0 && ev & EPOLLERR.rawValue == 0
            p.connecting = false
            // Bytes may already wait on either side (the host's client spoke first).
            if ok { ok = p.pump(0) && p.pump(1) }
        } else {
            if ev & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { ok = p.pump(side) }
            if ok && ev & EPOLLOUT.rawValue != 0 { ok = p.pump(1 - side) }
        }
        if !ok || p.done {
            endSplice(p, reset: !ok)
        } else {
            rewatch(p)
        }
    }

    func endSplice(_ p: PortSplice, reset: Bool) {
        if !reset && p.armed { SlirpRunner.setLinger(p.fds[0], reset: false) }
        for fd in p.fds where fd >= 0 { owners[fd] = nil }
        splices[ObjectIdentifier(p)] = nil
        p.closeAll(reset: reset)  // closing takes them out of the epoll set
    }

    func rewatch(_ p: PortSplice) {
        for s in 0..<2 {
            let want = p.interest(s)
            if want == 0 {
                if p.watched[s] { epoll_ctl(ep, EPOLL_CTL_DEL, p.fds[s], nil) }
                p.watched[s] = false
            } else {
                p.watched[s] = watch(p.fds[s], want, modify: p.watched[s]) || p.watched[s]
            }
        }
    }

    /// peerDone: epoll saw the peer's FIN (EPOLLRDHUP) before these reads.
    func readHost(_ c: Conn, peerDone: Bool = false) {
        var total = 0
        while total < (1 << 20) {
            // Straight into the flow's ring when it has a run free for a good read (the
            // download path copies nothing itself); else into our buffer, then copied (a
            // new flow's ring grows as its bytes come).
            var got: (n: Int, last: Bool, err: Int32) = (0, false, 0)
            let into = engine.tcpRead(c.id, room: 16384, now: SlirpRunner.now()) { b in
                got = SlirpRunner.recvHost(c.fd, b, peerDone: peerDone)
                return (got.n, got.last)
            }
            if into == nil {
                got = buffer.withUnsafeMutableBytes { SlirpRunner.recvHost(c.fd, $0, peerDone: peerDone) }
                if got.n > 0 { engine.tcpReceived(c.id, buffer[0..<got.n], eof: got.last, now: SlirpRunner.now()) }
            }
            if got.n > 0 {
                total += got.n
                if got.last {
                    c.eof = true
                    rewatch(c)
                }
                // Inside apply (a flow resumed): one read; the running loop applies it, and
                // epoll reports the rest.
                if applying || got.last { return }
                apply()  // a pause takes effect before the next read
                if c.paused || tcp[c.id] == nil { return }
                continue
            }
            if got.n == 0 {
                c.eof = true
                rewatch(c)
                engine.tcpHostEOF(c.id, now: SlirpRunner.now())
            } else if got.err != EAGAIN && got.err != EINTR {
                engine.tcpHostError(c.id)
            }
            return
        }
    }

    /// Whether epoll's events say the peer's FIN came before what is queued now was read,
    /// so a short read is the last: the FIN (EPOLLRDHUP), without an error (a reset's
    /// EPOLLERR) or urgent data (EPOLLPRI: a read stops short at its mark, bytes still behind it).
    static func peerDone(_ ev: UInt32) -> Bool {
        ev & EPOLLRDHUP.rawValue != 0 && ev & (EPOLLERR.rawValue | EPOLLPRI.rawValue) == 0
    }

    /// One read of a host TCP socket into b (256 KiB at most: fewer reads, and fewer
    /// acknowledgments to the host's peer, each read's): the count (or -1), whether the
    /// bytes are the host's last, and errno. Last: a read short of what it asked after the
    /// peer's FIN (peerDone) emptied the queue (the FIN goes with them; no read for the EOF).
    static func recvHost(_ fd: Int32, _ b: UnsafeMutableRawBufferPointer, peerDone: Bool) -> (n: Int, last: Bool, err: Int32) {
        let want = min(b.count, 256 << 10)
        let n = recv(fd, b.baseAddress, want, Int32(MSG_DONTWAIT))
        return (n, peerDone && n > 0 && n < want, n < 0 ? errno : 0)
    }

    /// Writes what is buffered for the host; reports what went (the sandbox's window).
    func flush(_ c: Conn) {
        var wrote = 0
        while c.pending > 0 {
            let n = c.out.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.outStart, c.pending, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if n > 0 {
                c.outStart += n
                wrote += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { break }
            if c.draining { return drop(c) }
            engine.tcpHostError(c.id)
            return
        }
        if c.pending == 0 {
            c.out.removeAll(keepingCapacity: true)
            c.outStart = 0
            if c.shutdownPending {
                shutdown(c.fd, Int32(SHUT_WR))
                c.shutdownPending = false
            }
            if c.draining { return drop(c) }
        } else if c.outStart > 1 << 20 {
            c.out.removeFirst(c.outStart)
            c.outStart = 0
        }
        rewatch(c)
        if wrote > 0 { engine.tcpWritten(c.id, wrote, now: SlirpRunner.now()) }
    }

    /// The host socket of a finished flow with bytes still to write: only written now.
    func drain(_ c: Conn) {
        c.draining = true
        c.shutdownPending = true
        c.paused = true
        rewatch(c)
    }

    func drop(_ c: Conn, reset: Bool = false) {
        tcp[c.id] = nil
        owners[c.fd] = nil
        if reset || c.armed { SlirpRunner.setLinger(c.fd, reset: reset) }
        close(c.fd)
    }

    /// Does what the engine asked, until it asks nothing more. Not re-entered: a resumed
    /// flow's host socket is read within this loop once the round's frames are let go, and
    /// what that read asks is done here too, so frames reach the TAP in the order the
    /// engine made them.
    func apply() {
        guard !applying else { return }
        applying = true
        defer { applying = false }
        var rounds = 0
        repeat {
            while !engine.effects.isEmpty && rounds < 64 {
                rounds += 1
                engine.drain(into: &batch)
                for e in batch { perform(e) }
            }
            // Let the frames and slices go: the builder's buffers, the TAP's and the flows'
            // rings are unique again.
            batch.removeAll(keepingCapacity: true)
            engine.framesReleased()
            // Flows resumed meanwhile read only now: a read into a ring that a frame still
            // shares would copy the whole ring first. (One read each; epoll reports the rest.)
            for id in resumed {
                if let c = tcp[id], !c.paused, !c.eof { readHost(c) }
            }
            resumed.removeAll(keepingCapacity: true)
        } while !engine.effects.isEmpty && rounds < 64
    }
    /// Flows whose host socket is to be read again once this round's frames are let go.
    var resumed: [Int] = []

    func perform(_ e: Effect) {
        switch e {
        case let .frame(f):
            VirtioNet.header(for: f, into: &vnetOut)
            _ = vnetOut.withUnsafeMutableBytes { v in f.withUnsafeBytes { SlirpRunner.writev(tap, v, $0, UnsafeRawBufferPointer(start: nil, count: 0)) } }
        case let .segment(h, p):
            VirtioNet.header(for: h, into: &vnetOut)
            _ = vnetOut.withUnsafeMutableBytes { v in h.withUnsafeBytes { hb in p.withUnsafeBytes { SlirpRunner.writev(tap, v, hb, $0) } } }
        case let .tcpConnect(id, to):
            // The host's own addresses, as routing says at this moment (an interface added
            // since the start counts too), are refused unless the host's loopback is open.
            let dns = engine.config.dnsUpstream.map { Endpoint($0, engine.config.dnsUpstreamPort) }
            guard engine.policy.allowHostLoopback || to == dns || !isLocal(to) else {
                return engine.tcpConnected(id, ok: false, now: SlirpRunner.now())
            }
            let fd = socket(SockAddr(to).family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return engine.tcpConnected(id, ok: false, now: SlirpRunner.now()) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var r = SlirpRunner.connect(fd, to: to)
            // A connect within this host's own networks (a veth, a bridge) is most often done
            // by the time connect returns: asked again, connect says so (0), or EALREADY
            // while it goes on, or why it failed. Done, the SYN-ACK goes out now.
            if r < 0 && errno == EINPROGRESS {
                r = SlirpRunner.connect(fd, to: to)
                if r < 0 && errno == EISCONN { r = 0 }
            }
            guard r == 0 || errno == EALREADY else {
                close(fd)
                return engine.tcpConnected(id, ok: false, now: SlirpRunner.now())
            }
            let c = Conn(id: id, fd: fd)
            tcp[id] = c
            owners[fd] = .tcp(id)
            c.connecting = r != 0
            if c.connecting {
                c.watched = watch(fd, EPOLLOUT.rawValue)
            } else {
                rewatch(c)
                engine.tcpConnected(id, ok: true, now: SlirpRunner.now())
            }
        case let .tcpSend(id, data):
            guard let c = tcp[id] else { return }
            // Straight from the frame when nothing waits before it (the usual case: the
            // host socket takes it); only what it does not take is copied and kept.
            var sent = 0
            if c.pending == 0 && !c.connecting {
                let n = data.withUnsafeBytes { send(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                if n < 0 && errno != EAGAIN && errno != EINTR { return engine.tcpHostError(id) }
                sent = max(n, 0)
            }
            if sent < data.count { c.out.append(contentsOf: data.dropFirst(sent)) }
            if sent > 0 { engine.tcpWritten(id, sent, now: SlirpRunner.now()) }
            if c.pending > 0 { flush(c) }
        case let .tcpShutdown(id):
            guard let c = tcp[id] else { return }
            if c.pending == 0 { shutdown(c.fd, Int32(SHUT_WR)) } else { c.shutdownPending = true }
        case let .tcpClose(id):
            guard let c = tcp[id] else { return }
            guard c.pending == 0 || c.connecting else { return drain(c) }
            drop(c)
        case let .tcpAbort(id):
            // The sandbox reset its end (its kernel drops what it had not sent, as a socket
            // closed with bytes unread does), or stopped answering: the host's end is reset
            // too, never ended as if the stream were whole.
            guard let c = tcp[id] else { return }
            drop(c, reset: true)
        case let .tcpPause(id, on):
            guard let c = tcp[id] else { return }
            c.paused = on
            rewatch(c)
            if !on && !c.eof { resumed.append(id) }
        case let .udpSend(id, to, data):
            if let l = udpForward[id] {
                let sa = SockAddr(to)
                var from = l.from
                _ = data.withUnsafeBytes { b in
                    sa.withPointer { t, tl in
                        rl_send_src(l.fd, b.baseAddress, b.count, t, tl, &from)
                    }
                }
                return
            }
            var fd = udp[id] ?? -1
            if fd < 0 {
                let dns = engine.config.dnsUpstream.map { Endpoint($0, engine.config.dnsUpstreamPort) }
                guard engine.policy.allowHostLoopback || to == dns || !isLocal(to) else { return }
                guard let s = SlirpRunner.datagram(to: to) else { return }
                fd = s
                udp[id] = fd
                owners[fd] = .udp(id)
                _ = watch(fd, EPOLLIN.rawValue)
            }
            _ = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        case let .icmpEcho(id, to, data):
            var fd = icmp[id] ?? -1
            if fd < 0 {
                guard !noPing, engine.policy.allowHostLoopback || !isLocal(Endpoint(to, 0)) else { return }
                guard let s = SlirpRunner.datagram(to: Endpoint(to, 0), proto: Int32(to.isV4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)) else {
                    noPing = errno == EACCES || errno == EPERM
                    return
                }
                fd = s
                icmp[id] = fd
                owners[fd] = .icmp(id)
                _ = watch(fd, EPOLLIN.rawValue)
            }
            _ = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        case let .icmpClose(id):
            guard let fd = icmp.removeValue(forKey: id) else { return }
            owners[fd] = nil
            close(fd)
        case let .udpClose(id):
            if udpForward.removeValue(forKey: id) != nil { return }  // the listener stays
            guard let fd = udp.removeValue(forKey: id) else { return }
            owners[fd] = nil
            close(fd)
        }
    }

    func cleanup() {
        if routeSock >= 0 { close(routeSock) }
        routeSock = -1
        for c in tcp.values { close(c.fd) }
        for p in splices.values { p.closeAll(reset: false) }
        splices = [:]
        nsSockets?.stop()
        nsSockets = nil
        if sandboxNet >= 0 { close(sandboxNet) }
        sandboxNet = -1
        for fd in udp.values { close(fd) }
        for fd in icmp.values { close(fd) }
        icmp = [:]
        tcp = [:]
        udp = [:]
        owners = [:]
        for l in listeners { close(l.fd) }
        if tap >= 0 { close(tap) }
        if ep >= 0 { close(ep) }
        if tapSock >= 0 { close(tapSock) }
        if stopRead >= 0 { close(stopRead) }
        stopRead = -1
        if signals >= 0 { close(signals) }
        signals = -1
        tap = -1
        ep = -1
    }

    /// A frame in one read (readv: its VirtioNet header, then the frame) or write (writev:
    /// its header, then the frame's bytes in one or two parts); what it returned.
    static func readv(_ fd: Int32, _ a: UnsafeMutableRawBufferPointer, _ b: UnsafeMutableRawBufferPointer) -> Int {
        var iov = (iovec(iov_base: a.baseAddress, iov_len: a.count), iovec(iov_base: b.baseAddress, iov_len: b.count))
        return withUnsafePointer(to: &iov) { $0.withMemoryRebound(to: iovec.self, capacity: 2) { Glibc.readv(fd, $0, 2) } }
    }
    static func writev(_ fd: Int32, _ a: UnsafeMutableRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer) -> Int {
        var iov = (
            iovec(iov_base: a.baseAddress, iov_len: a.count), iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress), iov_len: b.count),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: c.baseAddress), iov_len: c.count)
        )
        return withUnsafePointer(to: &iov) { $0.withMemoryRebound(to: iovec.self, capacity: 3) { Glibc.writev(fd, $0, c.count > 0 ? 3 : 2) } }
    }

    /// connect(2) to e: 0, or -1 with errno set.
    static func connect(_ fd: Int32, to e: Endpoint) -> Int32 { SockAddr(e).withPointer { Glibc.connect(fd, $0, $1) } }

    /// A non-blocking datagram socket (UDP, or ICMP echo with proto IPPROTO_ICMP)
    /// connected to e, or nil with errno set.
    static func datagram(to e: Endpoint, proto: Int32 = 0) -> Int32? {
        let fd = socket(SockAddr(e).family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto)
        guard fd >= 0 else { return nil }
        guard connect(fd, to: e) == 0 else {
            let err = errno
            close(fd)
            errno = err
            return nil
        }
        return fd
    }

    /// Whether e is this host itself: loopback (127/8, ::1), or an address the host's
    /// routing delivers locally (a local, broadcast or anycast route: its own addresses,
    /// an "AnyIP" range, IPv6's subnet-router anycast), asked of the kernel with
    /// RTM_GETROUTE as the connect would be routed. Unsure is local. `sock`: a
    /// NETLINK_ROUTE socket to ask on (else one is made for the question).
    static func isLocal(_ e: Endpoint, via sock: Int32 = -1, seq: UInt32 = 1) -> Bool { routeIsLocal(e, via: sock, seq: seq) ?? true }

    /// isLocal's answer, or nil when the kernel gave none that was understood (no socket,
    /// a timeout, an answer not read): unsure, which callers take as local.
    static func routeIsLocal(_ e: Endpoint, via sock: Int32, seq: UInt32) -> Bool? {
        if let v = e.ip.v4, v.value >> 24 == 127 { return true }
        if e.ip == IP(hi: 0, lo: 1) { return true }
        let fd = sock >= 0 ? sock : routeSocket()
        guard fd >= 0 else { return nil }
        defer { if sock < 0 { close(fd) } }
        let req = Netlink.getRoute(to: e.ip, seq: seq)
        guard req.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == req.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 1024)
        // The answer to this question (a late one to an earlier, timed-out question is skipped).
        for _ in 0..<8 {
            let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            let answer = Array(reply[0..<n])
            guard Netlink.replySeq(answer) == seq else { continue }
            // An error answer is no route at all (the connect itself will fail).
            guard let type = Netlink.routeType(answer) else { return nil }
            return Netlink.isHostRoute(type)
        }
        return nil
    }

    /// A NETLINK_ROUTE socket whose answers come within a second, or -1.
    static func routeSocket() -> Int32 {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)  // NETLINK_ROUTE
        guard fd >= 0 else { return -1 }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// isLocal, asked on the runner's own route socket and remembered for a second per
    /// address (a run's connections to one server ask once; a route that changes is seen
    /// within the second, and the policy's list of the host's addresses is checked first).
    func isLocal(_ e: Endpoint) -> Bool {
        let now = SlirpRunner.now()
        if let c = localCache[e.ip], now < c.until { return c.local }
        if routeSock < 0 { routeSock = SlirpRunner.routeSocket() }
        routeSeq &+= 1
        // Unsure is local, this once: only an answer the kernel gave is remembered.
        guard let local = SlirpRunner.routeIsLocal(e, via: routeSock, seq: routeSeq) else { return true }
        if localCache.count >= 1024 { localCache.removeAll(keepingCapacity: true) }
        localCache[e.ip] = (local, now + 1000)
        return local
    }
    var routeSock: Int32 = -1
    var routeSeq: UInt32 = 0
    var localCache: [IP: (local: Bool, until: UInt64)] = [:]

    /// The host's first resolver, either family (systemd-resolved's upstream when the host points at
    /// its stub 127.0.0.53), or nil.
    static func hostResolver() -> IP? {
        func first(_ path: String) -> IP? {
            guard let t = OS.readFile(path) else { return nil }
            for line in t.split(separator: "\n") {
                let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                // Either family; a scoped address (fe80::1%eth0) is not one a socket here can use.
                if w.count >= 2, w[0] == "nameserver", let a = IP(w[1]) { return a }
            }
            return nil
        }
        let a = first("/etc/resolv.conf")
        if a == IP(IPv4(127, 0, 0, 53)), let up = first("/run/systemd/resolve/resolv.conf") { return up }
        return a
    }

    /// The host's own addresses, both families (a sandbox may not reach the host through them).
    static func hostAddresses() -> [IP] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [IP] = []
        var p = list
        while let i = p {
            if let a = i.pointee.ifa_addr {
                var s = sockaddr_storage()
                let n = a.pointee.sa_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
                if a.pointee.sa_family == sa_family_t(AF_INET) || a.pointee.sa_family == sa_family_t(AF_INET6) {
                    withUnsafeMutableBytes(of: &s) { $0.copyMemory(from: UnsafeRawBufferPointer(start: a, count: n)) }
                    if let e = SockAddr.endpoint(s) { out.append(e.ip) }
                }
            }
            p = i.pointee.ifa_next
        }
        return out
    }
}
