// The frames a sandbox's TAP device carries: Ethernet II, ARP, IPv4, IPv6, ICMP and
// ICMPv6 (echo, neighbour discovery), UDP and TCP. Parsing takes the sandbox's bytes as untrusted (every length and offset checked;
// a bad frame is nil, never a crash); building makes whole frames with checksums.

public enum EtherType { public static let ipv4: UInt16 = 0x0800, arp: UInt16 = 0x0806, ipv6: UInt16 = 0x86dd }
public enum IPProto { public static let icmp: UInt8 = 1, tcp: UInt8 = 6, udp: UInt8 = 17, icmp6: UInt8 = 58 }

public struct Ethernet: Equatable {
    public var dst: MAC
    public var src: MAC
    public var type: UInt16
    public static let headerLength = 14
    public static func parse(_ b: some FrameBytes) -> Ethernet? {
        guard b.count >= headerLength else { return nil }
        return Ethernet(dst: MAC(b, at: 0), src: MAC(b, at: 6), type: be16(b, 12))
    }
    func write(_ b: inout [UInt8]) {
        dst.write(&b, at: 0)
        src.write(&b, at: 6)
        put16(&b, 12, type)
    }
}

public struct ARP: Equatable {
    public var op: UInt16  // 1 request, 2 reply
    public var senderMAC: MAC
    public var senderIP: IPv4
    public var targetMAC: MAC
    public var targetIP: IPv4
    /// An Ethernet/IPv4 ARP packet at b[at...].
    public static func parse(_ b: some FrameBytes, at i: Int) -> ARP? {
        guard b.count >= i + 28, be16(b, i) == 1, be16(b, i + 2) == EtherType.ipv4, b[i + 4] == 6, b[i + 5] == 4 else { return nil }
        return ARP(
            op: be16(b, i + 6), senderMAC: MAC(b, at: i + 8), senderIP: IPv4(be32(b, i + 14)), targetMAC: MAC(b, at: i + 18),
            targetIP: IPv4(be32(b, i + 24)))
    }
    public func frame(from: MAC, to: MAC) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Ethernet.headerLength + 28)
        Ethernet(dst: to, src: from, type: EtherType.arp).write(&b)
        let i = Ethernet.headerLength
        put16(&b, i, 1)
        put16(&b, i + 2, EtherType.ipv4)
        b[i + 4] = 6
        b[i + 5] = 4
        put16(&b, i + 6, op)
        senderMAC.write(&b, at: i + 8)
        put32(&b, i + 14, senderIP.value)
        targetMAC.write(&b, at: i + 18)
        put32(&b, i + 24, targetIP.value)
        return b
    }
}

public struct IPv4Header: Equatable {
    public var src: IPv4
    public var dst: IPv4
    public var proto: UInt8
    public var ttl: UInt8
    public var id: UInt16
    /// More-fragments flag or a non-zero offset: a fragment.
    public var fragment: Bool { moreFragments || fragmentOffset != 0 }
    public var moreFragments: Bool
    /// Where this fragment's payload goes in the datagram, in bytes.
    public var fragmentOffset: Int
    /// Where the payload is in the frame.
    public var payload: Range<Int>
    /// The IPv4 packet at b[at...]: version 4, a sane header length, the total length
    /// within the frame, a valid header checksum.
    public static func parse(_ b: some FrameBytes, at i: Int) -> IPv4Header? {
        guard b.count >= i + 20, b[i] >> 4 == 4 else { return nil }
        let ihl = Int(b[i] & 0x0f) * 4
        let total = Int(be16(b, i + 2))
        guard ihl >= 20, total >= ihl, b.count >= i + total else { return nil }
        guard Checksum.fold(Checksum.add(b, i, i + ihl)) == 0 else { return nil }
        let frag = be16(b, i + 6)
        return IPv4Header(
            src: IPv4(be32(b, i + 12)), dst: IPv4(be32(b, i + 16)), proto: b[i + 9], ttl: b[i + 8], id: be16(b, i + 4),
            moreFragments: frag & 0x2000 != 0, fragmentOffset: Int(frag & 0x1fff) * 8, payload: (i + ihl)..<(i + total))
    }
    public var packet: IPPacket { IPPacket(src: IP(src), dst: IP(dst), proto: proto, payload: payload, hopLimit: ttl) }
    /// Writes a 20-byte header (DF set) at b[at...] for a payload of length n.
    static func write(_ b: inout [UInt8], at i: Int, src: IPv4, dst: IPv4, proto: UInt8, id: UInt16, payloadLength n: Int) {
        b[i] = 0x45
        b[i + 1] = 0
        put16(&b, i + 2, UInt16(20 + n))
        put16(&b, i + 4, id)
        put16(&b, i + 6, 0x4000)
        b[i + 8] = 64
        b[i + 9] = proto
        put16(&b, i + 10, 0)
        put32(&b, i + 12, src.value)
        put32(&b, i + 16, dst.value)
        put16(&b, i + 10, Checksum.fold(Checksum.add(b, i, i + 20)))
    }
}

