import Foundation
import XCTest

/// Seccomp policies, fake root with a real package manager, Landlock and the
/// no-user-namespace rung — observed from inside sandboxes started by `rltest`.
final class SecurityTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() { h?.cleanup() }

    func testPolicyIsLoadedAfterNoNewPrivsAndStacksFakeRoot() throws {
        let r = try h.run(["run", "--", h.probe, "status"])
        XCTAssertEqual(r["Seccomp"], "2", "filter mode: \(r.out)")
        XCTAssertEqual(r["Seccomp_filters"], "1")
        XCTAssertEqual(r["NoNewPrivs"], "1")
        // policy + fake-root + terminal, merged into one program that answers as the three
        // stacked (BPFCompactorTests); --seccomp-log keeps them apart (its listener is the first's).
        XCTAssertEqual(try h.run(["run", "--map", "self", "--", h.probe, "status"])["Seccomp_filters"], "1", "policy + fake-root + terminal: one program")
        XCTAssertEqual(
            try h.run(["run", "--map", "self", "--seccomp-log", "--", h.probe, "status"])["Seccomp_filters"], "3",
            "policy + fake-root + terminal, logged: three")
        XCTAssertEqual(try h.run(["run", "--seccomp", "unconfined", "--", h.probe, "status"])["Seccomp"], "0")
    }

    func testCapAddAndDropShapeTheBoundingSet() throws {
        let none = try h.run(["run", "--cap-drop", "ALL", "--", h.probe, "status"])
        XCTAssertEqual(none["CapBnd"], "0000000000000000", none.err)
        XCTAssertEqual(none["CapEff"], "0000000000000000")
        let raw = try h.run(["run", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--", h.probe, "status"])
        XCTAssertEqual(raw["CapBnd"], "0000000000002000", "CAP_NET_RAW is bit 13")
        let bad = try h.run(["run", "--cap-add", "CAP_FLY", "--", "true"])
        XCTAssertEqual(bad.status, 125)
        XCTAssertTrue(bad.err.contains("CAP_FLY: unknown capability"), bad.err)
    }

    func testChownWithOneMappedIDSucceedsOnlyWithFakeRoot() throws {
        let script = "touch /tmp/f && chown 42:42 /tmp/f && echo chown=ok"
        XCTAssertEqual(try h.run(["run", "--map", "self", "--", "sh", "-c", script])["chown"], "ok")
        let without = try h.run(["run", "--map", "self", "--no-fake-root", "--", "sh", "-c", script])
        XCTAssertNil(without["chown"], "control: gid 42 is not mapped, so chown fails without the rules")
        XCTAssertTrue(without.err.contains("Invalid argument"), without.err)
    }

    /// The real thing: apt-get in a debootstrapped Debian, with one mapped id. Without fake
    /// root dpkg cannot give libutempter0's helper its root:utmp ownership (gid 43 is not
    /// mapped: EINVAL) and the install fails. apt's own privilege drop to _apt is turned off
    /// with APT::Sandbox::User=root, as charliecloud does: apt checks getgid() after
    /// setgid(), which no succeed-without-effect rule can satisfy.
    func testAptGetInstallsARealPackageOnlyWithFakeRoot() throws {
        let env = ProcessInfo.processInfo.environment
        guard let debian = env["ROOTLESS_DEBIAN"], let repo = env["ROOTLESS_REPO"], FileManager.default.fileExists(atPath: debian + "/usr/bin/apt-get"),
            FileManager.default.fileExists(atPath: repo + "/Packages")
        else {
            throw XCTSkip("SKIP: no Debian rootfs / local repository (scripts/setup builds them with debootstrap)")
        }
        let root = h.scratch.appendingPathComponent("debian").path
        XCTAssertEqual(try h.run([], shell: "exec cp -a \(debian) \(root)").status, 0)
        let apt = [
            "run", "--map", "self", "--rootfs", root, "--ro-bind", "\(repo):/repo", "--clearenv",
            "-e", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "-e", "DEBIAN_FRONTEND=noninteractive",
        ]
        let apt_ = "apt-get -o APT::Sandbox::User=root"
        let cmd = ["--", "sh", "-c", "\(apt_) update -q && \(apt_) install -y -q hello libutempter0 && hello"]
        let helper = root + "/usr/lib/x86_64-linux-gnu/utempter/utempter"
        let without = try h.run(apt + ["--no-fake-root"] + cmd)
        XCTAssertNotEqual(without.status, 0, "control: apt must fail with one id and no fake root")
        XCTAssertTrue((without.out + without.err).contains("Invalid argument"), "fails on the chown: \(without.err.suffix(400))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: helper), "dpkg rolled the package back")
        let with = try h.run(apt + cmd)
        XCTAssertEqual(with.status, 0, "apt with fake root: \(with.out.suffix(600)) \(with.err.suffix(600))")
        XCTAssertTrue(with.out.contains("Hello, world!"), with.out.suffix(300).description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: helper))
    }

    func testLandlockMakesTheRootReadOnlyExceptWritableMounts() throws {
        let root = try h.busyboxRoot()
        let data = h.scratch.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let base = ["run", "--rootfs", root.path, "--bind", "\(data.path):/data"]
        let script = "/probe write /etc/x; /probe write /data/x; /probe write /tmp/x; /probe write /proc/self/comm"
        let plain = try h.run(base + ["--", "sh", "-c", script]).out
        XCTAssertTrue(plain.hasPrefix("write=ok"), "control: the rootfs is writable without Landlock: \(plain)")
        let ll = try h.run(base + ["--landlock", "--tmpfs", "/tmp", "--", "sh", "-c", script])
        XCTAssertEqual(
            ll.out.split(separator: "\n").filter { $0.hasPrefix("write=") },
            ["write=EACCES", "write=ok", "write=ok", "write=EACCES"], ll.out + ll.err)
        let ro = try h.run(base + ["--landlock", "--landlock-rw", "/etc", "--", "/probe", "write", "/etc/x"])
        XCTAssertEqual(ro["write"], "ok", "--landlock-rw grants it")
    }

    /// The no-userns rung: your own ids, no namespaces, but Landlock + seccomp + NNP.
    func testNoUsernsRungConfinesWithoutNamespaces() throws {
        let work = h.scratch.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        listen(listener, 4)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = UInt16(bigEndian: a.sin_port)
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/tmp"
        let r = try h.run(
            [
                "run", "--userns", "none", "--", "sh", "-c",
                "\(h.probe) ids; \(h.probe) status; \(h.probe) write \(work.path)/x; \(h.probe) write \(home)/rootless-escape; \(h.probe) kill \(getpid())",
            ],
            cwd: work)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["euid"], String(getuid()), "no user namespace: your own uid")
        XCTAssertEqual(r["NoNewPrivs"], "1")
        XCTAssertEqual(r["Seccomp"], "2")
        let writes = r.out.split(separator: "\n").filter { $0.hasPrefix("write=") }
        XCTAssertEqual(writes, ["write=ok", "write=EACCES"], "cwd writable, $HOME not: \(r.out)")
        XCTAssertEqual(r["kill"], "EPERM", "Landlock signal scope: host processes cannot be signalled")
        XCTAssertTrue(r.err.contains("--userns none: no user, mount, pid"), "says what isolation is missing: \(r.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/rootless-escape"))
        // TCP: bash's /dev/tcp against the listener above (ABI 4 handles TCP connect).
        if FileManager.default.fileExists(atPath: "/bin/bash") {
            let t = try h.run(
                ["run", "--userns", "none", "--", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port) && echo tcp=ok || echo tcp=denied"], cwd: work)
            XCTAssertEqual(t["tcp"], "denied", "Landlock ABI 4: no TCP connect with --net none: \(t.out) \(t.err)")
        }
    }

    /// Where user namespaces are forbidden (here: inside a sandbox under `untrusted`, as in
    /// a CI container with Docker's profile), --allow-no-userns falls back and says so;
    /// without it, the error names the cause.
    func testAllowNoUsernsFallsBackWhereUserNamespacesAreForbidden() throws {
        let inner = ["run", "--seccomp", "untrusted", "--", h.bin, "run"]
        let refused = try h.run(inner + ["--", h.probe, "ids"])
        XCTAssertEqual(refused.status, 125, refused.out)
        XCTAssertTrue(refused.err.contains("cannot create the sandbox namespaces"), refused.err)
        let r = try h.run(inner + ["--allow-no-userns", "--", h.probe, "ids"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("running with --userns none"), r.err)
        XCTAssertEqual(r["uid"], "0", "the outer sandbox's root, not a new namespace's")
    }

    /// Audit mode: the same answers as without it, plus a report of what was denied.
    func testSeccompLogReportsDenialsWithTheSameErrno() throws {
        let script = "\(h.probe) denied-set; \(h.probe) int80-unshare-user"
        let plain = try h.run(["run", "--seccomp", "untrusted", "--", "sh", "-c", script])
        let logged = try h.run(["run", "--seccomp", "untrusted", "--seccomp-log", "--", "sh", "-c", script])
        XCTAssertEqual(logged.status, 0, logged.err)
        XCTAssertEqual(logged.out, plain.out, "the payload sees exactly what the policy answers")
        XCTAssertEqual(logged["keyctl"], "EPERM")
        let report = logged.err.split(separator: "\n").first { $0.contains("seccomp-log: denied") } ?? ""
        for s in ["keyctl ×1 → EPERM", "bpf ×1 → EPERM", "setns ×1 → EPERM", "open_tree ×1 → EPERM"] {
            XCTAssertTrue(report.contains(s), "\(s) in: \(logged.err)")
        }
        if plain["int80_unshare"] == "EPERM" { XCTAssertTrue(report.contains("unshare [x86] ×1 → EPERM"), report.description) }
        let quiet = try h.run(["run", "--seccomp-log", "--", "true"])
        XCTAssertTrue(quiet.err.contains("seccomp-log: no syscall was denied"), quiet.err)
        let newer = try h.run(["run", "--seccomp-log", "--", h.probe, "fchmodat2"])
        XCTAssertEqual(newer["fchmodat2"], "ENOSYS")
        XCTAssertTrue(newer.err.contains("fchmodat2 ×1 → ENOSYS"), newer.err)
    }

    func testPolicyCheckNamesFilePathAndHint() throws {
        let bad = h.scratch.appendingPathComponent("bad.json")
        try #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","wirte"],"action":"SCMP_ACT_ALLOW"}]}"#.write(
            to: bad, atomically: true, encoding: .utf8)
        let r = try h.run(["policy", "check", bad.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("\(bad.path): $.syscalls[0].names[1]: unknown syscall \"wirte\""), r.err)
        let bogus = try h.run(["run", "--seccomp", bad.path, "--", "true"])
        XCTAssertEqual(bogus.status, 125, "a bad policy never starts a sandbox")
        XCTAssertEqual(bogus.err.split(separator: "\n").count, 1, bogus.err)
        let ok = try h.run(["policy", "check", "untrusted"])
        XCTAssertEqual(ok.status, 0, ok.err)
    }
}
