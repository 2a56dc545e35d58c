/// SHA-256 (FIPS 180-4), pure Swift: the seccomp cache key. Small and dependency-free on
/// purpose (the run path links no packages); checked against the standard test vectors.
public struct SHA256 {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
        0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
        0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
        0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() {}

    /// Non-generic on purpose: the cache key is hashed on every start, and a generic
    /// Sequence version costs a fresh process ~100 µs of first-use specialisation lookups.
    public mutating func update(_ bytes: [UInt8]) {
        for b in bytes {
            pending.append(b)
            length &+= 1
            if pending.count == 64 { block(pending[...]); pending.removeAll(keepingCapacity: true) }
        }
    }

    public mutating func update(_ s: String) { update(Array(s.utf8)) }

    /// Lower-case hex of the first `bytes` bytes.
    public static func hexString(_ d: [UInt8], bytes: Int) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes * 2)
        for b in d.prefix(bytes) { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public mutating func finish() -> [UInt8] {
        let bits = length &* 8
        pending.append(0x80)
        while pending.count % 64 != 56 { pending.append(0) }
        for i in (0..<8).reversed() { pending.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        stride(from: 0, to: pending.count, by: 64).forEach { block(pending[$0..<$0 + 64]) }
        pending = []
        return h.flatMap { w in (0..<4).reversed().map { UInt8(truncatingIfNeeded: w >> (UInt32($0) * 8)) } }
    }

    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = SHA256()
        s.update(Array(bytes))
        return hexString(s.finish(), bytes: 32)
    }

    private mutating func block(_ c: ArraySlice<UInt8>) {
        var w = [UInt32](repeating: 0, count: 64)
        let o = c.startIndex
        for i in 0..<16 { w[i] = UInt32(c[o + 4 * i]) << 24 | UInt32(c[o + 4 * i + 1]) << 16 | UInt32(c[o + 4 * i + 2]) << 8 | UInt32(c[o + 4 * i + 3]) }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, cc, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
        for i in 0..<64 {
            let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ SHA256.k[i] &+ w[i]
            let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & cc) ^ (b & cc))
            (hh, g, f, e, d, cc, b, a) = (g, f, e, d &+ t1, cc, b, a, t1 &+ t2)
        }
        for (i, v) in [a, b, cc, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ v }
    }

    private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
}
