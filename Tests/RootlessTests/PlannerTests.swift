import IDMap
import SlirpNet
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

/// Golden plans: the whole ordered plan for a fixed host, no privileges needed.
final class PlannerTests: XCTestCase {
    func facts(subids: Bool = true, existing: Set<String> = ["/src"], dirs: Set<String> = ["/srv/root"]) -> HostFacts {
        Self.hostFacts(subids: subids, existing: existing, dirs: dirs)
    }

    static func hostFacts(subids: Bool = true, existing: Set<String> = ["/src"], dirs: Set<String> = ["/srv/root"]) -> HostFacts {
        let sub = subids ? SubIDTable(parsing: "alice:100000:65536\n") : SubIDTable(parsing: "")
        return HostFacts(
            uid: 1000, gid: 1000, userName: "alice", cwd: "/home/alice/proj", env: ["PATH=/usr/bin:/bin", "HOME=/home/alice"],
            subuid: sub, subgid: sub, uidHelper: .usable(path: "/usr/bin/newuidmap"),
            gidHelper: .usable(path: "/usr/bin/newgidmap"),
            lookup: { dirs.contains($0) ? true : existing.contains($0) ? false : nil })
    }

    func testDefaultHostViewPlanIsGolden() throws {
        let plan = try Planner.plan(try RunArguments.parse(["make", "-j2"]), Self.hostFacts(dirs: ["/home", "/home/alice", "/srv/root"]))
        let golden = """
            namespaces: user mount pid uts ipc net cgroup
            idmap: keeper (shared, maps by helpers) uid [0 1000 1, 1 100000 65536] gid [0 1000 1, 1 100000 65536]
            root: host / (ro,nosuid,nodev)
            mount 0: tmpfs /tmp [mode=1777,size=10%] (nosuid,nodev)
            mount 1: tmpfs /home [mode=0755,size=1m] (nosuid,nodev,noexec)
            mount 2: mask /root (optional,nocreate)
            mount 3: mask /run/user (optional,nocreate)
            mount 4: tmpfs /home/alice [mode=0700,size=10%,uid=0,gid=0] (nosuid,nodev)
            mount 5: bind /home/alice/proj <- /home/alice/proj (nosuid,nodev)
            mount 6: proc /proc (nosuid,nodev,noexec,nosymlinks)
            mount 7: sysfs /sys (ro,nosuid,nodev,noexec,nosymlinks)
            mount 8: cgroup2 /sys/fs/cgroup (ro,nosuid,nodev,noexec,optional,nosymlinks)
            mount 9: tmpfs /dev [mode=0755,size=65536] (nosuid,noexec,nosymlinks)
            mount 10: device /dev/null <- /dev/null
            mount 11: device /dev/zero <- /dev/zero
            mount 12: device /dev/full <- /dev/full
            mount 13: device /dev/random <- /dev/random
            mount 14: device /dev/urandom <- /dev/urandom
            mount 15: device /dev/tty <- /dev/tty
            mount 16: devpts /dev/pts [newinstance,ptmxmode=0666,mode=0620] (nosuid,noexec)
            mount 17: symlink /dev/ptmx -> pts/ptmx
            mount 18: tmpfs /dev/shm [mode=1777,size=64m] (nosuid,nodev,noexec)
            mount 19: mqueue /dev/mqueue (nosuid,nodev,noexec,optional)
            mount 20: symlink /dev/fd -> /proc/self/fd
            mount 21: symlink /dev/stdin -> /proc/self/fd/0
            mount 22: symlink /dev/stdout -> /proc/self/fd/1
            mount 23: symlink /dev/stderr -> /proc/self/fd/2
            mount 24: mask /proc/acpi (optional,nocreate)
            mount 25: mask /proc/asound (optional,nocreate)
            mount 26: mask /proc/interrupts (optional,nocreate)
            mount 27: mask /proc/kcore (optional,nocreate)
            mount 28: mask /proc/keys (optional,nocreate)
            mount 29: mask /proc/latency_stats (optional,nocreate)
            mount 30: mask /proc/sched_debug (optional,nocreate)
            mount 31: mask /proc/scsi (optional,nocreate)
            mount 32: mask /proc/timer_list (optional,nocreate)
            mount 33: mask /proc/timer_stats (optional,nocreate)
            mount 34: mask /sys/devices/virtual/powercap (optional,nocreate)
            mount 35: mask /sys/firmware (optional,nocreate)
            mount 36: readonly /proc/bus (nosuid,nodev,noexec,optional,nocreate)
            mount 37: readonly /proc/fs (nosuid,nodev,noexec,optional,nocreate)
            mount 38: readonly /proc/irq (nosuid,nodev,noexec,optional,nocreate)
            mount 39: readonly /proc/sys (nosuid,nodev,noexec,optional,nocreate)
            mount 40: readonly /proc/sysrq-trigger (nosuid,nodev,noexec,optional,nocreate)
            mount 41: mask /tmp/rootless-1000 (optional,nocreate)
            mount 42: mask /home/alice/.cache/rootless (optional,nocreate)
            mount 43: mask /home/alice/.local/share/rootless (optional,nocreate)
            warm: yes (a sandbox the keeper built ahead for a run exactly like this one, when it has one)
            hostname: rootless
            process: uid=0 gid=0 cwd=/home/alice/proj argv=["make", "-j2"]
            path: /usr/bin:/bin
            env: 2 variables
            caps: CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_NET_BIND_SERVICE,CAP_SETFCAP,CAP_SETGID,CAP_SETPCAP,CAP_SETUID,CAP_SYS_CHROOT
            seccomp: default + terminal
            security: new session, no_new_privs, inheritable/ambient caps empty, fds > 2 closed
            init: rootless pid 1 (no capabilities but CAP_KILL, no_new_privs, non-dumpable, own seccomp filter) tty: no die-with-parent: no timeout: none

            """
        XCTAssertEqual(plan.render(), golden)
    }

