import IDMap
import XCTest

final class SubIDTableTests: XCTestCase {
    func testParsesNamesUIDsCommentsAndSeveralRanges() {
        let t = SubIDTable(
            parsing: """
                # comment
                alice:100000:65536

                1001:300000:1000
                alice:500000:10\r
                bob:200000:65536
                """)
        XCTAssertTrue(t.problems.isEmpty, "\(t.problems)")
        XCTAssertEqual(
            t.ranges(user: "alice", uid: 1001),
            [IDRange(start: 100000, count: 65536), IDRange(start: 300000, count: 1000), IDRange(start: 500000, count: 10)])
        XCTAssertEqual(t.ranges(user: nil, uid: 1001), [IDRange(start: 300000, count: 1000)])
        XCTAssertEqual(t.ranges(user: "carol", uid: 7), [])
    }

    func testMalformedLinesAreReportedWithLineNumbers() {
        let t = SubIDTable(parsing: "ok:1:2\nbroken\nx:abc:1\ny:1:0\nz:4294967295:2\n:1:1\nw:-1:5\nv:99999999999:1")
        XCTAssertEqual(t.entries.count, 1)
        XCTAssertEqual(t.problems.map(\.line), [2, 3, 4, 5, 6, 7, 8])
        XCTAssertTrue(t.problems[0].description.contains("line 2"))
    }

    /// Untrusted text must never crash the parser (fuzz: random bytes, random splices).
    func testFuzzNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abc019:#\n\r \t-+\u{0}é".unicodeScalars)
        for _ in 0..<3000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0..<80, using: &rng) { s.append(alphabet.randomElement(using: &rng)!) }
            let t = SubIDTable(parsing: String(s))
            for e in t.entries { XCTAssertGreaterThan(e.range.count, 0) }
            _ = t.ranges(user: "a", uid: 0)
        }
    }

    func testPasswdLookup() {
        let text = "root:x:0:0:root:/root:/bin/bash\nrltest:x:1001:1001::/home/rltest:/bin/bash\nbad line\n"
        XCTAssertEqual(Passwd.lookup(uid: 1001, in: text)?.name, "rltest")
        XCTAssertNil(Passwd.lookup(uid: 5, in: text))
    }

    /// lookup is a one-pass byte loop (it runs on every --map auto start); it finds what
    /// parse finds, on fuzzed files (CRLF, extra and missing fields, spaces, junk numbers).
    func testPasswdLookupAgreesWithParseOnFuzzedFiles() {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["root", "x", "0", "1001", " 1001", "1001\r", "42", "", ":", "::", "\r\n", "\n", "/home/a", "/bin/sh ", "é", "99999999999", "\t"]
        for _ in 0..<3000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...30, using: &rng) { text += pieces.randomElement(using: &rng)! }
            for uid: UInt32 in [0, 42, 1001] {
                XCTAssertEqual(Passwd.lookup(uid: uid, in: text), Passwd.parse(text).first { $0.uid == uid }, "\(uid) in \(text.debugDescription)")
            }
        }
    }
}
