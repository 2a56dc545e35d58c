// A streaming tar reader: ustar, GNU (long names, base-256 numbers, old sparse) and PAX
// (path/linkpath/size/ids/mtime, SCHILY.xattr, GNU sparse 1.0). Pure: bytes come from a
// ByteSource the caller implements. Untrusted input: every length is bounded, every
// number checked, and nothing here traps on any input (fuzzed in ImageFormatTests).
// Paths are returned as the archive has them; the unpacker decides what is safe.

public protocol ByteSource {
    /// Fills up to `buf.count` bytes; 0 at the end of the stream.
    mutating func read(_ buf: UnsafeMutableRawBufferPointer) throws -> Int
}

public struct TarError: Error, Equatable, CustomStringConvertible {
    public var offset: Int64
    public var message: String
    public var description: String { "tar: \(message) (at byte \(offset))" }
}

public struct TarEntry: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case file, hardlink, symlink, charDevice, blockDevice, directory, fifo }
    public var path: String
    public var kind: Kind
    /// Permission bits with setuid/setgid/sticky (07777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Bytes of data that follow in the archive (for sparse files: the stored segments).
    public var size: Int64
    public var linkTarget: String
    public var mtime: Int64
    public var devMajor: UInt32
    public var devMinor: UInt32
    public var xattrs: [String: [UInt8]]
    /// Sparse files: where the stored bytes go, in order, and the file's real size.
    public var sparse: [SparseSegment]?
    public var realSize: Int64

    public struct SparseSegment: Equatable, Sendable {
        public var offset: Int64
        public var length: Int64
        public init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }
    }
}

public struct TarReader<Source: ByteSource> {
    public static var maxMetaSize: Int { 1 << 20 }  // PAX headers, GNU long names
    public static var maxPathLength: Int { 4096 }
    public static var maxEntrySize: Int64 { 1 << 40 }  // 1 TiB
    public static var maxSparseSegments: Int { 1 << 16 }

    var src: Source
    /// Bytes consumed from the source so far.
    public private(set) var offset: Int64 = 0
    /// Data bytes of the current entry not yet read, and the padding after them.
    var remaining: Int64 = 0
    var padding: Int64 = 0
    var globals: [String: String] = [:]
    var ended = false

    public init(_ source: Source) { src = source }

    func error(_ m: String) -> TarError { TarError(offset: offset, message: m) }

