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

    public static func lookup(uid: UInt32, in text: String) -> PasswdEntry? {
        parse(text).first { $0.uid == uid }
    }
}
