// DNS answers, read as the forwarder relays them: which addresses a name resolved to, so
// that `--allow-net NAME` lets a sandbox reach what its own lookups returned and nothing
// else. The reply comes from the host's resolver but is read as untrusted (every offset
// bounded, compression pointers followed at most 16 deep); a bad one records nothing.

public enum DNS {
    /// The question's name (lowercased, no trailing dot) and the A and AAAA records of the
    /// answer section (CNAME chains included: every address answered for that question), or nil.
    public static func answers(_ b: ArraySlice<UInt8>) -> (name: String, addresses: [IP])? {
        let m = Array(b)
        guard m.count >= 12, m[2] & 0x80 != 0, m[3] & 0x0f == 0 else { return nil }  // a response, NOERROR
        let qd = Int(be16(m, 4)), an = Int(be16(m, 6))
        guard qd == 1 else { return nil }
        var i = 12
        guard let (qname, next) = name(m, i) else { return nil }
        i = next + 4  // QTYPE, QCLASS
        var out: [IP] = []
        for _ in 0..<min(an, 64) {
            guard let (_, n) = name(m, i), n + 10 <= m.count else { return nil }
            let type = be16(m, n), klass = be16(m, n + 2), len = Int(be16(m, n + 8))
            let data = n + 10
            guard data + len <= m.count else { return nil }
            if type == 1 && klass == 1 && len == 4 { out.append(IP(IPv4(be32(m, data)))) }
            if type == 28 && klass == 1 && len == 16 { out.append(IP(m, at: data)) }
            i = data + len
        }
        return (qname, out)
    }

    /// The name at i (labels, or a pointer), and where what follows it starts.
    static func name(_ m: [UInt8], _ start: Int) -> (String, Int)? {
        var labels: [String] = []
        var i = start
        var end: Int?
        var jumps = 0
        while true {
            guard i < m.count else { return nil }
            let l = Int(m[i])
            if l == 0 {
                return (labels.joined(separator: "."), end ?? i + 1)
            }
            if l & 0xc0 == 0xc0 {
                guard i + 1 < m.count, jumps < 16 else { return nil }
                if end == nil { end = i + 2 }
                i = (l & 0x3f) << 8 | Int(m[i + 1])
                jumps += 1
                continue
            }
            guard l <= 63, i + 1 + l <= m.count, labels.count < 128 else { return nil }
            labels.append(String(decoding: m[(i + 1)..<(i + 1 + l)], as: UTF8.self).lowercased())
            i += 1 + l
        }
    }

    /// A host name as `--allow-net` takes it: letters, digits, '-' and '.', at most 253.
    public static func isHostName(_ s: Substring) -> Bool {
        let t = s.hasSuffix(".") ? s.dropLast() : s
        guard !t.isEmpty, t.count <= 253, t.contains(where: { $0.isLetter }) else { return false }
        return t.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { l in
            !l.isEmpty && l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-") && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
