import Foundation
import XCTest

/// Run as `rlnosub`, a user with no subordinate ids: --map auto must fall back to a
/// single mapped id, say so once, and still work.
final class FallbackTests: XCTestCase {
    func testAutoFallsBackToSelfAndSaysSoOnce() throws {
        let h = try Harness.make(role: "nosub")
        defer { h.cleanup() }
        let r = try h.run(["run", "--", h.probe, "ids"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["uid"], "0")
        XCTAssertEqual(r["uid_map"], "0 \(getuid()) 1")
        XCTAssertEqual(r["setgroups"], "deny")
        XCTAssertEqual(r.err.components(separatedBy: "--map self").count - 1, 1, "said exactly once: \(r.err)")
        XCTAssertTrue(r.err.contains("usermod --add-subuids"), "names the fix: \(r.err)")
    }

    func testSubidsModeRefusesWithoutRanges() throws {
        let h = try Harness.make(role: "nosub")
        defer { h.cleanup() }
        let r = try h.run(["run", "--map", "subids", "--", h.probe, "ids"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("no subordinate ids for user"), r.err)
    }
}
