import CRootless
import Foundation
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

/// What a sandbox sees of the user's home and of rootless's own state, what it may bind,
/// and the input refused before anything starts, as plans and parses.
final class TrustPlanTests: XCTestCase {
    func facts(
        cwd: String = "/home/alice/proj", env: [String] = ["PATH=/usr/bin:/bin", "HOME=/home/alice"],
        dirs: Set<String> = ["/home", "/home/alice", "/home/alice/proj", "/srv", "/tmp"]
    ) -> HostFacts {
        var f = PlannerTests.hostFacts(existing: ["/src"], dirs: dirs)
        f.cwd = cwd
        f.env = env
        return f
    }
    func plan(_ a: [String], _ f: HostFacts? = nil) throws -> Plan { try Planner.plan(try RunArguments.parse(a), f ?? facts()) }
    func targets(_ p: Plan, _ kind: MountOp.Kind) -> [String] { p.mounts.filter { $0.kind == kind }.map(\.target) }

    func testHomeModes() throws {
        let empty = try plan(["true"])
        XCTAssertTrue(empty.mounts.contains { $0.kind == .tmpfs && $0.target == "/home/alice" && $0.data?.contains("uid=0") == true })
        XCTAssertTrue(targets(empty, .mask).contains("/root") && targets(empty, .mask).contains("/run/user"))
        XCTAssertTrue(targets(empty, .tmpfs).contains("/home"), "other homes are hidden")
        let ro = try plan(["--home", "ro", "true"])
        XCTAssertTrue(ro.mounts.contains { $0.kind == .bind && $0.target == "/home/alice" && $0.flags.contains(.readOnly) })
        let rw = try plan(["--home", "rw", "true"])
        XCTAssertTrue(rw.mounts.contains { $0.kind == .bind && $0.target == "/home/alice" && !$0.flags.contains(.readOnly) })
        XCTAssertThrowsError(try RunArguments.parse(["--home", "maybe", "true"]))
        // The payload's uid owns its empty home (--user 1000 can write in it).
        XCTAssertTrue(try plan(["--user", "1000", "true"]).mounts.contains { $0.target == "/home/alice" && $0.data?.contains("uid=1000,gid=1000") == true })
    }

    func testStateIsMaskedWhereverAViewShowsIt() throws {
        XCTAssertEqual(Planner.statePaths(RunSpec(), facts()), ["/tmp/rootless-1000", "/home/alice/.cache/rootless", "/home/alice/.local/share/rootless"])
        let xdg = facts(env: ["HOME=/home/alice", "XDG_RUNTIME_DIR=/run/user/1000", "XDG_CACHE_HOME=/srv/cache", "XDG_DATA_HOME=/srv/data"])
        XCTAssertEqual(
            Planner.statePaths(RunSpec(), xdg), ["/run/user/1000/rootless", "/tmp/rootless-1000", "/srv/cache/rootless", "/srv/data/rootless"],
            "both runtime directories: a run without XDG_RUNTIME_DIR trusts /tmp/rootless-UID")
        // --home rw shows the home: the cache and the store in it are masked.
        let rw = targets(try plan(["--home", "rw", "true"]), .mask)
        XCTAssertTrue(rw.contains("/home/alice/.cache/rootless") && rw.contains("/home/alice/.local/share/rootless"), "\(rw)")
        // A bind of a parent: masked at the bind's target.
        let b = targets(try plan(["--bind", "/tmp:/hosttmp", "--bind", "/home/alice:/h", "true"]), .mask)
        XCTAssertTrue(b.contains("/hosttmp/rootless-1000") && b.contains("/h/.cache/rootless"), "\(b)")
        // A bind inside the state, or a rootfs there, is refused with one line.
        for a in [
            ["--bind", "/home/alice/.local/share/rootless/layers/x:/x", "true"], ["--ro-bind", "/tmp/rootless-1000", "true"],
            ["--rootfs", "/home/alice/.local/share/rootless/layers/x", "true"],
        ] {
            XCTAssertThrowsError(try plan(a, facts(dirs: ["/home/alice/.local/share/rootless/layers/x", "/tmp/rootless-1000"]))) {
                XCTAssertTrue("\($0)".contains("rootless's own state"), "\($0)")
            }
        }
    }