    /// Which runs the keeper may build ahead, and the reason printed for those it may not.
    func testWarmIsOffForWhatTiesASandboxToItsRun() throws {
        func off(_ args: [String]) throws -> String? { try Planner.plan(try RunArguments.parse(args + ["true"]), facts()).warmOff }
        XCTAssertNil(try off([]))
        XCTAssertNil(try off(["--rootfs", "/srv/root", "--map", "self", "--timeout", "5", "-e", "A=1"]))
        XCTAssertEqual(try off(["--no-warm"]), "--no-warm")
        XCTAssertEqual(try off(["-t"]), "-t")
        XCTAssertEqual(try off(["--preserve-fds", "2"]), "--preserve-fds")
        XCTAssertEqual(try off(["--die-with-parent"]), "--die-with-parent")
        XCTAssertEqual(try off(["--no-init"]), "--no-init")
        XCTAssertEqual(try off(["--seccomp-log"]), "--seccomp-log")
        XCTAssertEqual(try off(["--seccomp", "/srv/p.json"]), "a seccomp policy file")
        XCTAssertEqual(try off(["--stats"]), "--stats")
        // Image roots, both drivers: the copy driver's root is a plain directory, but the
        // run's own, removed after it.
        for mount in [ImageRoot.Mount.overlay(layers: ["/s/layers/a"], scratch: "/s/containers/1-2"), .copy(dir: "/s/containers/3-4")] {
            var s = try RunArguments.parse(["true"])
            s.imageRoot = ImageRoot(mount: mount, name: "alpine", env: [])
            XCTAssertEqual(try Planner.plan(s, facts()).warmOff, "an image root", "\(mount)")
        }
        let noKeeper = try Planner.plan(try RunArguments.parse(["--no-keeper", "true"]), facts())
        XCTAssertFalse(noKeeper.warm)
        XCTAssertFalse(noKeeper.render().contains("warm:"), "no keeper, nothing to say about warm sandboxes")
    }

