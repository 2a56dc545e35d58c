@testable import SlirpNet
import XCTest

/// A sandbox that lies to the engine about connections it holds: segments for live flows
/// with any sequence and acknowledgment numbers near or far from the true ones, any flags,
/// windows and options, data past every window, while the host side sends, drains, closes
/// and fails at random and time jumps. The engine never traps, its budgets never go
/// negative (what it holds for the host stays within its cap), and once every flow is
/// reset they are all back to zero.
final class HostileSandboxTests: XCTestCase {
    let remote = v4(198, 18, 0, 1)

    func testLiesAboutLiveConnectionsNeitherTrapNorLeak() {
        for seed in [31, 32, 33] as [UInt64] { lie(seed: seed) }
    }

    func lie(seed: UInt64) {
        var rng = Seeded(seed)
        let e = SlirpEngine(config: SlirpConfig(), policy: EgressPolicy())
        var sb = Sandbox()
        let ports: [UInt16] = Array(40000..<40016)
        // What the sandbox was last told on each port: the engine's sequence number and ours.
        var theirs: [UInt16: UInt32] = [:]
        var ours: [UInt16: UInt32] = [:]
        var ids: [Int: UInt16] = [:]
        var now: UInt64 = 0
        func near(_ x: UInt32) -> UInt32 {
            switch Int.random(in: 0..<7, using: &rng) {
            case 0...2: return x
            case 6: return x &- UInt32.random(in: 0...3000, using: &rng)  // straddling what was taken
            case 3: return x &+ UInt32.random(in: 0...70_000, using: &rng)
            case 4: return x &- UInt32.random(in: 0...70_000, using: &rng)
            default: return UInt32.random(in: 0...UInt32.max, using: &rng)
            }
        }
        for step in 0..<20_000 {
            let port = ports.randomElement(using: &rng) ?? 40000
            switch Int.random(in: 0..<10, using: &rng) {
            case 0:
                let seq = UInt32.random(in: 0...UInt32.max, using: &rng)
                ours[port] = seq &+ 1
                let s = TCPSegment(
                    srcPort: port, dstPort: 80, seq: seq, ack: 0, flags: TCPFlag.syn, window: UInt16.random(in: 0...65535, using: &rng),
                    mss: rng.chance(0.8) ? UInt16.random(in: 0...65535, using: &rng) : nil,
                    windowScale: rng.chance(0.8) ? UInt8.random(in: 0...255, using: &rng) : nil)
                e.input(sb.tcp(s, to: remote), now: now)
            case 1...5:
                let flags = UInt8.random(in: 0...0x3f, using: &rng) & (rng.chance(0.98) ? ~(TCPFlag.rst | TCPFlag.syn) : 0xff)
                let size = rng.chance(0.3) ? Int.random(in: 0...3000, using: &rng) : 0
                let s = TCPSegment(
                    srcPort: port, dstPort: 80, seq: near(ours[port] ?? 0), ack: near(theirs[port] ?? 0), flags: flags | TCPFlag.ack,
                    window: UInt16.random(in: 0...65535, using: &rng), payload: [UInt8](repeating: UInt8(truncatingIfNeeded: step), count: size)[...])
                if s.seq == ours[port] { ours[port] = s.seq &+ UInt32(size) }
                e.input(sb.tcp(s, to: remote), now: now)
            case 6:
                if let id = ids.keys.randomElement(using: &rng) {
                    let n = Int.random(in: 0...70_000, using: &rng)
                    e.tcpReceived(id, [UInt8](repeating: 1, count: n)[...], eof: rng.chance(0.05), now: now)
                }
            case 7:
                if let id = ids.keys.randomElement(using: &rng) {
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: e.tcpHostEOF(id, now: now)
                    case 1: e.tcpHostError(id)
                    default: e.tcpWritten(id, Int.random(in: 0...2_000_000, using: &rng), now: now)
                    }
                }
            case 8: now += UInt64.random(in: 0...30_000, using: &rng)
            default: e.tick(now: now)
            }
            for fx in e.drain() {
                switch fx {
                case let .tcpConnect(id, _):
                    ids[id] = port
                    e.tcpConnected(id, ok: rng.chance(0.9), now: now)
                case let .tcpClose(id), let .tcpAbort(id): ids[id] = nil
                default:
                    if let f = fx.wire, let ip = IPPacket.parse(f), let s = TCPSegment.parse(f, ip) {
                        theirs[s.dstPort] = s.seq &+ UInt32(s.payload.count) &+ (s.has(TCPFlag.syn) || s.has(TCPFlag.fin) ? 1 : 0)
                    }
                }
            }
            // Effects the connects above caused.
            for fx in e.drain() {
                if case let .tcpClose(id) = fx { ids[id] = nil }
                if case let .tcpAbort(id) = fx { ids[id] = nil }
            }
            XCTAssertGreaterThanOrEqual(e.sendBuffered, 0)
            XCTAssertGreaterThanOrEqual(e.rcvPending, 0)
            XCTAssertGreaterThanOrEqual(e.ringBytes, 0)
            XCTAssertLessThanOrEqual(e.rcvPending, SlirpEngine.rcvBudget)
            XCTAssertLessThanOrEqual(e.flowCount, ports.count)
            if e.sendBuffered < 0 || e.rcvPending < 0 { return XCTFail("seed \(seed) step \(step)") }
        }
        // Every flow reset by the sandbox: nothing is left.
        for p in ports {
            e.input(sb.tcp(TCPSegment(srcPort: p, dstPort: 80, seq: ours[p] ?? 0, ack: 0, flags: TCPFlag.rst, window: 0), to: remote), now: now)
        }
        _ = e.drain()
        XCTAssertEqual(e.flowCount, 0, "seed \(seed)")
        XCTAssertEqual(e.sendBuffered, 0, "seed \(seed)")
        XCTAssertEqual(e.rcvPending, 0, "seed \(seed)")
        XCTAssertEqual(e.ringBytes, 0, "seed \(seed)")
    }
}
