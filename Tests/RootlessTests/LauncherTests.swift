import CRootless
@testable import IDMap
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import SlirpNet
import XCTest

/// The launcher's order of effects, recorded by a fake kernel.
final class LauncherTests: XCTestCase {
    final class Recorder: Kernel, KeeperOps {
        var calls: [String] = []
        var result = rl_result(outcome: Int32(RL_EXITED.rawValue), code: 3, report: rl_report())
        var failHelpers = false
        var keeperFD: Int32?
        var keeperNetFD: Int32?
        /// What a keeper being started would have its maps written with (a fake pid 7).
        var startKeeper = false
        var failCgroup = false
        var said: Set<String> = []
        func makeCgroup(_ c: CgroupPlan) throws -> CgroupHandle {
            calls.append("cgroup \(c.parent) " + c.limits.map(\.description).joined(separator: ","))
            if failCgroup { throw RootlessError("cannot set memory.max") }
            return CgroupHandle(path: c.parent + "/rootless-1", leafFD: 77)
        }
        func finishCgroup(_ h: CgroupHandle, wallSeconds: Double, usage: Bool) -> SandboxStats {
            calls.append("finish \(h.path)")
            var s = SandboxStats(wallSeconds: wallSeconds, source: "cgroup")
            s.oomKills = 1
            return s
        }
        func childrenUsage(wallSeconds: Double) -> SandboxStats { SandboxStats(wallSeconds: wallSeconds, source: "rusage") }
        func firstTime(_ key: String) -> Bool { said.insert(key).inserted }
        func writeFile(atomically path: String, _ contents: String) -> Bool { calls.append("json \(path)"); return true }
        /// A warm sandbox the keeper hands over (to a run that sent a warm request).
        var warmSandbox: WarmSandbox?
        var warmGoResult: Int32 = 0
        /// A TAP made ahead the keeper hands over with its namespace (to a run that gave a key).
        var keeperTap: Int32?
        var tapKeys: [[UInt8]] = []
        func keeper(_ idmap: IDMapPlan, net: Bool, warm: [UInt8]?, tap: [UInt8]?, writeMaps: (Int32) throws -> Void) -> KeeperHandle? {
            calls.append(
                "keeper " + IDMapPlan.render(idmap.uidLines).split(separator: "\n").joined(separator: ",") + (warm != nil ? " warm" : "")
                    + (tap != nil ? " tap" : ""))
            if let t = tap { tapKeys.append(t) }
            if startKeeper { try? writeMaps(7) }
            if warm != nil, let w = warmSandbox {
                warmSandbox = nil  // handed out once
                return KeeperHandle(userns: -1, netns: nil, warm: w)
            }
            defer { keeperTap = nil }
            return keeperFD.map { KeeperHandle(userns: $0, netns: net ? keeperNetFD : nil, tap: tap != nil ? keeperTap : nil) }
        }
        func warmRequest(_ cfg: UnsafePointer<rl_config>) -> [UInt8]? {
            calls.append("warm request argv=\(cfg.pointee.argv != nil) zygote=\(cfg.pointee.zygote)")
            return [1]
        }
        func rememberStart(_ cfg: UnsafePointer<rl_config>, _ plan: Plan, socket: String) {
            calls.append("remember start argv=\(cfg.pointee.argv != nil) join=\(cfg.pointee.join_userns)")
        }
        func warmGo(_ w: WarmSandbox, _ cfg: UnsafePointer<rl_config>) -> Int32 {
            calls.append("warm go pid=\(w.pid) argv0=\(String(cString: cfg.pointee.argv[0]!))")
            return warmGoResult
        }
        func loadFilters(_ plan: Plan) throws -> LoadedFilters {
            calls.append("filters " + plan.seccomp.map(\.description).joined(separator: "+"))
            return LoadedFilters(programs: plan.seccomp.map { _ in [6, 0, 0, 0, 0, 0, 0xff, 0x7f] })  // RET ALLOW
        }
        func landlockABI() -> Int32 { calls.append("landlock-abi"); return 7 }
        func spawn(_ cfg: UnsafePointer<rl_config>) throws -> rl_child {
            calls.append(
                "spawn flags=\(String(cfg.pointee.clone_flags, radix: 16))\(cfg.pointee.tap != 0 ? " tap=\(cfg.pointee.tap_made != 0 ? "made" : "\(cfg.pointee.net_sock)")" : "")\(cfg.pointee.join_userns != 0 ? " join=\(cfg.pointee.userns_fd)" : "")\(cfg.pointee.netns_fd >= 0 ? " netns=\(cfg.pointee.netns_fd)" : "")\(cfg.pointee.into_cgroup != 0 ? " cgroup=\(cfg.pointee.cgroup_fd)" : "") mounts=\(cfg.pointee.n_mounts) argv0=\(String(cString: cfg.pointee.argv[0]!))"
            )
            return rl_child(pid: 42, pidfd: -1, sync_fd: -1, report_fd: -1, pty_master: -1, notify_sock: -1, foreign: 0)
        }
        func writeFile(_ path: String, _ contents: String) throws { calls.append("write \(path) \(contents)") }
        func runHelpers(_ argvs: [[String]]) throws {
            calls.append("helpers " + argvs.map { $0.joined(separator: " ") }.joined(separator: " | "))
            if failHelpers { throw RootlessError("newuidmap failed") }
        }
        func release(_ child: inout rl_child) throws { calls.append("release") }
        func deferTeardown(_ keeper: KeeperHandle, _ child: rl_child) { calls.append("defer to keeper") }
        func abort(_ child: inout rl_child) { calls.append("abort") }
        func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result {
            calls.append("supervise" + (child.foreign != 0 ? " foreign pid=\(child.pid)" : ""))
            return result
        }
    }

