import Glibc
import XCTest

@testable import RootlessCore

/// The peer tools' process (NetHelper), with a stand-in tool: a shell script that speaks
/// the ready and exit fds as slirp4netns does.
final class NetHelperTests: XCTestCase {
    /// Each test's own directory for its stand-in tool (mkdtemp: never one left by another).
    var dir = URL(fileURLWithPath: "/")
    override func setUpWithError() throws {
        var t = Array("/tmp/rootless-nethelper.XXXXXX".utf8CString)
        guard let p = mkdtemp(&t) else { throw XCTSkip("SKIP: mkdtemp failed: \(String(cString: strerror(errno)))") }
        dir = URL(fileURLWithPath: String(cString: p))
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A tool that writes on stderr after it is ready (a warning mid-run) goes on: the run
    /// reads its stderr to its end. (Before, nobody read it once the tool was ready: the
    /// write failed with EPIPE, or SIGPIPE killed the writer, and the sandbox's network
    /// with it; the control is that code, where the script's 256 KiB never arrive.)
    func testWhatAToolWritesAfterItIsReadyIsRead() throws {
        let tool = dir.appendingPathComponent("slirp4netns")
        let marker = dir.appendingPathComponent("written")
        // Ready on fd 3; then 256 KiB on stderr (more than a pipe holds), a marker once
        // they are taken, and on until fd 4 closes (stop).
        try """
        #!/bin/sh
        printf 1 >&3
        exec 3>&-
        head -c 262144 /dev/zero >&2 && : > "\(marker.path)"
        cat <&4 >/dev/null
        """.write(to: tool, atomically: true, encoding: .utf8)
        chmod(tool.path, 0o755)
        let h = NetHelper(NetHelperPlan(tool: .slirp4netns, path: tool.path))
        try h.start(child: getpid())
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: marker.path) {
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker.path), "all it wrote was read")
        XCTAssertEqual(h.waitExit(timeoutMS: 0), -1, "and it runs on")
        h.stop()
        XCTAssertEqual(h.pid, -1, "stopped and reaped")
    }

    /// A tool that fails before it is ready is told in one line with what it said; one
    /// that hangs without a word is stopped after the 10 s, and the run goes on to say so
    /// (before, it waited on the tool's silent stderr for good).
    func testAToolThatFailsOrHangsBeforeItIsReadyIsToldInOneLine() throws {
        func failure(_ script: String) -> String {
            let tool = dir.appendingPathComponent("slirp4netns")
            try? ("#!/bin/sh\n" + script + "\n").write(to: tool, atomically: true, encoding: .utf8)
            chmod(tool.path, 0o755)
            let h = NetHelper(NetHelperPlan(tool: .slirp4netns, path: tool.path))
            defer { h.stop() }
            do {
                try h.start(child: getpid())
                return "(ready)"
            } catch {
                return "\(error)"
            }
        }
        let said = failure("echo 'cannot open the namespace: permission denied' >&2; exit 1")
        XCTAssertTrue(said.contains("slirp4netns failed to set up the sandbox's network: cannot open the namespace: permission denied"), said)
        XCTAssertEqual(said.split(separator: "\n").count, 1, said)
        let started = Date()
        let hung = failure("exec sleep 1000")
        XCTAssertTrue(hung.contains("slirp4netns failed to set up the sandbox's network: it did not become ready in 10 s"), hung)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }
}
