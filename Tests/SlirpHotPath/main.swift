// The engine's per-frame path allocates nothing once warm: frames are built in the
// builder's ring of buffers, the sandbox's frames are read as slices of one buffer (as
// SlirpRunner reads the TAP), and the effects trade arrays with the driver's batch. Run
// from a release build (scripts/test): an unoptimised build's unspecialised generics
// allocate by themselves. Prints the count for 1000 rounds (4000 frames) and for the
// control, 100 rounds drained through the array-returning drain(); exits 1 unless the
// first is below 10 and the control at least 100.
import AllocCount
import Glibc
import SlirpNet

func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> IP { IP(IPv4(a, b, c, d)) }

/// A TCP/IPv4 frame's sequence number and payload length (from its headers), read by hand: SlirpNet's generic
/// parsers, called from another module, would run unspecialised and allocate themselves.
func seqAndLength(_ f: [UInt8]) -> (UInt32, Int)? {
    guard f.count >= 54, f[12] == 0x08, f[13] == 0x00, f[23] == 6 else { return nil }
    let total = Int(f[16]) << 8 | Int(f[17])
    let offset = Int(f[46] >> 4) * 4
    let seq = UInt32(f[38]) << 24 | UInt32(f[39]) << 16 | UInt32(f[40]) << 8 | UInt32(f[41])
    return (seq, total - 20 - offset)
}

/// One connection carrying bytes both ways, frame by frame, as SlirpRunner drives it.
final class Traffic {
    let e = SlirpEngine(config: SlirpConfig(), policy: EgressPolicy())
    var sandbox = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: SlirpConfig.gatewayMAC)
    let me = v4(10, 0, 2, 100)
    let remote = v4(198, 18, 0, 1)
    var batch: [Effect] = []
    let chunk = [UInt8](repeating: 7, count: 1400)
    var id = 0
    var seq: UInt32 = 1001  // the sandbox's next byte
    var ack: UInt32 = 0  // the host's next byte, as the sandbox acknowledges it
    var delivered = 0

    init() {
        send(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: TCPFlag.syn, window: 65535, mss: 1460))
        e.drain(into: &batch)
        if case let .tcpConnect(i, _)? = batch.first { id = i }
        e.tcpConnected(id, ok: true, now: 1)
        e.drain(into: &batch)
        for effect in batch {
            if case let .frame(f) = effect, let (s, _) = seqAndLength(f) { ack = s &+ 1 }
        }
        send(TCPSegment(srcPort: 40000, dstPort: 80, seq: seq, ack: ack, flags: TCPFlag.ack, window: 65535))
        e.drain(into: &batch)
    }

    func send(_ s: TCPSegment, now: UInt64 = 0) {
        let f = sandbox.tcp(s, src: me, dst: remote)
        e.input(f[...], now: now)
    }

    /// 1400 bytes from the host to the sandbox and 1400 back, each acknowledged.
    func round(_ now: UInt64, allocating: Bool = false) {
        e.tcpReceived(id, chunk[...], now: now)
        drain(allocating)
        for effect in batch {
            guard case let .segment(h, _) = effect, let (s, n) = seqAndLength(h), n > 0 else { continue }
            ack = s &+ UInt32(n)
            delivered += n
        }
        batch.removeAll(keepingCapacity: true)
        e.framesReleased()
        send(TCPSegment(srcPort: 40000, dstPort: 80, seq: seq, ack: ack, flags: TCPFlag.ack | TCPFlag.psh, window: 65535, payload: chunk[...]), now: now)
        seq &+= 1400
        drain(allocating)
        e.tcpWritten(id, 1400, now: now)
        drain(allocating)
        batch.removeAll(keepingCapacity: true)
        e.framesReleased()
    }

    func drain(_ allocating: Bool) {
        if allocating { batch = e.drain() } else { e.drain(into: &batch) }
    }
}

let t = Traffic()
for i in 0..<300 { t.round(UInt64(10 + i)) }  // warm: the rings, buffers and tables at their size
rl_alloc_count_start()
for i in 300..<1300 { t.round(UInt64(10 + i)) }
let steady = rl_alloc_count_stop()
rl_alloc_count_start()
for i in 1300..<1400 { t.round(UInt64(10 + i), allocating: true) }
let control = rl_alloc_count_stop()
let ok = steady < 10 && control >= 100 && t.delivered == 1400 * 1400
print(
    "slirp hot path: \(steady) allocations in 1000 rounds (4000 frames); control (array-returning drain): \(control) in 100 rounds; \(t.delivered) bytes delivered: \(ok ? "ok" : "FAILED")"
)
if !ok { exit(1) }
