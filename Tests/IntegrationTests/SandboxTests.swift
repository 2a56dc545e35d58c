import Foundation
import XCTest

/// Facts observed from inside real sandboxes, started by the unprivileged user `rltest`
/// (who has a subordinate id range).
final class SandboxTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() { h?.cleanup() }

    func probe(_ args: String..., flags: [String] = []) throws -> Harness.Result {
        try h.run(["run"] + flags + ["--", h.probe] + args)
    }

    // --- identity and id maps -------------------------------------------------------------
    func testAutoMapsWholeSubuidRangeWithCallerAsRoot() throws {
        let r = try probe("ids")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["uid"], "0")
        XCTAssertEqual(r["gid"], "0")
        let lines = (r["uid_map"] ?? "").split(separator: ";")
        XCTAssertEqual(lines.count, 2, "uid_map: \(r["uid_map"] ?? "")")
        XCTAssertEqual(lines.first, Substring("0 \(getuid()) 1"))
        XCTAssertTrue(lines.last?.hasPrefix("1 ") == true && lines.last?.hasSuffix(" 65536") == true, "subuid range mapped from 1: \(lines)")
        XCTAssertFalse(r.err.contains("--map self"), "auto must not fall back for a user with subids: \(r.err)")
    }

    func testKeepIDKeepsCallerUID() throws {
        let r = try probe("ids", flags: ["--map", "keep-id"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["uid"], String(getuid()))
        XCTAssertTrue((r["uid_map"] ?? "").contains("\(getuid()) \(getuid()) 1"))
    }

    func testSelfMapsOneIDWithSetgroupsDenied() throws {
        let r = try probe("ids", flags: ["--map", "self"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["uid_map"], "0 \(getuid()) 1")
        XCTAssertEqual(r["gid_map"], "0 \(getgid()) 1")
        XCTAssertEqual(r["setgroups"], "deny")
    }

    func testUserFlagPicksMappedIdentity() throws {
        let r = try probe("ids", flags: ["--user", "1000:1000"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["uid"], "1000")
        XCTAssertEqual(r["gid"], "1000")
        let s = try probe("status", flags: ["--user", "1000"])
        XCTAssertEqual(s["CapEff"], "0000000000000000", "a non-root payload has no effective caps")
    }

    func testUnmappedUserIsRefused() throws {
        let r = try probe("ids", flags: ["--map", "self", "--user", "5"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("uid 5 is not mapped"), r.err)
    }

    // --- namespaces -------------------------------------------------------------------------
    func testHostnameAndInitIsPid1() throws {
        XCTAssertEqual(try probe("hostname")["hostname"], "rootless")
        XCTAssertEqual(try probe("hostname", flags: ["--hostname", "box"])["hostname"], "box")
        let r = try probe("pid")
        XCTAssertEqual(r["pid"], "2", "payload is the child of our pid 1")
        XCTAssertEqual(r["ppid"], "1")
        XCTAssertEqual(try probe("pid", flags: ["--no-init"])["pid"], "1")
    }

    func testOnlyLoopbackInNewNetNamespace() throws {
        XCTAssertEqual(try probe("netdevs")["netdevs"], "lo")
        let host = try probe("netdevs", flags: ["--net", "host"])["netdevs"] ?? ""
        XCTAssertTrue(host.split(separator: ",").count > 1, "--net host shares the host's interfaces: \(host)")
    }

    // --- filesystem -------------------------------------------------------------------------
    func testHostViewIsReadOnlyAndCwdIsWritable() throws {
        XCTAssertEqual(try probe("write", "/etc/rootless-probe")["write"], "EROFS")
        XCTAssertEqual(try probe("write", "/usr/rootless-probe")["write"], "EROFS")
        let r = try probe("write", h.scratch.appendingPathComponent("from-inside").path)
        XCTAssertEqual(r["write"], "ok", r.err)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: h.scratch.appendingPathComponent("from-inside").path),
            "the current directory is the host's, read-write")
    }

    func testFreshTmpHidesHostTmp() throws {
        let marker = "/tmp/rlit-marker-\(getpid())"
        FileManager.default.createFile(atPath: marker, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: marker) }
        XCTAssertEqual(try probe("stat", marker)["stat"], "ENOENT")
        XCTAssertEqual(try probe("write", "/tmp/inside")["write"], "ok")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/inside"))
    }

    func testMinimalDev() throws {
        let null = try probe("stat", "/dev/null")
        XCTAssertEqual(null["type"], "char")
        XCTAssertEqual(null["rdev"], "1:3")
        XCTAssertEqual(try probe("write", "/dev/null")["write"], "ok")
        XCTAssertEqual(try probe("stat", "/dev/sda")["stat"], "ENOENT", "no host block devices")
        XCTAssertEqual(try probe("stat", "/dev/ptmx")["type"], "link")
        XCTAssertEqual(try probe("stat", "/dev/pts/ptmx")["type"], "char")
        XCTAssertEqual(try probe("stat", "/dev/shm")["type"], "dir")
        XCTAssertEqual(try probe("read", "/dev/urandom")["read"], "ok")
    }

    func testMaskedAndReadOnlyProcAndSys() throws {
        // Kernels differ in which of these exist (this one has no kcore): check those the host has.
        let files = ["/proc/kcore", "/proc/keys", "/proc/interrupts", "/proc/timer_list", "/proc/sched_debug"]
            .filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            XCTAssertEqual(try probe("stat", f)["rdev"], "1:3", "\(f) is masked with /dev/null")
            XCTAssertEqual(try probe("read", f)["bytes"], "0")
        }
        XCTAssertEqual(try probe("stat", "/sys/firmware")["mode"], "555", "directories get an empty read-only tmpfs")
        XCTAssertEqual(try probe("write", "/sys/firmware/x")["write"], "EROFS")
        // All directory masks share one tmpfs (later ones are clones of the first): each
        // masked directory the host has must be empty and read-only, not only the first.
        let dirs = ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
            .filter { FileManager.default.fileExists(atPath: $0) }
        for d in dirs {
            XCTAssertEqual(try probe("stat", d)["mode"], "555", "\(d) is masked")
            XCTAssertEqual(try probe("write", d + "/x")["write"], "EROFS", d)
        }
        XCTAssertEqual(try probe("write", "/proc/sys/kernel/hostname")["write"], "EROFS")
        XCTAssertEqual(try probe("write", "/sys/fs/cgroup/cgroup.procs")["write"], "EROFS", "CVE-2023-25809 class")
        XCTAssertEqual(try probe("write", "/sys/kernel/uevent_helper")["write"], "EROFS")
    }

    func testBindTmpfsAndReadOnlyBind() throws {
        let src = h.scratch.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        let r = try probe("write", "/tmp/dst/x", flags: ["--bind", "\(src.path):/tmp/dst"])
        XCTAssertEqual(r["write"], "ok", r.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: src.appendingPathComponent("x").path))
        XCTAssertEqual(try probe("write", "/tmp/ro/y", flags: ["--ro-bind", "\(src.path):/tmp/ro"])["write"], "EROFS")
        XCTAssertEqual(try probe("write", "/tmp/t/z", flags: ["--tmpfs", "/tmp/t:size=1m"])["write"], "ok")
    }

    func testRootfsPivotAndReadOnly() throws {
        let root = try h.busyboxRoot()
        let r = try h.run(["run", "--rootfs", root.path, "--", "/probe", "stat", "/bin/busybox"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["type"], "file")
        XCTAssertEqual(
            try h.run(["run", "--rootfs", root.path, "--", "/probe", "stat", h.probe])["stat"], "ENOENT",
            "the host is gone after pivot_root")
        XCTAssertEqual(try h.run(["run", "--rootfs", root.path, "--", "/probe", "write", "/etc/x"])["write"], "ok")
        XCTAssertEqual(try h.run(["run", "--rootfs", root.path, "--read-only", "--", "/probe", "write", "/etc/y"])["write"], "EROFS")
        XCTAssertEqual(try h.run(["run", "--rootfs", root.path, "--", "sh", "-c", "echo hi"]).out, "hi\n")
    }

    /// As with bwrap and podman: `--rootfs rootfs --bind src:/data`, run from the directory
    /// holding them, means those directories (seen from inside, by a marker file).
    func testRelativeRootfsAndBindSourceAreInTheCallersDirectory() throws {
        _ = try h.busyboxRoot()
        let src = h.scratch.appendingPathComponent("src")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: src.appendingPathComponent("marker").path, contents: Data("m".utf8))
        let r = try h.run(["run", "--rootfs", "rootfs", "--ro-bind", "./src:/data", "--", "/probe", "stat", "/data/marker"], cwd: h.scratch)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["type"], "file", r.out)
        let up = try h.run(["run", "--rootfs", "../rootfs", "--", "/bin/true"], cwd: src)
        XCTAssertEqual(up.status, 125)
        XCTAssertTrue(up.err.contains("\"..\" is not allowed"), up.err)
    }

    /// CVE-2021-30465 class: a mount target that is a symlink to a host path lands inside.
    func testSymlinkedMountTargetStaysInsideRoot() throws {
        let root = try h.busyboxRoot()
        let hostDir = h.scratch.appendingPathComponent("host-victim")
        try FileManager.default.createDirectory(at: hostDir, withIntermediateDirectories: true)
        // The same absolute path exists inside the rootfs: in-root resolution lands there.
        try FileManager.default.createDirectory(at: root.appendingPathComponent(hostDir.path), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("evil").path, withDestinationPath: hostDir.path)
        let src = h.scratch.appendingPathComponent("payload")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        let r = try h.run(["run", "--rootfs", root.path, "--bind", "\(src.path):/evil/mnt", "--", "/probe", "stat", "/evil/mnt"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: hostDir.appendingPathComponent("mnt").path),
            "nothing was created on the host through the symlink")
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: root.appendingPathComponent(hostDir.path).appendingPathComponent("mnt").path),
            "the target was created inside the rootfs")
    }

    /// CVE-2019-19921 class: a rootfs whose /proc is a symlink is refused.
    func testSymlinkedProcIsRefused() throws {
        let root = try h.busyboxRoot()
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("proc").path, withDestinationPath: "/tmp")
        let r = try h.run(["run", "--rootfs", root.path, "--", "/probe", "ids"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("/proc") && r.err.contains("symlink"), r.err)
    }

    // --- process ----------------------------------------------------------------------------
    func testSecurityStatusOfPayload() throws {
        let r = try probe("status")
        XCTAssertEqual(r["NoNewPrivs"], "1")
        XCTAssertEqual(r["CapInh"], "0000000000000000", "CVE-2022-29162 class")
        XCTAssertEqual(r["CapAmb"], "0000000000000000")
        XCTAssertEqual(r["CapBnd"], "00000000800405fb", "podman's default bounding set")
        XCTAssertEqual(r["CapEff"], "00000000800405fb")
        let s = try probe("pid")
        XCTAssertEqual(s["sid"], s["pid"], "payload leads its own session (no controlling tty: CVE-2017-5226)")
    }

    func testStrayFdsClosedAndPreservedFdsPassed() throws {
        // sh opens fds 3..5, then execs rootless with them inherited.
        let r = try h.run(["run", "--", h.probe, "fds"], shell: "exec 3</etc/hostname 4</etc/hostname 5</etc/hostname; exec \"$0\" \"$@\"")
        XCTAssertEqual(r["fds"], "0,1,2", r.err)
        let p = try h.run(
            ["run", "--preserve-fds", "2", "--", h.probe, "fds"], shell: "exec 3</etc/hostname 4</etc/hostname 5</etc/hostname; exec \"$0\" \"$@\"")
        XCTAssertEqual(p["fds"], "0,1,2,3,4", p.err)
        let bad = try h.run(["run", "--preserve-fds", "3", "--", h.probe, "fds"])
        XCTAssertEqual(bad.status, 125)
        XCTAssertTrue(bad.err.contains("fd 3 is not open"), bad.err)
    }

    func testExitStatusAndSignals() throws {
        XCTAssertEqual(try probe("exit", "7").status, 7)
        XCTAssertEqual(try probe("kill-self", "15").status, 143)
        XCTAssertEqual(try probe("kill-self", "9").status, 137)
        // Without our init the command is pid 1, and the kernel drops signals a namespace
        // init has no handler for: exactly why --no-init is not the default.
        XCTAssertEqual(try probe("kill-self", "15", flags: ["--no-init", "--timeout", "0.5"]).status, 124)
    }

    func testSignalsAreForwardedToTheCommand() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: h.bin)
        p.arguments = ["run", "--", h.probe, "wait-signal"]
        p.currentDirectoryURL = h.scratch
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        // Synchronise on the probe's "ready" line, not on time.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready\n") {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            seen.append(d)
        }
        p.terminate()  // SIGTERM to rootless
        seen.append(out.fileHandleForReading.readDataToEndOfFile())
        p.waitUntilExit()
        XCTAssertTrue(String(decoding: seen, as: UTF8.self).contains("got=15"), String(decoding: seen, as: UTF8.self))
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testTimeoutKillsWholeSandbox() throws {
        // A background and a foreground child, both with a marker argument we can find.
        let marker = String(3000 + Int(getpid() % 997))
        let r = try h.run(["run", "--timeout", "0.3", "--", "/bin/sh", "-c", "sleep \(marker) & sleep \(marker)"])
        XCTAssertEqual(r.status, 124)
        XCTAssertTrue(r.err.contains("timed out"), r.err)
        // pid 1's death tears down the whole pid namespace before rootless can reap it, so
        // nothing may be left now (no waiting needed).
        XCTAssertEqual(h.processes(withArgv: ["sleep", marker]), [], "no process of the sandbox outlives it")
    }

    func testEnvWorkdirAndTty() throws {
        XCTAssertEqual(try probe("env", "FOO", flags: ["-e", "FOO=bar"])["env"], "bar")
        XCTAssertEqual(try probe("env", "HOME", flags: ["--clearenv"])["env"], "<unset>")
        XCTAssertEqual(try probe("cwd", flags: ["-w", "/usr"])["cwd"], "/usr")
        XCTAssertEqual(try probe("cwd")["cwd"], h.scratch.path)
        let t = try probe("tty", flags: ["-t"])
        XCTAssertEqual(t["isatty"], "1", t.out)
        XCTAssertEqual(t["devtty"], "ok", "the pty is the controlling terminal")
        XCTAssertEqual(try probe("tty")["isatty"], "0")
    }

    /// -t copies the caller's window size onto the sandbox's pty (script gives rootless a
    /// real terminal, sized 33x111 first).
    func testTtyGetsTheCallersWindowSize() throws {
        let r = try h.run([], shell: "exec script -qec 'stty rows 33 cols 111; \(h.bin) run -t -- /bin/stty size' /dev/null")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("33 111"), "stty size inside: \(r.out)")
    }

    /// --die-with-parent: when the process that started rootless is SIGKILLed, rootless and
    /// the whole sandbox die too. Synchronised by the pipe: "ready" comes from inside, and
    /// EOF arrives only once every holder of the pipe (sh, rootless, pid 1, sleep) is gone.
    func testDieWithParentTakesTheSandboxDown() throws {
        let marker = String(4000 + Int(getpid() % 997))
        let r = try h.start(
            ["-c", "\"$0\" run --die-with-parent -- /bin/sh -c 'echo ready; exec /bin/sleep \(marker)'; echo sh-outlived", h.bin],
            executable: "/bin/sh")
        defer { for pid in h.processes(withArgv: ["/bin/sleep", marker]) { kill(pid_t(pid)!, SIGKILL) } }
        XCTAssertEqual(r.read(until: "ready\n", timeout: 30), "ready\n", "the sandbox started")
        kill(r.process.processIdentifier, SIGKILL)
        r.process.waitUntilExit()
        XCTAssertEqual(r.read(until: nil, timeout: 5), "", "rootless and the sandbox die with their parent (EOF, nothing more)")
        XCTAssertEqual(h.processes(withArgv: ["/bin/sleep", marker]), [], "no process of the sandbox outlives its parent")
    }

    /// On a hybrid host (cgroup v1 controllers, an empty cgroup2 tree) a plain run works,
    /// a limit fails with the fix, and --cgroup optional runs without it, saying so.
    /// --ulimit works everywhere.
    func testLimitsOnAHybridHostFailWithTheFixAndUlimitsWork() throws {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        guard mountinfo.contains(" /sys/fs/cgroup/unified ") else {
            throw XCTSkip("SKIP: this host is not hybrid (cgroup2 not at /sys/fs/cgroup/unified); the cgroupvm suite covers delegated hosts")
        }
        XCTAssertEqual(try h.run(["run", "--", "true"]).status, 0)
        let limited = try h.run(["run", "--memory", "64m", "--", "true"])
        XCTAssertEqual(limited.status, 125)
        XCTAssertEqual(limited.err.split(separator: "\n").count, 1, limited.err)
        XCTAssertTrue(limited.err.contains("this host is hybrid") && limited.err.contains("systemd-run --user --scope -p Delegate=yes"), limited.err)
        let optional = try h.run([
            "run", "--cgroup", "optional", "--memory", "64m", "--stats", "--ulimit", "nofile=64:128", "--", "/bin/sh", "-c", "ulimit -n; ulimit -Hn",
        ])
        XCTAssertEqual(optional.status, 0, optional.err)
        XCTAssertEqual(optional.out, "64\n128\n")
        XCTAssertTrue(optional.err.contains("limits not enforced (--cgroup optional)"), optional.err)
        XCTAssertTrue(optional.err.contains("stats (rusage): wall "), optional.err)
        let tooHigh = try h.run(["run", "--ulimit", "nofile=64:999999999", "--", "true"])
        XCTAssertEqual(tooHigh.status, 125)
        XCTAssertTrue(tooHigh.err.contains("cannot set --ulimit nofile"), tooHigh.err)
    }

    // --- bad input: one line, exit 125, nothing left behind ---------------------------------
    func testBadInputGetsOneLineErrorAndExit125() throws {
        let cases: [([String], String)] = [
            (["run", "--bogus", "--", "true"], "unknown option --bogus"),
            (["run", "--rootfs", "/nonexistent-rootfs", "--", "true"], "rootfs /nonexistent-rootfs does not exist"),
            (["run", "--bind", "/nonexistent-src:/x", "--", "true"], "bind source /nonexistent-src does not exist"),
            (["run", "--", "no-such-command-xyz"], "command not found inside the sandbox: no-such-command-xyz"),
            (["run", "--bind", "/etc:/no-such-dir", "--", "true"], "cannot prepare mount target /no-such-dir"),
            (["run", "--map", "bogus", "--", "true"], "unknown --map mode"),
            (["run", "--storage-drvier", "copy", "--", "true"], "unknown option --storage-drvier (did you mean --storage-driver?)"),
            (["imgaes"], "unknown command \"imgaes\" (did you mean images?)"),
            (["import", "--creds", "a:b", "x"], "unknown option --creds"),
            (["run"], "no command given"),
        ]
        for (args, text) in cases {
            // Only what rootless itself would leave (its prefixes, ours): whatever else runs
            // on the machine makes its own in /tmp.
            func ours() throws -> [String] {
                try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { e in
                    var st = stat()
                    return (e.hasPrefix("rootless") || e.hasPrefix("resolv-")) && lstat("/tmp/" + e, &st) == 0 && st.st_uid == getuid()
                }.sorted()
            }
            let before = try ours()
            let r = try h.run(args)
            XCTAssertEqual(r.status, 125, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(text), "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, "one line: \(r.err)")
            XCTAssertTrue(r.err.contains(" — "), "names a fix: \(r.err)")
            XCTAssertEqual(try ours(), before, "no temp dir left behind")
        }
    }

    /// --version names the commit scripts/build wrote into the binary (a hex id, never the
    /// placeholder a plain swift build leaves), libseccomp's version and the features.
    func testVersionNamesItsCommit() throws {
        let r = try h.run(["--version"])
        XCTAssertEqual(r.status, 0, r.err)
        let commit = r.out.split(separator: "\n").first { $0.hasPrefix("commit: ") }?.dropFirst(8) ?? ""
        XCTAssertTrue(commit.count >= 12 && commit.prefix(12).allSatisfy(\.isHexDigit), r.out)
        XCTAssertTrue(r.out.contains("libseccomp: 2.") && r.out.contains("features: "), r.out)
    }

    func testCommandNamedLikeAFlagIsOnlyAProgramName() throws {
        // CVE-2024-32462 class: after --, "--bind" is argv[0], never an option.
        let r = try h.run(["run", "--", "--bind", "/", "/x"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("command not found inside the sandbox: --bind"), r.err)
    }
}

final class DoctorTests: XCTestCase {
    func testDoctorReportsThisHostAsJSON() throws {
        let h = try Harness.make()
        defer { h.cleanup() }
        let r = try h.run(["doctor", "--format", "json"])
        let checks = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        func check(_ n: String) -> [String: Any]? { checks.first { $0["name"] as? String == n } }
        XCTAssertEqual(check("user namespaces")?["status"] as? String, "ok")
        XCTAssertEqual(check("subuid")?["status"] as? String, "ok")
        XCTAssertEqual(check("newuidmap")?["status"] as? String, "ok")
        XCTAssertNotNil(check("landlock"))
        XCTAssertNotNil(check("seccomp"))
        let cg = check("cgroups")
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified") {
            XCTAssertTrue((cg?["detail"] as? String ?? "").hasPrefix("hybrid, no controllers"), "\(cg ?? [:])")
            XCTAssertNotNil(cg?["fix"] as? String)
        }
        let text = try h.run(["doctor"])
        XCTAssertTrue(text.out.contains("[ok]   user namespaces"), text.out)
    }
}
