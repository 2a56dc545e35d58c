// The NAT engine: it terminates the sandbox's flows at the virtual gateway and relays
// them over ordinary host sockets, which its driver (SlirpHost) opens, reads and writes.
// Pure: frames and host events in, effects out (Effect), time passed in as milliseconds,
// so every path is tested without a socket. Caps bound its memory whatever the sandbox
// sends (flows, bytes buffered per flow).

public struct Endpoint: Hashable, CustomStringConvertible, Sendable {
    public var ip: IP
    public var port: UInt16
    public init(_ ip: IP, _ port: UInt16) {
        self.ip = ip
        self.port = port
    }
    public init(_ ip: IPv4, _ port: UInt16) { self.init(IP(ip), port) }
    public var description: String { ip.isV4 ? "\(ip):\(port)" : "[\(ip)]:\(port)" }
}

/// What the driver must do, in order.
public enum Effect: Equatable {
    case frame([UInt8])  // write to the TAP
    case segment([UInt8], ArraySlice<UInt8>)  // a TCP frame to the TAP: its headers, then its payload (from the flow's ring)
    case tcpConnect(Int, Endpoint)  // open a host TCP socket; answer tcpConnected
    case tcpSend(Int, ArraySlice<UInt8>)  // write to it (the driver buffers; reports tcpWritten)
    case tcpShutdown(Int)  // the sandbox closed its side: shutdown(SHUT_WR)
    case tcpClose(Int)  // drop the socket (done, or it failed)
    case tcpAbort(Int)  // reset the host's connection (the sandbox reset its end, or stopped answering)
    case tcpPause(Int, Bool)  // stop/resume reading it (the sandbox is slow)
    case udpSend(Int, Endpoint, ArraySlice<UInt8>)  // on the flow's host UDP socket
    case udpClose(Int)
    case icmpEcho(Int, IP, ArraySlice<UInt8>)  // an echo request (the ICMP or ICMPv6 message) on the flow's ping socket
    case icmpClose(Int)
}

/// One destination reached or refused, for --net-log.
public struct NetLogEntry: Hashable {
    public var proto: String
    public var to: Endpoint
    public var refused: String?
}

public final class SlirpEngine {
    public private(set) var config: SlirpConfig
    public var policy: EgressPolicy
    public internal(set) var effects: [Effect] = []
    public private(set) var log: [NetLogEntry: Int] = [:]
    var builder: FrameBuilder
    var tcp: [FlowKey: TCPFlow] = [:]
    var tcpByID: [Int: TCPFlow] = [:]
    var timeWait = TimeWaitTable()
    var udp: [FlowKey: UDPFlow] = [:]
    var udpByID: [Int: UDPFlow] = [:]
    /// -p /udp: the flow for each (sandbox port, host peer).
    var udpInbound: [Inbound: UDPFlow] = [:]
    /// Echo requests beyond the gateway, one flow per (sandbox's identifier, destination).
    var icmp: [FlowKey: UDPFlow] = [:]
    var icmpByID: [Int: UDPFlow] = [:]
    public static let maxICMPFlows = 64
    var fragments = Reassembler()
    var nextID = 1
    var nextISS: UInt32 = 0x1000_0000

    public static let maxTCPFlows = 4096
    /// Bytes held for all flows at once, each way (host -> sandbox waiting for the
    /// sandbox's acknowledgment; sandbox -> host waiting for the host socket): past them
    /// host sockets stop being read and every flow's window shrinks.
    public static let sendBudget = 64 << 20
    public static let rcvBudget = 64 << 20
    var sendBuffered = 0
    var rcvPending = 0
    /// What the flows' send rings hold, bytes free included (TCPFlow.reserve).
    var ringBytes = 0
    public static let maxUDPFlows = 1024
    /// -p /udp: host senders with a flow at once.
    public static let maxUDPInbound = 256
    public static let udpIdleMS: UInt64 = 60_000

    /// partialTCPChecksums: the driver's link completes TCP checksums (a TAP with a
    /// VirtioNet header); the frames then leave them partial (FrameBuilder).
    public init(config: SlirpConfig, policy: EgressPolicy, partialTCPChecksums: Bool = false) {
        self.config = config
        self.policy = policy
        self.policy.allowHostLoopback = policy.allowHostLoopback || config.allowHostLoopback
        builder = FrameBuilder(ourMAC: SlirpConfig.gatewayMAC, peerMAC: .broadcast)
        builder.partialTCPChecksums = partialTCPChecksums
    }

