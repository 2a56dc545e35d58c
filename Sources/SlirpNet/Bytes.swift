// Big-endian fields in byte arrays, addresses, and the Internet checksum (RFC 1071). Every
// reader is bounds-checked by its caller's parse (frames come from the sandbox).

/// Frame bytes as the parsers read them: a whole array, or a slice of the driver's read
/// buffer (indices are the buffer's own: a slice from 0 reads as the array would).
public protocol FrameBytes: RandomAccessCollection where Element == UInt8, Index == Int, SubSequence == ArraySlice<UInt8> {}
extension Array: FrameBytes where Element == UInt8 {}
extension ArraySlice: FrameBytes where Element == UInt8 {}

@inline(__always) func be16(_ b: some FrameBytes, _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
@inline(__always) func be32(_ b: some FrameBytes, _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
}
@inline(__always) func put16(_ b: inout [UInt8], _ i: Int, _ v: UInt16) {
    b[i] = UInt8(v >> 8)
    b[i + 1] = UInt8(v & 0xff)
}
@inline(__always) func put32(_ b: inout [UInt8], _ i: Int, _ v: UInt32) {
    b[i] = UInt8(v >> 24)
    b[i + 1] = UInt8((v >> 16) & 0xff)
    b[i + 2] = UInt8((v >> 8) & 0xff)
    b[i + 3] = UInt8(v & 0xff)
}

/// An IPv4 address (host order).
public struct IPv4: Hashable, Comparable, CustomStringConvertible, Sendable {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d) }
    /// Dotted quad, nothing else ("10.0.2.2"); nil otherwise.
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(p), n <= 255 else { return nil }
            v = v << 8 | n
        }
        value = v
    }
    public init?(_ text: String) { self.init(Substring(text)) }
    public var description: String { "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)" }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
}

/// An IPv4 network (address and prefix length), e.g. 10.0.2.0/24.
public struct CIDR: Hashable, CustomStringConvertible, Sendable {
    public var base: IPv4
    public var prefix: Int
    public init(_ base: IPv4, _ prefix: Int) {
        self.prefix = prefix
        self.base = IPv4(base.value & CIDR.mask(prefix))
    }
    /// "A.B.C.D/N" or a bare address (/32).
    public init?(_ text: Substring) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPv4(parts[0]) else { return nil }
        var p = 32
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...32).contains(n), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            p = n
        }
        self.init(a, p)
    }
    static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }
    public func contains(_ a: IPv4) -> Bool { a.value & CIDR.mask(prefix) == base.value }
    public var description: String { "\(base)/\(prefix)" }
}

/// A MAC address (48 bits).
public struct MAC: Hashable, CustomStringConvertible, Sendable {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value & 0xffff_ffff_ffff }
    public static let broadcast = MAC(0xffff_ffff_ffff)
    init(_ b: some FrameBytes, at i: Int) {
        var v: UInt64 = 0
        for k in 0..<6 { v = v << 8 | UInt64(b[i + k]) }
        value = v
    }
    func write(_ b: inout [UInt8], at i: Int) { for k in 0..<6 { b[i + k] = UInt8((value >> UInt64(8 * (5 - k))) & 0xff) } }
    public var description: String {
        (0..<6).map { k in
            let byte = UInt8((value >> UInt64(8 * (5 - k))) & 0xff)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined(separator: ":")
    }
}

/// The Internet checksum: a ones'-complement sum of 16-bit words.
public enum Checksum {
    /// Adds b[from..<to] to sum (an odd last byte is padded with zero). The sum of 16-bit
    /// words does not depend on byte order (RFC 1071 §2): it is taken 8 bytes at a time in
    /// the machine's order and turned into network order once, at the end.
    public static func add(_ b: some FrameBytes, _ from: Int, _ to: Int, _ sum: UInt32 = 0) -> UInt32 {
        guard from >= b.startIndex, from <= to, to <= b.endIndex else { return sum }
        let native: UInt64 =
            b.withContiguousStorageIfAvailable { buf in
                sum8(UnsafeRawBufferPointer(buf), from - b.startIndex, to - from)
            } ?? 0
        // Fold to 16 bits in the machine's order, then to network order.
        var f = native
        while f > 0xffff { f = (f & 0xffff) + (f >> 16) }
        let be = UInt16(f).bigEndian == UInt16(f) ? UInt64(f) : UInt64(UInt16(f).byteSwapped)
        var t = UInt64(sum) + be
        while t > 0xffff_ffff { t = (t & 0xffff_ffff) + (t >> 32) }
        return UInt32(t)
    }

    /// The bytes' 16-bit words summed in the machine's order, 8 bytes at a time.
    static func sum8(_ raw: UnsafeRawBufferPointer, _ from: Int, _ count: Int) -> UInt64 {
        guard let base = raw.baseAddress else { return 0 }
        var s: UInt64 = 0
        var p = base + from
        var n = count
        while n >= 8 {
            let w = p.loadUnaligned(as: UInt64.self)
            s &+= (w & 0xffff_ffff) &+ (w >> 32)
            p += 8
            n -= 8
        }
        while n >= 2 {
            s &+= UInt64(p.loadUnaligned(as: UInt16.self))
            p += 2
            n -= 2
        }
        if n == 1 { s &+= UInt64(p.load(as: UInt8.self)) }  // the first byte of a word: its low half in the machine's order
        return s
    }
    public static func fold(_ sum: UInt32) -> UInt16 {
        var s = sum
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }
    /// The TCP/UDP (and ICMPv6) pseudo-header's sum: IPv4's or IPv6's, as the addresses are.
    public static func pseudo(_ src: IP, _ dst: IP, proto: UInt8, length: Int) -> UInt32 {
        var s: UInt64 = 0
        if let a = src.v4, let b = dst.v4 {
            s = UInt64(a.value >> 16) + UInt64(a.value & 0xffff) + UInt64(b.value >> 16) + UInt64(b.value & 0xffff)
        } else {
            @inline(__always) func words(_ x: UInt64) -> UInt64 { (x >> 48) + (x >> 32 & 0xffff) + (x >> 16 & 0xffff) + (x & 0xffff) }
            s = words(src.hi) + words(src.lo) + words(dst.hi) + words(dst.lo)
        }
        s += UInt64(proto) + UInt64(length)
        while s > 0xffff_ffff { s = (s & 0xffff_ffff) + (s >> 32) }
        return UInt32(s)
    }
}
