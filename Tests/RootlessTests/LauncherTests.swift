import CRootless
import IDMap
@testable import Rootless
import XCTest

/// The launcher's order of effects, recorded by a fake kernel.
final class LauncherTests: XCTestCase {
    final class Recorder: Kernel {
        var calls: [String] = []
        var result = rl_result(outcome: Int32(RL_EXITED.rawValue), code: 3, report: rl_report())
        var failHelpers = false
        func loadFilters(_ plan: Plan) throws -> LoadedFilters {
            calls.append("filters " + plan.seccomp.map(\.description).joined(separator: "+"))
            return LoadedFilters(programs: plan.seccomp.map { _ in [6, 0, 0, 0, 0, 0, 0xff, 0x7f] }) // RET ALLOW
        }
        func landlockABI() -> Int32 { calls.append("landlock-abi"); return 7 }
        func spawn(_ cfg: UnsafePointer<rl_config>) throws -> rl_child {
            calls.append("spawn flags=\(String(cfg.pointee.clone_flags, radix: 16)) mounts=\(cfg.pointee.n_mounts) argv0=\(String(cString: cfg.pointee.argv[0]!))")
            return rl_child(pid: 42, pidfd: -1, sync_fd: -1, report_fd: -1, pty_master: -1, notify_sock: -1)
        }
        func writeFile(_ path: String, _ contents: String) throws { calls.append("write \(path) \(contents)") }
        func runHelpers(_ argvs: [[String]]) throws {
            calls.append("helpers " + argvs.map { $0.joined(separator: " ") }.joined(separator: " | "))
            if failHelpers { throw RootlessError("newuidmap failed") }
        }
        func release(_ child: inout rl_child) throws { calls.append("release") }
        func abort(_ child: inout rl_child) { calls.append("abort") }
        func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result { calls.append("supervise"); return result }
    }

    func plan(_ args: [String]) throws -> Plan {
        let sub = SubIDTable(parsing: "alice:100000:65536\n")
        let f = HostFacts(uid: 1000, gid: 1000, userName: "alice", cwd: "/", env: [], subuid: sub, subgid: sub,
                          uidHelper: .usable(path: "/usr/bin/newuidmap"), gidHelper: .usable(path: "/usr/bin/newgidmap"), lookup: { _ in true })
        return try Planner.plan(try RunArguments.parse(args), f)
    }

    func testDirectMapsAreWrittenSetgroupsFirstThenReleased() throws {
        let k = Recorder()
        var warnings: [String] = []
        let status = Launcher(kernel: k, warn: { warnings.append($0) }).run(try plan(["--map", "self", "true"]))
        XCTAssertEqual(status, 3)
        // The filters are compiled before clone (fake root is on: one id, root inside).
        XCTAssertEqual(k.calls[0], "filters default+fake-root")
        XCTAssertEqual(Array(k.calls.dropFirst(2)), ["write /proc/42/setgroups deny", "write /proc/42/uid_map 0 1000 1\n",
                                                    "write /proc/42/gid_map 0 1000 1\n", "release", "supervise"])
        XCTAssertTrue(k.calls[1].hasPrefix("spawn flags=7e020000"), k.calls[1])
    }

    func testHelpersRunForRangesAndFailureAbortsTheChild() throws {
        let k = Recorder()
        k.failHelpers = true
        var warnings: [String] = []
        let status = Launcher(kernel: k, warn: { warnings.append($0) }).run(try plan(["true"]))
        XCTAssertEqual(status, 125)
        XCTAssertEqual(k.calls[2], "helpers /usr/bin/newuidmap 42 0 1000 1 1 100000 65536 | /usr/bin/newgidmap 42 0 1000 1 1 100000 65536")
        XCTAssertEqual(k.calls.last, "abort", "a child whose maps failed is killed, never released")
        XCTAssertEqual(warnings, ["newuidmap failed"])
    }

    func testOutcomesMapToExitStatuses() throws {
        let p = try plan(["--map", "self", "--timeout", "1", "true"])
        let k = Recorder()
        let l = Launcher(kernel: k, warn: { _ in })
        k.result = rl_result(outcome: Int32(RL_SIGNALED.rawValue), code: 15, report: rl_report())
        XCTAssertEqual(l.run(p), 143)
        k.result = rl_result(outcome: Int32(RL_TIMED_OUT.rawValue), code: 0, report: rl_report())
        XCTAssertEqual(l.run(p), 124)
        var msg: [String] = []
        k.result = rl_result(outcome: Int32(RL_SETUP_FAILED.rawValue), code: 0,
                             report: rl_report(step: Int32(RL_STEP_EXEC.rawValue), err: ENOENT, index: -1, pad: 0))
        XCTAssertEqual(Launcher(kernel: k, warn: { msg.append($0) }).run(p), 125)
        XCTAssertEqual(msg.last, "command not found inside the sandbox: true — searched PATH=\(Planner.defaultPath); give a full path or bind the directory that holds it")
    }
}