/// The IP layer of a frame, either family: what TCP, UDP and ICMP read. Its family is
/// its addresses' (an IPv6 packet with an IPv4-mapped address is refused when parsed).
public struct IPPacket: Equatable {
    public var src: IP
    public var dst: IP
    public var proto: UInt8
    /// Where the payload is in the frame.
    public var payload: Range<Int>
    /// IPv4's TTL, IPv6's hop limit.
    public var hopLimit: UInt8 = 64
    public var isV6: Bool { !src.isV4 }

    /// A whole frame's unfragmented IPv4 or IPv6 packet, or nil.
    public static func parse(_ b: some FrameBytes) -> IPPacket? {
        guard let eth = Ethernet.parse(b) else { return nil }
        if eth.type == EtherType.ipv6 { return IPv6Header.parse(b, at: Ethernet.headerLength) }
        guard eth.type == EtherType.ipv4, let h = IPv4Header.parse(b, at: Ethernet.headerLength), !h.fragment else { return nil }
        return h.packet
    }
}

public enum IPv6Header {
    public static let length = 40
    /// The IPv6 packet at b[at...]: version 6, its payload within the frame, neither
    /// address IPv4-mapped (that would be IPv4's destination in IPv6's clothes). Extension
    /// headers are not walked: the packet's proto is then theirs, which nothing here takes.
    public static func parse(_ b: some FrameBytes, at i: Int) -> IPPacket? {
        guard b.count >= i + length, b[i] >> 4 == 6 else { return nil }
        let n = Int(be16(b, i + 4))
        guard b.count >= i + length + n else { return nil }
        let src = IP(b, at: i + 8), dst = IP(b, at: i + 24)
        guard !src.isV4, !dst.isV4 else { return nil }
        return IPPacket(src: src, dst: dst, proto: b[i + 6], payload: (i + length)..<(i + length + n), hopLimit: b[i + 7])
    }
    static func write(_ b: inout [UInt8], at i: Int, src: IP, dst: IP, proto: UInt8, hopLimit: UInt8, payloadLength n: Int) {
        b[i] = 0x60
        b[i + 1] = 0
        b[i + 2] = 0
        b[i + 3] = 0
        put16(&b, i + 4, UInt16(n))
        b[i + 6] = proto
        b[i + 7] = hopLimit
        src.write(&b, at: i + 8)
        dst.write(&b, at: i + 24)
    }
}

/// Whole frames, built: Ethernet + IPv4 or IPv6 (the destination's family: the sandbox's
/// address) + the transport header + payload.
public struct FrameBuilder {
    public var ourMAC: MAC
    public var peerMAC: MAC
    var nextID: UInt16 = 1
    /// Frames are built in a ring of buffers that keep their capacity: once the driver has
    /// written a frame and let its effect go, the buffer is unique again and the frame
    /// built in it 64 frames later reuses its memory (no allocation per frame; a buffer
    /// still held elsewhere is copied first, as any array is).
    var ring = [[UInt8]](repeating: [], count: 64)
    var slot = 0
    /// TCP segments carry the pseudo-header's sum alone, for the kernel to complete (or,
    /// delivering locally, to skip): the driver says so in each frame's VirtioNet header.
    public var partialTCPChecksums = false
    public init(ourMAC: MAC, peerMAC: MAC) {
        self.ourMAC = ourMAC
        self.peerMAC = peerMAC
    }