    /// The peer tools: found on the usual paths, DNS at 10.0.2.3 as SlirpNet's, -p only
    /// for pasta, and nothing forwarded by pasta that -p did not ask for (its default
    /// publishes every port the sandbox listens on). pasta's run has its own user namespace.
    func testPeerNetworkToolsArePlanned() throws {
        let f = facts(existing: ["/src", "/usr/bin/pasta", "/usr/bin/slirp4netns"])
        let p = try Planner.plan(try RunArguments.parse(["--net", "pasta", "-p", "127.0.0.1:8080:80", "-p", "5353:53/udp", "true"]), f)
        let fwd = [
            PortForward(hostIP: IPv4(127, 0, 0, 1), hostPort: 8080, guestPort: 80), PortForward(hostIP: IPv4(0), hostPort: 5353, guestPort: 53, udp: true),
        ]
        XCTAssertEqual(p.netHelper, NetHelperPlan(tool: .pasta, path: "/usr/bin/pasta", publish: fwd, apiDir: "/tmp/rootless-1000"))
        XCTAssertFalse(p.keeper)
        XCTAssertEqual(p.resolvConf?.text, "nameserver 10.0.2.3\n")
        XCTAssertTrue(p.render().contains("-p 127.0.0.1:8080->80/tcp 0.0.0.0:5353->53/udp"), p.render())
        let argv = NetHelper(p.netHelper!).arguments(child: 42)
        func values(_ flag: String) -> [String] { argv.indices.filter { argv[$0] == flag }.map { argv[$0 + 1] } }
        XCTAssertEqual(values("--tcp-ports"), ["127.0.0.1/8080:80"])
        XCTAssertEqual(values("--udp-ports"), ["0.0.0.0/5353:53"])
        XCTAssertEqual(values("--tcp-ns") + values("--udp-ns"), ["none", "none"])
        XCTAssertTrue(argv.contains("--no-map-gw") && argv.contains("--ipv4-only"))
        XCTAssertTrue(argv.contains("--no-netns-quit"), "stopped by the run, after the sandbox's connections have been carried")
        XCTAssertEqual(argv.last, "42")
        let bare = NetHelper(NetHelperPlan(tool: .pasta, path: "/usr/bin/pasta")).arguments(child: 42)
        XCTAssertEqual(bare.indices.filter { bare[$0] == "--tcp-ports" || bare[$0] == "--udp-ports" }.map { bare[$0 + 1] }, ["none", "none"])
        let s = try Planner.plan(try RunArguments.parse(["--net", "slirp4netns", "-p", "8080:80", "true"]), f)
        XCTAssertEqual(s.netHelper?.tool, .slirp4netns)
        XCTAssertEqual(s.netHelper?.publish, [PortForward(hostIP: IPv4(0), hostPort: 8080, guestPort: 80)])
        XCTAssertTrue(s.keeper)
        // linger: the wait at the end for the sandbox's connections, 10 s unless told.
        XCTAssertEqual(s.netHelper?.lingerMS, 10_000)
        XCTAssertEqual(try Planner.plan(try RunArguments.parse(["--net", "pasta:linger=0", "true"]), f).netHelper?.lingerMS, 0)
        XCTAssertEqual(try Planner.plan(try RunArguments.parse(["--net", "slirp4netns:linger=30", "true"]), f).netHelper?.lingerMS, 30_000)
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--net", "host", "-p", "8080:80", "true"]), f)) {
            XCTAssertTrue("\($0)".contains("-p needs a network of the sandbox's own"), "\($0)")
        }
        // The peer tools run IPv4-only: an IPv6 host address is refused before they start.
        for tool in ["pasta", "slirp4netns"] {
            XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--net", tool, "-p", "[::1]:8080:80/udp", "true"]), f)) {
                XCTAssertTrue("\($0)".contains("-p [::1]:8080/udp: --net \(tool) forwards IPv4 host addresses only"), "\($0)")
            }
        }
        XCTAssertEqual(
            try Planner.plan(try RunArguments.parse(["--net", "slirp", "-p", "[::1]:8080:80", "true"]), f).slirp?.publish.first?.host.description, "[::1]:8080")
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--net", "pasta", "true"]), facts())) {
            XCTAssertTrue("\($0)".contains("pasta is not installed"), "\($0)")
        }
    }

    func testRootfsPlanWithHostNetAndUserMounts() throws {
        let plan = try Planner.plan(
            try RunArguments.parse([
                "--rootfs", "/srv/root", "--read-only", "--net", "host", "--map", "self",
                "--bind", "/src:/work:ro", "--tmpfs", "/scratch", "--no-init",
                "--timeout", "1.5", "/bin/sh",
            ]), facts())
        XCTAssertEqual(plan.root, .directory("/srv/root", readOnly: true))
        XCTAssertFalse(plan.namespaces.contains(.net))
        XCTAssertEqual(plan.idmap?.method, .direct)
        XCTAssertEqual(plan.cwd, "/")
        XCTAssertFalse(plan.mounts.contains { $0.target == "/tmp" }, "a rootfs keeps its own /tmp")
        XCTAssertTrue(
            plan.mounts.contains(MountOp(.bind, "/sys", source: "/sys", flags: [.readOnly, .nosuid, .nodev, .noexec, .noSymlinks])),
            "host net: the host's sysfs, read-only")
        let user = plan.mounts.filter { $0.target == "/work" || $0.target == "/scratch" }
        XCTAssertEqual(
            user,
            [
                MountOp(.bind, "/work", source: "/src", flags: [.readOnly, .nosuid, .nodev]),
                MountOp(.tmpfs, "/scratch", data: "mode=1777", flags: [.nosuid, .nodev]),
            ])
        // masks come after user mounts so a bind cannot un-mask /proc/kcore
        XCTAssertLessThan(plan.mounts.firstIndex { $0.target == "/work" }!, plan.mounts.firstIndex { $0.kind == .mask }!)
        XCTAssertFalse(plan.useInit)
        XCTAssertEqual(plan.timeoutMS, 1500)
    }

    func testImageRunsParseAndPlanAnOverlayRoot() throws {
        var s = try RunArguments.parse(["-e", "X=1", "--storage-driver", "copy", "alpine", "--", "ls", "-l"])
        XCTAssertEqual(s.image, "alpine")
        XCTAssertEqual(s.command, ["ls", "-l"])
        XCTAssertEqual(s.storageDriver, .copy)
        XCTAssertEqual(try RunArguments.parse(["alpine", "--"]).command, [], "the image's own command")
        XCTAssertNil(try RunArguments.parse(["sh", "-c", "a -- b"]).image, "a -- inside the command's arguments is the command's")
        XCTAssertThrowsError(try RunArguments.parse(["--rootfs", "/r", "alpine", "--", "sh"]))
        XCTAssertThrowsError(try RunArguments.parse(["--storage-driver", "zfs", "x", "--"]))
        s.imageRoot = ImageRoot(
            mount: .overlay(layers: ["/s/layers/b", "/s/layers/a"], scratch: "/s/containers/1-2"), name: "alpine", env: ["PATH=/bin", "X=0"])
        let plan = try Planner.plan(s, facts())
        XCTAssertEqual(plan.root, .overlay(layers: ["/s/layers/b", "/s/layers/a"], scratch: "/s/containers/1-2"))
        XCTAssertEqual(plan.env, ["PATH=/bin", "X=1"], "the image's Env, then -e; nothing from the caller")
        XCTAssertEqual(plan.cwd, "/")
        XCTAssertTrue(plan.createCwd, "an image's WorkingDir is created when its layers lack it")
        XCTAssertFalse(try Planner.plan(try RunArguments.parse(["sh"]), facts()).createCwd, "never on the host view")
        XCTAssertTrue(plan.rootRemovedAfter, "the run removes its scratch dir: the keeper must not hold the namespace")
        XCTAssertFalse(try Planner.plan(try RunArguments.parse(["sh"]), facts()).rootRemovedAfter)
        XCTAssertFalse(plan.mounts.contains { $0.target == "/tmp" }, "an image keeps its own /tmp")
        XCTAssertTrue(
            plan.render().contains("root: overlay (userxattr) of 2 layers [/s/layers/b /s/layers/a], upper on a tmpfs at /s/containers/1-2"), plan.render())
        s.imageRoot = ImageRoot(
            mount: .overlay(layers: ["/s/layers/a"], scratch: "/s/containers/1-2", fuse: "/usr/bin/fuse-overlayfs"), name: "alpine", env: [])
        XCTAssertTrue(
            try Planner.plan(s, facts()).render().contains(
                "root: fuse-overlayfs (/usr/bin/fuse-overlayfs) of 1 layer [/s/layers/a], upper on a tmpfs at /s/containers/1-2"))
        XCTAssertEqual(try RunArguments.parse(["--storage-driver", "fuse-overlayfs", "x", "--"]).storageDriver, .fuseOverlayfs)
        // auto: overlay, else fuse-overlayfs, else copy, each with its reason.
        XCTAssertEqual(DriverChoice.choose(overlayError: 0, fuse: nil, fuseDevice: false).0, .overlay)
        XCTAssertEqual(DriverChoice.choose(overlayError: EPERM, fuse: "/usr/bin/fuse-overlayfs", fuseDevice: true).0, .fuseOverlayfs)
        let noDev = DriverChoice.choose(overlayError: EINVAL, fuse: "/usr/bin/fuse-overlayfs", fuseDevice: false)
        XCTAssertEqual(noDev.0, .copy)
        XCTAssertTrue(noDev.1.contains("/dev/fuse is not usable"), noDev.1)
        XCTAssertTrue(DriverChoice.choose(overlayError: EINVAL, fuse: nil, fuseDevice: true).1.contains("not installed"))
        let unshare = try Planner.planUnshare(command: ["id"], map: .auto, facts())
        XCTAssertEqual(unshare.root, .keep)
        XCTAssertEqual(unshare.namespaces, [.user, .mount])
        XCTAssertEqual(unshare.seccomp, [])
        XCTAssertEqual(unshare.cwd, "/home/alice/proj")
    }

    func testPlannerRejectsMissingThingsWithFixes() {
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--rootfs", "/nope", "true"]), facts())) {
            XCTAssertTrue("\($0)".contains("rootfs /nope does not exist"))
        }
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--bind", "/missing", "true"]), facts())) {
            XCTAssertTrue("\($0)".contains("bind source /missing does not exist"))
        }
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["--map", "self", "--user", "7", "true"]), facts())) {
            XCTAssertTrue("\($0)".contains("uid 7 is not mapped"))
        }
        var f = facts()
        f.subuid = SubIDTable(parsing: "alice:1:2\nalice:oops\n")
        XCTAssertThrowsError(try Planner.plan(try RunArguments.parse(["true"]), f)) {
            XCTAssertTrue("\($0)".contains("/etc/subuid:2: malformed entry"), "\($0)")
        }
    }

    func testEnvironmentInheritsThenAppliesFlags() throws {
        let p = try Planner.plan(try RunArguments.parse(["-e", "HOME=/root", "-e", "NOPE", "-e", "PATH", "true"]), facts())
        XCTAssertEqual(p.env, ["PATH=/usr/bin:/bin", "HOME=/root"])
        let c = try Planner.plan(try RunArguments.parse(["--clearenv", "-e", "A=b", "true"]), facts())
        XCTAssertEqual(c.env, ["A=b", "PATH=" + Planner.defaultPath])
    }
}

