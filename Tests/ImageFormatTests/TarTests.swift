@testable import ImageFormat
import XCTest

/// Bytes in memory as a ByteSource; `chunk` limits each read (short reads happen).
struct MemorySource: ByteSource {
    var bytes: [UInt8]
    var at = 0
    var chunk = Int.max
    init(_ b: [UInt8], chunk: Int = Int.max) {
        bytes = b
        self.chunk = chunk
    }
    mutating func read(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buf.count, bytes.count - at, chunk)
        for i in 0..<n { buf[i] = bytes[at + i] }
        at += n
        return n
    }
}

/// A minimal ustar writer for hand-made (and hostile) archives.
enum TarWriter {
    static func header(_ name: String, type: Character = "0", size: Int = 0, mode: Int = 0o644, link: String = "", uid: Int = 0, prefix: String = "") -> [UInt8]
    {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ at: Int, _ len: Int) { for (i, c) in s.utf8.prefix(len).enumerated() { h[at + i] = c } }
        func octal(_ v: Int, _ at: Int, _ len: Int) {
            put(
                String(String(v, radix: 8).reversed()).padding(toLength: len - 1, withPad: "0", startingAt: 0).reversed().map(String.init).joined(), at, len - 1
            )
        }
        put(name, 0, 100)
        octal(mode, 100, 8); octal(uid, 108, 8); octal(0, 116, 8); octal(size, 124, 12); octal(0, 136, 12)
        h[156] = type.asciiValue!
        put(link, 157, 100)
        put("ustar\u{0}00", 257, 8)
        put(prefix, 345, 155)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        octal(sum, 148, 7)
        return h
    }
    static func entry(_ name: String, type: Character = "0", data: [UInt8] = [], mode: Int = 0o644, link: String = "", uid: Int = 0) -> [UInt8] {
        header(name, type: type, size: data.count, mode: mode, link: link, uid: uid) + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }
    static func pax(_ records: [(String, String)], for name: String) -> [UInt8] {
        var body: [UInt8] = []
        for (k, v) in records {
            let rest = " \(k)=\(v)\n"
            var n = rest.utf8.count + 1
            while String(n).count + rest.utf8.count != n { n += 1 }
            body += Array("\(n)\(rest)".utf8)
        }
        return entry("PaxHeaders/" + name, type: "x", data: body)
    }
    static let end = [UInt8](repeating: 0, count: 1024)
}