    /// Starts a frame in the ring's next buffer: its Ethernet and IP headers written, the
    /// transport header's bytes zeroed and the payload copied after it (once, never zeroed
    /// first), unless copyPayload is false (a TCP segment's: the driver writes it from
    /// where it is). Its slot.
    mutating func begin(src: IP, dst: IP, proto: UInt8, header: Int, payload: ArraySlice<UInt8>, copyPayload: Bool = true, hopLimit: UInt8 = 64) -> Int {
        let k = slot
        slot = (slot + 1) % ring.count
        let start = FrameBuilder.transport(dst) + header
        let transportLength = header + payload.count
        ring[k].removeAll(keepingCapacity: true)
        ring[k].append(contentsOf: repeatElement(0, count: start))
        if copyPayload { ring[k].append(contentsOf: payload) }
        if let s4 = src.v4, let d4 = dst.v4 {
            Ethernet(dst: peerMAC, src: ourMAC, type: EtherType.ipv4).write(&ring[k])
            IPv4Header.write(&ring[k], at: Ethernet.headerLength, src: s4, dst: d4, proto: proto, id: nextID, payloadLength: transportLength)
            nextID &+= 1
        } else {
            Ethernet(dst: peerMAC, src: ourMAC, type: EtherType.ipv6).write(&ring[k])
            IPv6Header.write(&ring[k], at: Ethernet.headerLength, src: src, dst: dst, proto: proto, hopLimit: hopLimit, payloadLength: transportLength)
        }
        return k
    }
    /// Where the transport header starts in a frame to dst.
    static func transport(_ dst: IP) -> Int { Ethernet.headerLength + (dst.isV4 ? 20 : IPv6Header.length) }

    public mutating func udp(src: IP, srcPort: UInt16, dst: IP, dstPort: UInt16, payload: ArraySlice<UInt8>) -> [UInt8] {
        let n = 8 + payload.count
        let k = begin(src: src, dst: dst, proto: IPProto.udp, header: 8, payload: payload)
        let t = FrameBuilder.transport(dst)
        put16(&ring[k], t, srcPort)
        put16(&ring[k], t + 2, dstPort)
        put16(&ring[k], t + 4, UInt16(n))
        var c = Checksum.fold(Checksum.add(ring[k], t, t + n, Checksum.pseudo(src, dst, proto: IPProto.udp, length: n)))
        if c == 0 { c = 0xffff }
        put16(&ring[k], t + 6, c)
        return ring[k]
    }

    /// An ICMP (IPv4) or ICMPv6 message: its type, code 0, and what follows the checksum.
    /// ICMPv6's checksum covers the pseudo-header; neighbour discovery's hop limit is 255.
    public mutating func icmp(src: IP, dst: IP, type: UInt8, rest: ArraySlice<UInt8>, hopLimit: UInt8 = 64) -> [UInt8] {
        let n = 4 + rest.count
        let v6 = !dst.isV4
        let k = begin(src: src, dst: dst, proto: v6 ? IPProto.icmp6 : IPProto.icmp, header: 4, payload: rest, hopLimit: hopLimit)
        let t = FrameBuilder.transport(dst)
        ring[k][t] = type
        put16(&ring[k], t + 2, Checksum.fold(Checksum.add(ring[k], t, t + n, v6 ? Checksum.pseudo(src, dst, proto: IPProto.icmp6, length: n) : 0)))
        return ring[k]
    }

    /// A whole TCP frame (the payload copied in).
    public mutating func tcp(_ s: TCPSegment, src: IP, dst: IP) -> [UInt8] { tcp(s, src: src, dst: dst, copyPayload: true) }

    /// A TCP frame's headers: its payload (s.payload, not copied) follows them on the wire.
    public mutating func tcpHeaders(_ s: TCPSegment, src: IP, dst: IP) -> [UInt8] { tcp(s, src: src, dst: dst, copyPayload: false) }

    mutating func tcp(_ s: TCPSegment, src: IP, dst: IP, copyPayload: Bool) -> [UInt8] {
        var opts: [UInt8] = []
        if let m = s.mss { opts += [2, 4, UInt8(m >> 8), UInt8(m & 0xff)] }
        if let w = s.windowScale { opts += [1, 3, 3, w] }
        while opts.count % 4 != 0 { opts.append(1) }
        let hl = 20 + opts.count
        let n = hl + s.payload.count
        let k = begin(src: src, dst: dst, proto: IPProto.tcp, header: hl, payload: s.payload, copyPayload: copyPayload)
        let t = FrameBuilder.transport(dst)
        put16(&ring[k], t, s.srcPort)
        put16(&ring[k], t + 2, s.dstPort)
        put32(&ring[k], t + 4, s.seq)
        put32(&ring[k], t + 8, s.ack)
        ring[k][t + 12] = UInt8(hl / 4) << 4
        ring[k][t + 13] = s.flags
        put16(&ring[k], t + 14, s.window)
        for (o, byte) in opts.enumerated() { ring[k][t + 20 + o] = byte }
        let pseudo = Checksum.pseudo(src, dst, proto: IPProto.tcp, length: n)
        // The frame's bytes, then what follows them on the wire (the header's length is a
        // multiple of 4: the payload's words continue its sum).
        let after = copyPayload ? s.payload[s.payload.startIndex..<s.payload.startIndex] : s.payload
        let sum = partialTCPChecksums ? 0 : Checksum.add(after, after.startIndex, after.endIndex, Checksum.add(ring[k], t, ring[k].count, pseudo))
        put16(&ring[k], t + 16, partialTCPChecksums ? ~Checksum.fold(pseudo) : Checksum.fold(sum))
        return ring[k]
    }
}

