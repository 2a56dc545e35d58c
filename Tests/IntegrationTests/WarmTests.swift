import Foundation
import XCTest

/// Warm sandboxes, as rltest: the keeper builds the sandbox the next run like this one will
/// need; that run only sends its command. Each test checks from inside that a warm run is
/// the sandbox a cold one (--no-warm) would have been, and that the run was warm
/// (ROOTLESS_TIMING=1 marks "warm: command sent").
final class WarmTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.withoutKeepers() }
    override func tearDown() { h?.stopKeepersAndClean() }

    static let timing = ["ROOTLESS_TIMING": "1"]

    /// Runs args once to have the keeper build for them (argv is not part of what a warm
    /// sandbox is built for, so any command primes), then once more, which must be warm.
    func warm(_ flags: [String], _ cmd: [String], stdin: FileHandle? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Harness.Result {
        try prime(flags)
        let r = try h.run(["run"] + flags + ["--"] + cmd, stdin: stdin, env: WarmTests.timing)
        XCTAssertTrue(r.err.contains("warm: command sent"), "not warm: \(r.err)", file: file, line: line)
        return r
    }

    /// Primes until a warm sandbox is ready. A build fails where it would have to make a
    /// mount target in the rootfs (a fresh one lacks /dev, /proc, /sys) and may race the
    /// first run making them; once the keeper is settled with none ready, prime again.
    func prime(_ flags: [String]) throws {
        for _ in 0..<3 {
            _ = try h.run(["run"] + flags + ["--", "/bin/true"])
            if try waitSettled().ready > 0 { return }
        }
        XCTFail("no warm sandbox became ready: \(try h.run(["keeper", "status"]).out)")
    }

    /// The first keeper's counts from `keeper status` ("... warm R ready B building F failed").
    func status() throws -> (ready: Int, building: Int, failed: Int)? {
        let words = try h.run(["keeper", "status"]).out.split(separator: "\n").first?.split(separator: " ") ?? []
        func count(before word: String) -> Int? { words.firstIndex(of: Substring(word)).flatMap { $0 > 0 ? Int(words[$0 - 1]) : nil } }
        guard let r = count(before: "ready"), let b = count(before: "building"), let f = count(before: "failed") else { return nil }
        return (r, b, f)
    }

    /// Until a warm sandbox is ready or nothing is being built (bounded: 3 s; no sleep decides).
    @discardableResult
    func waitSettled(until done: ((ready: Int, building: Int, failed: Int)) -> Bool = { $0.ready > 0 || $0.building == 0 }) throws -> (
        ready: Int, building: Int, failed: Int
    ) {
        for _ in 0..<300 {
            if let s = try status(), done(s) { return s }
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
        }
        XCTFail("the keeper did not settle: \(try h.run(["keeper", "status"]).out)")
        return (0, 0, 0)
    }

    /// Runs flags + cmd where a sandbox the keeper built must not serve: it succeeds with
    /// `out`, and did not take a warm sandbox (`why` names the one it must not have).
    func notServedWarm(_ flags: [String], _ cmd: [String], out: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try h.run(["run"] + flags + ["--"] + cmd, env: WarmTests.timing)
        XCTAssertEqual(r.status, 0, r.err, file: file, line: line)
        XCTAssertEqual(r.out, out, file: file, line: line)
        XCTAssertFalse(r.err.contains("warm: command sent"), "\(why) was not used", file: file, line: line)
    }

    func cold(_ flags: [String], _ cmd: [String]) throws -> Harness.Result {
        let r = try h.run(["run", "--no-warm"] + flags + ["--"] + cmd, env: WarmTests.timing)
        XCTAssertFalse(r.err.contains("warm: command sent"), r.err)
        return r
    }

    func testAWarmSandboxIsTheSandboxAColdRunGets() throws {
        let root = try h.busyboxRoot()
        for map in ["self", "auto"] {
            let flags = ["--map", map, "--rootfs", root.path]
            for probe in ["ids", "status", "pid", "hostname", "fds", "cwd", "netdevs"] {
                let w = try warm(flags, ["/probe", probe])
                let c = try cold(flags, ["/probe", probe])
                XCTAssertEqual(w.status, 0, w.err)
                XCTAssertEqual(w.out, c.out, "\(map) \(probe): warm and cold differ")
            }
            // Identity maps and the user namespace: the keeper's, as for a cold keeper run.
            let wm = try warm(flags, ["/bin/cat", "/proc/self/uid_map", "/proc/self/gid_map"])
            XCTAssertEqual(wm.out, try cold(flags, ["/bin/cat", "/proc/self/uid_map", "/proc/self/gid_map"]).out)
        }
    }

    func testArgvEnvStdinAndAFreshTmpAreEachRunsOwn() throws {
        // The host view (default root): /tmp is a fresh tmpfs per sandbox.
        // (The cwd, under /tmp, is bound at its path: its mount point shows there too.)
        let first = try warm([], ["/bin/sh", "-c", "ls -A /tmp; touch /tmp/left-by-first"])
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertFalse(first.out.contains("left-by-first"))
        let second = try warm([], ["/bin/sh", "-c", "ls -A /tmp"])
        XCTAssertFalse(second.out.contains("left-by-first"), "a warm sandbox is never one an earlier run used")
        let argv = try warm(["-e", "GREETING=hello there"], ["/bin/sh", "-c", "printf '%s|' \"$@\" \"$GREETING\"", "sh", "a b", "", "c"])
        XCTAssertEqual(argv.out, "a b||c|hello there|")
        let input = h.scratch.appendingPathComponent("stdin")
        try "line one\nline two\n".write(to: input, atomically: true, encoding: .utf8)
        let cat = try warm([], ["/bin/cat"], stdin: FileHandle(forReadingAtPath: input.path))
        XCTAssertEqual(cat.out, "line one\nline two\n")
    }

    func testExitStatusSignalsMissingCommandAndTimeout() throws {
        let root = try h.busyboxRoot()
        let flags = ["--rootfs", root.path]
        XCTAssertEqual(try warm(flags, ["/probe", "exit", "7"]).status, 7)
        XCTAssertEqual(try warm(flags, ["/probe", "kill-self", "15"]).status, 128 + 15)
        let missing = try warm(flags, ["/no/such/command"])
        XCTAssertEqual(missing.status, 125)
        XCTAssertTrue(missing.err.contains("/no/such/command"), missing.err)
        func message(_ e: String) -> [Substring] { e.split(separator: "\n").filter { !$0.hasPrefix("rootless timing:") } }
        XCTAssertEqual(message(missing.err), message(try cold(flags, ["/no/such/command"]).err), "the same one-line error as a cold run")
        XCTAssertEqual(message(missing.err).count, 1, missing.err)
        let t = try warm(flags + ["--timeout", "0.5"], ["/bin/sleep", "30"])
        XCTAssertEqual(t.status, 124, t.err)
    }

    func testASignalToRootlessReachesTheWarmPayload() throws {
        let root = try h.busyboxRoot()
        _ = try h.run(["run", "--rootfs", root.path, "--", "/bin/true"])
        let r = try h.start(["run", "--rootfs", root.path, "--", "/probe", "wait-signal"])
        guard r.read(until: "ready", timeout: 30) != nil else { return XCTFail("never ready") }
        kill(r.process.processIdentifier, SIGUSR1)
        let out = r.read(until: nil, timeout: 30) ?? ""
        r.process.waitUntilExit()
        XCTAssertTrue(out.contains("got=\(SIGUSR1)"), out)
        XCTAssertEqual(r.process.terminationStatus, 0)
    }

    /// The command runs with the run's CPU affinity, not the keeper's: the keeper (started
    /// here with every CPU) hands the payload the run's mask with the command.
    func testTheCommandGetsTheRunsCPUAffinity() throws {
        let n = ProcessInfo.processInfo.activeProcessorCount
        guard n >= 2 else { throw XCTSkip("needs 2 CPUs to tell a mask of one from the keeper's (this host has \(n))") }
        let root = try h.busyboxRoot()
        let flags = ["--rootfs", root.path]
        let cmd = ["/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status"]
        _ = try warm(flags, ["/bin/true"])  // the keeper, started with every CPU
        XCTAssertEqual(try warm(flags, cmd).out, try cold(flags, cmd).out)
        try waitSettled { $0.ready > 0 }
        let r = try h.run(["run"] + flags + ["--"] + cmd, shell: "exec taskset -c 0 \"$0\" \"$@\"", env: WarmTests.timing)
        XCTAssertTrue(r.err.contains("warm: command sent"), "not warm: \(r.err)")
        XCTAssertEqual(r.out, "Cpus_allowed_list:\t0\n")
    }

    /// What a warm sandbox is built for includes the (device, inode) of its root: a
    /// directory replaced since is a miss, and the run sees the new one.
    func testAReplacedRootfsIsNeverServedStale() throws {
        let root = try h.busyboxRoot()
        try "one\n".write(to: root.appendingPathComponent("etc/marker"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try warm(["--rootfs", root.path], ["/bin/cat", "/etc/marker"]).out, "one\n")
        _ = try h.run(["run", "--rootfs", root.path, "--", "/bin/true"])  // a warm one is waiting again
        try FileManager.default.moveItem(at: root, to: h.scratch.appendingPathComponent("rootfs.old"))
        let fresh = try h.busyboxRoot()
        try "two\n".write(to: fresh.appendingPathComponent("etc/marker"), atomically: true, encoding: .utf8)
        try notServedWarm(["--rootfs", fresh.path], ["/bin/cat", "/etc/marker"], out: "two\n", "the sandbox built over the old directory")
    }

    /// The host can take a mount away from a waiting sandbox: rmdir of a bind target in
    /// the rootfs detaches that bind in every namespace. Such a sandbox is not what a cold
    /// run gets (it makes the target again and binds), so the keeper drops it (it watches
    /// each waiting sandbox's mount table) and this run starts cold and sees the marker.
    func testASandboxThatLostAMountIsNotServed() throws {
        let root = try h.busyboxRoot()
        let src = h.scratch.appendingPathComponent("src"), target = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try "m\n".write(to: src.appendingPathComponent("marker"), atomically: true, encoding: .utf8)
        let flags = ["--rootfs", root.path, "--ro-bind", "\(src.path):/data"]
        XCTAssertEqual(try warm(flags, ["/bin/cat", "/data/marker"]).out, "m\n")
        XCTAssertGreaterThan(try waitSettled { $0.building == 0 }.ready, 0, "a warm sandbox waits")
        try FileManager.default.removeItem(at: target)
        try notServedWarm(flags, ["/bin/cat", "/data/marker"], out: "m\n", "the sandbox that lost /data")
    }

    /// A sandbox's root is a copy of the host's mounts made when it was built. A mount the
    /// user adds under the rootfs later (here their own FUSE mount, through fusermount3) is
    /// in a cold run's root: the keeper drops what it built before any change of the host's
    /// mount table, and this run sees the new mount; so does one after it is gone.
    func testASandboxBuiltBeforeAHostMountIsNotServed() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/fuse-overlayfs") else {
            throw XCTSkip("SKIP: no /usr/bin/fuse-overlayfs (scripts/setup installs it) to make a FUSE mount as the user")
        }
        let root = try h.busyboxRoot()
        let fm = FileManager.default
        for d in ["mnt", "../L", "../U", "../W"] { try fm.createDirectory(at: root.appendingPathComponent(d).standardized, withIntermediateDirectories: true) }
        try "fusefile\n".write(to: h.scratch.appendingPathComponent("L/hello"), atomically: true, encoding: .utf8)
        let flags = ["--rootfs", root.path]
        _ = try warm(flags, ["/bin/true"])
        XCTAssertGreaterThan(try waitSettled { $0.building == 0 }.ready, 0, "a warm sandbox waits")
        let mnt = root.appendingPathComponent("mnt").path
        // system(), not Process: its daemon keeps every fd it inherits, and Foundation's
        // Process (pipes, its own reaping) waited forever on it. Errors go to a file.
        let sh = "cd \(h.scratch.path) && fuse-overlayfs -o lowerdir=L,upperdir=U,workdir=W \(mnt) </dev/null >/dev/null 2>fuse.err"
        guard system(sh) == 0 else {
            let why = (try? String(contentsOf: h.scratch.appendingPathComponent("fuse.err"), encoding: .utf8)) ?? ""
            throw XCTSkip("SKIP: this host refuses the user a FUSE mount: \(why)")
        }
        var mounted = true
        defer { if mounted { _ = system("fusermount3 -u \(mnt)") } }
        try notServedWarm(flags, ["/bin/cat", "/mnt/hello"], out: "fusefile\n", "the sandbox built before the mount")
        XCTAssertGreaterThan(try waitSettled { $0.ready > 0 && $0.building == 0 }.ready, 0, "built again, with the mount")
        XCTAssertEqual(system("fusermount3 -u \(mnt)"), 0)
        mounted = false
        try notServedWarm(flags, ["/bin/ls", "/mnt"], out: "", "the sandbox built while it was mounted")
    }

    /// A warm sandbox is built ahead of a run that may never come, so its build makes
    /// nothing in the user's files: a mount target the rootfs lacks fails the build
    /// (`keeper status` counts it) and the run starts cold and makes it, as cold runs do.
    /// (Builds made them once: `rm -rf rootfs` right after a run raced the keeper making
    /// rootfs/dev and failed "Directory not empty".)
    func testAWarmBuildMakesNothingInTheRootfs() throws {
        let root = try h.busyboxRoot()
        let data = h.scratch.appendingPathComponent("data"), target = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        let flags = ["--rootfs", root.path, "--bind", "\(data.path):/data"]
        _ = try warm(flags, ["/bin/true"])  // built while /data is there
        let failed = try status()?.failed ?? 0
        // A warm run that ends once /data is gone from the rootfs (the host's rmdir takes
        // the bind away inside too); the sandbox built after it ends lacks /data. (The
        // ones waiting are dropped at the rmdir: see testASandboxThatLostAMountIsNotServed.)
        let r = try h.start(["run"] + flags + ["--", "/bin/sh", "-c", "echo ready; while [ -e /data ]; do sleep 0.01; done"])
        guard r.read(until: "ready", timeout: 30) != nil else { return XCTFail("never ready") }
        try FileManager.default.removeItem(at: target)
        _ = r.read(until: nil, timeout: 30)
        r.process.waitUntilExit()
        XCTAssertEqual(r.process.terminationStatus, 0)
        let s = try waitSettled { $0.failed > failed && $0.building == 0 }
        XCTAssertGreaterThan(s.failed, failed, "a build without /data in the rootfs fails")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target.path), "the keeper made /data in the rootfs")
        // A cold run makes it, and binds.
        let cold = try cold(flags, ["/bin/sh", "-c", "echo hi > /data/f"])
        XCTAssertEqual(cold.status, 0, cold.err)
        XCTAssertEqual(try String(contentsOf: data.appendingPathComponent("f"), encoding: .utf8), "hi\n")
    }

    /// The plan says which runs may be warm, and why not.
    func testThePlanSaysWhenARunIsNotWarm() throws {
        XCTAssertTrue(try h.run(["run", "--dry-run", "--", "/bin/true"]).out.contains("warm: yes"))
        XCTAssertTrue(try h.run(["run", "--dry-run", "-t", "--", "/bin/true"]).out.contains("warm: no (-t)"))
        XCTAssertTrue(try h.run(["run", "--dry-run", "--no-warm", "--", "/bin/true"]).out.contains("warm: no (--no-warm)"))
        // A cold-only option really is cold.
        let r = try h.run(["run", "--die-with-parent", "--", "/bin/true"], env: WarmTests.timing)
        XCTAssertEqual(r.status, 0, r.err)
        let again = try h.run(["run", "--die-with-parent", "--", "/bin/true"], env: WarmTests.timing)
        XCTAssertFalse(again.err.contains("warm: command sent"), again.err)
    }

    /// `keeper stop` ends the warm sandboxes waiting in the keeper too: their payload sees
    /// the keeper's end of its socket close. Checked by polling /proc (bounded), not a sleep.
    func testKeeperStopLeavesNoWarmSandboxBehind() throws {
        // Keepers of this user started elsewhere (another runtime dir) are not ours to judge.
        let before = Set(ours())
        let root = try h.busyboxRoot()
        _ = try warm(["--rootfs", root.path], ["/bin/true"])
        XCTAssertFalse(ours().filter { !before.contains($0) }.isEmpty, "warm sandboxes wait in the keeper")
        XCTAssertEqual(try h.run(["keeper", "stop"]).status, 0)
        var left = ours().filter { !before.contains($0) }
        for _ in 0..<500 where !left.isEmpty {
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
            left = ours().filter { !before.contains($0) }
        }
        XCTAssertEqual(left, [], "nothing named rootless-keeper is left (zombies excepted)")
    }

    /// A warm sandbox waits for its run, maybe for hours: its processes must sleep
    /// interruptibly. The load average counts state D; a pid 1 waiting in vfork for its
    /// payload's exec was D, +1 load per idle warm sandbox. Bounded polling: a build's
    /// passing D (a lock) settles; only a D that stays fails.
    func testAnIdleWarmSandboxAddsNothingToTheLoadAverage() throws {
        let before = Set(ours())
        let root = try h.busyboxRoot()
        _ = try warm(["--rootfs", root.path], ["/bin/true"])
        try waitSettled { $0.building == 0 }
        func uninterruptible() -> [String] {
            ours().filter { !before.contains($0) }.filter { pid in
                let st = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
                return st.split(separator: "\n").first { $0.hasPrefix("State:") }?.contains("D") == true
            }
        }
        XCTAssertFalse(ours().filter { !before.contains($0) }.isEmpty, "warm sandboxes wait in the keeper")
        var d = uninterruptible()
        for _ in 0..<100 where !d.isEmpty {
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
            d = uninterruptible()
        }
        XCTAssertEqual(d, [], "processes of idle warm sandboxes in state D (each adds 1 to the load average)")
    }

    /// Live processes of ours named rootless-keeper (the keeper and its warm sandboxes).
    func ours() -> [String] {
        let me = getuid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid.allSatisfy(\.isNumber),
                let st = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            else { return false }
            let lines = st.split(separator: "\n")
            let name = lines.first { $0.hasPrefix("Name:") }?.split(separator: "\t").last
            let state = lines.first { $0.hasPrefix("State:") } ?? ""
            let uid = lines.first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first
            return name == "rootless-keeper" && !state.contains("zombie") && uid.map { UInt32($0) == me } == true
        }
    }

    /// A warm --rootfs sandbox whose rootfs had its proc directory renamed and replaced by
    /// a symlink after the build is not handed out (its /proc would be gone): the run
    /// starts cold and refuses the symlink as a cold run does. The control: warm before
    /// the change, /proc there.
    func testASandboxWhoseMountTargetWasReplacedIsNotServed() throws {
        let root = try h.busyboxRoot()
        let flags = ["--rootfs", root.path]
        let before = try warm(flags, ["/probe", "stat", "/proc/self"])
        XCTAssertEqual(before.status, 0, before.err)
        try prime(flags)
        let proc = root.appendingPathComponent("proc").path
        try FileManager.default.moveItem(atPath: proc, toPath: proc + "2")
        try FileManager.default.createSymbolicLink(atPath: proc, withDestinationPath: "proc2")
        let r = try h.run(["run"] + flags + ["--", "/probe", "stat", "/proc/self"], env: WarmTests.timing)
        XCTAssertFalse(r.err.contains("warm: command sent"), "the changed sandbox was not used: \(r.err)")
        let cold = try h.run(["run", "--no-warm"] + flags + ["--", "/probe", "stat", "/proc/self"])
        XCTAssertEqual(r.status, cold.status, "as a cold run: \(r.err) / \(cold.err)")
        XCTAssertEqual(r.status, 125, r.err)
    }
}
