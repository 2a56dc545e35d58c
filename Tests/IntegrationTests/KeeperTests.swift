import Foundation
import XCTest

/// The keepers of mapped user namespaces, as rltest: runs with the same maps share one,
/// it holds nothing of its first caller, its pooled network namespaces are fresh per run,
/// it holds a sandbox's mount namespace only while the sandbox lives, a dead keeper is
/// replaced, `keeper stop` ends them.
final class KeeperTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() {
        _ = try? h?.run(["keeper", "stop"])
        h?.cleanup()
    }

    /// Cold (--no-warm): these tests look at the keeper's fds, and warm sandboxes it built
    /// ahead would hold theirs (WarmTests covers those).
    func userns(_ flags: [String] = []) throws -> String {
        let r = try h.run(["run", "--no-warm"] + flags + ["--", "/bin/readlink", "/proc/self/ns/user"])
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
        let selfNS = try userns(["--map", "self"])
        XCTAssertNotEqual(selfNS, first, "--map self has a keeper of its own (other maps)")
        XCTAssertEqual(try userns(["--map", "self"]), selfNS, "which later --map self runs share")
        // The keeper holds /dev/null on 0-2, sits at /, in its own session; its other fds
        // are its socket, namespaces (its own, the pool) and the eventfd its builder thread
        // wakes it with: nothing of its first caller. The mount namespaces of the sandboxes
        // above are closed by the builder once their pid 1 has gone: polled for (bounded),
        // not slept on.
        func links() throws -> [(Int, String)] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { Int($0) }.sorted().map {
                ($0, try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))
            }
        }
        var fds = try links()
        for _ in 0..<200 where fds.contains(where: { $0.1.hasPrefix("mnt:[") }) {
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
            fds = try links()
        }
        XCTAssertEqual(Array(fds.map(\.0).prefix(4)), [0, 1, 2, 3])
        for (fd, target) in fds {
            if fd < 3 {
                XCTAssertEqual(target, "/dev/null")
            } else if fd == 3 {
                XCTAssertTrue(target.hasPrefix("socket:["), target)
            } else {
                // Its own mount table, watched (a change drops warm sandboxes built before it).
                // And its own binary (inotify): it leaves, idle, once that is replaced.
                XCTAssertTrue(
                    target.hasPrefix("user:[") || target.hasPrefix("net:[") || target == "anon_inode:[eventfd]"
                        || target == "/proc/\(pid)/mountinfo" || target == "anon_inode:inotify", "fd \(fd) -> \(target)")
            }
        }
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), "/")
        let comm = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        XCTAssertEqual(comm, "rootless-keeper\n")
        let uidMap = try String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8)
        XCTAssertEqual(uidMap.split(separator: "\n").count, 2, "the keeper holds the whole subuid range: \(uidMap)")

        let stop = try h.run(["keeper", "stop"])
        XCTAssertEqual(stop.out, "stopped 2 keepers\n", stop.err)
        // Gone, or a zombie until whoever adopted it reaps it: it was not our child.
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
        XCTAssertTrue(state == nil || state == "Z", "the keeper is gone after stop (state \(state.map(String.init) ?? "none"))")
        XCTAssertNotEqual(try userns(), first, "a new keeper, a new namespace")
    }

    func testADeadKeeperIsReplaced() throws {
        // Only the keeper this test starts: one left by another class's runs would be
        // counted by the `keeper stop` below.
        XCTAssertEqual(try h.run(["keeper", "stop"]).status, 0)
        _ = try userns()
        guard let pid = try keeperPID() else { return XCTFail("no keeper") }
        // Killed outside our control: its socket stays behind and refuses connections.
        XCTAssertEqual(kill(pid, SIGKILL), 0)
        let r = try h.run(["run", "--", "/bin/cat", "/proc/self/uid_map"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 2, "a new keeper, the whole range again: \(r.out)")
        guard let second = try keeperPID() else {
            return XCTFail("no new keeper: \(try h.run(["keeper", "status"]).out) \(try h.run(["keeper", "status"]).err)")
        }
        XCTAssertNotEqual(second, pid)
        XCTAssertEqual(try h.run(["keeper", "stop"]).out, "stopped 1 keeper\n")
        XCTAssertNil(try keeperPID())
    }

    /// A keeper that does not answer (stopped) is not replaced: that would orphan it
    /// alive, out of `keeper stop`'s reach. The run maps its own namespace meanwhile.
    func testAKeeperThatDoesNotAnswerIsNotReplaced() throws {
        _ = try userns()
        guard let pid = try keeperPID() else { return XCTFail("no keeper") }
        XCTAssertEqual(kill(pid, SIGSTOP), 0)
        let r = try h.run(["run", "--", "/bin/cat", "/proc/self/uid_map"])
        XCTAssertEqual(kill(pid, SIGCONT), 0)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 2, "its own namespace, the whole range: \(r.out)")
        XCTAssertEqual(try keeperPID(), pid, "the same keeper, still reachable")
        XCTAssertEqual(try h.run(["keeper", "stop"]).out, "stopped 1 keeper\n")
    }

    func fdTargets(_ pid: Int32) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").map {
            try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
        }
    }

    /// The keeper holds a sandbox's mount namespace while the sandbox lives (so that its
    /// teardown happens in the keeper, off the caller's path) and drops it after.
    func testTheKeeperHoldsAMountNamespaceOnlyWhileItsSandboxLives() throws {
        _ = try userns()
        guard let pid = try keeperPID() else { return XCTFail("no keeper") }
        let fifo = h.scratch.appendingPathComponent("hold").path
        XCTAssertEqual(mkfifo(fifo, 0o666), 0)
        let r = try h.start(["run", "--no-warm", "--", "/bin/sh", "-c", "readlink /proc/self/ns/mnt; echo ready; exec 3<\(fifo)"])
        guard let out = r.read(until: "ready", timeout: 30) else { return XCTFail("the sandbox never got ready") }
        let mnt = out.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(mnt.hasPrefix("mnt:["), out)
        XCTAssertTrue(try fdTargets(pid).contains(mnt), "the keeper holds the live sandbox's mount namespace \(mnt)")
        // The sandbox's open of the FIFO for reading completes with ours for writing; then EOF.
        let w = open(fifo, O_WRONLY)
        XCTAssertGreaterThanOrEqual(w, 0)
        close(w)
        _ = r.read(until: nil, timeout: 30)
        r.process.waitUntilExit()
        XCTAssertEqual(r.process.terminationStatus, 0)
        // pid 1's exit is seen by the main thread, and the namespace closed by the builder
        // thread after: polled for (bounded), not slept on.
        var left = try fdTargets(pid).filter { $0.hasPrefix("mnt:[") || $0.contains("pidfd") }
        for _ in 0..<200 where !left.isEmpty {
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
            left = try fdTargets(pid).filter { $0.hasPrefix("mnt:[") || $0.contains("pidfd") }
        }
        XCTAssertEqual(left, [], "nothing of the finished sandbox is held")
    }

    /// Runs take their network namespace from the keeper's pool: each is fresh (only lo,
    /// up, no socket) and never handed out twice. Namespace inode numbers are reused once
    /// a namespace is gone, so "twice" is checked on two sandboxes alive together: they
    /// meet at a FIFO before either exits.
    func testPooledNetworkNamespacesAreFreshPerRun() throws {
        let script =
            "echo $(readlink /proc/self/ns/net) $(ls /sys/class/net) $(cat /sys/class/net/lo/flags) $(tail -n +2 /proc/net/tcp /proc/net/udp /proc/net/unix | grep -c :)"
        for map in ["auto", "self", "auto", "self"] {
            let r = try h.run(["run", "--map", map, "--", "/bin/sh", "-c", script])
            XCTAssertEqual(r.status, 0, r.err)
            let f = r.out.split(separator: " ").map(String.init)
            XCTAssertEqual(f.count, 4, r.out)
            guard f.count == 4 else { continue }
            XCTAssertTrue(f[0].hasPrefix("net:["), r.out)
            XCTAssertEqual(Array(f[1...]), ["lo", "0x9", "0\n"], "only lo, up (IFF_UP|IFF_LOOPBACK), no socket: \(r.out)")
        }
        let fifo = h.scratch.appendingPathComponent("barrier").path
        XCTAssertEqual(mkfifo(fifo, 0o666), 0)
        let both = try h.together(
            ["run", "--", "/bin/sh", "-c", "readlink /proc/self/ns/net; exec 3<\(fifo)"],
            ["run", "--", "/bin/sh", "-c", "readlink /proc/self/ns/net; exec 3>\(fifo)"])
        XCTAssertEqual(both.map(\.status), [0, 0])
        let nets = both.compactMap(\.out)
        XCTAssertEqual(nets.count, 2)
        XCTAssertEqual(Set(nets).count, 2, "two live sandboxes, two network namespaces: \(nets)")
        // --net host takes none: the host's namespace.
        let host = try h.run(["run", "--net", "host", "--", "/bin/readlink", "/proc/self/ns/net"])
        XCTAssertEqual(host.out.trimmingCharacters(in: .whitespacesAndNewlines), try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net"))
    }

    /// Two builds side by side (the second: this binary with another GNU build id): each
    /// runs with a keeper of its own, `keeper status` tells them apart, and a keeper whose
    /// binary is removed leaves once idle. The control: the same build shares one keeper.
    func testEachBuildHasItsOwnKeeperAndAnOldOneLeaves() throws {
        XCTAssertEqual(try h.run(["keeper", "stop"]).status, 0)
        var data = try Data(contentsOf: URL(fileURLWithPath: h.bin))
        // The note: namesz 4, descsz 20, type 3 (NT_GNU_BUILD_ID), "GNU\0", then the id.
        let header = Data([4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 0x47, 0x4e, 0x55, 0])
        guard let at = data.range(of: header) else { return XCTFail("no GNU build id in \(h.bin)") }
        data[at.upperBound] ^= 0xff
        let other = h.scratch.appendingPathComponent("rootless-other").path
        try data.write(to: URL(fileURLWithPath: other))
        chmod(other, 0o755)
        func keepers() throws -> [String] { try h.run(["keeper", "status"]).out.split(separator: "\n").filter { $0.hasPrefix("keeper ") }.map(String.init) }
        _ = try h.run(["run", "--map", "self", "--", "true"])
        _ = try h.run(["run", "--map", "self", "--", "true"])
        let one = try keepers()
        XCTAssertEqual(one.count, 1, "the control: one build, one keeper: \(one)")
        let r = try h.run([], shell: "exec \(other) run --map self -- \(h.probe) ids")
        XCTAssertEqual(r.status, 0, r.err)
        let both = try keepers()
        XCTAssertEqual(both.count, 2, "the other build started its own: \(both)")
        XCTAssertEqual(both.filter { $0.contains("another build") }.count, 1, "\(both)")
        guard let pid = both.first(where: { $0.contains("another build") }).flatMap({ Int32($0.split(separator: " ")[3]) }) else { return }
        // Its binary goes (an upgrade): it leaves by itself, its socket with it.
        XCTAssertEqual(unlink(other), 0)
        let deadline = Date().addingTimeInterval(10)
        while kill(pid, 0) == 0, (try? String(contentsOfFile: "/proc/\(pid)/stat"))?.contains(") Z") == false, Date() < deadline { usleep(5_000) }
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat")).flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
        XCTAssertTrue(state == nil || state == "Z", "the old build's keeper left (state \(state.map(String.init) ?? "none"))")
        let left = try keepers()
        XCTAssertEqual(left.count, 1, "\(left)")
        XCTAssertEqual(try h.run(["keeper", "stop"]).out, "stopped 1 keeper\n")
    }
}