    /// Paths are compared where they really are: a bind source or rootfs that is a symlink
    /// into the state is refused, and a bind's source in the plan is the resolved path.
    func testSymlinksAreResolvedBeforeTheStateCheck() throws {
        var f = facts(dirs: ["/", "/home", "/home/alice", "/home/alice/proj", "/tmp", "/home/alice/proj/out", "/home/alice/proj/root"])
        f.resolve = { ["/home/alice/proj/out": "/tmp/rootless-1000", "/home/alice/proj/root": "/"][$0] ?? $0 }
        XCTAssertThrowsError(try plan(["--bind", "/home/alice/proj/out:/x", "true"], f)) { XCTAssertTrue("\($0)".contains("rootless's own state"), "\($0)") }
        XCTAssertThrowsError(try plan(["--rootfs", "/home/alice/proj/root", "true"], f)) { XCTAssertTrue("\($0)".contains("is a symlink to /"), "\($0)") }
        XCTAssertThrowsError(try plan(["--bind", "/home/alice/proj/root:/h", "true"], f)) { XCTAssertTrue("\($0)".contains("whole /"), "\($0)") }
        XCTAssertThrowsError(try plan(["--read-only", "--rootfs", "/home/alice/proj/root", "true"], f)) {
            XCTAssertTrue("\($0)".contains("holds your home"), "\($0)")
        }
        let r = try plan(["--read-only", "--rootfs", "/", "true"], f)
        XCTAssertEqual(r.root, .directory("/", readOnly: true), "named itself, read-only: on purpose")
        XCTAssertTrue(targets(r, .mask).contains("/tmp/rootless-1000"), "the state in it is masked: \(targets(r, .mask))")
        f.resolve = { $0 == "/home/alice/proj/out" ? "/home/alice" : $0 }
        XCTAssertThrowsError(try plan(["--ro-bind", "/home/alice/proj/out:/x", "true"], f)) { XCTAssertTrue("\($0)".contains("holds your home"), "\($0)") }
        XCTAssertNoThrow(try plan(["--ro-bind", "/home/alice:/x", "true"], f), "named itself: on purpose")
        f.resolve = { $0 == "/home/alice/proj/out" ? "/srv/data" : $0 }
        XCTAssertEqual(try plan(["--bind", "/home/alice/proj/out:/x", "true"], f).mounts.first { $0.target == "/x" }?.source, "/srv/data")
    }

    func testASymlinkedHomeIsMadeAgainAtItsName() throws {
        var f = facts(dirs: ["/home", "/home/alice", "/data/alice", "/home/alice/proj"])
        f.resolve = { $0 == "/home/alice" ? "/data/alice" : $0 }
        let p = try plan(["true"], f)
        XCTAssertTrue(p.mounts.contains { $0.kind == .tmpfs && $0.target == "/data/alice" }, "the home where it really is")
        XCTAssertTrue(p.mounts.contains { $0.kind == .symlink && $0.target == "/home/alice" && $0.source == "/data/alice" }, "and its name")
    }

    func testNoUsernsDoesNotMakeASharedCwdWritable() throws {
        let p = try plan(["--userns", "none", "true"], facts(cwd: "/home/alice"))
        XCTAssertFalse(p.landlock?.contains(LandlockRule("/home/alice", writable: true)) ?? true, "\(p.landlock ?? [])")
        XCTAssertTrue(p.notes.contains { $0.contains("is not writable by the command") }, "\(p.notes)")
        XCTAssertTrue(
            try plan(["--userns", "none", "true"]).landlock?.contains(LandlockRule("/home/alice/proj", writable: true)) ?? false, "a project directory is")
    }

    func testASharedCwdIsNotBoundAndSaysWhy() throws {
        for (cwd, why) in [
            ("/tmp", "shared by every program"), ("/var/tmp", "shared by every program"), ("/", "whole host"),
            ("/home", "every user's home"), ("/home/alice", "your home"), ("/home/alice/.cache/rootless", "own state"),
        ] {
            let p = try plan(["true"], facts(cwd: cwd, dirs: ["/home", "/home/alice", "/tmp", "/var/tmp", "/home/alice/.cache/rootless"]))
            XCTAssertFalse(p.mounts.contains { $0.kind == .bind && $0.target == cwd }, cwd)
            XCTAssertEqual(p.notes.filter { $0.contains("is not shared with the sandbox") && $0.contains(why) }.count, 1, "\(cwd): \(p.notes)")
        }
        let proj = try plan(["true"])
        XCTAssertTrue(proj.mounts.contains { $0.kind == .bind && $0.target == "/home/alice/proj" }, "a project directory is shared")
        XCTAssertTrue(proj.notes.isEmpty, "\(proj.notes)")
    }