    /// What the driver reads from the host: its resolver (when no --dns was given) and its
    /// own addresses (the policy's "host itself"). Told before the first frame that may
    /// open a flow; before that no rule needs them.
    public func learnHost(resolver: IP?, addresses: [IP]) {
        if config.dnsUpstream == nil { config.dnsUpstream = resolver }
        policy.hostAddresses = addresses
    }

    /// The effects so far, handed over (and forgotten here).
    public func drain() -> [Effect] {
        defer { effects.removeAll(keepingCapacity: true) }
        return effects
    }

    /// The effects so far, swapped into batch (emptied first): the two arrays trade
    /// places and keep their capacity, so the driver's loop allocates nothing.
    public func drain(into batch: inout [Effect]) {
        batch.removeAll(keepingCapacity: true)
        swap(&batch, &effects)
    }

    /// The driver has let every frame go: the next ones are built from the ring's first
    /// buffers again, the ones still warm in the cache (cycling through all 64, 4 MiB of
    /// 64 KiB frames, measured about 7% slower downloads).
    public func framesReleased() { builder.slot = 0 }

    public var flowCount: Int { tcp.count + udp.count + icmp.count }

    // ---- frames from the sandbox ------------------------------------------------------------

    /// A frame the sandbox sent. The effects may hold slices of b (the bytes for a host
    /// socket): the driver reads into one buffer and applies the effects before its next read.
    /// summed: the link says the frame's TCP or UDP checksum needs no check (a VirtioNet
    /// header's NEEDS_CSUM or DATA_VALID: the sandbox's kernel left it to the link, or
    /// checked it); the frame is taken as if it were whole.
    public func input(_ b: [UInt8], summed: Bool = false, now: UInt64) { input(b[...], summed: summed, now: now) }

    public func input(_ b: ArraySlice<UInt8>, summed: Bool = false, now: UInt64) {
        // The parsers index from 0 (the driver's slices start there); any other slice is
        // copied to one that does.
        guard b.startIndex == 0 else { return input(Array(b)[...], summed: summed, now: now) }
        guard let eth = Ethernet.parse(b) else { return }
        if eth.src != .broadcast && eth.src.value & 0x0100_0000_0000 == 0 { builder.peerMAC = eth.src }
        switch eth.type {
        case EtherType.arp: arp(b)
        case EtherType.ipv4:
            guard let h = IPv4Header.parse(b, at: Ethernet.headerLength) else { return }
            if h.fragment {
                if let whole = fragments.add(b, h, now: now) { input(whole, now: now) }
                return
            }
            transport(h.packet, b, summed: summed, now: now)
        case EtherType.ipv6:
            // Unfragmented, without extension headers: what the sandbox's kernel sends
            // over a link whose MTU fits its segments (fragments are dropped).
            guard config.ipv6, let ip = IPv6Header.parse(b, at: Ethernet.headerLength) else { return }
            transport(ip, b, summed: summed, now: now)
        default: break
        }
    }

    func transport(_ ip: IPPacket, _ b: ArraySlice<UInt8>, summed: Bool, now: UInt64) {
        switch ip.proto {
        case IPProto.tcp: if let s = TCPSegment.parse(b, ip, summed: summed) { tcpInput(ip, s, now: now) }
        case IPProto.udp: if let u = UDPDatagram.parse(b, ip, summed: summed) { udpInput(ip, u, b, now: now) }
        case IPProto.icmp: if !ip.isV6 { icmpInput(ip, b, now: now) }
        case IPProto.icmp6: if ip.isV6 { icmp6Input(ip, b, now: now) }
        default: break
        }
    }

    func ours(_ a: IP) -> Bool {
        if let v = a.v4 { return v == config.gateway || v == config.dns }
        return config.ipv6 && (a == SlirpConfig.gateway6 || a == SlirpConfig.dns6)
    }
    func isDNS(_ a: IP) -> Bool { a == IP(config.dns) || (config.ipv6 && a == SlirpConfig.dns6) }
    func isGateway(_ a: IP) -> Bool { a == IP(config.gateway) || (config.ipv6 && a == SlirpConfig.gateway6) }
    /// The most a segment or datagram to a may carry: the link's MTU less the IP and
    /// transport headers.
    func maxPayload(_ a: IP, header: Int) -> Int { config.mtu - (a.isV4 ? 20 : IPv6Header.length) - header }

