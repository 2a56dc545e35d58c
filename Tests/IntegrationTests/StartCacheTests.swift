import Foundation
import XCTest

/// Cached starts, as rltest: a run like an earlier one (same argv, cwd, ids, binary, and
/// the same facts read from the host) sends the earlier run's config to the keeper before
/// any planning (ROOTLESS_TIMING=1 marks "start cache hit"). Each test checks that such a
/// run is the run a fresh plan would have made, and that a changed fact is planned again.
final class StartCacheTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.withoutKeepers() }
    override func tearDown() { h?.stopKeepersAndClean() }

    /// Runs until one starts from its entry (the first records it; the keeper may still be
    /// building the sandbox for the next): bounded, no sleeps.
    func fromEntry(_ args: [String], env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Harness.Result {
        for _ in 0..<8 {
            let r = try h.run(["run"] + args, env: env.merging(["ROOTLESS_TIMING": "1"]) { $1 })
            if r.err.contains("start cache hit") { return r }
        }
        XCTFail("no run started from its entry", file: file, line: line)
        return Harness.Result(status: -1, out: "", err: "")
    }

    func message(_ e: String) -> [Substring] { e.split(separator: "\n").filter { !$0.hasPrefix("rootless timing:") } }

    /// The sandbox is the one a fresh plan makes, and the environment is this run's: a
    /// variable that differs from the recording run's is passed as it is now (hyperfine
    /// and shells change some on every run), -e still applies, PATH is still searched.
    func testARunFromItsEntryIsTheRunAFreshPlanMakes() throws {
        let root = try h.busyboxRoot()
        let flags = ["--rootfs", root.path]
        for probe in ["ids", "status", "pid", "hostname", "fds", "cwd", "netdevs"] {
            let cached = try fromEntry(flags + ["--", "/probe", probe])
            let cold = try h.run(["run", "--no-warm"] + flags + ["--", "/probe", probe])
            XCTAssertEqual(cached.status, 0, cached.err)
            XCTAssertEqual(cached.out, cold.out, "\(probe): from the entry and cold differ")
        }
        // -e NAME copies the caller's value (a run with -e NAME=VALUE leaves no entry: its
        // value would be on disk; EscapeTests.testAnEnvSecretIsNeverWrittenToDisk).
        let cmd = flags + ["--clearenv", "-e", "CHANGING", "-e", "SET", "--", "/bin/sh", "-c", "echo $CHANGING $SET"]
        XCTAssertEqual(try fromEntry(cmd, env: ["CHANGING": "one", "SET": "by-flag"]).out, "one by-flag\n")
        let next = try h.run(["run"] + cmd, env: ["CHANGING": "two", "SET": "by-flag", "ROOTLESS_TIMING": "1"])
        XCTAssertTrue(next.err.contains("start cache hit"), "another value of a passed-through variable is not another plan: \(next.err)")
        XCTAssertEqual(next.out, "two by-flag\n")
    }

    /// A fact the plan was made from changed (a bind source went away): the run plans
    /// afresh and fails as any run would, with the one-line error. (Here the keeper's
    /// check of the sources' identities refuses the stale request too; the replay of
    /// observed facts on its own is the unit tests' StartCacheTests.testObservedFacts….)
    func testAChangedFactIsPlannedAgain() throws {
        let root = try h.busyboxRoot()
        let src = h.scratch.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try "m\n".write(to: src.appendingPathComponent("marker"), atomically: true, encoding: .utf8)
        let args = ["--rootfs", root.path, "--ro-bind", src.path + ":/data", "--", "/bin/cat", "/data/marker"]
        XCTAssertEqual(try fromEntry(args).out, "m\n")
        try FileManager.default.removeItem(at: src)
        let r = try h.run(["run"] + args, env: ["ROOTLESS_TIMING": "1"])
        XCTAssertEqual(r.status, 125)
        XCTAssertFalse(r.err.contains("start cache hit"), r.err)
        XCTAssertEqual(message(r.err).count, 1, r.err)
        XCTAssertTrue(r.err.contains("bind source \(src.path) does not exist"), r.err)
    }

    /// What only the plan can say is said as a fresh run says it: a command missing inside
    /// (the step's error), a timeout (its seconds); statuses as usual.
    func testFailuresFromAnEntryAreToldAsAFreshRunTellsThem() throws {
        let root = try h.busyboxRoot()
        let flags = ["--rootfs", root.path]
        let missing = try fromEntry(flags + ["--", "/no/such/command"])
        XCTAssertEqual(missing.status, 125)
        XCTAssertEqual(message(missing.err), message(try h.run(["run", "--no-warm"] + flags + ["--", "/no/such/command"]).err))
        XCTAssertEqual(message(missing.err).count, 1, missing.err)
        let t = try fromEntry(flags + ["--timeout", "0.3", "--", "/bin/sleep", "30"])
        XCTAssertEqual(t.status, 124, t.err)
        XCTAssertTrue(t.err.contains("timed out after 0.3s"), t.err)
        XCTAssertEqual(try fromEntry(flags + ["--", "/probe", "exit", "7"]).status, 7)
        XCTAssertEqual(try fromEntry(flags + ["--", "/probe", "kill-self", "15"]).status, 128 + 15)
    }
}
