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
import XCTest

/// A plan for args on a made-up host (alice, uid 1000, no subids).
func planFor(_ args: [String]) throws -> Plan {
    let f = HostFacts(
        uid: 1000, gid: 1000, userName: "alice", cwd: "/home/alice", env: ["PATH=/usr/bin:/bin", "HOME=/home/alice"],
        subuid: nil, subgid: nil, uidHelper: .missing(name: "newuidmap"), gidHelper: .missing(name: "newgidmap"), lookup: { _ in true })
    return try Planner.plan(try RunArguments.parse(args), f)
}

/// The launch config is one table (rl_config.h): the struct Swift sees, the wire format of
/// warm requests and cached starts, and which configs may run warm all come from it.
final class ConfigTableTests: XCTestCase {
    func plan(_ args: [String]) throws -> Plan { try planFor(args) }

    func coldField(_ cfg: CConfig) -> String? {
        withUnsafePointer(to: cfg.config) { rl_config_cold_field($0).map { String(cString: $0) } }
    }

    /// The struct Swift imports has exactly the table's fields, in its order.
    func testTheSwiftMirrorIsTheTable() {
        var table: [String] = []
        while let f = rl_config_field(Int32(table.count)) { table.append(String(cString: f)) }
        XCTAssertGreaterThan(table.count, 40)
        XCTAssertEqual(Mirror(reflecting: rl_config()).children.map { $0.label ?? "?" }, table)
    }

    /// The format's version is the tables' hash: there is one, and it does not move.
    func testTheVersionComesFromTheTables() {
        let v = rl_config_layout()
        XCTAssertNotEqual(v, 0)
        XCTAssertEqual(rl_config_layout(), v)
    }

    /// The planner's reasons for a cold start and the table's rule agree: every option the
    /// plan calls cold for a config-level reason leaves a config field off its warm value,
    /// and a plan that may run warm gives a config the table takes.
    func testThePlanAndTheTableAgreeOnWhatRunsCold() throws {
        let warm = try plan(["true"])
        XCTAssertNil(warm.warmOff)
        XCTAssertNil(coldField(CConfig(warm)))
        let cases: [([String], String)] = [
            (["-t", "true"], "use_tty"),
            (["--preserve-fds", "2", "true"], "preserve_fds"),
            (["--no-init", "true"], "use_init"),
        ]
        for (args, field) in cases {
            let p = try plan(args)
            XCTAssertNotNil(p.warmOff, "\(args)")
            XCTAssertEqual(coldField(CConfig(p)), field, "\(args)")
        }
        // A cgroup of its own is given at launch (its fd).
        let cg = CConfig(warm, cgroupFD: 7)
        XCTAssertEqual(coldField(cg), "into_cgroup")
    }

    /// A packed config keeps every field of the sandbox's (KEY) and none of this process's:
    /// fds come back -1, the run's strings absent (argv is the entry's own).
    func testPackingKeepsTheSandboxAndDropsTheProcess() throws {
        let p = try plan(["--rootfs", "/srv/root", "--landlock-ro", "/srv", "--ulimit", "nofile=64:128", "--hostname", "h", "true"])
        let cfg = CConfig(p, filters: LoadedFilters(programs: [[6, 0, 0, 0, 0, 0, 0xff, 0x7f]]), landlockABI: 3, netnsFD: 9)
        var out = [UInt8](repeating: 0, count: 1 << 20)
        var e = rl_start()
        e.sock = UnsafePointer(strdup("/s"))
        e.default_path = UnsafePointer(strdup("/bin"))
        defer { free(UnsafeMutablePointer(mutating: e.sock)); free(UnsafeMutablePointer(mutating: e.default_path)) }
        let n = withUnsafePointer(to: cfg.config) { rl_start_encode(&out, out.count, &e, $0) }
        XCTAssertGreaterThan(n, 0)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
        defer { buf.deallocate() }
        out.withUnsafeBytes { buf.copyMemory(from: $0.baseAddress!, byteCount: n) }
        var s = rl_start()
        XCTAssertEqual(rl_start_parse(buf, n, &s), 0)
        guard let c = s.cfg?.pointee else { return XCTFail("refused") }
        let o = cfg.config
        XCTAssertEqual(c.clone_flags, o.clone_flags)
        XCTAssertEqual(String(cString: c.hostname), "h")
        XCTAssertEqual(c.netns_fd, -1, "an fd of this process is never carried")
        XCTAssertEqual(c.userns_fd, -1)
        XCTAssertNil(c.envp)
        XCTAssertEqual(c.n_ll_rules, o.n_ll_rules)
        XCTAssertEqual(
            (0..<Int(c.n_ll_rules)).map { String(cString: c.ll_rules[$0].path) }, (0..<Int(o.n_ll_rules)).map { String(cString: o.ll_rules[$0].path) })
        XCTAssertEqual((0..<Int(c.n_ll_rules)).map { c.ll_rules[$0].access }, (0..<Int(o.n_ll_rules)).map { o.ll_rules[$0].access })
        XCTAssertEqual(c.n_rlimits, 1)
        XCTAssertEqual(c.rlimits[0].soft, 64)
        XCTAssertEqual(c.rlimits[0].hard, 128)
        XCTAssertEqual(c.filters[0].prog.load(fromByteOffset: 4, as: UInt32.self), 0x7fff_0000)
        for i in 0..<Int(o.n_mounts) {
            XCTAssertEqual(c.mounts[i].kind, o.mounts[i].kind)
            XCTAssertEqual(c.mounts[i].flags, o.mounts[i].flags)
            XCTAssertEqual(c.mounts[i].source.map { String(cString: $0) }, o.mounts[i].source.map { String(cString: $0) })
            XCTAssertEqual(c.mounts[i].data.map { String(cString: $0) }, o.mounts[i].data.map { String(cString: $0) })
        }
    }
}

