@testable import IDMap
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

/// Limits, ulimits, stats parsing and the planner's cgroup decisions, on fixture facts.
final class CgroupPlanTests: XCTestCase {
    func testSizesAndLimitFiles() throws {
        XCTAssertEqual(try ResourceLimits.parseSize("512m", flag: "--memory"), 512 << 20)
        XCTAssertEqual(try ResourceLimits.parseSize("1.5G", flag: "--memory"), 3 << 29)
        XCTAssertEqual(try ResourceLimits.parseSize("64KiB", flag: "--memory"), 64 << 10)
        XCTAssertEqual(try ResourceLimits.parseSize("8192", flag: "--memory"), 8192)
        for bad in ["", "m", "-1m", "1x", "12", "nan", "1e30g"] {
            XCTAssertThrowsError(try ResourceLimits.parseSize(bad, flag: "--memory"), bad)
        }
        let s = try RunArguments.parse([
            "--memory", "64m", "--memory-swap", "96m", "--pids-limit", "20", "--cpus", "1.5",
            "--cpu-weight", "50", "--io-weight", "200", "true",
        ])
        XCTAssertEqual(
            s.limits.files().map { "\($0.0)=\($0.1)" },
            ["memory.max=67108864", "memory.swap.max=33554432", "pids.max=20", "cpu.max=150000 100000", "cpu.weight=50", "io.weight=default 200"])
        XCTAssertEqual(s.limits.controllers, ["cpu", "io", "memory", "pids"])
        XCTAssertEqual(try RunArguments.parse(["--memory", "64m", "--memory-swap", "-1", "true"]).limits.files().last?.1, "max")
        for bad in [
            ["--memory-swap", "1g"], ["--memory", "1g", "--memory-swap", "512m"], ["--cpus", "0"], ["--pids-limit", "x"],
            ["--cpu-weight", "0"], ["--cgroup", "maybe"], ["--ulimit", "nofile=9:8"], ["--ulimit", "bogus=1"],
        ] {
            XCTAssertThrowsError(try RunArguments.parse(bad + ["true"]), "\(bad)") { XCTAssertTrue(($0 as? RootlessError)?.fix != nil) }
        }
    }

    func testUlimits() throws {
        XCTAssertEqual(try Ulimit.parse("nofile=1024:4096"), Ulimit(name: "nofile", resource: 7, soft: 1024, hard: 4096))
        XCTAssertEqual(try Ulimit.parse("CORE=0"), Ulimit(name: "core", resource: 4, soft: 0, hard: 0))
        XCTAssertEqual(try Ulimit.parse("stack=8388608:unlimited").hard, Ulimit.infinity)
    }

    func testStatsFromCgroupFiles() {
        var s = SandboxStats(wallSeconds: 1.5, source: "cgroup")
        s.apply(
            cpuStat: "usage_usec 300000\nuser_usec 200000\nsystem_usec 100000\nnr_throttled 3\n", memoryPeak: "10485760\n",
            memoryEvents: "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n", pidsPeak: nil)
        XCTAssertEqual(s.text, "stats (cgroup): wall 1.5 s, cpu user 0.2 s system 0.1 s, peak memory 10.0 MiB, peak pids n/a, oom kills 1")
        XCTAssertEqual(
            s.json,
            "{\"source\":\"cgroup\",\"wall_seconds\":1.5,\"cpu_user_usec\":200000,\"cpu_system_usec\":100000,\"memory_peak_bytes\":10485760,\"pids_peak\":null,\"oom_kills\":1}\n"
        )
        XCTAssertNil(SandboxStats.single("max\n"))
    }

    func testBaseSkipsTheOuterLeafAnEarlierRunMade() {
        XCTAssertEqual(CgroupFacts.base(mount: "/sys/fs/cgroup", own: "/a/run-1.scope"), "/sys/fs/cgroup/a/run-1.scope")
        XCTAssertEqual(CgroupFacts.base(mount: "/sys/fs/cgroup", own: "/a/run-1.scope/rootless-outer"), "/sys/fs/cgroup/a/run-1.scope")
        XCTAssertEqual(CgroupFacts.base(mount: "/sys/fs/cgroup", own: "/"), "/sys/fs/cgroup")
    }

    func facts(_ c: CgroupFacts?) -> HostFacts {
        var f = HostFacts(
            uid: 1000, gid: 1000, userName: "alice", cwd: "/", env: [], subuid: nil, subgid: nil,
            uidHelper: .missing(name: "newuidmap"), gidHelper: .missing(name: "newgidmap"), lookup: { _ in true })
        f.cgroup = c
        return f
    }
    static let unified = CgroupLayout(kind: .unified, v2Mount: "/sys/fs/cgroup", v1Controllers: [], ownPath: "/u/run-1.scope")
    static let delegated = CgroupFacts(layout: unified, base: "/sys/fs/cgroup/u/run-1.scope", delegated: true, available: ["cpu", "memory", "pids"])
    static let hybrid = CgroupFacts(
        layout: CgroupLayout(kind: .hybrid, v2Mount: "/sys/fs/cgroup/unified", v1Controllers: ["memory"], ownPath: "/"),
        base: "/sys/fs/cgroup/unified", delegated: false, available: [])