/// Seccomp, fake root, capabilities, Landlock and the no-userns rung in the plan.
final class SecurityPlanTests: XCTestCase {
    var f: HostFacts { PlannerTests.hostFacts(existing: ["/src", "/var/x"]) }

    func p(_ a: [String]) throws -> Plan { try Planner.plan(try RunArguments.parse(a), f) }

    func testFakeRootIsOnForOneMappedIdAsRootOnly() throws {
        XCTAssertEqual(try p(["true"]).seccomp, [.builtin("default"), .builtin("terminal")], "subid ranges: real chown works")
        XCTAssertEqual(try p(["--map", "self", "true"]).seccomp, [.builtin("default"), .builtin("fake-root"), .builtin("terminal")])
        XCTAssertEqual(try p(["--map", "keep-id", "true"]).seccomp, [.builtin("default"), .builtin("terminal")], "not root inside")
        XCTAssertEqual(try p(["--map", "self", "--no-fake-root", "true"]).seccomp, [.builtin("default"), .builtin("terminal")])
        XCTAssertEqual(try p(["--fake-root", "true"]).seccomp, [.builtin("default"), .builtin("fake-root"), .builtin("terminal")])
        XCTAssertEqual(try p(["--map", "self", "--seccomp", "unconfined", "true"]).seccomp, [])
        XCTAssertEqual(try p(["--seccomp", "untrusted", "true"]).seccomp, [.builtin("untrusted"), .builtin("terminal")])
        XCTAssertEqual(try p(["-t", "true"]).seccomp, [.builtin("default")], "with -t the terminal is the sandbox's own")
    }

