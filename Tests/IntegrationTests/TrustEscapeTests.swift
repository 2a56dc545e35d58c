import Foundation
import XCTest

/// The escape suite's second part: attacks on what rootless itself trusts (its keeper
/// socket, start entries, compiled filters, the user's home) and on what an added
/// capability could undo. Each test runs the attack from inside a real sandbox as rltest,
/// asserts it fails, and has its control: the same move succeeds where nothing protects
/// against it, so the test would catch the protection going away.
final class TrustEscapeTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() { h?.cleanup() }

    var home: String { ProcessInfo.processInfo.environment["HOME"] ?? "/nonexistent" }
    var runtimeDir: String { "/tmp/rootless-\(getuid())" }

    /// A file of the user's, mode 600, as ~/.ssh/id_* is: unreadable by default (the home
    /// is an empty directory), readable with --home ro (the control).
    func testASecretInHomeIsUnreadableByDefault() throws {
        let secret = home + "/.rlit-secret-\(getpid())"
        try "s3cret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        defer { unlink(secret) }
        let r = try h.run(["run", "--", h.probe, "read", secret])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["read"], "ENOENT", "the default home is empty: \(r.out)")
        let ro = try h.run(["run", "--home", "ro", "--", h.probe, "read", secret])
        XCTAssertEqual(ro["read"], "ok", "the control: --home ro shows it: \(ro.out)")
        let w = try h.run(["run", "--home", "ro", "--", h.probe, "write", home + "/.rlit-w-\(getpid())"])
        XCTAssertEqual(w["write"], "EROFS", "--home ro is read-only: \(w.out)")
        // The sandbox's own home is writable scratch, gone with the sandbox.
        let e = try h.run(["run", "--", h.probe, "write", home + "/scratch"])
        XCTAssertEqual(e["write"], "ok", e.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/scratch"))
    }

    /// A toolchain under the home (rustup, nvm, pyenv) vanishes with the empty home: the
    /// error says where it is and names --home ro. The control: with --home ro it runs.
    func testACommandUnderTheHiddenHomeIsNamed() throws {
        let bin = home + "/.rlit-bin-\(getpid())"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bin) }
        try "#!/bin/sh\necho tool-ran\n".write(toFile: bin + "/rlit-tool", atomically: true, encoding: .utf8)
        chmod(bin + "/rlit-tool", 0o755)
        let env = ["PATH": bin + ":/usr/bin:/bin"]
        let r = try h.run(["run", "--", "rlit-tool"], env: env)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("on the host it is \(bin)/rlit-tool") && r.err.contains("--home ro"), r.err)
        let ro = try h.run(["run", "--home", "ro", "--", "rlit-tool"], env: env)
        XCTAssertEqual(ro.out, "tool-ran\n", "the control: \(ro.err)")
    }

    /// A cwd that holds more than one project's files is not bound read-write silently.
    func testASharedCurrentDirectoryIsNotBoundSilently() throws {
        let r = try h.run(["run", "--", h.probe, "write", "/tmp/rlit-cwd-\(getpid())"], cwd: URL(fileURLWithPath: "/tmp"))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("your current directory /tmp is not shared"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/rlit-cwd-\(getpid())"), "the write stayed in the sandbox's /tmp")
        let home = try h.run(["run", "--", h.probe, "cwd"], cwd: URL(fileURLWithPath: self.home))
        XCTAssertTrue(home.err.contains("it is your home"), home.err)
        // The control: a project directory is shared, read-write.
        let proj = try h.run(["run", "--", h.probe, "write", h.scratch.path + "/out"])
        XCTAssertEqual(proj["write"], "ok", proj.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: h.scratch.path + "/out"))
    }

    /// rootless's own state (here the image store and the seccomp cache under a home shown
    /// read-write) is masked; a bind inside it is refused with one line.
    func testRootlessStateIsMaskedAndBindsIntoItAreRefused() throws {
        let cache = home + "/.cache/rootless"
        try FileManager.default.createDirectory(atPath: cache + "/seccomp", withIntermediateDirectories: true)
        let r = try h.run(["run", "--home", "rw", "--", "/bin/sh", "-c", "ls -A \(cache) | wc -l; ls -A \(home)/.cache | grep -c rootless"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "0\n1\n", "the directory is there, and empty: \(r.out)")
        let b = try h.run(["run", "--bind", cache + "/seccomp:/x", "--", "true"])
        XCTAssertEqual(b.status, 125)
        XCTAssertTrue(b.err.contains("rootless's own state"), b.err)
        XCTAssertEqual(b.err.split(separator: "\n").filter { $0.hasPrefix("rootless:") }.count, 1, b.err)
        // The runtime directory: masked under a bind of /tmp, whose other files show.
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        let t = try h.run([
            "run", "--bind", "/tmp:/tmp/host", "--", "/bin/sh", "-c",
            "ls -A /tmp/host/rootless-\(getuid()) | wc -l; test -d /tmp/host/\(h.scratch.lastPathComponent) && echo control",
        ])
        XCTAssertEqual(t.out, "0\ncontrol\n", t.err)
    }

    /// State that does not exist yet is made before the run is planned, so it is masked
    /// like the rest: a sandbox cannot make it its own way for a later run to trust. Here a
    /// fresh store (--root) under a bound directory. The control: the directory beside it
    /// is writable.
    func testMissingStateIsMadeAndMaskedBeforeTheRun() throws {
        let store = h.scratch.appendingPathComponent("fresh-store").path
        XCTAssertFalse(FileManager.default.fileExists(atPath: store))
        let r = try h.run([
            "run", "--root", store, "--bind", h.scratch.path + ":/tmp/s", "--", "/bin/sh", "-c",
            "\(h.probe) write /tmp/s/fresh-store/planted; \(h.probe) write /tmp/s/beside",
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("write=EROFS"), "the store is masked: \(r.out)")
        XCTAssertTrue(r.out.contains("write=ok"), "the control: \(r.out)")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: store, isDirectory: &isDir) && isDir.boolValue, "made by rootless")
        XCTAssertFalse(FileManager.default.fileExists(atPath: store + "/planted"))
    }

    /// A sandbox plants symlinks in the project directory it may write: one to rootless's
    /// runtime directory, one to /. A later run that binds the first, or takes the second
    /// as its rootfs, is refused with one line. The control: a symlink to a directory of
    /// the project binds as usual.
    func testSymlinksPlantedByASandboxExposeNothing() throws {
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: h.scratch.path + "/data", withIntermediateDirectories: true)
        let plant = try h.run(["run", "--", "/bin/sh", "-c", "ln -s \(runtimeDir) out && ln -s / rootfs && ln -s data fine"])
        XCTAssertEqual(plant.status, 0, plant.err)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: h.scratch.path + "/out"), runtimeDir)
        let b = try h.run(["run", "--bind", "./out:/tmp/x", "--", "true"])
        XCTAssertEqual(b.status, 125)
        XCTAssertTrue(b.err.contains("rootless's own state"), b.err)
        let r = try h.run(["run", "--rootfs", "./rootfs", "--", "/bin/true"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("is a symlink to /"), r.err)
        let ok = try h.run(["run", "--bind", "./fine:/tmp/x", "--", h.probe, "write", "/tmp/x/f"])
        XCTAssertEqual(ok["write"], "ok", "the control: \(ok.out) \(ok.err)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: h.scratch.path + "/data/f"))
    }

    /// A process in a sandbox listens where the keeper's socket is (here: a runtime dir it
    /// can write, named by XDG_RUNTIME_DIR for the victim run). The victim's run sends it
    /// nothing — not its proof, argv, environment or stdio — and runs in a namespace of
    /// its own. The control: a client without the check delivers its user namespace fd.
    func testAFakeKeeperGetsNothing() throws {
        let xdg = h.scratch.appendingPathComponent("xdg")
        try FileManager.default.createDirectory(atPath: xdg.path + "/rootless", withIntermediateDirectories: true)
        chmod(xdg.path, 0o700)
        chmod(xdg.path + "/rootless", 0o700)
        let env = ["XDG_RUNTIME_DIR": xdg.path]
        // The socket's name: the keeper a first run starts, then stopped.
        _ = try h.run(["run", "--map", "self", "--", "true"], env: env)
        let status = try h.run(["keeper", "status"], env: env)
        guard let key = status.out.split(separator: " ").dropFirst().first.map(String.init) else { return XCTFail(status.out) }
        _ = try h.run(["keeper", "stop"], env: env)
        let sock = xdg.path + "/rootless/\(key).sock"
        for victim in [true, false] {
            let fake = try h.start(["run", "--map", "self", "--bind", xdg.path, "--", h.probe, "fake-keeper", sock])
            XCTAssertNotNil(fake.read(until: "fake_listen=ok", timeout: 30), "the fake listens")
            if victim {
                let v = try h.run(["run", "--map", "self", "--", h.probe, "ids"], env: env)
                XCTAssertEqual(v.status, 0, v.err)
                XCTAssertEqual(v["uid"], "0", "the run went on in a namespace of its own")
            } else {
                _ = try h.run([], shell: "exec \(h.probe) keeper-ask \(sock)")
            }
            let said = fake.read(until: nil, timeout: 60) ?? ""
            fake.process.waitUntilExit()
            if victim {
                XCTAssertTrue(said.contains("fake_conn=ok"), "the victim did connect to the fake: \(said)")
                XCTAssertFalse(said.contains("fake_got_fds=1"), "the victim sent nothing: \(said)")
                XCTAssertFalse(said.contains("fake_got_bytes=1"), said)
            } else {
                XCTAssertTrue(said.contains("fake_got_fds=1"), "the control: a client that does not check gives its proof away: \(said)")
            }
        }
        _ = try h.run(["keeper", "stop"], env: env)
    }

    /// A request to the real keeper from inside a sandbox (its socket made reachable on
    /// purpose, through a hard link outside the runtime directory) is not answered. The
    /// control: the same request from outside is.
    func testAKeeperRequestFromInsideASandboxIsRefused() throws {
        _ = try h.run(["run", "--map", "self", "--", "true"])
        let status = try h.run(["keeper", "status"])
        let selfMapped = status.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { w in
            guard let i = w.firstIndex(of: "uid_map"), i + 3 < w.count else { return false }
            return Array(w[(i + 1)...(i + 3)]) == ["0", String(getuid()), "1"]
        }
        guard let key = selfMapped?.dropFirst().first else { return XCTFail(status.out) }
        let sock = runtimeDir + "/\(key).sock"
        let link = h.scratch.appendingPathComponent("k.sock").path
        XCTAssertEqual(Glibc.link(sock, link), 0, "a hard link: the same socket under a path the sandbox may bind")
        let inside = try h.run(["run", "--map", "self", "--bind", link + ":/tmp/k.sock", "--", h.probe, "keeper-ask", "/tmp/k.sock"])
        // It connects (the socket is reachable), and the keeper drops it: at once, or after
        // its request (EPIPE or ok when sending, as the race goes); never an answer.
        XCTAssertNil(inside["ask_connect"], inside.out + inside.err)
        XCTAssertEqual(inside["ask_answer_fds"], "0", "no namespace handed to a sandbox: \(inside.out)")
        // --userns none shares the user's namespaces (and can open the proof), but carries
        // no_new_privs and a filter: not answered either.
        let none = try h.run(["run", "--userns", "none", "--", h.probe, "keeper-ask", sock])
        XCTAssertNil(none["ask_connect"], none.out + none.err)
        XCTAssertEqual(none["ask_answer_fds"], "0", "no namespace handed to a --userns none payload: \(none.out)")
        let outside = try h.run([], shell: "exec \(h.probe) keeper-ask \(sock)")
        XCTAssertNotEqual(outside["ask_answer_fds"], "0", "the control: from outside it answers: \(outside.out)")
    }

    /// A tampered start entry (one byte of its body changed) is not used: the run plans
    /// afresh ("stale"). The control: the untouched entry is a hit.
    func testATamperedStartEntryIsNotUsed() throws {
        let args = ["run", "--map", "self", "--", h.probe, "ids", "tamper-\(getpid())"]
        var hit = false
        for _ in 0..<8 where !hit { hit = try h.run(args, env: ["ROOTLESS_TIMING": "1"]).err.contains("start cache hit") }
        XCTAssertTrue(hit, "the control: an untouched entry is used")
        let dir = runtimeDir + "/starts"
        let mine = try FileManager.default.contentsOfDirectory(atPath: dir).map { dir + "/" + $0 }
            .filter { (try? Data(contentsOf: URL(fileURLWithPath: $0)))?.range(of: Data("tamper-\(getpid())".utf8)) != nil }
        XCTAssertEqual(mine.count, 1, "one entry holds this run's argv")
        guard let path = mine.first, var d = try? Data(contentsOf: URL(fileURLWithPath: path)),
            let at = d.range(of: Data("tamper-\(getpid())".utf8))
        else { return }
        d[at.lowerBound] = UInt8(ascii: "T")  // the argv the entry runs: "Tamper-…"
        try d.write(to: URL(fileURLWithPath: path))
        let r = try h.run(args, env: ["ROOTLESS_TIMING": "1"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("start cache stale"), "a changed entry is planned afresh: \(r.err)")
        XCTAssertFalse(r.err.contains("start cache hit"), r.err)
    }

    /// A compiled filter in the cache overwritten with an allow-all program: the next
    /// `--seccomp untrusted` run compiles afresh and still denies. The control: the
    /// planted program would allow it (it is what an unfiltered run does).
    func testATamperedSeccompCacheFileIsNotUsed() throws {
        let dir = home + "/.cache/rootless/seccomp"
        _ = try h.run(["run", "--no-warm", "--seccomp", "untrusted", "--", "true"])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".bpf") }
        XCTAssertFalse(files.isEmpty, "the cache holds compiled programs")
        // BPF_RET|BPF_K SECCOMP_RET_ALLOW, and 32 bytes where the MAC goes.
        let allowAll = Data([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]) + Data(repeating: 0, count: 32)
        for f in files { try allowAll.write(to: URL(fileURLWithPath: dir + "/" + f)) }
        let r = try h.run(["run", "--no-warm", "--seccomp", "untrusted", "--", h.probe, "unshare-user"])
        XCTAssertEqual(r["unshare_user"], "EPERM", "the policy still applies: \(r.out) \(r.err)")
        let control = try h.run(["run", "--no-warm", "--seccomp", "unconfined", "--", h.probe, "unshare-user"])
        XCTAssertEqual(control["unshare_user"], "ok", "the control: without the filter it works: \(control.out)")
        let rewritten = files.filter { (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0))) != allowAll }
        XCTAssertFalse(rewritten.isEmpty, "the program the run used was compiled and cached again")
    }

    /// --cap-add SYS_ADMIN (and ALL): the view stays read-only and nothing rootless mounted
    /// over the host's can be unmounted. The control: the capability is live (a mount of
    /// its own comes and goes).
    func testAddedSysAdminCannotUndoTheView() throws {
        for caps in [["--cap-add", "SYS_ADMIN"], ["--cap-add", "ALL"]] {
            let r = try h.run(["run", "--home", "ro"] + caps + ["--", h.probe, "unlock", home])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertNotEqual(r["remount_root_rw"], "ok", "\(caps): \(r.out)")
            XCTAssertEqual(r["umount_proc"], "EINVAL", "proc is locked: \(r.out)")
            XCTAssertEqual(r["umount_tmp"], "EINVAL", "tmp is locked: \(r.out)")
            XCTAssertEqual(r["write_home"], "EROFS", r.out)
            XCTAssertEqual(r["mount_own"], "ok", "the control: CAP_SYS_ADMIN works on what it mounts: \(r.out)")
            XCTAssertEqual(r["umount_own"], "ok", r.out)
        }
    }

    /// ptrace of pid 1 fails, even with CAP_SYS_PTRACE, and its memory and environment
    /// cannot be read; the run ends normally. The control: the payload can ptrace its own
    /// child with the same capability.
    func testPid1CannotBeTracedEvenWithSysPtrace() throws {
        for caps in [[], ["--cap-add", "SYS_PTRACE"], ["--cap-add", "ALL"]] {
            let r = try h.run(["run"] + caps + ["--", h.probe, "ptrace-pid1"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(r["ptrace_pid1"], "EPERM", "\(caps): \(r.out)")
            XCTAssertNotEqual(r["open_pid1_mem"], "ok", r.out)
            XCTAssertNotEqual(r["read_pid1_environ"], "ok", r.out)
        }
        let control = try h.run(["run", "--cap-add", "SYS_PTRACE", "--", h.probe, "ptrace-child"])
        XCTAssertEqual(control["ptrace_attach"], "ok", "the control: \(control.out)")
        let status = try h.run(["run", "--", "/bin/sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/1/status"])
        XCTAssertTrue(status.out.contains("CapEff:\t0000000000000020"), "pid 1 keeps CAP_KILL only: \(status.out)")
        XCTAssertTrue(status.out.contains("NoNewPrivs:\t1") && status.out.contains("Seccomp:\t2"), status.out)
    }

    /// /tmp and /dev/shm have a size: a payload cannot fill the host's memory through them.
    /// The control: --tmpfs changes it.
    func testSandboxTmpfsHasASize() throws {
        let r = try h.run(["run", "--", h.probe, "fill", "/dev/shm/f:80"])
        XCTAssertEqual(r["fill"], "ENOSPC", r.out)
        XCTAssertEqual(r["filled_mb"].flatMap { Int($0) }.map { $0 < 65 }, true, r.out)
        let mem = (try String(contentsOfFile: "/proc/meminfo")).split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
        let kb = mem.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        let t = try h.run(["run", "--", h.probe, "fs-size", "/tmp"])
        let mb = t["fs_size_mb"].flatMap { Int($0) } ?? -1
        XCTAssertTrue(abs(mb - kb / 10 / 1024) <= 2, "/tmp is 10% of RAM: \(mb) MiB of \(kb / 1024)")
        let big = try h.run(["run", "--tmpfs", "/dev/shm:size=100m", "--", h.probe, "fill", "/dev/shm/f:80"])
        XCTAssertEqual(big["fill"], "ok", "the control: a bigger --tmpfs takes it: \(big.out)")
    }

    /// -e NAME=VALUE: the value is nowhere in rootless's files after warm runs. The
    /// control: a run with -e NAME (copied) leaves an entry, searched the same way.
    func testAnEnvSecretIsNeverWrittenToDisk() throws {
        let value = "tok-\(UUID().uuidString)"
        for _ in 0..<3 { _ = try h.run(["run", "--map", "self", "-e", "API_TOKEN=\(value)", "--", h.probe, "env", "API_TOKEN"]) }
        for _ in 0..<3 { _ = try h.run(["run", "--map", "self", "-e", "API_TOKEN", "--", h.probe, "env", "API_TOKEN"], env: ["API_TOKEN": value]) }
        var found: [String] = [], entries = 0
        for dir in [runtimeDir, home + "/.cache/rootless"] {
            guard let e = FileManager.default.enumerator(atPath: dir) else { continue }
            for case let f as String in e {
                guard let d = FileManager.default.contents(atPath: dir + "/" + f) else { continue }
                if d.range(of: Data(value.utf8)) != nil { found.append(f) }
                if f.hasPrefix("starts/"), d.range(of: Data("API_TOKEN".utf8)) != nil { entries += 1 }
            }
        }
        XCTAssertEqual(found, [], "no file holds the token")
        XCTAssertGreaterThan(entries, 0, "the control: the -e NAME run left an entry")
    }

    /// Bad input: one line and exit 125, before anything starts (and never a hang).
    func testBadInputIsOneLineAnd125() throws {
        let fifo = h.scratch.appendingPathComponent("fifo").path
        mkfifo(fifo, 0o600)
        let deny = h.scratch.appendingPathComponent("deny.json").path
        try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO"}]}"#.write(
            toFile: deny, atomically: true, encoding: .utf8)
        let cases: [[String]] = [
            ["run", "--seccomp", fifo, "--", "true"], ["policy", "check", fifo],
            ["run", "--seccomp", deny, "--", "true"],
            ["run", "--bind", h.scratch.path + ":/", "--", "true"],
            ["run", "-e", "=V", "--", "true"], ["run", "-e", "", "--", "true"],
            ["run", "--hostname", "", "--", "true"], ["run", "--hostname", "a\nb", "--", "true"],
            ["run", "--landlock-ro", "/nope-\(getpid())", "--", "true"],
            ["run", "--stats-json", "/proc/x", "--", "true"],
        ]
        for c in cases {
            let r = try h.run(c, shell: "exec timeout 20 \"$0\" \"$@\"")
            XCTAssertEqual(r.status, c[0] == "policy" ? 1 : 125, "\(c): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").filter { $0.hasPrefix("rootless:") || $0.hasPrefix("error") }.count, 1, "\(c): \(r.err)")
            XCTAssertFalse(r.err.contains("Segmentation") || r.status == 139, "\(c)")
        }
    }

    /// The parent pid of pid (from /proc), and its comm.
    func parent(_ pid: String) -> String? {
        guard let st = try? String(contentsOfFile: "/proc/\(pid)/stat"), let close = st.lastIndex(of: ")") else { return nil }
        return st[st.index(close, offsetBy: 2)...].split(separator: " ").dropFirst().first.map(String.init)
    }
    func comm(_ pid: String) -> String { ((try? String(contentsOfFile: "/proc/\(pid)/comm")) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

    /// SIGKILL of the front of a *warm* run (whose pid 1 is the keeper's child, not ours)
    /// ends the sandbox. The control: it was alive, and a warm one, just before.
    func testSIGKILLOfAWarmFrontEndsItsSandbox() throws {
        let tag = "warm-kill-\(getpid())"
        for _ in 0..<8 {
            _ = try h.run(["run", "--map", "self", "--", h.probe, "pid"])
            let front = try h.start(["run", "--map", "self", "--", h.probe, "wait-signal", tag])
            guard front.read(until: "ready", timeout: 30) != nil, let payload = h.processes(withArgv: [h.probe, "wait-signal", tag]).first else {
                front.process.terminate(); return XCTFail("the payload never got ready")
            }
            let pid1 = parent(payload) ?? ""
            guard comm(parent(pid1) ?? "") == "rootless-keeper" else {
                // Started cold (no sandbox was ready): end it and try again.
                kill(front.process.processIdentifier, SIGTERM); front.process.waitUntilExit(); continue
            }
            let target = Int32(payload)!
            XCTAssertEqual(kill(target, 0), 0, "the control: the warm payload is alive")
            kill(front.process.processIdentifier, SIGKILL)
            front.process.waitUntilExit()
            // Bounded wait for the payload to go (the sandbox's pid 1 sees its front's end of
            // the socket close and exits; the kernel kills the rest of its pid namespace).
            let deadline = Date().addingTimeInterval(10)
            while kill(target, 0) == 0 && comm(payload) != "" && Date() < deadline { usleep(5_000) }
            XCTAssertEqual(comm(payload), "", "the payload ended with its front")
            return
        }
        XCTFail("no run was served warm")
    }

    /// Ctrl-C (SIGINT to the front) reaches a shell's child: pid 1 signals the payload's
    /// process group. The control: SIGINT to the shell alone does not reach the child.
    func testCtrlCReachesAShellsChild() throws {
        for group in [true, false] {
            let tag = "ctrl-c-\(getpid())-\(group)"
            let script = "\(h.probe) wait-signal \(tag); echo sh-after"
            let front = try h.start(["run", "--", "/bin/sh", "-c", script])
            guard front.read(until: "ready", timeout: 30) != nil else { return XCTFail("not ready") }
            if group {
                kill(front.process.processIdentifier, SIGINT)
            } else {
                guard let sh = h.processes(withArgv: ["/bin/sh", "-c", script]).first, let pid = Int32(sh) else { return XCTFail("no shell") }
                kill(pid, SIGINT)
                // The child still waits: end it so the run finishes.
                if let child = h.processes(withArgv: [h.probe, "wait-signal", tag]).first { kill(Int32(child)!, SIGTERM) }
            }
            let rest = front.read(until: nil, timeout: 30) ?? ""
            front.process.waitUntilExit()
            if group {
                XCTAssertTrue(rest.contains("got=2"), "the shell's child got SIGINT: \(rest)")
            } else {
                XCTAssertFalse(rest.contains("got=2"), "the control: a signal to the shell alone misses its child: \(rest)")
            }
        }
    }

    /// Without -t, the caller's terminal: its line discipline and exclusive mode cannot
    /// be changed, and `stty -echo` is undone when the run ends. The control: the echo
    /// change itself is allowed (it takes inside the run) and is what gets undone.
    func testTheCallersTerminalOutlivesARunWithoutTTY() throws {
        let cmd = "\(h.bin) run -- \(h.probe) tty-attack; stty -a | tr ' ' '\\n' | grep -x -- '-*echo'"
        let r = try h.run([], shell: "exec script -qec \"\(cmd)\" /dev/null")
        XCTAssertTrue(r.out.contains("tiocsetd=EPERM"), r.out)
        XCTAssertTrue(r.out.contains("tiocexcl=EPERM"), r.out)
        XCTAssertTrue(r.out.contains("tcsets_noecho=ok"), "the control: the payload did turn echo off: \(r.out)")
        XCTAssertTrue(
            r.out.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).contains { $0.trimmingCharacters(in: .whitespaces) == "echo" },
            "echo is back after the run: \(r.out)")
    }
}