    func plan(_ args: [String], _ c: CgroupFacts?) throws -> Plan { try Planner.plan(try RunArguments.parse(["--map", "self"] + args + ["true"]), facts(c)) }

    func testDelegatedCgroupGetsTheLimits() throws {
        let p = try plan(["--memory", "64m", "--pids-limit", "20"], Self.delegated)
        XCTAssertEqual(
            p.cgroup,
            CgroupPlan(
                parent: "/sys/fs/cgroup/u/run-1.scope", controllers: ["memory", "pids"],
                limits: [CgroupSetting("memory.max", "67108864"), CgroupSetting("pids.max", "20")], delegate: false))
        XCTAssertTrue(p.render().contains("cgroup: /sys/fs/cgroup/u/run-1.scope/rootless-<pid>/payload"), p.render())
        XCTAssertTrue(p.mounts.first { $0.kind == .cgroup2 }!.flags.contains(.readOnly))
        // A plain run there still gets its own cgroup (cleanup, --stats), without limits.
        XCTAssertEqual(try plan([], Self.delegated).cgroup?.limits, [])
        XCTAssertFalse(try plan(["--cgroup-delegate"], Self.delegated).mounts.first { $0.kind == .cgroup2 }!.flags.contains(.readOnly))
        XCTAssertNil(try plan(["--cgroup", "none"], Self.delegated).cgroup)
    }

    func testMissingControllerOrHybridHostFailsWithTheFixUnlessOptional() throws {
        XCTAssertThrowsError(try plan(["--io-weight", "100"], Self.delegated)) {
            XCTAssertTrue("\($0)".contains("offers no io controller"), "\($0)")
        }
        XCTAssertThrowsError(try plan(["--memory", "64m"], Self.hybrid)) { e in
            let err = e as! RootlessError
            XCTAssertEqual(err.exitCode, 125)
            XCTAssertTrue(err.message.contains("limits (memory.max) need a delegated cgroup v2 subtree, and this host is hybrid"), err.message)
            XCTAssertTrue(err.fix!.contains("systemd-run --user --scope -p Delegate=yes"), err.fix!)
        }
        let p = try plan(["--memory", "64m", "--cgroup", "optional"], Self.hybrid)
        XCTAssertNil(p.cgroup)
        XCTAssertTrue(p.cgroupNote!.hasSuffix("limits not enforced (--cgroup optional)"), p.cgroupNote!)
        XCTAssertNotNil(try plan([], Self.hybrid).cgroupNote, "a plain run works, with a note")
        XCTAssertThrowsError(try plan(["--memory", "64m", "--cgroup", "none"], Self.delegated))
    }

    func testUndelegatedV2HostWithASessionBusAsksSystemdForAScope() throws {
        var c = CgroupFacts(
            layout: Self.unified, base: "/sys/fs/cgroup/u/session-1.scope", delegated: false, available: ["memory", "pids"], userBus: "/run/user/1000/bus")
        let p = try plan(["--memory", "64m", "--stats"], c)
        XCTAssertEqual(
            p.cgroup,
            CgroupPlan(
                parent: "", scopeBus: "/run/user/1000/bus", controllers: ["memory", "pids"],
                limits: [CgroupSetting("memory.max", "67108864")], delegate: false))
        XCTAssertEqual(p.cgroup?.required, ["memory"], "pids is only for --stats: best effort")
        XCTAssertTrue(
            p.render().contains("cgroup: <systemd user scope rootless-<pid>-<start>.scope, Delegate=yes, via /run/user/1000/bus>/rootless-<pid>/payload"),
            p.render())
        XCTAssertNotNil(try plan(["--cgroup-delegate"], c).cgroup?.scopeBus)
        // A plain run does not pay for a scope; the note says what would get one.
        let plain = try plan([], c)
        XCTAssertNil(plain.cgroup)
        XCTAssertTrue(plain.cgroupNote!.contains("get a systemd user scope"), plain.cgroupNote!)
        // No bus: the error with the fix, as before.
        c.userBus = nil
        XCTAssertThrowsError(try plan(["--memory", "64m"], c)) { XCTAssertTrue("\($0)".contains("is not delegated to you"), "\($0)") }
        // A hybrid host's scope would have no controllers: never asked for.
        var h = Self.hybrid
        h.userBus = "/run/user/1000/bus"
        XCTAssertThrowsError(try plan(["--memory", "64m"], h))
    }
}
