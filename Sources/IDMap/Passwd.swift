// /etc/passwd from text. A static binary must not call NSS (getpwuid), so we read the
// file ourselves; users that live only in LDAP/sssd appear by uid only.

public struct PasswdEntry: Equatable, Sendable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public var shell: String
}

public enum Passwd {
    public static func parse(_ text: String) -> [PasswdEntry] {
        lines(text).compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let uid = parseDecimal(f[2]), let gid = parseDecimal(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]), shell: String(trim(f[6])))
        }
    }

    /// The first entry with this uid, as `parse(text).first { $0.uid == uid }` finds it, in
    /// one pass over the bytes with no per-line arrays: it runs on every `--map auto` start,
    /// where split/compactMap cost a fresh process ~0.3 ms of first-use generic metadata.
    /// (Lines end at "\n"; a "\r" before it is trimmed with the shell, as parse does.)
    public static func lookup(uid: UInt32, in text: String) -> PasswdEntry? {
        let b = Array(text.utf8)
        func field(_ from: Int, _ to: Int) -> String { String(decoding: b[from..<to], as: UTF8.self) }
        func number(_ from: Int, _ to: Int) -> UInt32? { parseDecimal(Substring(field(from, to))) }
        var start = 0
        var colon = [Int](repeating: 0, count: 7)
        while start <= b.count {
            var end = start
            while end < b.count && b[end] != 0x0a { end += 1 }
            var n = 0, i = start
            while i < end && n < 7 { if b[i] == 0x3a { colon[n] = i; n += 1 }; i += 1 }
            // Fields 0...6 need six colons; a seventh ends the shell field.
            if n >= 6, number(colon[1] + 1, colon[2]) == uid, let g = number(colon[2] + 1, colon[3]) {
                let shellEnd = n == 7 ? colon[6] : end
                return PasswdEntry(
                    name: field(start, colon[0]), uid: uid, gid: g, home: field(colon[4] + 1, colon[5]),
                    shell: String(trim(Substring(field(colon[5] + 1, shellEnd)))))
            }
            start = end + 1
        }
        return nil
    }
}