    func testSeccompLogNeedsAPolicy() throws {
        XCTAssertTrue(try p(["--seccomp-log", "true"]).seccompLog)
        XCTAssertThrowsError(try p(["--seccomp", "unconfined", "--seccomp-log", "true"])) {
            XCTAssertTrue("\($0)".contains("nothing to log"), "\($0)")
        }
    }

    func testCacheDirFollowsXDGThenHome() {
        XCTAssertEqual(SeccompLoader.defaultCacheDir { ["XDG_CACHE_HOME": "/x", "HOME": "/h"][$0] }, "/x/rootless/seccomp")
        XCTAssertEqual(SeccompLoader.defaultCacheDir { ["XDG_CACHE_HOME": "rel", "HOME": "/h"][$0] }, "/h/.cache/rootless/seccomp")
        XCTAssertNil(SeccompLoader.defaultCacheDir { ["HOME": "/"][$0] }, "no cache rather than one in /")
    }

    func testCapabilities() throws {
        XCTAssertEqual(try p(["--cap-drop", "ALL", "--cap-add", "NET_RAW", "true"]).capabilities, ["CAP_NET_RAW"])
        let c = try p(["--cap-drop", "CAP_CHOWN,kill", "--cap-add", "sys_ptrace", "true"]).capabilities
        XCTAssertFalse(c.contains("CAP_CHOWN") || c.contains("CAP_KILL"))
        XCTAssertTrue(c.contains("CAP_SYS_PTRACE"))
        XCTAssertEqual(try p(["--cap-add", "ALL", "true"]).capabilities.count, Capabilities.names.count)
        XCTAssertThrowsError(try RunArguments.parse(["--cap-add", "CAP_NOPE", "true"])) { XCTAssertTrue("\($0)".contains("unknown capability")) }
    }