    /// Cold (--no-warm) unless `warm`: the tests of a cold start's order stay as they were.
    func plan(_ args: [String], cgroup: CgroupFacts? = nil, warm: Bool = false) throws -> Plan {
        let sub = SubIDTable(parsing: "alice:100000:65536\n")
        // cwd /srv: not shared by default is "/" (with a note); a plain directory is bound.
        var f = HostFacts(
            uid: 1000, gid: 1000, userName: "alice", cwd: "/srv/proj", env: [], subuid: sub, subgid: sub,
            uidHelper: .usable(path: "/usr/bin/newuidmap"), gidHelper: .usable(path: "/usr/bin/newgidmap"), lookup: { _ in true })
        f.cgroup = cgroup
        return try Planner.plan(try RunArguments.parse((warm ? [] : ["--no-warm"]) + args), f)
    }

    /// A warm hit: the request is made from a config with no process part touched yet,
    /// the keeper hands a sandbox over, the command goes to it and it is supervised as
    /// not our child; nothing is spawned, no maps written, nothing deferred.
    func testAWarmSandboxGetsTheCommandAndIsSupervisedAsForeign() throws {
        let k = Recorder()
        k.keeperFD = 9
        k.warmSandbox = WarmSandbox(pid: 77, pidfd: -1, socket: -1)
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["--map", "self", "true"], warm: true)), 3)
        XCTAssertEqual(
            Array(k.calls.dropFirst()),
            [
                "warm request argv=true zygote=0", "keeper 0 1000 1 warm", "remember start argv=true join=0",
                "warm go pid=77 argv0=true", "supervise foreign pid=77",
            ])
    }

    /// A miss: the keeper answers with its namespaces and the run starts cold as usual.
    /// The start is remembered (for the next run like it) with the config as the request
    /// had it, before the keeper's namespaces are joined into it.
    func testAWarmMissStartsCold() throws {
        let k = Recorder()
        k.keeperFD = 9
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["true"], warm: true)), 3)
        XCTAssertEqual(k.calls[2], "keeper 0 1000 1,1 100000 65536 warm")
        XCTAssertEqual(k.calls[3], "remember start argv=true join=0")
        XCTAssertTrue(k.calls[4].hasPrefix("spawn flags=6e020000 join=9"), k.calls[4])
        XCTAssertEqual(Array(k.calls.suffix(3)), ["defer to keeper", "release", "supervise"])
    }

    /// An image root's scratch dir is removed by the run after pid 1 exits: its mount
    /// namespace is not handed to the keeper (which would keep the upper mounted there).
    func testAnImageRootsNamespaceIsNotDeferredToTheKeeper() throws {
        let k = Recorder()
        k.keeperFD = 9
        var p = try plan(["true"])
        XCTAssertFalse(p.rootRemovedAfter, "a plain run's namespace goes to the keeper")
        p.root = .overlay(layers: ["/store/layers/a"], scratch: "/store/containers/1-2")
        p.rootRemovedAfter = true
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(p), 3)
        XCTAssertTrue(k.calls.contains("supervise"), "\(k.calls)")
        XCTAssertFalse(k.calls.contains("defer to keeper"), "\(k.calls)")
    }

    /// A command the warm sandbox could not be sent (e.g. too long for one message): that
    /// sandbox is dropped and the run starts cold, asking the keeper again without a request.
    func testAFailedWarmHandOffFallsBackToAColdStart() throws {
        let k = Recorder()
        k.keeperFD = 9
        k.warmSandbox = WarmSandbox(pid: 77, pidfd: -1, socket: -1)
        k.warmGoResult = -E2BIG
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["true"], warm: true)), 3)
        XCTAssertEqual(k.calls[4], "warm go pid=77 argv0=true")
        XCTAssertEqual(k.calls[5], "keeper 0 1000 1,1 100000 65536", "asked again, cold")
        XCTAssertTrue(k.calls[6].hasPrefix("spawn flags=6e020000 join=9"), k.calls[6])
        XCTAssertEqual(k.calls.last, "supervise")
    }

    /// --net slirp, warm: the sandbox comes with the socket its TAP waits in, and the engine
    /// takes it (and closes it when the sandbox ends) only once the command is sent.
    func testAWarmSlirpSandboxsTAPGoesToTheEngine() throws {
        let k = Recorder()
        k.keeperFD = 9
        var sp: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &sp), 0)
        defer { close(sp[1]) }
        k.warmSandbox = WarmSandbox(pid: 77, pidfd: -1, socket: -1, tap: WarmNet(tapSocket: sp[0], userns: nil))
        // --net-log: the run waits for the engine to end (for its log), so its closes are done.
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["--net", "slirp", "--net-log", "true"], warm: true)), 3)
        XCTAssertEqual(Array(k.calls.suffix(2)), ["warm go pid=77 argv0=true", "supervise foreign pid=77"])
        XCTAssertEqual(fcntl(sp[0], F_GETFD), -1, "the engine closed the TAP's socket when the sandbox ended")
    }

    /// A warm sandbox whose TAP does not match the plan (one without a TAP for --net slirp,
    /// one with for --net none) gets no command: it is killed, its socket closed, and the
    /// run starts cold.
    func testAWarmSandboxWhoseTAPDoesNotMatchIsNotUsed() throws {
        for (flags, tap) in [(["--net", "slirp"], false), ([], true)] {
            let k = Recorder()
            k.keeperFD = 9
            var sp: [Int32] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &sp), 0)
            defer { close(sp[1]) }
            if !tap { close(sp[0]) }
            k.warmSandbox = WarmSandbox(pid: 77, pidfd: -1, socket: -1, tap: tap ? WarmNet(tapSocket: sp[0], userns: nil) : nil)
            XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(flags + ["true"], warm: true)), 3)
            XCTAssertFalse(k.calls.contains { $0.hasPrefix("warm go") }, "\(flags): \(k.calls)")
            XCTAssertTrue(k.calls.contains { $0.hasPrefix("spawn") }, "\(flags): started cold \(k.calls)")
            if tap { XCTAssertEqual(fcntl(sp[0], F_GETFD), -1, "the unasked-for TAP socket was closed") }
        }
    }

    /// --net slirp, cold: the run gives the keeper its TAP's key (its setup requests, back
    /// to back). With a TAP the keeper's pool made with that key, the child makes none and
    /// the engine takes the socket it waits in; without, the child makes it as ever.
    func testATAPMadeAheadByTheKeeperGoesToTheEngineAndTheChildMakesNone() throws {
        let p = try plan(["--net", "slirp", "--net-log", "true"])
        let want = Netlink.setup(p.slirp!.config).flatMap { $0 }
        for pooled in [true, false] {
            let k = Recorder()
            k.keeperFD = 9
            k.keeperNetFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
            var sp: [Int32] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &sp), 0)
            defer { close(sp[1]) }
            if pooled { k.keeperTap = sp[0] } else { close(sp[0]) }
            XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(p), 3)
            XCTAssertEqual(k.tapKeys, [want], "the key is the child's setup requests")
            let spawn = k.calls.first { $0.hasPrefix("spawn") } ?? ""
            XCTAssertEqual(spawn.contains(" tap=made "), pooled, spawn)
            XCTAssertTrue(spawn.contains("netns=\(k.keeperNetFD!)"), spawn)
            if pooled { XCTAssertEqual(fcntl(sp[0], F_GETFD), -1, "the engine closed the TAP's socket when the sandbox ended") }
        }
        // No key without a TAP.
        let none = Recorder()
        none.keeperFD = 9
        _ = Launcher(kernel: none, fast: KeeperStarts(ops: none), warn: { _ in }).run(try plan(["true"]))
        XCTAssertEqual(none.tapKeys, [])
    }

    static let delegated = CgroupFacts(
        layout: CgroupLayout(kind: .unified, v2Mount: "/sys/fs/cgroup", v1Controllers: [], ownPath: "/user.slice/run-1.scope"),
        base: "/sys/fs/cgroup/user.slice/run-1.scope", delegated: true, available: ["cpu", "io", "memory", "pids"])

    func testCgroupIsMadeBeforeCloneEnteredAtCloneAndFinishedAfter() throws {
        let k = Recorder()
        var warnings: [String] = []
        let p = try plan(["--map", "self", "--no-keeper", "--memory", "64m", "--stats", "--stats-json", "/tmp/s.json", "true"], cgroup: Self.delegated)
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { warnings.append($0) }).run(p), 3)
        XCTAssertEqual(k.calls[1], "cgroup /sys/fs/cgroup/user.slice/run-1.scope memory.max=67108864")
        // CLONE_NEWCGROUP (0x02000000) is left to the child, which unshares it inside the leaf.
        XCTAssertTrue(k.calls[2].hasPrefix("spawn flags=7c020000 cgroup=77"), k.calls[2])
        XCTAssertEqual(Array(k.calls.suffix(2)), ["finish /sys/fs/cgroup/user.slice/run-1.scope/rootless-1", "json /tmp/s.json"])
        XCTAssertTrue(warnings.contains { $0.hasPrefix("the OOM killer killed 1 process") }, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("stats (cgroup): wall ") }, "\(warnings)")
    }

    func testACgroupThatCannotBeMadeStopsBeforeClone() throws {
        let k = Recorder()
        k.failCgroup = true
        var warnings: [String] = []
        XCTAssertEqual(
            Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { warnings.append($0) }).run(
                try plan(["--map", "self", "--memory", "64m", "true"], cgroup: Self.delegated)), 125)
        XCTAssertFalse(k.calls.contains { $0.hasPrefix("spawn") })
        XCTAssertEqual(warnings, ["cannot set memory.max"])
    }

    func testNoCgroupNoteIsSaidOnce() throws {
        let hybrid = CgroupFacts(
            layout: CgroupLayout(kind: .hybrid, v2Mount: "/sys/fs/cgroup/unified", v1Controllers: ["memory"], ownPath: "/"),
            base: "/sys/fs/cgroup/unified", delegated: false, available: [])
        let k = Recorder()
        var warnings: [String] = []
        let l = Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { warnings.append($0) })
        _ = l.run(try plan(["--map", "self", "true"], cgroup: hybrid))
        _ = l.run(try plan(["--map", "self", "true"], cgroup: hybrid))
        XCTAssertEqual(warnings.filter { $0.hasPrefix("no cgroup") }.count, 1, "\(warnings)")
    }

    func testDirectMapsAreWrittenSetgroupsFirstThenReleased() throws {
        let k = Recorder()
        var warnings: [String] = []
        let status = Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { warnings.append($0) }).run(try plan(["--map", "self", "--no-keeper", "true"]))
        XCTAssertEqual(status, 3)
        // The filters are compiled before the child is made (fake root is on: one id, root inside).
        XCTAssertEqual(k.calls[0], "filters default+fake-root+terminal")
        XCTAssertEqual(
            Array(k.calls.dropFirst(2)),
            [
                "write /proc/42/setgroups deny", "write /proc/42/uid_map 0 1000 1\n",
                "write /proc/42/gid_map 0 1000 1\n", "release", "supervise",
            ])
        XCTAssertTrue(k.calls[1].hasPrefix("spawn flags=7e020000"), k.calls[1])
    }

    func testHelpersRunForRangesAndFailureAbortsTheChild() throws {
        let k = Recorder()
        k.failHelpers = true
        var warnings: [String] = []
        let status = Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { warnings.append($0) }).run(try plan(["--no-keeper", "true"]))
        XCTAssertEqual(status, 125)
        XCTAssertEqual(k.calls[2], "helpers /usr/bin/newuidmap 42 0 1000 1 1 100000 65536 | /usr/bin/newgidmap 42 0 1000 1 1 100000 65536")
        XCTAssertEqual(k.calls.last, "abort", "a child whose maps failed is killed, never released")
        XCTAssertEqual(warnings, ["newuidmap failed"])
    }

    func testKeeperNamespaceIsJoinedAndNoMapsAreWritten() throws {
        let k = Recorder()
        k.keeperFD = 9
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["true"])), 3)
        XCTAssertEqual(k.calls[1], "keeper 0 1000 1,1 100000 65536")
        // CLONE_NEWUSER (0x10000000) is left out: the clone happens inside the joined namespace.
        XCTAssertTrue(k.calls[2].hasPrefix("spawn flags=6e020000 join=9"), k.calls[2])
        // The keeper gets the mount namespace after the release, before supervision.
        XCTAssertEqual(Array(k.calls.dropFirst(3)), ["defer to keeper", "release", "supervise"])
    }

    func testWithoutAKeeperTheHelpersMapAFreshNamespace() throws {
        let k = Recorder()
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["true"])), 3)
        XCTAssertEqual(k.calls[1], "keeper 0 1000 1,1 100000 65536")
        XCTAssertTrue(k.calls[2].hasPrefix("spawn flags=7e020000 mounts"), k.calls[2])
        XCTAssertTrue(k.calls[3].hasPrefix("helpers /usr/bin/newuidmap 42"), k.calls[3])
    }

    func testSelfMapsGetAKeeperOfTheirOwnWrittenDirectly() throws {
        let k = Recorder()
        k.startKeeper = true
        _ = Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["--map", "self", "true"]))
        // The keeper's maps are the one line, written directly (setgroups first), not by helpers.
        XCTAssertEqual(
            Array(k.calls[1...4]),
            [
                "keeper 0 1000 1", "write /proc/7/setgroups deny", "write /proc/7/uid_map 0 1000 1\n",
                "write /proc/7/gid_map 0 1000 1\n",
            ])
    }

    func testAPooledNetworkNamespaceReplacesCloneNewnet() throws {
        let k = Recorder()
        k.keeperFD = 9
        k.keeperNetFD = 10
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in }).run(try plan(["true"])), 3)
        // CLONE_NEWNET (0x40000000) is left out too: the child joins fd 10.
        XCTAssertTrue(k.calls[2].hasPrefix("spawn flags=2e020000 join=9 netns=10"), k.calls[2])
        let host = Recorder()
        host.keeperFD = 9
        host.keeperNetFD = 10
        _ = Launcher(kernel: host, fast: KeeperStarts(ops: host), warn: { _ in }).run(try plan(["--net", "host", "true"]))
        XCTAssertTrue(host.calls[2].hasPrefix("spawn flags=2e020000 join=9 mounts"), "--net host takes none: \(host.calls[2])")
    }

    func testOutcomesMapToExitStatuses() throws {
        let p = try plan(["--map", "self", "--timeout", "1", "true"])
        let k = Recorder()
        let l = Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { _ in })
        k.result = rl_result(outcome: Int32(RL_SIGNALED.rawValue), code: 15, report: rl_report())
        XCTAssertEqual(l.run(p), 143)
        k.result = rl_result(outcome: Int32(RL_TIMED_OUT.rawValue), code: 0, report: rl_report())
        XCTAssertEqual(l.run(p), 124)
        var msg: [String] = []
        k.result = rl_result(
            outcome: Int32(RL_SETUP_FAILED.rawValue), code: 0,
            report: rl_report(step: Int32(RL_STEP_EXEC.rawValue), err: ENOENT, index: -1, pad: 0))
        XCTAssertEqual(Launcher(kernel: k, fast: KeeperStarts(ops: k), warn: { msg.append($0) }).run(p), 125)
        XCTAssertEqual(
            msg.last, "command not found inside the sandbox: true — searched PATH=\(Planner.defaultPath); give a full path or bind the directory that holds it")
    }
}