public struct UDPDatagram: Equatable {
    public var srcPort: UInt16
    public var dstPort: UInt16
    public var payload: Range<Int>
    /// The UDP datagram in ip's payload: length within it; the checksum, when present, valid
    /// (unless summed: the link vouches for it, see SlirpEngine.input).
    public static func parse(_ b: some FrameBytes, _ ip: IPPacket, summed: Bool = false) -> UDPDatagram? {
        let i = ip.payload.lowerBound
        guard ip.payload.count >= 8 else { return nil }
        let n = Int(be16(b, i + 4))
        guard n >= 8, n <= ip.payload.count else { return nil }
        // IPv6 has no checksum-less UDP (RFC 8200 §8.1).
        if !summed, be16(b, i + 6) != 0 || ip.isV6,
            Checksum.fold(Checksum.add(b, i, i + n, Checksum.pseudo(ip.src, ip.dst, proto: IPProto.udp, length: n))) != 0
        {
            return nil
        }
        return UDPDatagram(srcPort: be16(b, i), dstPort: be16(b, i + 2), payload: (i + 8)..<(i + n))
    }
}

public enum TCPFlag {
    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10
}

public struct TCPSegment: Equatable {
    public var srcPort: UInt16
    public var dstPort: UInt16
    public var seq: UInt32
    public var ack: UInt32
    public var flags: UInt8
    public var window: UInt16
    public var mss: UInt16?
    public var windowScale: UInt8?
    public var payload: ArraySlice<UInt8>

    public init(
        srcPort: UInt16, dstPort: UInt16, seq: UInt32, ack: UInt32, flags: UInt8, window: UInt16, mss: UInt16? = nil,
        windowScale: UInt8? = nil, payload: ArraySlice<UInt8> = []
    ) {
        self.srcPort = srcPort
        self.dstPort = dstPort
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.window = window
        self.mss = mss
        self.windowScale = windowScale
        self.payload = payload
    }

    public func has(_ f: UInt8) -> Bool { flags & f != 0 }

    /// The TCP segment in ip's payload: header length within it, a valid checksum (unless
    /// summed: the link vouches for it, see SlirpEngine.input); the MSS and window-scale
    /// options read (others skipped, a malformed list refused).
    public static func parse(_ b: some FrameBytes, _ ip: IPPacket, summed: Bool = false) -> TCPSegment? {
        let i = ip.payload.lowerBound
        let n = ip.payload.count
        guard n >= 20 else { return nil }
        let hl = Int(b[i + 12] >> 4) * 4
        guard hl >= 20, hl <= n else { return nil }
        guard summed || Checksum.fold(Checksum.add(b, i, i + n, Checksum.pseudo(ip.src, ip.dst, proto: IPProto.tcp, length: n))) == 0 else { return nil }
        var s = TCPSegment(
            srcPort: be16(b, i), dstPort: be16(b, i + 2), seq: be32(b, i + 4), ack: be32(b, i + 8), flags: b[i + 13],
            window: be16(b, i + 14), payload: b[(i + hl)..<(i + n)])
        var o = i + 20
        while o < i + hl {
            let kind = b[o]
            if kind == 0 { break }
            if kind == 1 { o += 1; continue }
            guard o + 1 < i + hl else { return nil }
            let len = Int(b[o + 1])
            guard len >= 2, o + len <= i + hl else { return nil }
            if kind == 2 && len == 4 { s.mss = be16(b, o + 2) }
            if kind == 3 && len == 3 { s.windowScale = min(b[o + 2], 14) }
            o += len
        }
        return s
    }
}
