import Foundation
import XCTest

/// Run inside the cgroupvm guest (scripts/test boots one for the whole class), as the
/// unprivileged `tester`, already inside a systemd scope with Delegate=yes: the
/// "already delegated" path. Facts are read from inside the sandbox (/sys/fs/cgroup of
/// its own cgroup namespace) and from the scope afterwards (nothing may be left).
final class CgroupVMTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make(role: "cgroupvm") }
    override func tearDown() { h?.cleanup() }

    /// The delegated cgroup rootless creates sandboxes under (ours, or the parent of the
    /// rootless-outer leaf an earlier run moved us into).
    var base: String {
        let own =
            (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("0::") }.map {
                String($0.dropFirst(3))
            } ?? "/"
        let path = "/sys/fs/cgroup" + own
        return path.hasSuffix("/rootless-outer") ? String(path.dropLast("/rootless-outer".count)) : path
    }

    /// Sandbox cgroups left under the base (rootless-outer is ours, not a sandbox's).
    var leftovers: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasPrefix("rootless-") && $0 != "rootless-outer" }
    }

    func sh(_ script: String, _ flags: [String]) throws -> Harness.Result {
        try h.run(["run"] + flags + ["--", "/bin/sh", "-c", script])
    }

    func testMemoryLimitIsEnforcedAndTheOOMKillReported() throws {
        let r = try sh(
            "cat /sys/fs/cgroup/memory.max; x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
            ["--memory", "16m", "--memory-swap", "16m", "--stats"])
        XCTAssertEqual(r.out.split(separator: "\n").first, "16777216", "the limit is visible inside")
        XCTAssertFalse(r.out.contains("survived"), r.out)
        XCTAssertEqual(r.status, 137, r.err)
        XCTAssertTrue(r.err.contains("killed by the OOM killer"), "reported as OOM, not a bare 137: \(r.err)")
        XCTAssertTrue(r.err.contains("oom kills 1"), r.err)
        XCTAssertEqual(leftovers, [])
    }

    func testForkBombIsContainedByThePidsLimit() throws {
        // The bomb runs in an inner sh (dash gives up at the first failed fork); the outer
        // one reports with builtins only (cat could not start any more).
        let r = try sh(
            "sh -c 'for i in $(seq 30); do (exec sleep 60) & done' 2>/dev/null; read n < /sys/fs/cgroup/pids.current; echo current=$n; "
                + "while read k v; do echo $k=$v; done < /sys/fs/cgroup/pids.events", ["--pids-limit", "10", "--timeout", "120"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertLessThanOrEqual(Int(r["current"] ?? "99") ?? 99, 10, r.out)
        XCTAssertGreaterThan(Int(r["max"] ?? "0") ?? 0, 0, "forks were refused at the limit: \(r.out)")
        XCTAssertEqual(leftovers, [], "the 60 s sleeps died with the sandbox")
    }

    func testCpuMaxThrottlingShowsInCpuStat() throws {
        // Spin until the kernel has throttled us once (checked every 20k steps), at most 3M
        // steps: a quota that is not enforced leaves nr_throttled at 0 and fails below. A
        // fixed 300k steps sometimes fit in the guest's first periods' quota.
        let r = try sh(
            "i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); if [ $((i % 20000)) = 0 ] && ! grep -q 'nr_throttled 0' /sys/fs/cgroup/cpu.stat; then break; fi; done; cat /sys/fs/cgroup/cpu.max; grep nr_throttled /sys/fs/cgroup/cpu.stat | tr ' ' =",
            ["--cpus", "0.2"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("20000 100000"), r.out)
        XCTAssertGreaterThan(Int(r["nr_throttled"] ?? "0") ?? 0, 0, r.out)
    }

    func testCgroupNamespaceShowsOnlyTheSandboxAndIsReadOnlyUnlessDelegated() throws {
        let r = try sh("cat /proc/self/cgroup; mkdir /sys/fs/cgroup/x 2>/dev/null && echo mkdir=ok || echo mkdir=refused", ["--pids-limit", "50"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("0::/\n"), "the sandbox's cgroup is its namespace root: \(r.out)")
        XCTAssertEqual(r["mkdir"], "refused")
        let d = try sh("mkdir /sys/fs/cgroup/nested && echo mkdir=ok; cat /sys/fs/cgroup/pids.max", ["--pids-limit", "50", "--cgroup-delegate"])
        XCTAssertEqual(d["mkdir"], "ok", d.err)
        XCTAssertTrue(d.out.contains("50"), d.out)
        XCTAssertEqual(leftovers, [], "nested cgroups made inside are removed too")
    }

    func testTimeoutLeavesNoProcessAndNoCgroup() throws {
        let marker = String(5000 + Int(getpid() % 997))
        let r = try sh("sleep \(marker) & exec sleep \(marker)", ["--memory", "64m", "--timeout", "1"])
        XCTAssertEqual(r.status, 124, r.err)
        XCTAssertEqual(h.processes(withArgv: ["sleep", marker]), [])
        XCTAssertEqual(leftovers, [])
    }

    func testCtrlCLeavesNoProcessAndNoCgroup() throws {
        let marker = String(6000 + Int(getpid() % 997))
        let run = try h.start(["run", "--memory", "64m", "--", "/bin/sh", "-c", "sleep \(marker) & echo ready; exec sleep \(marker)"])
        XCTAssertNotNil(run.read(until: "ready\n", timeout: 60))
        kill(run.process.processIdentifier, SIGINT)
        run.process.waitUntilExit()
        XCTAssertEqual(run.process.terminationStatus, 130, "SIGINT reached the command (128+2)")
        XCTAssertEqual(h.processes(withArgv: ["sleep", marker]), [])
        XCTAssertEqual(leftovers, [])
    }

    func testGcRemovesTheCgroupOfACrashedRun() throws {
        let run = try h.start(["run", "--memory", "64m", "--", "/bin/sh", "-c", "echo ready; exec sleep 600"])
        XCTAssertNotNil(run.read(until: "ready\n", timeout: 60))
        kill(run.process.processIdentifier, SIGKILL)  // no cleanup possible: the sandbox dies (pdeathsig), its cgroup stays
        run.process.waitUntilExit()
        XCTAssertEqual(run.read(until: nil, timeout: 30), "", "the sandbox died with rootless")
        XCTAssertEqual(leftovers, ["rootless-\(run.process.processIdentifier)"])
        let gc = try h.run(["gc"])
        XCTAssertEqual(gc.status, 0, gc.err)
        XCTAssertTrue(gc.out.contains("1 cgroup of crashed runs removed"), gc.out)
        XCTAssertEqual(leftovers, [])
    }

    func testStatsJSONHasPeakMemoryPidsAndCPU() throws {
        let file = h.scratch.appendingPathComponent("stats.json").path
        let r = try sh("x=$(head -c 4000000 /dev/zero | tr '\\0' a); true", ["--stats-json", file])
        XCTAssertEqual(r.status, 0, r.err)
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        XCTAssertEqual(j["source"] as? String, "cgroup")
        XCTAssertGreaterThan(j["memory_peak_bytes"] as? Int ?? 0, 4_000_000, "\(j)")
        XCTAssertGreaterThanOrEqual(j["pids_peak"] as? Int ?? 0, 2, "\(j)")
        XCTAssertGreaterThan(j["cpu_user_usec"] as? Int ?? 0, 0, "\(j)")
        XCTAssertEqual(j["oom_kills"] as? Int, 0)
    }
}
