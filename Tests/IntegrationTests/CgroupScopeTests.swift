import Foundation
import XCTest

/// Run inside the cgroupvm guest as `tester` with its session (XDG_RUNTIME_DIR, the
/// session bus) but in a cgroup that is not delegated (the runner's system service):
/// limits need path (b), a transient scope from the systemd user manager over D-Bus.
final class CgroupScopeTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make(role: "cgroupvm-user") }
    override func tearDown() { h?.cleanup() }

    static let userCgroup = "/sys/fs/cgroup/user.slice/user-\(getuid()).slice/user@\(getuid()).service"

    /// rootless-*.scope units anywhere under the user manager's cgroup.
    var scopes: [String] {
        let e = FileManager.default.enumerator(atPath: Self.userCgroup)
        var out: [String] = []
        while let p = e?.nextObject() as? String {
            if p.split(separator: "/").last?.hasPrefix("rootless-") == true && p.hasSuffix(".scope") { out.append(p) }
        }
        return out
    }

    /// systemd removes an emptied scope on its own schedule: wait for that condition,
    /// bounded (not a fixed sleep).
    func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if cond() { return true }
            poll(nil, 0, 20)
        }
        return cond()
    }

    func testLimitsGetADelegatedScopeFromTheUserManager() throws {
        let own = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        XCTAssertFalse(own.contains("user@"), "the test itself sits outside the user manager: \(own)")
        let run = try h.start([
            "run", "--memory", "32m", "--pids-limit", "40", "--", "/bin/sh", "-c",
            "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; echo ready; exec sleep 600",
        ])
        let out = run.read(until: "ready\n", timeout: 60) ?? ""
        XCTAssertEqual(out, "0::/\n33554432\n40\nready\n", "the limits, seen from inside its own cgroup namespace")
        // rootless itself now sits in rootless-outer of a scope the user manager made.
        let cg = (try? String(contentsOfFile: "/proc/\(run.process.processIdentifier)/cgroup", encoding: .utf8)) ?? ""
        let path = "/sys/fs/cgroup" + cg.dropFirst(3).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(path.hasPrefix(Self.userCgroup + "/") && path.hasSuffix(".scope/rootless-outer"), path)
        let scope = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let attrs = try FileManager.default.attributesOfItem(atPath: scope)
        XCTAssertEqual((attrs[.ownerAccountID] as? NSNumber)?.uint32Value, getuid(), "Delegate=yes: the scope is ours")
        XCTAssertEqual(try String(contentsOfFile: scope + "/rootless-\(run.process.processIdentifier)/memory.max", encoding: .utf8), "33554432\n")
        kill(run.process.processIdentifier, SIGTERM)
        run.process.waitUntilExit()
        XCTAssertTrue(waitUntil(30) { !FileManager.default.fileExists(atPath: scope) }, "systemd collects the emptied scope: \(scopes)")
    }

    func testStatsAndTimeoutThroughAScopeLeaveNothing() throws {
        let marker = String(7000 + Int(getpid() % 997))
        let r = try h.run(["run", "--stats", "--timeout", "1", "--", "/bin/sh", "-c", "sleep \(marker) & exec sleep \(marker)"])
        XCTAssertEqual(r.status, 124, r.err)
        XCTAssertTrue(r.err.contains("stats (cgroup)"), "stats from the scope's cgroup, not rusage: \(r.err)")
        XCTAssertEqual(h.processes(withArgv: ["sleep", marker]), [])
        XCTAssertTrue(waitUntil(30) { scopes.isEmpty }, "\(scopes)")
    }

    func testOOMInAScopeIsReported() throws {
        let r = try h.run([
            "run", "--memory", "16m", "--memory-swap", "16m", "--", "/bin/sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
        ])
        XCTAssertEqual(r.status, 137, r.err)
        XCTAssertTrue(r.err.contains("killed by the OOM killer (memory.max 16777216 bytes reached)"), r.err)
    }

    func testUnreachableBusIsAClearError() throws {
        let r = try h.run(["run", "--memory", "16m", "--", "true"], env: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("cannot reach the D-Bus session bus at /nonexistent/bus: No such file or directory — start a systemd user session"), r.err)
    }
}
