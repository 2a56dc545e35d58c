@testable import SlirpNet
import XCTest

/// A small seeded generator (xorshift64*): a failing run is repeated from its seed.
struct Seeded: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = (seed &+ 1) &* 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

/// The sandbox's TCP, simulated well enough to drive the engine over a bad link: it sends
/// its stream go-back-N (from the first unacknowledged byte again after a timeout), takes
/// only in-order bytes, acknowledges every segment, and shuts its window now and then.
/// Active, it opens the connection (to port 80); passive, it answers the engine's SYN
/// (port forwarding) on port 80.
struct SandboxPeer {
    var sb = Sandbox()
    let passive: Bool
    var port: UInt16
    var peerPort: UInt16 = 80
    var to: IP
    var mss = 1460
    let scale: UInt8 = 2
    // Its stream to the host.
    let up: [UInt8]
    let iss: UInt32 = 1000
    var una: UInt32 = 1000
    var nxt: UInt32 = 1000
    var engineWindow = 0
    var finSent = false
    var maxNxt: UInt32 = 1000  // the furthest it ever sent
    var finAcked = false
    var synAcked = false
    var rtoAt: UInt64 = 0
    // The host's stream to it.
    var rcvNxt: UInt32 = 0
    var got: [UInt8] = []
    var gotFin = false
    var windowShut = false

    init(to: IP, up: [UInt8], passive: Bool = false) {
        self.to = to
        self.up = up
        self.passive = passive
        port = passive ? 80 : 40000
    }

    var window: UInt16 { windowShut ? 0 : UInt16(65535) }

    mutating func frame(_ flags: UInt8, seq: UInt32, payload: ArraySlice<UInt8> = []) -> [UInt8] {
        let syn = flags & TCPFlag.syn != 0
        return sb.tcp(
            TCPSegment(
                srcPort: port, dstPort: peerPort, seq: seq, ack: flags & TCPFlag.ack != 0 ? rcvNxt : 0, flags: flags, window: window,
                mss: syn ? UInt16(mss) : nil,
                windowScale: syn ? scale : nil, payload: payload), to: to)
    }

    /// What it sends now: the SYN until answered, then what the engine's window takes
    /// (from una again once the timer ran out), then its FIN.
    mutating func output(now: UInt64, _ rng: inout Seeded) -> [[UInt8]] {
        if !synAcked {
            guard !passive, now >= rtoAt else { return [] }
            rtoAt = now + 300
            return [frame(TCPFlag.syn, seq: iss)]
        }
        if now >= rtoAt && una != nxt {
            nxt = una  // go back N (the FIN too, if it was not acknowledged)
            finSent = false
        }
        var out: [[UInt8]] = []
        while !finSent {
            let off = Int(nxt &- iss &- 1)
            if off < up.count {
                let room = engineWindow - Int(nxt &- una)
                guard room > 0 else { break }
                let n = min(up.count - off, room, Int.random(in: 1...mss, using: &rng))
                out.append(frame(TCPFlag.ack | TCPFlag.psh, seq: nxt, payload: up[off..<(off + n)]))
                nxt &+= UInt32(n)
            } else {
                out.append(frame(TCPFlag.ack | TCPFlag.fin, seq: nxt))
                nxt &+= 1
                finSent = true
            }
            if seqDiff(nxt, maxNxt) > 0 { maxNxt = nxt }
            rtoAt = now + 300
        }
        return out
    }

