import Foundation
import XCTest

/// The escape suite: each test tries one escape class from inside a real
/// sandbox started by `rltest`, and asserts it fails closed. Where a kernel feature the
/// test needs is missing, it skips loudly with the reason. Payloads: Sources/RootlessProbe/escape.c.
final class EscapeTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() { h?.cleanup() }

    func probe(_ flags: [String], _ args: String...) throws -> Harness.Result {
        try h.run(["run"] + flags + ["--", h.probe] + args)
    }

    // CVE-2017-5226 (bubblewrap) / CVE-2016-9016 class: TIOCSTI pushes keystrokes into the
    // caller's terminal, which runs them after the sandbox exits.
    func testTIOCSTIIntoCallersTerminalIsRefused_CVE_2017_5226() throws {
        // `script` gives rootless a real controlling terminal, as an interactive user has.
        for flags in [[], ["--seccomp", "untrusted"]] {
            let cmd = ([h.bin, "run"] + flags + ["--", h.probe, "tiocsti"]).joined(separator: " ")
            let r = try h.run([], shell: "exec script -qec '\(cmd)' /dev/null")
            XCTAssertTrue(
                r.out.contains("tiocsti=EPERM") || r.out.contains("tiocsti=EIO"),
                "new session (and the untrusted filter) must refuse TIOCSTI: \(r.out) \(r.err)")
        }
    }

    // CVE-2019-5736 (runc): the payload overwrites the runtime binary through
    // /proc/<pid>/exe. Our process is outside the pid namespace, and pid 1 (a clone of
    // the runtime) refuses both readlink and open of its exe.
    func testRuntimeBinaryIsNotReachableThroughProcExe_CVE_2019_5736() throws {
        for flags in [[], ["--rootfs", try h.busyboxRoot().path]] {
            let r = try h.run(["run"] + flags + ["--", flags.isEmpty ? h.probe : "/probe", "exe-scan", h.bin])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(r["runtime_visible"], "0", "no /proc/*/exe points at the runtime: \(r.out)")
            XCTAssertNotEqual(r["readlink_pid1_exe"], "ok")
            XCTAssertNotEqual(r["open_pid1_exe_w"], "ok")
        }
    }

    // CVE-2024-21626 (runc "leaky vessels"): a leaked host directory fd as the working
    // directory (-w /proc/self/fd/N) puts the payload's cwd on the host.
    func testLeakedHostFdAsWorkdirIsRefused_CVE_2024_21626() throws {
        let r = try h.run(["run", "-w", "/proc/self/fd/7", "--", h.probe, "cwd"], shell: "exec 7</ ; exec \"$0\" \"$@\"")
        XCTAssertEqual(r.status, 125, "must not start: \(r.out)")
        XCTAssertFalse(r.out.contains("cwd="), "the payload never ran")
        XCTAssertTrue(r.err.contains("working directory /proc/self/fd/7"), r.err)
        // A fd passed on purpose (--preserve-fds) is no way out either.
        let kept = try h.run(["run", "--preserve-fds", "1", "-w", "/proc/self/fd/3", "--", h.probe, "cwd"], shell: "exec 3</ ; exec \"$0\" \"$@\"")
        XCTAssertEqual(kept.status, 125, kept.out)
        // And a leaked fd is never inherited by the payload.
        let fds = try h.run(["run", "--", h.probe, "fds"], shell: "exec 7</ 9</ ; exec \"$0\" \"$@\"")
        XCTAssertEqual(fds["fds"], "0,1,2", "only stdio crosses: \(fds.out)")
    }

    // CVE-2023-25809 (runc) class: a writable /sys/fs/cgroup lets the payload move itself
    // or change limits on the host.
    func testCgroupfsIsReadOnly_CVE_2023_25809() throws {
        for path in ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/escape"] {
            let r = try probe([], "write", path)
            XCTAssertEqual(r["write"], "EROFS", "\(path): \(r.out)")
        }
    }

    // Setuid binaries inside gain nothing: the host view is nosuid and the payload has
    // no_new_privs. The probe is setuid+setgid to an id that *is* mapped (uid/gid 1000
    // inside), so the kernel's own "unmapped owner" rule cannot be what stops it.
    func testSetuidBinaryGainsNothing() throws {
        guard let suid = ProcessInfo.processInfo.environment["ROOTLESS_PROBE_SUID"] else {
            throw XCTSkip("SKIP: ROOTLESS_PROBE_SUID not set (scripts/test installs a setuid probe)")
        }
        let owner = try FileManager.default.attributesOfItem(atPath: suid)[.ownerAccountID] as? NSNumber
        let outside = try h.run([], shell: "exec \(suid) ids")
        XCTAssertEqual(outside["euid"], owner?.stringValue, "the control: on the host the setuid bit is live")
        XCTAssertNotEqual(outside["euid"], String(getuid()))
        let st = try h.run(["run", "--", h.probe, "stat", suid])
        XCTAssertEqual(st["uid"], "1000", "the owner is mapped inside: \(st.out)")
        XCTAssertEqual(st["mode"], "6755")
        let r = try h.run(["run", "--user", "2000:2000", "--", suid, "ids"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["euid"], "2000", "setuid bit ignored inside: \(r.out)")
        XCTAssertEqual(r["egid"], "2000", "setgid bit ignored inside")
        let s = try h.run(["run", "--user", "2000:2000", "--", suid, "status"])
        XCTAssertEqual(s["CapEff"], "0000000000000000")
    }

    // CVE-2022-0185 / CVE-2023-32233 class: a nested user namespace unlocks kernel attack
    // surface. `untrusted` denies it (unshare, clone and — via ENOSYS — clone3); `default`
    // allows it, which is the control.
    func testNestedUserNamespaceDeniedUnderUntrusted() throws {
        let allowed = try h.run(["run", "--", "unshare", "-Ur", "true"])
        XCTAssertEqual(allowed.status, 0, "control: default allows nesting: \(allowed.err)")
        let denied = try h.run(["run", "--seccomp", "untrusted", "--", "unshare", "-Ur", "true"])
        XCTAssertNotEqual(denied.status, 0)
        let r = try h.run([
            "run", "--seccomp", "untrusted", "--", "sh", "-c",
            "\(h.probe) unshare-user; \(h.probe) clone3-user; \(h.probe) denied-set; \(h.probe) ptrace-child",
        ])
        XCTAssertEqual(r["unshare_user"], "EPERM")
        XCTAssertEqual(r["clone3_user"], "ENOSYS", "clone3 answers ENOSYS so libc falls back to the checkable clone")
        for k in ["keyctl", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "fsopen", "open_tree", "setns", "ptrace_attach"] {
            XCTAssertEqual(r[k], "EPERM", "\(k) under untrusted: \(r.out)")
        }
    }

    // The syscall-number bypasses of a filter: a syscall newer than the policy must fail
    // softly (ENOSYS, so programs fall back) and a 32-bit `int 0x80` call must meet the
    // same rules as the 64-bit one.
    func testNewerSyscallGetsENOSYSAndInt0x80IsFiltered() throws {
        let control = try probe(["--seccomp", "unconfined"], "fchmodat2")
        guard control["fchmodat2"] != "ENOSYS" else { throw XCTSkip("SKIP: this kernel has no fchmodat2 (6.6+)") }
        XCTAssertEqual(try probe([], "fchmodat2")["fchmodat2"], "ENOSYS", "default action of the default policy")
        let i = try probe(["--seccomp", "unconfined"], "int80-getpid")
        guard i["int80_getpid"] == "ok" else { throw XCTSkip("SKIP: no IA-32 emulation in this kernel (\(i.out))") }
        XCTAssertEqual(try probe(["--seccomp", "unconfined"], "int80-unshare-user")["int80_unshare"], "ok", "control: the call works unfiltered")
        let r = try h.run(["run", "--seccomp", "untrusted", "--", "sh", "-c", "\(h.probe) int80-getpid; \(h.probe) int80-unshare-user"])
        XCTAssertEqual(r["int80_getpid"], "ok", "i386 calls pass where the policy allows them")
        XCTAssertEqual(r["int80_unshare"], "EPERM", "and are denied where it does not: \(r.out)")
    }

    // Signalling or tracing a host process: the pid namespace hides it.
    func testHostProcessesCannotBeSignalledOrFound() throws {
        let r = try probe([], "kill", String(getpid()))
        XCTAssertEqual(r["kill"], "ESRCH", "our pid does not exist inside: \(r.out)")
    }

    // Mounting a host block device: it is not in the minimal /dev, and mounting needs
    // CAP_SYS_ADMIN, which the payload's bounding set lacks.
    func testHostBlockDeviceCannotBeMounted() throws {
        // The source of the host's / from mountinfo ("... - ext4 /dev/vda rw").
        var dev = "/dev/vda"
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in info.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count > 9, f[4] == "/", let dash = f.firstIndex(of: "-"), dash + 2 < f.count else { continue }
            dev = f[dash + 2]
            break
        }
        guard dev.hasPrefix("/dev/") else { throw XCTSkip("SKIP: / is not on a block device here (\(dev))") }
        for flags in [[], ["--seccomp", "untrusted"]] {
            let r = try probe(flags, "mount-dev", dev)
            XCTAssertEqual(r["open_dev"], "ENOENT", "\(dev) is not in the sandbox's /dev")
            XCTAssertEqual(r["mount_dev"], "EPERM", r.out)
        }
    }

    // Abstract unix sockets are per network namespace: a host service listening on one
    // (X11, D-Bus, systemd) is unreachable with --net none; with --net host, Landlock's
    // ABI 6 scope refuses it.
    func testHostAbstractUnixSocketIsUnreachable() throws {
        let name = "rootless-it-\(getpid())"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { p in for (i, b) in name.utf8.enumerated() { p[i + 1] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.utf8.count)
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        XCTAssertEqual(rc, 0)
        XCTAssertEqual(listen(fd, 4), 0)
        XCTAssertEqual(try probe(["--net", "host", "--seccomp", "unconfined"], "abstract", name)["abstract"], "ok", "control: reachable when shared")
        XCTAssertEqual(try probe([], "abstract", name)["abstract"], "ECONNREFUSED", "own network namespace")
        let doctor = try h.run(["doctor"]).out.split(separator: "\n").first { $0.contains("landlock") } ?? ""
        guard let m = doctor.range(of: #"ABI \d+"#, options: .regularExpression), let v = Int(doctor[m].dropFirst(4)), v >= 6 else {
            throw XCTSkip("SKIP: Landlock ABI < 6 here: no abstract-socket scoping")
        }
        XCTAssertEqual(try probe(["--net", "host", "--landlock"], "abstract", name)["abstract"], "EPERM", "Landlock scope")
    }
}
