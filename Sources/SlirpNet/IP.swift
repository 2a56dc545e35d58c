// Addresses of either family as one value. An IPv4 address is held as its IPv4-mapped
// IPv6 form (::ffff:a.b.c.d), so a flow key, a policy rule and the host's address list
// each have one kind of address, and an IPv6 packet to ::ffff:127.0.0.1 is the very same
// destination (and verdict) as IPv4's 127.0.0.1 — which is where a host socket takes it.

/// An IPv4 or IPv6 address (128 bits, IPv4 mapped).
public struct IP: Hashable, Comparable, CustomStringConvertible, Sendable {
    public var hi: UInt64
    public var lo: UInt64
    public init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }
    public init(_ a: IPv4) {
        hi = 0
        lo = 0xffff_0000_0000 | UInt64(a.value)
    }
    /// The IPv4 address, when this is one.
    public var v4: IPv4? { hi == 0 && lo >> 32 == 0xffff ? IPv4(UInt32(truncatingIfNeeded: lo)) : nil }
    public var isV4: Bool { v4 != nil }

    init(_ b: some FrameBytes, at i: Int) {
        var h: UInt64 = 0
        var l: UInt64 = 0
        for k in 0..<8 { h = h << 8 | UInt64(b[i + k]) }
        for k in 8..<16 { l = l << 8 | UInt64(b[i + k]) }
        hi = h
        lo = l
    }
    func write(_ b: inout [UInt8], at i: Int) {
        for k in 0..<8 { b[i + k] = UInt8(truncatingIfNeeded: hi >> UInt64(56 - 8 * k)) }
        for k in 0..<8 { b[i + 8 + k] = UInt8(truncatingIfNeeded: lo >> UInt64(56 - 8 * k)) }
    }
    /// The 16 bytes, network order.
    public var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: 16)
        write(&b, at: 0)
        return b
    }
    /// The eight 16-bit groups.
    var groups: [UInt16] { (0..<8).map { k in UInt16(truncatingIfNeeded: (k < 4 ? hi : lo) >> UInt64(48 - 16 * (k % 4))) } }

    /// A dotted quad, or IPv6 text (RFC 4291 §2.2: hex groups, one "::", a dotted quad at
    /// the end); no zone, no brackets. nil otherwise.
    public init?(_ text: Substring) {
        if let a = IPv4(text) {
            self.init(a)
            return
        }
        guard text.contains(":"), text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var gap = false
        let halves = IP.splitGap(text)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring, last: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (n, p) in parts.enumerated() {
                if last && n == parts.count - 1 && p.contains(".") {
                    guard let a = IPv4(p) else { return nil }
                    out += [UInt16(a.value >> 16), UInt16(a.value & 0xffff)]
                    continue
                }
                guard !p.isEmpty, p.count <= 4, p.allSatisfy({ $0.isHexDigit && $0.isASCII }), let g = UInt16(p, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        if halves.count == 2 {
            gap = true
            guard let h = groups(halves[0], last: false), let t = groups(halves[1], last: true) else { return nil }
            head = h
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let h = groups(halves[0], last: true), h.count == 8 else { return nil }
            head = h
        }
        let all = head + [UInt16](repeating: 0, count: gap ? 8 - head.count - tail.count : 0) + tail
        guard all.count == 8 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for k in 0..<4 { h = h << 16 | UInt64(all[k]) }
        for k in 4..<8 { l = l << 16 | UInt64(all[k]) }
        self.init(hi: h, lo: l)
    }
    public init?(_ text: String) { self.init(Substring(text)) }

    /// text split at each "::".
    static func splitGap(_ text: Substring) -> [Substring] {
        var out: [Substring] = []
        var start = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let j = text.index(after: i)
            if text[i] == ":", j < text.endIndex, text[j] == ":" {
                out.append(text[start..<i])
                start = text.index(after: j)
                i = start
            } else {
                i = j
            }
        }
        out.append(text[start...])
        return out
    }

    /// A dotted quad for IPv4; RFC 5952 for IPv6 (lowercase, the longest run of two or
    /// more zero groups as "::").
    public var description: String {
        if let a = v4 { return a.description }
        let g = groups
        var best = (start: -1, count: 0)
        var k = 0
        while k < 8 {
            if g[k] == 0 {
                var n = 0
                while k + n < 8 && g[k + n] == 0 { n += 1 }
                if n > best.count && n >= 2 { best = (k, n) }
                k += n
            } else {
                k += 1
            }
        }
        func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
        if best.start < 0 { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.count)..<8)
    }
    public static func < (a: IP, b: IP) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }
}

/// A network of either family: an address and a prefix length over all 128 bits (an
/// IPv4 /N is /(96+N) of its mapped form, and prints as IPv4).
public struct IPNet: Hashable, CustomStringConvertible, Sendable {
    public var base: IP
    public var prefix: Int
    public init(_ base: IP, _ prefix: Int) {
        let p = max(0, min(128, prefix))
        self.prefix = p
        self.base = IP(hi: base.hi & IPNet.mask(p, 0), lo: base.lo & IPNet.mask(p, 64))
    }
    public init(_ c: CIDR) { self.init(IP(c.base), 96 + c.prefix) }
    /// "A.B.C.D/N", "V6/N", or a bare address (all its bits).
    public init?(_ text: Substring) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IP(parts[0]) else { return nil }
        let bits = a.isV4 && !parts[0].contains(":") ? 32 : 128
        var p = bits
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), (0...bits).contains(n) else { return nil }
            p = n
        }
        self.init(a, p + 128 - bits)
    }
    /// The mask's 64 bits starting at bit `from`.
    static func mask(_ prefix: Int, _ from: Int) -> UInt64 {
        let n = prefix - from
        return n <= 0 ? 0 : n >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - n)
    }
    public func contains(_ a: IP) -> Bool { a.hi & IPNet.mask(prefix, 0) == base.hi && a.lo & IPNet.mask(prefix, 64) == base.lo }
    /// Whether the whole of n is inside this one.
    public func covers(_ n: IPNet) -> Bool { n.prefix >= prefix && contains(n.base) }
    /// Only IPv4 addresses (a network inside ::ffff:0:0/96).
    public var isV4: Bool { prefix >= 96 && base.isV4 }
    public var isSingle: Bool { prefix == 128 }
    public var description: String { isV4 ? "\(base)/\(prefix - 96)" : "\(base)/\(prefix)" }
}
