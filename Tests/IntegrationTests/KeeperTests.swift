import Foundation
import XCTest

/// The keeper of the mapped user namespace (`--map auto`), as rltest: runs share it, it
/// holds nothing of its first caller, a stale record is replaced, `keeper stop` ends it.
final class KeeperTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() {
        _ = try? h?.run(["keeper", "stop"])
        h?.cleanup()
    }

    func userns(_ flags: [String] = []) throws -> String {
        let r = try h.run(["run"] + flags + ["--", "/bin/readlink", "/proc/self/ns/user"])
        XCTAssertEqual(r.status, 0, r.err)
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func keeperPID() throws -> Int32? {
        let s = try h.run(["keeper", "status"])
        XCTAssertEqual(s.status, 0, s.err)
        guard let line = s.out.split(separator: "\n").first(where: { $0.hasPrefix("keeper ") }) else { return nil }
        let f = line.split(separator: " ")
        return f.count > 3 ? Int32(f[3]) : nil
    }

    func testAutoRunsShareTheKeepersNamespaceAndNoKeeperGetsItsOwn() throws {
        XCTAssertEqual(try h.run(["keeper", "stop"]).status, 0)
        XCTAssertNil(try keeperPID(), "no keeper after stop")
        // This run starts the keeper. Its stdout is a pipe the harness reads to EOF: a
        // keeper that kept the pipe open would hang this very line.
        let first = try userns()
        guard let pid = try keeperPID() else { return XCTFail("a --map auto run leaves a keeper") }
        XCTAssertEqual(try userns(), first, "the second run joins the keeper's namespace")
        XCTAssertNotEqual(try userns(["--no-keeper"]), first, "--no-keeper maps a private namespace")
        XCTAssertNotEqual(try userns(["--map", "self"]), first, "--map self never uses the keeper")
        // The keeper holds only /dev/null on 0-2, sits at /, in its own session.
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").sorted()
        XCTAssertEqual(fds, ["0", "1", "2"])
        for fd in fds { XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), "/dev/null") }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), "/")
        let comm = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        XCTAssertEqual(comm, "rootless-keeper\n")
        let uidMap = try String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8)
        XCTAssertEqual(uidMap.split(separator: "\n").count, 2, "the keeper holds the whole subuid range: \(uidMap)")

        let stop = try h.run(["keeper", "stop"])
        XCTAssertEqual(stop.out, "stopped 1 keeper\n", stop.err)
        // Gone, or a zombie until whoever adopted it reaps it: it was not our child.
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
        XCTAssertTrue(state == nil || state == "Z", "the keeper is gone after stop (state \(state.map(String.init) ?? "none"))")
        XCTAssertNotEqual(try userns(), first, "a new keeper, a new namespace")
    }

    func testAStaleRecordIsReplacedNotTrusted() throws {
        _ = try userns()
        guard let pid = try keeperPID() else { return XCTFail("no keeper") }
        let dir = "/tmp/rootless-\(getuid())"
        guard let key = try FileManager.default.contentsOfDirectory(atPath: dir).first(where: { $0.count == 16 }) else { return XCTFail("no record in \(dir)") }
        // Point the record at a live process that is not the keeper (this test itself, with a
        // wrong start time): the run must not join it.
        try "\(getpid()) 1\n".write(toFile: dir + "/" + key, atomically: true, encoding: .utf8)
        let r = try h.run(["run", "--", "/bin/cat", "/proc/self/uid_map"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 2, r.out)
        XCTAssertNotEqual(try keeperPID(), getpid())
        XCTAssertNotEqual(try keeperPID(), nil)
        _ = kill(pid, SIGKILL) // the orphaned first keeper (its record was overwritten)
    }
}