    /// One of the engine's segments; the acknowledgment it calls for, if any.
    mutating func input(_ s: TCPSegment, from: IP, now: UInt64) -> [UInt8]? {
        XCTAssertFalse(s.has(TCPFlag.rst), "the engine reset a connection a bad link only slowed")
        if passive {
            if s.has(TCPFlag.syn) {
                guard !s.has(TCPFlag.ack), !synAcked else { return nil }
                to = from
                peerPort = s.srcPort
                rcvNxt = s.seq &+ 1
                engineWindow = Int(s.window)
                return frame(TCPFlag.syn | TCPFlag.ack, seq: iss)
            }
            if !synAcked && s.has(TCPFlag.ack) && s.ack == iss &+ 1 {
                synAcked = true
                una = iss &+ 1
                nxt = una
                maxNxt = una
            }
        } else if s.has(TCPFlag.syn) {
            guard s.has(TCPFlag.ack), s.ack == iss &+ 1 else { return nil }
            if !synAcked {
                synAcked = true
                rcvNxt = s.seq &+ 1
                una = iss &+ 1
                nxt = una
                maxNxt = una
                engineWindow = Int(s.window)
            }
            return frame(TCPFlag.ack, seq: nxt)
        }
        guard synAcked else { return nil }
        if s.has(TCPFlag.ack) {
            let acked = seqDiff(s.ack, una)
            if acked >= 0 && seqDiff(s.ack, maxNxt) <= 0 {
                if acked > 0 {
                    una = s.ack
                    rtoAt = now + 300
                }
                // The engine scales its window by 2^5 (its SYN-ACK said so).
                engineWindow = Int(s.window) << Int(TCPFlow.rcvScale)
                if seqDiff(una, nxt) > 0 { nxt = una }
                if una == iss &+ 2 &+ UInt32(up.count) { finAcked = true }
            }
        }
        if s.payload.isEmpty && !s.has(TCPFlag.fin) { return nil }
        if s.seq == rcvNxt && !gotFin && !windowShut {
            got += s.payload
            rcvNxt &+= UInt32(s.payload.count)
            if s.has(TCPFlag.fin) {
                gotFin = true
                rcvNxt &+= 1
            }
        }
        return frame(TCPFlag.ack, seq: nxt)
    }
}

/// The engine's TCP against a sandbox on a bad link: frames lost, duplicated and
/// reordered both ways, the sandbox's window shut at times, the host slow to take bytes.
/// Each stream arrives whole and in order, both FINs go through, and the flow leaves
/// nothing behind in the engine's budgets.
final class ImpairedLinkTests: XCTestCase {
    let remote = v4(198, 18, 0, 1)

    func testStreamsCrossALossyReorderingDuplicatingLink() {
        for seed in [1, 2, 3, 4, 5, 6, 7, 8, 149] as [UInt64] { cross(seed: seed, loss: 0.1, duplicate: 0.05, reorder: 0.2) }
    }

    func testStreamsCrossAVeryLossyLink() {
        for seed in [11, 12, 13, 230] as [UInt64] { cross(seed: seed, loss: 0.3, duplicate: 0.1, reorder: 0.3, size: 40_000) }
    }

    /// Port forwarding over the TAP: the engine opens the connection to the sandbox.
    func testAForwardedConnectionCrossesALossyLink() {
        for seed in [21, 22, 23, 24, 303] as [UInt64] { cross(seed: seed, loss: 0.15, duplicate: 0.05, reorder: 0.2, forwarded: true) }
    }

    /// A host slow to take the sandbox's bytes: more than the engine's buffer goes up, so
    /// the window it advertises shuts and opens again, under loss.
    func testAHostSlowToTakeBytesShutsTheWindowAndOpensIt() {
        cross(seed: 41, loss: 0.05, duplicate: 0.02, reorder: 0.1, size: 1_400_000, mss: 16_000, slowHost: true)
    }