    func arp(_ b: ArraySlice<UInt8>) {
        guard let a = ARP.parse(b, at: Ethernet.headerLength), a.op == 1, ours(IP(a.targetIP)) else { return }
        builder.peerMAC = a.senderMAC
        let reply = ARP(op: 2, senderMAC: SlirpConfig.gatewayMAC, senderIP: a.targetIP, targetMAC: a.senderMAC, targetIP: a.senderIP)
        effects.append(.frame(reply.frame(from: SlirpConfig.gatewayMAC, to: a.senderMAC)))
    }

    /// Echo requests to the gateway or the DNS address are answered here; others go out
    /// through the host's unprivileged ICMP sockets (where its ping_group_range lets us),
    /// under the egress policy (as port 0: a rule with ports never opens them).
    func icmpInput(_ ip: IPPacket, _ b: ArraySlice<UInt8>, now: UInt64) {
        let i = ip.payload.lowerBound
        guard ip.payload.count >= 8, b[i] == 8, b[i + 1] == 0, Checksum.fold(Checksum.add(b, i, ip.payload.upperBound)) == 0 else { return }
        echo(ip, b, now: now)
    }

    /// ICMPv6: neighbour solicitations for the gateway's addresses are answered (the
    /// sandbox's kernel asks before its first packet to them), echo requests as IPv4's.
    func icmp6Input(_ ip: IPPacket, _ b: ArraySlice<UInt8>, now: UInt64) {
        let i = ip.payload.lowerBound
        let n = ip.payload.count
        guard n >= 8, b[i + 1] == 0, Checksum.fold(Checksum.add(b, i, i + n, Checksum.pseudo(ip.src, ip.dst, proto: IPProto.icmp6, length: n))) == 0 else {
            return
        }
        switch b[i] {
        case 135:  // neighbour solicitation: reserved(4), target(16), options
            guard n >= 24, ip.hopLimit == 255 else { return }  // from the link itself (RFC 4861 §7.1.1)
            let target = IP(b, at: i + 8)
            // Only the gateway's IPv6 addresses (never an IPv4-mapped form of its IPv4
            // ones), and only asked by a unicast or unspecified source.
            guard !target.isV4, ours(target), ip.src.hi >> 56 != 0xff else { return }
            // The answer goes to the asker, or to all nodes when it asked from no address yet.
            let to = ip.src == IP(hi: 0, lo: 0) ? IP(hi: 0xff02_0000_0000_0000, lo: 1) : ip.src
            var rest = [UInt8](repeating: 0, count: 4 + 16 + 8)
            rest[0] = to == ip.src ? 0x60 : 0x20  // solicited (when asked by address) | override
            target.write(&rest, at: 4)
            rest[20] = 2  // target link-layer address option, 8 bytes
            rest[21] = 1
            SlirpConfig.gatewayMAC.write(&rest, at: 22)
            effects.append(.frame(builder.icmp(src: target, dst: to, type: 136, rest: rest[...], hopLimit: 255)))
        case 128:
            echo(ip, b, now: now)
        default:
            break
        }
    }

    /// An echo request (ICMP or ICMPv6; the checksum checked by the caller): the gateway's
    /// addresses answer it here; others go out through a ping socket.
    func echo(_ ip: IPPacket, _ b: ArraySlice<UInt8>, now: UInt64) {
        let i = ip.payload.lowerBound
        if ours(ip.dst) {
            effects.append(.frame(builder.icmp(src: ip.dst, dst: ip.src, type: ip.isV6 ? 129 : 0, rest: b[(i + 4)..<ip.payload.upperBound])))
            return
        }
        let ident = UInt16(b[i + 4]) << 8 | UInt16(b[i + 5])
        let key = FlowKey(Endpoint(ip.src, ident), Endpoint(ip.dst, 0))
        if let f = icmp[key] {
            f.lastUsed = now
            effects.append(.icmpEcho(f.id, ip.dst, b[ip.payload]))
            return
        }
        if let why = policy.refuses(ip.dst, port: 0) {
            note("icmp", Endpoint(ip.dst, 0), why)
            return
        }
        guard icmp.count < SlirpEngine.maxICMPFlows else { return }
        note("icmp", Endpoint(ip.dst, 0), nil)
        let f = UDPFlow(id: nextID, key: key, to: Endpoint(ip.dst, 0), now: now)
        nextID += 1
        icmp[key] = f
        icmpByID[f.id] = f
        effects.append(.icmpEcho(f.id, ip.dst, b[ip.payload]))
    }