    /// The next entry's header, skipping what is left of the previous entry's data; nil
    /// after the end-of-archive blocks (or a clean end of stream between entries).
    public mutating func next() throws -> TarEntry? {
        try skipRest()
        if ended { return nil }
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        var paxXattrs: [String: [UInt8]] = [:]
        while true {
            guard let h = try block(allowEnd: true) else { ended = true; return nil }
            if h.allSatisfy({ $0 == 0 }) {
                // End of archive: a second zero block should follow; some writers stop here.
                _ = try block(allowEnd: true)
                ended = true
                return nil
            }
            try verifyChecksum(h)
            let type = h[156]
            let size = try number(h, 124, 12, "size")
            guard size >= 0, size <= Self.maxEntrySize else { throw error("entry size \(size) is out of range") }
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                let text = try metaText(size, what: type == UInt8(ascii: "L") ? "GNU long name" : "GNU long link")
                if type == UInt8(ascii: "L") { longName = text } else { longLink = text }
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let records = try parsePAX(try metaBytes(size, what: "PAX header"))
                if type == UInt8(ascii: "g") {
                    for (k, v) in records.text where !k.hasPrefix("SCHILY.xattr.") { globals[k] = v }
                } else {
                    for (k, v) in records.text { pax[k] = v }
                    for (k, v) in records.xattrs { paxXattrs[k] = v }
                }
                continue
            case UInt8(ascii: "V"):
                try skip(size)
                continue
            default:
                break
            }
            var e = try entry(h, type: type, size: size)
            let values = globals.merging(pax) { $1 }
            if let p = values["path"] { e.path = p } else if let n = longName { e.path = n }
            if let l = values["linkpath"] { e.linkTarget = l } else if let l = longLink { e.linkTarget = l }
            if let s = values["size"] { e.size = try paxNumber(s, "size", max: Self.maxEntrySize) }
            if let s = values["uid"] { e.uid = UInt32(try paxNumber(s, "uid", max: Int64(UInt32.max))) }
            if let s = values["gid"] { e.gid = UInt32(try paxNumber(s, "gid", max: Int64(UInt32.max))) }
            if let s = values["mtime"] { e.mtime = try paxNumber(String(s.split(separator: ".").first ?? ""), "mtime", max: Int64.max / 2) }
            e.xattrs.merge(paxXattrs) { $1 }
            guard !e.path.isEmpty else { throw error("entry with an empty name") }
            guard e.path.utf8.count <= Self.maxPathLength, e.linkTarget.utf8.count <= Self.maxPathLength else {
                throw error("name longer than \(Self.maxPathLength) bytes")
            }
            guard !e.path.utf8.contains(0), !e.linkTarget.utf8.contains(0) else { throw error("name with a NUL byte") }
            remaining = e.size
            padding = (512 - e.size % 512) % 512
            if e.kind == .file, values["GNU.sparse.major"] == "1", values["GNU.sparse.minor"] == "0" {
                if let n = values["GNU.sparse.name"] { e.path = n }
                e.realSize = try paxNumber(values["GNU.sparse.realsize"] ?? "", "GNU.sparse.realsize", max: Self.maxEntrySize)
                e.sparse = try sparseMapV1()
                e.size = remaining
            }
            if let s = e.sparse {
                guard s.reduce(Int64(0), { $0 + $1.length }) == e.size,
                    zip(s, s.dropFirst()).allSatisfy({ $0.offset + $0.length <= $1.offset }),
                    s.allSatisfy({ $0.offset >= 0 && $0.length >= 0 && $0.offset + $0.length <= e.realSize })
                else {
                    throw error("sparse map of \(e.path) does not fit its data")
                }
            }
            if e.kind != .file && e.kind != .hardlink && e.size != 0 && e.sparse == nil {
                // Data after a non-file entry is skipped (never written anywhere).
                e.size = 0
            }
            return e
        }
    }

    /// Reads data of the current entry (for sparse entries: the stored segments in order).
    public mutating func readData(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0, buf.count > 0 else { return 0 }
        let want = Int(min(Int64(buf.count), remaining))
        let n = try src.read(UnsafeMutableRawBufferPointer(rebasing: buf[0..<want]))
        guard n > 0 else { throw error("truncated archive: \(remaining) bytes of data missing") }
        remaining -= Int64(n)
        offset += Int64(n)
        return n
    }

    mutating func skipRest() throws {
        try skip(remaining + padding)
        remaining = 0
        padding = 0
    }

    mutating func skip(_ count: Int64) throws {
        guard count > 0 else { return }
        var left = count
        var scratch = [UInt8](repeating: 0, count: 8192)
        while left > 0 {
            let n = try scratch.withUnsafeMutableBytes { b in
                try src.read(UnsafeMutableRawBufferPointer(rebasing: b[0..<Int(min(Int64(b.count), left))]))
            }
            guard n > 0 else { throw error("truncated archive: \(left) bytes missing") }
            left -= Int64(n)
            offset += Int64(n)
        }
    }

    /// Exactly n bytes (or nil at a clean end of stream when allowed and nothing came).
    mutating func exact(_ n: Int, allowEnd: Bool) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = try out.withUnsafeMutableBytes { b in try src.read(UnsafeMutableRawBufferPointer(rebasing: b[got..<n])) }
            if r == 0 {
                if got == 0 && allowEnd { return nil }
                throw error("truncated archive: a block ends after \(got) of \(n) bytes")
            }
            got += r
            offset += Int64(r)
        }
        return out
    }

    mutating func block(allowEnd: Bool) throws -> [UInt8]? { try exact(512, allowEnd: allowEnd) }

    mutating func metaBytes(_ size: Int64, what: String) throws -> [UInt8] {
        guard size <= Int64(Self.maxMetaSize) else { throw error("\(what) of \(size) bytes is over the \(Self.maxMetaSize)-byte limit") }
        let data = try exact(Int(size), allowEnd: false) ?? []
        try skip((512 - size % 512) % 512)
        return data
    }

    mutating func metaText(_ size: Int64, what: String) throws -> String {
        let b = try metaBytes(size, what: what)
        return String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
    }

    func verifyChecksum(_ h: [UInt8]) throws {
        let stored = try number(h, 148, 8, "checksum")
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let c = (148..<156).contains(i) ? UInt8(ascii: " ") : h[i]
            unsigned += Int64(c)
            signed += Int64(Int8(bitPattern: c))
        }
        guard stored == unsigned || stored == signed else { throw error("header checksum mismatch (not a tar archive, or corrupt)") }
    }

    /// Octal (NUL/space terminated) or GNU base-256 (high bit set).
    func number(_ h: [UInt8], _ at: Int, _ len: Int, _ what: String) throws -> Int64 {
        let f = h[at..<(at + len)]
        if let first = f.first, first & 0x80 != 0 {
            guard first == 0x80 else { throw error("negative or oversized base-256 \(what)") }
            var v: Int64 = 0
            for b in f.dropFirst() {
                guard v <= (Int64.max >> 8) else { throw error("\(what) too large") }
                v = v << 8 | Int64(b)
            }
            return v
        }
        var v: Int64 = 0
        var seen = false
        for b in f {
            if b == 0 || (b == UInt8(ascii: " ") && seen) { break }
            if b == UInt8(ascii: " ") { continue }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "7") else { throw error("bad octal \(what)") }
            guard v <= (Int64.max >> 3) else { throw error("\(what) too large") }
            v = v << 3 | Int64(b - UInt8(ascii: "0"))
            seen = true
        }
        return v
    }

    func text(_ h: [UInt8], _ at: Int, _ len: Int) -> String {
        String(decoding: h[at..<(at + len)].prefix { $0 != 0 }, as: UTF8.self)
    }

    mutating func entry(_ h: [UInt8], type: UInt8, size: Int64) throws -> TarEntry {
        let ustar = h[257..<263].elementsEqual("ustar\0".utf8)
        var path = text(h, 0, 100)
        if ustar {
            let prefix = text(h, 345, 155)
            if !prefix.isEmpty { path = prefix + "/" + path }
        }
        let kind: TarEntry.Kind
        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"), UInt8(ascii: "S"): kind = path.hasSuffix("/") && type == 0 ? .directory : .file
        case UInt8(ascii: "1"): kind = .hardlink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "3"): kind = .charDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"), UInt8(ascii: "D"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        default:
            let c = type >= 0x20 && type < 0x7f ? "'\(Character(Unicode.Scalar(type)))'" : "\(type)"
            throw error("unsupported entry type \(c) for \(path)")
        }
        var e = TarEntry(
            path: path, kind: kind, mode: UInt32(try number(h, 100, 8, "mode") & 0o7777),
            uid: UInt32(truncatingIfNeeded: try number(h, 108, 8, "uid")), gid: UInt32(truncatingIfNeeded: try number(h, 116, 8, "gid")),
            size: size, linkTarget: text(h, 157, 100), mtime: try number(h, 136, 12, "mtime"),
            devMajor: UInt32(truncatingIfNeeded: try number(h, 329, 8, "devmajor")), devMinor: UInt32(truncatingIfNeeded: try number(h, 337, 8, "devminor")),
            xattrs: [:], sparse: nil, realSize: size)
        if type == UInt8(ascii: "S") {
            // Old GNU sparse: 4 (offset, length) pairs at 386, "isextended" at 482, the real
            // size at 483; extension blocks of 21 pairs follow while isextended is set.
            var map: [TarEntry.SparseSegment] = []
            func pairs(_ b: [UInt8], _ at: Int, _ n: Int) throws {
                for i in 0..<n {
                    let o = try number(b, at + i * 24, 12, "sparse offset"), l = try number(b, at + i * 24 + 12, 12, "sparse length")
                    if o == 0 && l == 0 && b[at + i * 24] == 0 { continue }
                    map.append(.init(offset: o, length: l))
                }
            }
            try pairs(h, 386, 4)
            e.realSize = try number(h, 483, 12, "sparse real size")
            var extended = h[482] != 0
            while extended {
                guard map.count < Self.maxSparseSegments, let x = try block(allowEnd: false) else { throw error("sparse map too long") }
                try pairs(x, 0, 21)
                extended = x[504] != 0
            }
            e.sparse = map
        }
        return e
    }

    struct PAX {
        var text: [(String, String)] = []
        var xattrs: [(String, [UInt8])] = []
    }

    /// "LEN KEY=VALUE\n" records, LEN counting the whole record.
    func parsePAX(_ b: [UInt8]) throws -> PAX {
        var out = PAX()
        var i = 0
        while i < b.count {
            if b[i] == 0 { break }
            var len = 0
            var j = i
            while j < b.count, b[j] >= UInt8(ascii: "0"), b[j] <= UInt8(ascii: "9"), len < 1 << 24 {
                len = len * 10 + Int(b[j] - UInt8(ascii: "0"))
                j += 1
            }
            guard j < b.count, b[j] == UInt8(ascii: " "), len > j - i + 1, i + len <= b.count, b[i + len - 1] == UInt8(ascii: "\n") else {
                throw error("malformed PAX record")
            }
            let rec = b[(j + 1)..<(i + len - 1)]
            guard let eq = rec.firstIndex(of: UInt8(ascii: "=")) else { throw error("PAX record without '='") }
            let key = String(decoding: rec[..<eq], as: UTF8.self)
            let value = Array(rec[(eq + 1)...])
            if key.hasPrefix("SCHILY.xattr.") {
                out.xattrs.append((String(key.dropFirst("SCHILY.xattr.".count)), value))
            } else {
                out.text.append((key, String(decoding: value, as: UTF8.self)))
            }
            i += len
        }
        return out
    }

    func paxNumber(_ s: String, _ what: String, max: Int64) throws -> Int64 {
        guard !s.isEmpty, s.utf8.count <= 19, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int64(s), v <= max else {
            throw error("bad PAX \(what) \"\(s.prefix(32))\"")
        }
        return v
    }

    /// GNU sparse 1.0: the map leads the data as decimal lines (count, then offset/length
    /// pairs), padded to a block.
    mutating func sparseMapV1() throws -> [TarEntry.SparseSegment] {
        var consumed: Int64 = 0
        var line: [UInt8] = []
        func nextNumber() throws -> Int64 {
            line.removeAll(keepingCapacity: true)
            while true {
                guard remaining > 0 else { throw error("truncated sparse map") }
                var c: UInt8 = 0
                let n = try withUnsafeMutableBytes(of: &c) { try readData($0) }
                guard n == 1 else { throw error("truncated sparse map") }
                consumed += 1
                if c == UInt8(ascii: "\n") { break }
                guard c >= 0x30, c <= 0x39, line.count < 19 else { throw error("bad number in sparse map") }
                line.append(c)
            }
            guard let v = Int64(String(decoding: line, as: UTF8.self)) else { throw error("bad number in sparse map") }
            return v
        }
        let count = try nextNumber()
        guard count >= 0, count <= Int64(Self.maxSparseSegments) else { throw error("sparse map of \(count) segments") }
        var map: [TarEntry.SparseSegment] = []
        for _ in 0..<count { map.append(.init(offset: try nextNumber(), length: try nextNumber())) }
        let pad = (512 - consumed % 512) % 512
        guard pad <= remaining else { throw error("truncated sparse map") }
        try skip(pad)
        remaining -= pad
        return map
    }
}
