// PURE: tar headers out (ustar, with a PAX extended header in front when a name, a
// link target or a size does not fit), for `rootless import DIR`. The reader's inverse:
// TarTests round-trips every case through TarReader.

public enum TarHeader {
    /// The header block(s) for one entry; the caller writes the data and padding after.
    /// Kinds written: file, directory, symlink, hardlink.
    public static func encode(
        path: String, kind: TarEntry.Kind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
        size: Int64 = 0, mtime: Int64 = 0, link: String = ""
    ) -> [UInt8] {
        var pax: [(String, String)] = []
        let name = kind == .directory && !path.hasSuffix("/") ? path + "/" : path
        if name.utf8.count > 100 { pax.append(("path", name)) }
        if link.utf8.count > 100 { pax.append(("linkpath", link)) }
        if size > 0o77777777777 { pax.append(("size", String(size))) }
        if mtime > 0o77777777777 { pax.append(("mtime", String(mtime))) }  // before 1970: 0
        var out: [UInt8] = []
        if !pax.isEmpty {
            var body: [UInt8] = []
            for (k, v) in pax {
                // "LEN key=value\n" where LEN counts itself.
                let rest = " \(k)=\(v)\n".utf8.count
                var n = rest + 1
                while String(n).utf8.count + rest != n { n += 1 }
                body += Array("\(n) \(k)=\(v)\n".utf8)
            }
            out += block(
                name: "PaxHeaders/entry", type: UInt8(ascii: "x"), mode: 0o644, uid: 0, gid: 0,
                size: Int64(body.count), mtime: 0, link: "")
            out += body + [UInt8](repeating: 0, count: (512 - body.count % 512) % 512)
        }
        let type: UInt8
        switch kind {
        case .directory: type = UInt8(ascii: "5")
        case .symlink: type = UInt8(ascii: "2")
        case .hardlink: type = UInt8(ascii: "1")
        default: type = UInt8(ascii: "0")
        }
        out += block(
            name: String(decoding: name.utf8.prefix(100), as: UTF8.self), type: type, mode: mode & 0o7777, uid: uid, gid: gid,
            size: kind == .file ? min(size, 0o77777777777) : 0, mtime: max(0, min(mtime, 0o77777777777)),
            link: String(decoding: link.utf8.prefix(100), as: UTF8.self))
        return out
    }

    /// Two zero blocks.
    public static let end = [UInt8](repeating: 0, count: 1024)

    /// Zero bytes that pad `size` bytes of data to a block.
    public static func padding(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    static func block(name: String, type: UInt8, mode: UInt32, uid: UInt32, gid: UInt32, size: Int64, mtime: Int64, link: String) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ at: Int, _ len: Int) { for (i, c) in s.utf8.prefix(len).enumerated() { h[at + i] = c } }
        func octal(_ v: Int64, _ at: Int, _ len: Int) {
            var digits = Array(String(v, radix: 8).utf8)
            while digits.count < len - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
            for (i, c) in digits.suffix(len - 1).enumerated() { h[at + i] = c }
        }
        put(name, 0, 100)
        octal(Int64(mode), 100, 8)
        octal(Int64(min(uid, 0o7777777)), 108, 8)
        octal(Int64(min(gid, 0o7777777)), 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        h[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6)
        h[263] = UInt8(ascii: "0"); h[264] = UInt8(ascii: "0")
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int64($1) }
        octal(sum, 148, 7)
        return h
    }
}