final class KeeperTests: XCTestCase {
    func testRecordRoundTripsAndRejectsJunk() {
        let r = ProcessRecord(pid: 4242, startTime: 987654)
        XCTAssertEqual(ProcessRecord(parsing: r.text), r)
        let c = ProcessRecord(pid: 7, startTime: 8, path: "/sys/fs/cgroup/a b/rootless-7")
        XCTAssertEqual(ProcessRecord(parsing: c.text), c, "a path with spaces survives")
        for bad in ["", "4242", "-1 5", "0 5", "x 5", "4242 -5", "4242 5 "] { XCTAssertNil(ProcessRecord(parsing: bad), bad) }
    }

    func testStartTimeIsField22EvenWithParenthesesInTheName() {
        let tail = (3...21).map { "\($0)" }.joined(separator: " ")
        XCTAssertEqual(
            ProcessRecord.startTime(stat: "77 (a) b) (c) S " + tail.split(separator: " ").dropFirst().joined(separator: " ") + " 123456 9 9"), 123456)
        XCTAssertNil(ProcessRecord.startTime(stat: "77 (short) S 1 2"))
        XCTAssertNil(ProcessRecord.startTime(stat: "no parenthesis"))
    }

    func testKeyFollowsTheMaps() {
        let a = IDMapPlan(method: .helpers, uidLines: [MapLine(0, 1001, 1)], gidLines: [MapLine(0, 1001, 1)], defaultUID: 0, defaultGID: 0)
        var b = a
        b.gidLines = [MapLine(0, 1002, 1)]
        XCTAssertEqual(Keeper.key(a).utf8.count, 16)
        XCTAssertNotEqual(Keeper.key(a), Keeper.key(b))
        XCTAssertEqual(Keeper.key(a), Keeper.key(a))
    }
}