    func testAddedCapabilitiesThatCouldUndoTheSandboxNest() throws {
        XCTAssertFalse(try plan(["true"]).nestUserns)
        XCTAssertFalse(try plan(["--cap-add", "NET_ADMIN", "true"]).nestUserns)
        for c in ["SYS_ADMIN", "CAP_SYS_PTRACE", "ALL"] { XCTAssertTrue(try plan(["--cap-add", c, "true"]).nestUserns, c) }
        XCTAssertThrowsError(try plan(["--no-init", "--cap-add", "SYS_ADMIN", "true"])) { XCTAssertTrue("\($0)".contains("--no-init")) }
    }

    func testTmpfsSizesAndTheirOverride() throws {
        let p = try plan(["true"])
        XCTAssertEqual(p.mounts.first { $0.target == "/tmp" }?.data, "mode=1777,size=10%")
        XCTAssertEqual(p.mounts.first { $0.target == "/dev/shm" }?.data, "mode=1777,size=64m")
        let o = try plan(["--tmpfs", "/tmp:size=8g,mode=1777", "true"])
        XCTAssertEqual(o.mounts.filter { $0.target == "/tmp" }.map(\.data), ["size=8g,mode=1777"], "one /tmp, the user's options")
    }

    func testBadInputIsRefusedBeforeAnythingStarts() throws {
        let bad: [[String]] = [
            ["-e", "=V", "true"], ["-e", "", "true"], ["--hostname", "", "true"], ["--hostname", "a\nb", "true"],
            ["--hostname", String(repeating: "a", count: 65), "true"], ["--hostname", "-x", "true"],
            ["--bind", "/src:/", "true"], ["--stats-json", "/proc/x", "true"], ["--stats-json", "/sys/x", "true"],
        ]
        for a in bad { XCTAssertThrowsError(try RunArguments.parse(a), "\(a)") }
        XCTAssertNoThrow(try RunArguments.parse(["-e", "K=", "--hostname", "build-1.local", "true"]))
        XCTAssertThrowsError(try plan(["--landlock-ro", "/nope", "true"])) { XCTAssertTrue("\($0)".contains("no such path")) }
        XCTAssertNoThrow(try plan(["--landlock-ro", "/src", "true"]))
    }

    func testAPolicyThatWouldKillEveryStartIsRefused() throws {
        let ctx = SeccompContext.host(caps: [])
        for (p, call) in [
            (#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO"}]}"#, "execve"),
            (#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ALLOW"}]}"#, "exit_group"),
        ] {
            XCTAssertThrowsError(try SeccompLoader.compile(p, name: "p.json", ctx, forRun: true)) { XCTAssertTrue("\($0)".contains("denies \(call)"), "\($0)") }
            XCTAssertNoThrow(try SeccompLoader.compile(p, name: "p.json", ctx), "policy check still compiles it")
        }
    }

    /// FIPS 180-4 / RFC 4231 vectors for the MAC that seals what is read back from disk.
    func testSHA256AndHMACVectors() {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        var out = [UInt8](repeating: 0, count: 32)
        rl_sha256("abc", 3, &out)
        XCTAssertEqual(hex(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array(repeating: UInt8(ascii: "a"), count: 1_000_000)
        rl_sha256(long, long.count, &out)
        XCTAssertEqual(hex(out), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let key = Array("Jefe".utf8), data = Array("what do ya want for nothing?".utf8)
        rl_hmac_sha256(key, key.count, data, data.count, &out)
        XCTAssertEqual(hex(out), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let k131 = [UInt8](repeating: 0xaa, count: 131), d = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        rl_hmac_sha256(k131, k131.count, d, d.count, &out)
        XCTAssertEqual(hex(out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    /// A cached program is used only as written by us, under its own name.
    func testTheSeccompCacheIsSealed() throws {
        let dir = NSTemporaryDirectory() + "rl-seal-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prog: [UInt8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]
        SeccompLoader.writeCache(dir + "/a.bpf", prog)
        XCTAssertEqual(SeccompLoader.readCache(dir + "/a.bpf"), prog)
        try FileManager.default.copyItem(atPath: dir + "/a.bpf", toPath: dir + "/b.bpf")
        XCTAssertNil(SeccompLoader.readCache(dir + "/b.bpf"), "another key's program, copied here")
        var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.bpf"))
        d[0] ^= 1
        try d.write(to: URL(fileURLWithPath: dir + "/a.bpf"))
        XCTAssertNil(SeccompLoader.readCache(dir + "/a.bpf"), "a changed byte")
        try Data(prog).write(to: URL(fileURLWithPath: dir + "/c.bpf"))
        XCTAssertNil(SeccompLoader.readCache(dir + "/c.bpf"), "no seal at all")
    }
}