    func cross(
        seed: UInt64, loss: Double, duplicate: Double, reorder: Double, size: Int = 100_000, forwarded: Bool = false, mss: Int = 1460,
        slowHost: Bool = false
    ) {
        var rng = Seeded(seed)
        let e = SlirpEngine(config: SlirpConfig(), policy: EgressPolicy())
        let up = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let down = (0..<(size + 12_345)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        var peer = SandboxPeer(to: remote, up: up, passive: forwarded)
        peer.mss = mss
        var shut = 0  // the engine's segments with a shut window
        // The link: frames in flight, each with the time it arrives.
        var toEngine: [(at: UInt64, frame: [UInt8])] = []
        var toSandbox: [(at: UInt64, frame: [UInt8])] = []
        func carry(_ f: [UInt8], _ q: inout [(at: UInt64, frame: [UInt8])], now: UInt64) {
            if rng.chance(loss) { return }
            let copies = rng.chance(duplicate) ? 2 : 1
            for _ in 0..<copies { q.append((now + (rng.chance(reorder) ? UInt64.random(in: 1...40, using: &rng) : 1), f)) }
        }
        // The host: what it was handed and has not yet taken, what it took, its stream.
        var id = forwarded ? e.tcpAccepted(guestPort: 80, now: 0) : nil
        var hostGot: [UInt8] = []
        var untaken = 0
        var sentDown = 0
        var paused = false
        var shutdown = false
        var closed = false
        var now: UInt64 = 0
        var steps = 0
        while !(closed && peer.gotFin && peer.finAcked) && steps < 200_000 {
            steps += 1
            now += UInt64.random(in: 1...20, using: &rng)
            if rng.chance(0.02) { peer.windowShut.toggle() }
            for f in peer.output(now: now, &rng) { carry(f, &toEngine, now: now) }
            // What arrived, in its (perhaps reordered) order.
            let arrived = toEngine.filter { $0.at <= now }
            toEngine.removeAll { $0.at <= now }
            for a in arrived { e.input(a.frame, now: now) }
            // The host: takes some of what it was handed, sends some of its stream.
            // A slow host takes nothing for 20 s at a time.
            if let i = id, untaken > 0, !slowHost || (now / 20_000) % 2 == 1, rng.chance(0.5) {
                let n = Int.random(in: 1...untaken, using: &rng)
                untaken -= n
                e.tcpWritten(i, n, now: now)
            }
            if let i = id, !paused, sentDown < down.count, rng.chance(0.5) {
                let n = min(down.count - sentDown, Int.random(in: 1...30_000, using: &rng))
                let last = sentDown + n == down.count
                e.tcpReceived(i, down[sentDown..<(sentDown + n)], eof: last && rng.chance(0.5), now: now)
                sentDown += n
                if last && e.tcpByID[i].map({ !$0.hostEOF }) == true { e.tcpHostEOF(i, now: now) }
            }
            if e.nextDeadline.map({ $0 <= now }) == true { e.tick(now: now) }
            for fx in e.drain() {
                switch fx {
                case let .tcpConnect(i, to):
                    XCTAssertEqual(to, Endpoint(remote, 80))
                    XCTAssertNil(id, "one connect for one connection (seed \(seed))")
                    id = i
                    e.tcpConnected(i, ok: true, now: now)
                case let .tcpSend(_, d):
                    XCTAssertFalse(shutdown, "no bytes after the sandbox's FIN (seed \(seed))")
                    hostGot += d
                    untaken += d.count
                case .tcpShutdown: shutdown = true
                case .tcpClose, .tcpAbort: closed = true
                case let .tcpPause(_, p): paused = p
                default:
                    if let f = fx.wire { carry(f, &toSandbox, now: now) }
                }
            }
            // More effects from the connect above (its SYN-ACK).
            for fx in e.drain() { if let f = fx.wire { carry(f, &toSandbox, now: now) } }
            let back = toSandbox.filter { $0.at <= now }
            toSandbox.removeAll { $0.at <= now }
            for b in back {
                guard let ip = IPPacket.parse(b.frame), let s = TCPSegment.parse(b.frame, ip) else { continue }
                if s.window == 0 && !s.has(TCPFlag.syn) { shut += 1 }
                if let ack = peer.input(s, from: ip.src, now: now) { carry(ack, &toEngine, now: now) }
            }
        }
        XCTAssertEqual(hostGot.count, up.count, "the sandbox's stream reached the host whole (seed \(seed))")
        XCTAssertTrue(hostGot == up, "in order (seed \(seed))")
        XCTAssertEqual(peer.got.count, down.count, "the host's stream reached the sandbox whole (seed \(seed))")
        XCTAssertTrue(peer.got == down, "in order (seed \(seed))")
        XCTAssertTrue(
            shutdown && closed && peer.gotFin && peer.finAcked,
            "both FINs through, the flow closed (seed \(seed)): shutdown \(shutdown) closed \(closed) gotFin \(peer.gotFin) finAcked \(peer.finAcked) steps \(steps) \(id.flatMap { e.tcpByID[$0] }.map { "state \($0.state) sent \($0.sent) buffered \($0.buffered) finSent \($0.finSent) finAcked \($0.finAcked) sandboxFin \($0.sandboxFin) hostEOF \($0.hostEOF) rtoAt \(String(describing: $0.rtoAt)) retries \($0.retries)" } ?? "-") now \(now)"
        )
        if slowHost { XCTAssertGreaterThan(shut, 0, "the engine's window shut (seed \(seed))") }
        XCTAssertEqual(e.flowCount, 0, "seed \(seed)")
        XCTAssertEqual(e.sendBuffered, 0, "seed \(seed)")
        XCTAssertEqual(e.rcvPending, 0, "seed \(seed)")
        XCTAssertEqual(e.ringBytes, 0, "the flow's ring left with it (seed \(seed))")
    }
}
