import XCTest
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands

/// Text's loops replace split/joined on the start path: they must agree with them.
final class TextTests: XCTestCase {
    func testWordsAgreesWithSplitOnSpacesAndNewlines() {
        for s in ["", " ", "\n", "cpu memory pids\n", "  cpu  \n\nio ", "hugetlb", "a\nb c\n", "ünï cödé\n"] {
            let want = s.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            XCTAssertEqual(Text.words(s), want, "\(s.debugDescription)")
        }
    }

    func testLineFindsTheFirstLineWithThePrefix() {
        let v1 = "13:pids:/user.slice\n1:name=systemd:/user.slice/x\n0::/user.slice/session-1.scope\n"
        XCTAssertEqual(Text.line(in: v1, after: "0::"), "/user.slice/session-1.scope")
        XCTAssertEqual(Text.line(in: "0::/\n0::/second\n", after: "0::"), "/")
        XCTAssertEqual(Text.line(in: "0::/no-newline", after: "0::"), "/no-newline")
        XCTAssertEqual(Text.line(in: "0::\n", after: "0::"), "")
        XCTAssertNil(Text.line(in: "1:cpu:/\n 0::/indented\n", after: "0::"))
        XCTAssertNil(Text.line(in: "", after: "0::"))
        XCTAssertNil(Text.line(in: "\n\n", after: "0::"))
    }

    func testJoinAgreesWithJoined() {
        for parts in [[], ["a"], ["a", "b"], ["", "x", ""], ["cpu", "io", "memory"]] as [[String]] {
            for sep in ["", " ", ", ", "/"] { XCTAssertEqual(Text.join(parts, sep), parts.joined(separator: sep)) }
        }
    }
}
