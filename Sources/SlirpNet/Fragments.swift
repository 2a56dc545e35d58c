// IPv4 reassembly for the sandbox's fragmented datagrams (a UDP datagram larger than the
// link's MTU, say). Bounded whatever the sandbox sends: at most `maxDatagrams` in progress
// (a new one past that is dropped), each at most 65535 bytes, each forgotten 5 s after its
// first fragment; a fragment that overlaps another, or lies past the datagram's end, drops
// the datagram (RFC 5722's rule for IPv6, applied here too).

struct Reassembler {
    struct Key: Hashable {
        var src: IPv4
        var dst: IPv4
        var proto: UInt8
        var id: UInt16
    }
    final class Partial {
        var data: [UInt8] = []
        var have: [Range<Int>] = []
        var total: Int?
        let started: UInt64
        let ethernet: [UInt8]
        init(started: UInt64, ethernet: [UInt8]) {
            self.started = started
            self.ethernet = ethernet
        }
        var complete: Bool { total.map { t in have.reduce(0) { $0 + $1.count } == t } ?? false }
    }

    var pending: [Key: Partial] = [:]
    static let maxDatagrams = 64
    static let timeoutMS: UInt64 = 5000
    /// The largest payload an IPv4 datagram can carry.
    static let maxPayload = 65535 - 20

    /// Takes fragment b (its header ip): the whole datagram as one frame once every part
    /// has come, else nil.
    mutating func add(_ b: some FrameBytes, _ ip: IPv4Header, now: UInt64) -> [UInt8]? {
        let key = Key(src: ip.src, dst: ip.dst, proto: ip.proto, id: ip.id)
        let at = ip.fragmentOffset, part = ip.payload
        let range = at..<(at + part.count)
        guard range.upperBound <= Reassembler.maxPayload, ip.moreFragments ? part.count % 8 == 0 && !part.isEmpty : true else {
            pending[key] = nil
            return nil
        }
        let p: Partial
        if let known = pending[key] {
            p = known
        } else {
            guard pending.count < Reassembler.maxDatagrams else { return nil }
            p = Partial(started: now, ethernet: Array(b[0..<Ethernet.headerLength]))
            pending[key] = p
        }
        if p.have.contains(where: { $0.overlaps(range) }) || (p.total.map { range.upperBound > $0 } ?? false)
            || (!ip.moreFragments && (p.total != nil || p.have.contains { $0.upperBound > range.upperBound }))
        {
            pending[key] = nil
            return nil
        }
        if !ip.moreFragments { p.total = range.upperBound }
        if p.data.count < range.upperBound { p.data += [UInt8](repeating: 0, count: range.upperBound - p.data.count) }
        p.data.replaceSubrange(range, with: b[part])
        p.have.append(range)
        guard p.complete, let total = p.total else { return nil }
        pending[key] = nil
        var whole = p.ethernet + [UInt8](repeating: 0, count: 20) + p.data[0..<total]
        IPv4Header.write(&whole, at: Ethernet.headerLength, src: ip.src, dst: ip.dst, proto: ip.proto, id: ip.id, payloadLength: total)
        return whole
    }

    /// Forgets datagrams whose first fragment is older than the timeout.
    mutating func expire(now: UInt64) {
        for (k, p) in pending where now >= p.started + Reassembler.timeoutMS { pending[k] = nil }
    }

    var nextDeadline: UInt64? { pending.values.map { $0.started + Reassembler.timeoutMS }.min() }
}