    /// An echo reply the flow's ping socket received (the ICMP message, with the host's
    /// identifier): to the sandbox with its own identifier, from the address it pinged.
    public func icmpReceived(_ id: Int, _ data: ArraySlice<UInt8>, now: UInt64) {
        guard let f = icmpByID[id], data.count >= 8, data.count <= maxPayload(f.key.local.ip, header: 0) else { return }
        let reply: UInt8 = f.key.local.ip.isV4 ? 0 : 129
        guard data[data.startIndex] == reply else { return }
        f.lastUsed = now
        var rest = Array(data.dropFirst(4))
        rest[0] = UInt8(f.key.local.port >> 8)
        rest[1] = UInt8(f.key.local.port & 0xff)
        effects.append(.frame(builder.icmp(src: f.key.remote.ip, dst: f.key.local.ip, type: reply, rest: rest[...])))
    }

    /// Where a flow to dst really goes on the host, or why it may not.
    func route(_ dst: IP, port: UInt16, proto: String) -> Result<Endpoint, Refusal> {
        let to: Endpoint
        if isDNS(dst) && port == 53 {
            guard let up = config.dnsUpstream else { return .failure(Refusal("no DNS server found on the host")) }
            to = Endpoint(up, config.dnsUpstreamPort)
        } else if isGateway(dst) {
            guard policy.allowHostLoopback else {
                return .failure(Refusal("the host's loopback (allow_host_loopback=true opens it)"))
            }
            // --deny-net 127.0.0.1 (or the gateway's address) still refuses it.
            // The gateway's addresses are one host: a deny rule naming either of them, or
            // either loopback address, refuses both (a range applies in its own family:
            // the gateway's own address, then the loopback the flow goes to).
            let loopback = dst.isV4 ? IP(IPv4(127, 0, 0, 1)) : IP(hi: 0, lo: 1)
            var host = [IP(config.gateway), IP(IPv4(127, 0, 0, 1))]
            if config.ipv6 { host += [SlirpConfig.gateway6, IP(hi: 0, lo: 1)] }
            if policy.deny.contains(where: { $0.matches(dst, port) })
                || host.contains(where: { h in policy.deny.contains { $0.net.isSingle && $0.matches(h, port) } })
            {
                return .failure(Refusal("--deny-net"))
            }
            if let why = policy.refuses(loopback, port: port) { return .failure(Refusal(why)) }
            to = Endpoint(loopback, port)
        } else if ours(dst) {
            return .failure(Refusal("nothing listens there"))
        } else {
            if let why = policy.refuses(dst, port: port) { return .failure(Refusal(why)) }
            to = Endpoint(dst, port)
        }
        return .success(to)
    }
    struct Refusal: Error { var why: String; init(_ w: String) { why = w } }

    func note(_ proto: String, _ to: Endpoint, _ refused: String?) {
        let e = NetLogEntry(proto: proto, to: to, refused: refused)
        if log[e] != nil || log.count < 4096 { log[e, default: 0] += 1 }
    }

    // ---- UDP ------------------------------------------------------------------------------------

    func udpInput(_ ip: IPPacket, _ u: UDPDatagram, _ b: ArraySlice<UInt8>, now: UInt64) {
        let key = FlowKey(Endpoint(ip.src, u.srcPort), Endpoint(ip.dst, u.dstPort))
        if let f = udp[key] {
            // A forwarded port's flow lives on its host peer's datagrams only: the
            // sandbox cannot keep sending to a peer that went quiet.
            if f.inbound == nil { f.lastUsed = now }
            effects.append(.udpSend(f.id, f.to, b[u.payload]))
            return
        }
        switch route(ip.dst, port: u.dstPort, proto: "udp") {
        case let .failure(r):
            note("udp", Endpoint(ip.dst, u.dstPort), r.why)
        case let .success(to):
            guard udp.count - udpInbound.count < SlirpEngine.maxUDPFlows else { return }
            note("udp", Endpoint(ip.dst, u.dstPort), nil)
            let f = UDPFlow(id: nextID, key: key, to: to, now: now)
            nextID += 1
            udp[key] = f
            udpByID[f.id] = f
            effects.append(.udpSend(f.id, to, b[u.payload]))
        }
    }