final class TarTests: XCTestCase {
    func entries(_ b: [UInt8], chunk: Int = Int.max) throws -> [(TarEntry, [UInt8])] {
        var r = TarReader(MemorySource(b, chunk: chunk))
        var out: [(TarEntry, [UInt8])] = []
        while let e = try r.next() {
            var data: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 100)
            while true {
                let n = try buf.withUnsafeMutableBytes { try r.readData($0) }
                if n == 0 { break }
                data += buf[0..<n]
            }
            out.append((e, data))
        }
        return out
    }

    func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name)
        return Array(try Data(contentsOf: url))
    }

    func testUstarBasicsWithShortReads() throws {
        let b =
            TarWriter.entry("etc/", type: "5", mode: 0o755) + TarWriter.entry("etc/hostname", data: Array("box\n".utf8), uid: 1000)
            + TarWriter.entry("bin/sh", type: "2", link: "busybox") + TarWriter.entry("bin/ls", type: "1", link: "bin/busybox")
            + TarWriter.header("x", prefix: "very/long/prefix") + TarWriter.end
        let e = try entries(b, chunk: 7)
        XCTAssertEqual(e.map(\.0.path), ["etc/", "etc/hostname", "bin/sh", "bin/ls", "very/long/prefix/x"])
        XCTAssertEqual(e.map(\.0.kind), [.directory, .file, .symlink, .hardlink, .file])
        XCTAssertEqual(e[1].1, Array("box\n".utf8))
        XCTAssertEqual(e[1].0.uid, 1000)
        XCTAssertEqual(e[2].0.linkTarget, "busybox")
        XCTAssertEqual(e[0].0.mode, 0o755)
    }

    func testGNULongNamesAndPAXXattrs() throws {
        let long = String(repeating: "n", count: 150), target = "/" + String(repeating: "t", count: 120)
        for f in ["gnu-longname.tar", "pax-xattr.tar"] {
            let e = try entries(try fixture(f))
            XCTAssertEqual(e.map(\.0.path), ["d/", "d/" + long, "link"], f)
            XCTAssertEqual(e[0].0.mode, 0o4755, "setuid bit kept: \(f)")
            XCTAssertEqual(e[1].1, Array("hello\n".utf8))
            XCTAssertEqual(e[2].0.linkTarget, target, f)
        }
        XCTAssertEqual(try entries(try fixture("pax-xattr.tar"))[1].0.xattrs, ["user.foo": Array("bar".utf8)])
    }

    func testSparseFilesBothFormats() throws {
        for f in ["sparse-gnu.tar", "sparse-pax.tar"] {
            let e = try entries(try fixture(f))
            XCTAssertEqual(e.count, 1, f)
            let (entry, data) = e[0]
            XCTAssertEqual(entry.path, "sparse", f)
            XCTAssertEqual(entry.realSize, 1 << 20, f)
            let map = try XCTUnwrap(entry.sparse, f)
            // Rebuild the file from the map: "AB" at 0, "XY" at 700000, zeros elsewhere.
            var file = [UInt8](repeating: 0, count: Int(entry.realSize))
            var at = 0
            for s in map {
                for i in 0..<Int(s.length) { file[Int(s.offset) + i] = data[at + i] }
                at += Int(s.length)
            }
            XCTAssertEqual(at, data.count)
            XCTAssertEqual(Array(file[0..<2]), Array("AB".utf8), f)
            XCTAssertEqual(Array(file[700000..<700002]), Array("XY".utf8), f)
            XCTAssertLessThan(data.count, 100_000, "holes are not stored: \(f)")
        }
    }

    func testPAXOverridesPathSizeAndIds() throws {
        let b =
            TarWriter.pax([("path", "a/" + String(repeating: "p", count: 200)), ("uid", "100000"), ("linkpath", "t")], for: "x")
            + TarWriter.entry("short", data: [1, 2, 3]) + TarWriter.end
        let e = try entries(b)
        XCTAssertEqual(e[0].0.path.count, 202)
        XCTAssertEqual(e[0].0.uid, 100000)
        XCTAssertEqual(e[0].1, [1, 2, 3])
    }

    func testBadInputIsAClearError() {
        func fails(_ b: [UInt8], _ contains: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try entries(b), file: file, line: line) { XCTAssertTrue("\($0)".contains(contains), "\($0)", file: file, line: line) }
        }
        var bad = TarWriter.entry("f", data: [1])
        bad[0] = UInt8(ascii: "g")
        fails(bad, "checksum mismatch")
        fails(Array(TarWriter.entry("f", data: Array(repeating: 7, count: 1000)).prefix(700)), "truncated archive")
        fails(Array(TarWriter.header("f").prefix(300)), "truncated archive")
        fails(TarWriter.entry("f", type: "Z"), "unsupported entry type 'Z' for f")
        // A huge GNU long name (8 MiB declared) is refused before it is read.
        fails(TarWriter.header("././@LongLink", type: "L", size: 8 << 20), "over the 1048576-byte limit")
        fails(TarWriter.pax([("size", "-5")], for: "f") + TarWriter.entry("f") + TarWriter.end, "bad PAX size")
        var broken = TarWriter.pax([("path", "x")], for: "f")
        broken[512] = UInt8(ascii: "7")
        fails(broken + TarWriter.end, "malformed PAX record")
        fails(TarWriter.pax([("path", "a\u{0}b")], for: "f") + TarWriter.entry("f") + TarWriter.end, "NUL")
        fails(TarWriter.pax([("path", String(repeating: "a", count: 5000))], for: "f") + TarWriter.entry("f") + TarWriter.end, "longer than 4096")
    }

    func testEmptyAndEndBlocks() throws {
        XCTAssertEqual(try entries([]).count, 0)
        XCTAssertEqual(try entries(TarWriter.end).count, 0)
        XCTAssertEqual(try entries(TarWriter.entry("a") + Array(TarWriter.end.prefix(512))).count, 1, "one end block is accepted")
    }

    /// Mutated real archives and random bytes: a value or a TarError, never a trap.
    func testFuzzedArchivesNeverCrash() throws {
        var rng = SystemRandomNumberGenerator()
        let seeds = [try fixture("gnu-longname.tar"), try fixture("pax-xattr.tar"), try fixture("sparse-gnu.tar"), try fixture("sparse-pax.tar")]
        for i in 0..<3000 {
            var b = seeds[i % seeds.count]
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let at = Int.random(in: 0..<min(b.count, 2048), using: &rng)
                b[at] = i % 3 == 0 ? UInt8.random(in: 0x30...0x39, using: &rng) : UInt8.random(in: 0...255, using: &rng)
            }
            // Keep checksums right half the time so the fuzz reaches past the header check.
            if i % 2 == 0 {
                var off = 0
                while off + 512 <= min(b.count, 4096) {
                    var sum = 0
                    for j in 0..<512 { sum += (148..<156).contains(j) ? 0x20 : Int(b[off + j]) }
                    let s = Array(String(sum, radix: 8).utf8)
                    if s.count <= 6 { for j in 0..<8 { b[off + 148 + j] = j < 6 - s.count ? 0x30 : (j < 6 ? s[j - (6 - s.count)] : (j == 6 ? 0 : 0x20)) } }
                    off += 512
                }
            }
            if i % 5 == 0 { b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) }
            _ = try? entries(b, chunk: 1 + i % 600)
        }
    }

    /// What `rootless import DIR` writes reads back the same, long names and big values
    /// (through PAX) included.
    func testHeadersWeWriteReadBack() throws {
        let long = "./" + String(repeating: "d", count: 120) + "/file"
        let target = String(repeating: "t", count: 150)
        let data = Array("hello".utf8)
        var b = TarHeader.encode(path: "./", kind: .directory, mode: 0o755, mtime: 1_700_000_000)
        b +=
            TarHeader.encode(path: long, kind: .file, mode: 0o4755, size: Int64(data.count), mtime: 5) + data
            + [UInt8](repeating: 0, count: TarHeader.padding(5))
        b += TarHeader.encode(path: "./ln", kind: .symlink, mode: 0o777, link: target)
        b += TarHeader.encode(path: "./hard", kind: .hardlink, mode: 0o4755, link: long)
        b += TarHeader.encode(path: "./old", kind: .file, mode: 0o644, mtime: -5)
        b += TarHeader.end
        XCTAssertEqual(b.count % 512, 0)
        let e = try entries(b, chunk: 13)
        XCTAssertEqual(e.map(\.0.path), ["./", long, "./ln", "./hard", "./old"])
        XCTAssertEqual(e.map(\.0.kind), [.directory, .file, .symlink, .hardlink, .file])
        XCTAssertEqual(e[1].0.mode, 0o4755)
        XCTAssertEqual(e[1].1, data)
        XCTAssertEqual(e[1].0.uid, 0)
        XCTAssertEqual(e[0].0.mtime, 1_700_000_000)
        XCTAssertEqual(e[2].0.linkTarget, target)
        XCTAssertEqual(e[3].0.linkTarget, long)
        XCTAssertEqual(e[4].0.mtime, 0, "a time before 1970 is written as 0")
    }
}