    func testLandlockRulesFollowTheMounts() throws {
        let plan = try p(["--landlock", "--ro-bind", "/src:/src", "--bind", "/src:/out", "--tmpfs", "/scratch", "--landlock-rw", "/var/x", "true"])
        XCTAssertEqual(
            plan.landlock,
            [
                LandlockRule("/", writable: false), LandlockRule("/tmp", writable: true),
                LandlockRule("/home/alice/proj", writable: true), LandlockRule("/dev", writable: true),
                LandlockRule("/src", writable: false), LandlockRule("/out", writable: true),
                LandlockRule("/scratch", writable: true), LandlockRule("/var/x", writable: true),
            ])
        XCTAssertNil(try p(["true"]).landlock)
        XCTAssertTrue(try p(["--dry-run", "--landlock", "true"]).render().contains("landlock: / ro, /tmp rw, /home/alice/proj rw, /dev rw"))
    }

    func testNoUsernsRungIsGoldenAndRefusesWhatNeedsANamespace() throws {
        let plan = try p(["--userns", "none", "make"])
        XCTAssertEqual(
            plan.render(),
            """
            namespaces: \("")
            idmap: none (no user namespace: your own ids, the host's mounts)
            process: uid=1000 gid=1000 cwd=/home/alice/proj argv=["make"]
            path: /usr/bin:/bin
            env: 2 variables
            caps: (none: not in a user namespace)
            seccomp: default
            landlock: / ro, /dev rw, /home/alice/proj rw
            security: new session, no_new_privs, inheritable/ambient caps empty, fds > 2 closed
            init: none (command is pid 1) tty: no die-with-parent: no timeout: none
            note: --userns none: no user, mount, pid, ipc, uts or cgroup namespace — the command runs as you, sees the host's files (read-only under Landlock except /home/alice/proj) and processes, and keeps UDP/unix networking (Landlock blocks TCP only)

            """)
        XCTAssertTrue(plan.blockTCP)
        for bad in [["--rootfs", "/srv/root"], ["--bind", "/src"], ["--user", "0"], ["--fake-root"]] {
            XCTAssertThrowsError(try p(["--userns", "none"] + bad + ["true"])) { XCTAssertTrue("\($0)".contains("needs a user namespace"), "\($0)") }
        }
    }

    func testLandlockMasksPerABI() {
        XCTAssertEqual(CConfig.landlockMasks(abi: 1, blockTCP: true).fs, 0x1fff)
        XCTAssertEqual(CConfig.landlockMasks(abi: 3, blockTCP: true).fs, 0x7fff)
        XCTAssertEqual(CConfig.landlockMasks(abi: 3, blockTCP: true).net, 0, "TCP rules need ABI 4")
        let m = CConfig.landlockMasks(abi: 7, blockTCP: true)
        XCTAssertEqual([m.fs, m.net, m.scoped], [0xffff, 3, 3])
    }
}