    /// A datagram the flow's host socket received: to the sandbox, from the address it wrote to.
    public func udpReceived(_ id: Int, _ data: ArraySlice<UInt8>, now: UInt64) {
        guard let f = udpByID[id], data.count <= maxPayload(f.key.local.ip, header: 8) else { return }
        f.lastUsed = now
        // --allow-net NAME: what the forwarder answered for an allowed name becomes reachable.
        if !policy.allowNames.isEmpty, f.key.remote.port == 53, isDNS(f.key.remote.ip), let a = DNS.answers(data), policy.resolved.count < 4096 {
            for rule in policy.allowNames where rule.name == a.name {
                for ip in a.addresses { policy.resolved[ip] = policy.resolved[ip].map { $0.union(rule.ports) } ?? rule.ports }
            }
        }
        effects.append(.frame(builder.udp(src: f.key.remote.ip, srcPort: f.key.remote.port, dst: f.key.local.ip, dstPort: f.key.local.port, payload: data)))
    }

    // ---- TCP ------------------------------------------------------------------------------------

    func tcpInput(_ ip: IPPacket, _ s: TCPSegment, now: UInt64) {
        let key = FlowKey(Endpoint(ip.src, s.srcPort), Endpoint(ip.dst, s.dstPort))
        if let f = tcp[key] {
            f.input(s, now: now, self)
            if f.state == .closed { remove(f) }
            return
        }
        // A connection that ended (RFC 9293 3.10.7.4, TIME-WAIT): a reset ends the wait; a
        // SYN past its last byte starts a new connection (an older one is a duplicate of
        // the old SYN: acknowledged); its FIN again starts the wait over; what else comes
        // is acknowledged, but a bare acknowledgment that fits (the answer to ours) is not,
        // so two acknowledgments never chase each other.
        if let w = timeWait.lookup(key, now: now) {
            if s.has(TCPFlag.rst) { return timeWait.remove(key) }
            if s.has(TCPFlag.syn) && !s.has(TCPFlag.ack) && seqDiff(s.seq, w.rcv) > 0 {
                timeWait.remove(key)
            } else {
                if s.has(TCPFlag.fin) { timeWait.restart(key, now: now) }
                if !s.has(TCPFlag.fin) && s.payload.isEmpty && s.seq == w.rcv { return }
                return reply(key, seq: w.snd, ack: w.rcv, flags: TCPFlag.ack)
            }
        }
        if s.has(TCPFlag.rst) { return }
        guard s.has(TCPFlag.syn) && !s.has(TCPFlag.ack) else {
            // Not ours (a flow long gone): reset, as a host would.
            reset(key, seq: s.has(TCPFlag.ack) ? s.ack : 0, ack: s.seq &+ UInt32(s.payload.count) &+ (s.has(TCPFlag.fin) ? 1 : 0))
            return
        }
        let dst = Endpoint(ip.dst, s.dstPort)
        switch route(ip.dst, port: s.dstPort, proto: "tcp") {
        case let .failure(r):
            note("tcp", dst, r.why)
            reset(key, seq: 0, ack: s.seq &+ 1)
        case let .success(to):
            guard tcp.count < SlirpEngine.maxTCPFlows else {
                reset(key, seq: 0, ack: s.seq &+ 1)
                return
            }
            note("tcp", dst, nil)
            let f = TCPFlow(id: nextID, key: key, syn: s, iss: nextISS, mss: maxPayload(ip.src, header: 20), now: now)
            nextID += 1
            nextISS &+= 0x0101_0101
            tcp[key] = f
            tcpByID[f.id] = f
            effects.append(.tcpConnect(f.id, to))
        }
    }

    func reset(_ key: FlowKey, seq: UInt32, ack: UInt32) { reply(key, seq: seq, ack: ack, flags: TCPFlag.rst | TCPFlag.ack) }