/// Errors are data (step, errno, message, fix); the text is made at the edge and reads as
/// it always has.
final class ErrorDataTests: XCTestCase {
    func plan(_ args: [String]) throws -> Plan { try planFor(args) }

    func testAChildFailureCarriesItsStepAndErrno() throws {
        let p = try plan(["--hostname", "h", "true"])
        let e = ChildStep.error(rl_report(step: Int32(RL_STEP_HOSTNAME.rawValue), err: EINVAL, index: -1, pad: 0), p)
        XCTAssertEqual(e.step, "child.hostname")
        XCTAssertEqual(e.errno, EINVAL)
        XCTAssertEqual(e.message, "cannot set hostname h")
        XCTAssertEqual(e.description, "cannot set hostname h: \(OS.errorText(EINVAL)) — use a name of at most 64 characters")
        let m = ChildStep.error(rl_report(step: Int32(RL_STEP_MOUNT.rawValue), err: EPERM, index: 0, pad: 0), p)
        XCTAssertEqual(m.step, "child.mount")
        XCTAssertEqual(m.errno, EPERM)
        XCTAssertTrue(m.description.hasPrefix("cannot mount \(p.mounts[0].kind.rawValue) on \(p.mounts[0].target)"), m.description)
        XCTAssertTrue(m.description.contains(": \(OS.errorText(EPERM))"), m.description)
        let x = ChildStep.error(rl_report(step: Int32(RL_STEP_EXEC.rawValue), err: ENOENT, index: -1, pad: 0), p)
        XCTAssertEqual(x.step, "child.exec")
        XCTAssertEqual(x.description.prefix(38), "command not found inside the sandbox: ")
    }

    func testWithoutAnErrnoTheTextIsTheMessage() {
        XCTAssertEqual(RootlessError("bad flag", fix: "drop it").description, "bad flag — drop it")
        XCTAssertEqual(RootlessError("cannot open x", errno: ENOENT).description, "cannot open x: \(OS.errorText(ENOENT))")
        XCTAssertEqual(RootlessError("plain").step, "rootless")
    }
}

extension ConfigTableTests {
    /// --net slirp's TAP: a cached start may send the command before the engine runs only
    /// when no -p listener must be bound first (tap_go_first, a run field: not the
    /// sandbox's key, so one warm slirp sandbox serves runs with and without -p).
    func testACachedSlirpRunSendsItsCommandFirstUnlessItPublishesPorts() throws {
        for (args, tap, first) in [
            (["--net", "slirp", "true"], 1, 1), (["--net", "slirp", "-p", "8080:80", "true"], 1, 0), (["--net", "slirp", "-p", "53:53/udp", "true"], 1, 0),
            (["true"], 0, 0),
        ] {
            let c = CConfig(try plan(args)).config
            XCTAssertEqual(c.tap, Int32(tap), "\(args)")
            XCTAssertEqual(c.tap_go_first, Int32(first), "\(args)")
        }
    }
}