    /// A bare segment to the sandbox for a flow the engine does not keep.
    func reply(_ key: FlowKey, seq: UInt32, ack: UInt32, flags: UInt8) {
        let r = TCPSegment(srcPort: key.remote.port, dstPort: key.local.port, seq: seq, ack: ack, flags: flags, window: 0)
        effects.append(.frame(builder.tcpHeaders(r, src: key.remote.ip, dst: key.local.ip)))
    }

    func send(_ f: TCPFlow, _ s: TCPSegment) {
        let h = builder.tcpHeaders(s, src: f.key.remote.ip, dst: f.key.local.ip)
        effects.append(s.payload.isEmpty ? .frame(h) : .segment(h, s.payload))
    }

    func remove(_ f: TCPFlow) {
        guard tcpByID[f.id] != nil else { return }
        tcp[f.key] = nil
        tcpByID[f.id] = nil
        // What it held leaves the budgets with it.
        sendBuffered -= f.buffered
        rcvPending -= f.pending
        ringBytes -= f.ring.count
    }

    /// Port forwarding: the driver accepted a host connection for the sandbox's port; the
    /// engine opens a connection to it from the gateway. Its flow id (nil: too many flows).
    public func tcpAccepted(guestPort: UInt16, now: UInt64) -> Int? {
        guard tcp.count < SlirpEngine.maxTCPFlows else { return nil }
        nextForwardPort = nextForwardPort == 65535 ? 49152 : nextForwardPort + 1
        let key = FlowKey(Endpoint(config.guest, guestPort), Endpoint(config.gateway, nextForwardPort))
        if tcp[key] != nil { return nil }
        timeWait.remove(key)  // the gateway's port comes round again: an old wait there ends
        let f = TCPFlow(id: nextID, key: key, iss: nextISS, mss: config.mtu - 40, now: now)
        nextID += 1
        nextISS &+= 0x0101_0101
        tcp[key] = f
        tcpByID[f.id] = f
        f.syn(now: now, self)
        return f.id
    }
    var nextForwardPort: UInt16 = 49151

    /// Port forwarding, UDP: a datagram from a host peer to the sandbox's port arrives from
    /// the gateway (one port per peer, so the sandbox's answers find their way back: they
    /// go out as udpSend to the peer, through the driver's listening socket). The flow's
    /// id (nil: dropped — too many flows, or larger than the link).
    public func udpForwarded(guestPort: UInt16, from peer: Endpoint, _ data: ArraySlice<UInt8>, now: UInt64) -> Int? {
        guard data.count <= maxPayload(IP(config.guest), header: 8) else { return nil }
        let k = Inbound(guestPort: guestPort, peer: peer)
        let f: UDPFlow
        if let known = udpInbound[k] {
            f = known
        } else {
            // Their own cap: senders on the host's port cannot crowd out the sandbox's flows
            // (DNS among them). A peer the policy could never reach gets no flow to answer on.
            guard udpInbound.count < SlirpEngine.maxUDPInbound, policy.refusesPeer(peer.ip, port: peer.port) == nil else { return nil }
            nextForwardPort = nextForwardPort == 65535 ? 49152 : nextForwardPort + 1
            let key = FlowKey(Endpoint(config.guest, guestPort), Endpoint(config.gateway, nextForwardPort))
            guard udp[key] == nil else { return nil }
            f = UDPFlow(id: nextID, key: key, to: peer, now: now)
            f.inbound = k
            nextID += 1
            udp[key] = f
            udpByID[f.id] = f
            udpInbound[k] = f
        }
        f.lastUsed = now
        effects.append(.frame(builder.udp(src: f.key.remote.ip, srcPort: f.key.remote.port, dst: f.key.local.ip, dstPort: guestPort, payload: data)))
        return f.id
    }

    /// The host connect finished (ok: connected; else the sandbox gets a reset).
    public func tcpConnected(_ id: Int, ok: Bool, now: UInt64) {
        guard let f = tcpByID[id] else { return }
        if ok {
            f.connected(now: now, self)
        } else {
            reset(f.key, seq: 0, ack: f.rcvNxt)
            f.state = .closed
            effects.append(.tcpClose(id))
            remove(f)
        }
    }

    /// Reads the host socket's bytes straight into the flow's ring when it has `room`
    /// bytes free in one run: read gets that run and says how many bytes it put there (≤ 0:
    /// none) and whether they were the host's last. nil: not read (no such flow, or no
    /// such room: the driver reads into its own buffer and calls tcpReceived).
    public func tcpRead(_ id: Int, room: Int, now: UInt64, _ read: (UnsafeMutableRawBufferPointer) -> (count: Int, last: Bool)) -> Int? {
        guard let f = tcpByID[id] else { return nil }
        let n = f.hostRead(room: room, now: now, self, read)
        if f.state == .closed { remove(f) }
        return n
    }

    /// Bytes the host socket gave; eof: the host closed its side after them (the FIN goes
    /// with them).
    public func tcpReceived(_ id: Int, _ data: ArraySlice<UInt8>, eof: Bool = false, now: UInt64) {
        guard let f = tcpByID[id] else { return }
        f.hostData(data, eof: eof, now: now, self)
        if f.state == .closed { remove(f) }
    }

    /// The host closed its side (EOF).
    public func tcpHostEOF(_ id: Int, now: UInt64) {
        guard let f = tcpByID[id] else { return }
        f.hostEOF(now: now, self)
        if f.state == .closed { remove(f) }
    }

    /// The host socket failed (reset, error): the sandbox gets a reset, and the socket goes
    /// as it is (its bytes unsent with it).
    public func tcpHostError(_ id: Int) {
        guard let f = tcpByID[id] else { return }
        reset(f.key, seq: f.sndNxt, ack: f.rcvNxt)
        f.state = .closed
        effects.append(.tcpAbort(id))
        remove(f)
    }

    /// Where flow id's stream from the sandbox stands (nil: no such flow, or it is over).
    public func sandboxStream(_ id: Int) -> SandboxStream? {
        guard let f = tcpByID[id], f.state != .closed else { return nil }
        return f.sandboxStream
    }

    /// How many more of the bytes handed over (tcpSend) the driver wrote to the host socket
    /// (our receive window opens by as much).
    public func tcpWritten(_ id: Int, _ bytes: Int, now: UInt64) {
        guard let f = tcpByID[id] else { return }
        f.written(bytes, now: now, self)
    }

    /// Timers: retransmissions, zero-window probes, idle UDP flows, closing flows' linger.
    public func tick(now: UInt64) {
        for f in Array(tcpByID.values) {
            f.tick(now: now, self)
            if f.state == .closed { remove(f) }
        }
        for f in Array(udpByID.values) where now >= f.lastUsed + SlirpEngine.udpIdleMS {
            udp[f.key] = nil
            udpByID[f.id] = nil
            if let k = f.inbound { udpInbound[k] = nil }
            effects.append(.udpClose(f.id))
        }
        fragments.expire(now: now)
        timeWait.expire(now: now)
        for f in Array(icmpByID.values) where now >= f.lastUsed + SlirpEngine.udpIdleMS {
            icmp[f.key] = nil
            icmpByID[f.id] = nil
            effects.append(.icmpClose(f.id))
        }
    }

    /// The earliest time tick has work (nil: none pending).
    public var nextDeadline: UInt64? {
        var d: UInt64? = nil
        for f in tcpByID.values { if let t = f.deadline { d = min(d ?? t, t) } }
        for f in udpByID.values { d = min(d ?? .max, f.lastUsed + SlirpEngine.udpIdleMS) }
        for f in icmpByID.values { d = min(d ?? .max, f.lastUsed + SlirpEngine.udpIdleMS) }
        if let u = fragments.nextDeadline { d = min(d ?? u, u) }
        return d
    }
}

struct FlowKey: Hashable {
    var local: Endpoint  // the sandbox's end
    var remote: Endpoint  // the address it wrote to
    init(_ local: Endpoint, _ remote: Endpoint) {
        self.local = local
        self.remote = remote
    }
}

struct Inbound: Hashable {
    var guestPort: UInt16
    var peer: Endpoint
}

/// A datagram flow: UDP, or ICMP echo (its local port is the sandbox's echo identifier).
final class UDPFlow {
    let id: Int
    let key: FlowKey
    let to: Endpoint
    var lastUsed: UInt64
    /// Set for a forwarded port's flow (its host socket is the listener).
    var inbound: Inbound?
    init(id: Int, key: FlowKey, to: Endpoint, now: UInt64) {
        self.id = id
        self.key = key
        self.to = to
        lastUsed = now
    }
}
