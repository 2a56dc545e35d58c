import CRootless
import Glibc
import IDMap
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import SeccompPolicy
import XCTest

/// The compile step (libseccomp, static), the cache, and the shipped policies.
final class SeccompTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let ctx = SeccompContext(arch: "SCMP_ARCH_X86_64", caps: Capabilities.defaultSet.sorted(), kernel: (6, 18))

    func testEmbeddedPoliciesAreTheShippedFilesByteForByte() throws {
        let dir = Self.repo.appendingPathComponent("policies")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(files.map { String($0.dropLast(5)) }, EmbeddedPolicies.all.map(\.name).sorted(), "run scripts/embed-policies")
        for e in EmbeddedPolicies.all {
            let text = try String(contentsOf: dir.appendingPathComponent(e.name + ".json"), encoding: .utf8)
            XCTAssertEqual(e.text, text, "\(e.name): run scripts/embed-policies")
            XCTAssertEqual(e.sha256, SHA256.hex(text.utf8), "\(e.name): the embedded hash is the cache key")
        }
    }

    func testEveryShippedPolicyParsesAndCompilesForAllX86Arches() throws {
        for e in EmbeddedPolicies.all {
            let f = try SeccompLoader.compile(e.text, name: e.name, ctx)
            XCTAssertGreaterThan(f.instructions, 10, e.name)
            XCTAssertLessThanOrEqual(f.instructions, 4096, e.name)
            // The program checks the arch first: x86_64 (0xc000003e), i386 (0x40000003).
            let words = stride(from: 0, to: f.bpf.count, by: 8).map { i in f.bpf[i + 4..<i + 8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
            XCTAssertTrue(words.contains(0xc000_003e), "\(e.name): x86_64 covered")
            XCTAssertTrue(words.contains(0x4000_0003), "\(e.name): i386 covered (int 0x80 cannot bypass)")
            XCTAssertTrue(words.contains { $0 >= 0x4000_0000 && $0 < 0x4000_1000 }, "\(e.name): x32 numbers (0x40000000 + nr) handled")
        }
        // Podman's own profile compiles unchanged too.
        let podman = try String(
            contentsOf: Self.repo.appendingPathComponent("Tests/SeccompPolicyTests/Fixtures/podman-containers-common-0.50.1.json"), encoding: .utf8)
        XCTAssertGreaterThan(try SeccompLoader.compile(podman, name: "podman", ctx).instructions, 100)
    }

    /// Where the kernel does not serve x32 the program has no x32 branch: libseccomp's
    /// x86_64 branch then sends every number >= 0x40000000 to the bad-arch action (kill).
    func testWithoutX32TheProgramIsShorterAndKillsX32Numbers() throws {
        var no = ctx
        no.x32 = false
        let text = EmbeddedPolicies.text("default")!
        // libseccomp's program as it comes (the compacted one answers the same: BPFCompactorTests).
        let with = try SeccompLoader.compile(text, name: "default", ctx, compact: false),
            without = try SeccompLoader.compile(text, name: "default", no, compact: false)
        XCTAssertLessThan(without.instructions * 10, with.instructions * 8, "\(without.instructions) vs \(with.instructions)")
        // BPF_JMP|BPF_JGE|BPF_K (0x35) against 0x40000000 right after the arch check.
        let b = without.bpf
        var insns: [(code: UInt16, k: UInt32)] = []
        for i in stride(from: 0, to: b.count, by: 8) {
            let code = UInt16(b[i]) | UInt16(b[i + 1]) << 8
            let k = UInt32(b[i + 4]) | UInt32(b[i + 5]) << 8 | UInt32(b[i + 6]) << 16 | UInt32(b[i + 7]) << 24
            insns.append((code, k))
        }
        XCTAssertTrue(insns.contains { $0.code == 0x35 && $0.k == 0x4000_0000 }, "x32 numbers are checked and sent to the bad-arch action")
        XCTAssertEqual(insns.last.map { $0.code == 6 && $0.k == 0x8000_0000 }, true, "the bad-arch action is KILL_PROCESS")
    }

    /// Docker's own default profile (Debian's golang-github-docker-docker-dev 20.10, fetched by
    /// scripts/setup) loads and compiles unchanged.
    func testDockersDefaultProfileLoadsAndCompilesUnchanged() throws {
        let path = "/var/cache/rootless-test/docker-seccomp-default.json"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw XCTSkip("SKIP: \(path) missing — scripts/setup unpacks it from Debian's golang-github-docker-docker-dev")
        }
        let p = try PolicyLoader.parse(text, file: "docker")
        XCTAssertEqual(p.defaultAction, .errno)
        let f = try SeccompLoader.compile(text, name: "docker", ctx)
        XCTAssertGreaterThan(f.instructions, 100)
    }

    func testShippedPoliciesSayWhatTheIssueAsks() throws {
        func eff(_ n: String) throws -> EffectivePolicy {
            try PolicyLoader.parse(EmbeddedPolicies.text(n)!, file: n).resolve(ResolveContext(arch: ctx.arch, caps: Set(ctx.caps), kernel: ctx.kernel))
        }
        let d = try eff("default")
        XCTAssertEqual(d.defaultAction, .errno)
        XCTAssertEqual(d.defaultErrnoRet, 38, "ENOSYS: newer syscalls fail softly")
        let u = try eff("untrusted")
        XCTAssertEqual(u.defaultErrnoRet, 38)
        for n in ["keyctl", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "ptrace", "fsopen", "move_mount", "open_tree", "setns", "mount"] {
            XCTAssertEqual(u.rules.first { $0.name == n }?.action, .errno, "untrusted denies \(n)")
        }
        XCTAssertEqual(u.rules.first { $0.name == "clone3" }?.errnoRet, 38, "clone3 -> ENOSYS so libc falls back to clone")
        let tiocsti = u.rules.first { $0.name == "ioctl" && $0.args.first?.valueTwo == 0x5412 }
        XCTAssertEqual(tiocsti?.args.first?.op, .maskedEq)
        XCTAssertEqual(tiocsti?.args.first?.value, 0xffff_ffff, "high bits the kernel drops cannot dodge the rule")
        let f = try eff("fake-root")
        XCTAssertEqual(f.defaultAction, .allow)
        for n in ["chown", "fchownat", "lchown", "setuid", "setresgid", "setgroups", "capset"] {
            XCTAssertEqual(f.rules.first { $0.name == n }.map { [$0.action == .errno, $0.errnoRet == 0] }, [true, true], n)
        }
        XCTAssertEqual(f.rules.filter { $0.name == "mknodat" }.map { $0.args[0].valueTwo }, [0o020000, 0o060000], "char and block only")
    }

    func testUnknownSyscallIsAnErrorWithFileAndPath() {
        let text = #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["raed"],"action":"SCMP_ACT_ALLOW"}]}"#
        XCTAssertThrowsError(try SeccompLoader.compile(text, name: "my.json", ctx)) { e in
            XCTAssertEqual("\(e)".components(separatedBy: " — ").first, "my.json: $.syscalls[1].names: unknown syscall \"raed\"")
        }
        // Known to the kernel but newer than libseccomp: allowed by name, falls to the default.
        let newer = #"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["mseal","read"],"action":"SCMP_ACT_ALLOW"}]}"#
        XCTAssertNoThrow(try SeccompLoader.compile(newer, name: "n.json", ctx))
    }

    func testCacheHitReadsOneFileAndNeverParses() throws {
        let dir = NSTemporaryDirectory() + "rl-seccomp-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var l = SeccompLoader(context: ctx, cacheDir: dir)
        let first = try l.load(.builtin("default"))
        XCTAssertFalse(l.lastWasHit)
        let second = try l.load(.builtin("default"))
        XCTAssertTrue(l.lastWasHit)
        XCTAssertEqual(first, second)
        // A different context (caps) is a different key.
        var other = SeccompLoader(context: SeccompContext(arch: ctx.arch, caps: [], kernel: ctx.kernel), cacheDir: dir)
        _ = try other.load(.builtin("default"))
        XCTAssertFalse(other.lastWasHit)
        // So are another arch and another libseccomp (the key's text names both).
        XCTAssertNotEqual(
            l.key("x"), SeccompLoader(context: SeccompContext(arch: "SCMP_ARCH_AARCH64", caps: ctx.caps, kernel: ctx.kernel), cacheDir: dir).key("x"))
        // A torn entry (not a whole number of instructions) is recompiled, not loaded.
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(entries.count, 2)
        for e in entries { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/" + e)) }
        XCTAssertEqual(try l.load(.builtin("default")), first)
        XCTAssertFalse(l.lastWasHit)
        // Files are keyed by their bytes.
        let p = dir + "/p.json"
        try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["acct"],"action":"SCMP_ACT_ERRNO"}]}"#.write(toFile: p, atomically: true, encoding: .utf8)
        _ = try l.load(.file(p))
        XCTAssertFalse(l.lastWasHit)
        _ = try l.load(.file(p))
        XCTAssertTrue(l.lastWasHit)
    }

    /// default + fake-root load as one program, cached: the second load reads one file. A
    /// stack that cannot merge (both read the arguments of personality) loads as two, and
    /// the marker that says so is read the next time instead of merging again.
    func testStacksLoadAsOneProgramOrAsTheirParts() throws {
        let dir = NSTemporaryDirectory() + "rl-seccomp-stack-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var l = SeccompLoader(context: ctx, cacheDir: dir)
        let one = try l.loadStack([.builtin("default"), .builtin("fake-root")])
        XCTAssertEqual(one.count, 1)
        XCTAssertEqual(try l.loadStack([.builtin("default"), .builtin("fake-root")]), one)
        XCTAssertTrue(l.lastWasHit)
        XCTAssertEqual(try l.loadStack([.builtin("default")]), [try l.load(.builtin("default"))!], "one policy: as load gives it")
        let p = dir + "/a.json", q = dir + "/b.json"
        try
            #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#
            .write(toFile: p, atomically: true, encoding: .utf8)
        try
            #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#
            .write(toFile: q, atomically: true, encoding: .utf8)
        let two = try l.loadStack([.file(p), .file(q)])
        XCTAssertEqual(two, [try l.load(.file(p))!, try l.load(.file(q))!])
        XCTAssertEqual(try l.loadStack([.file(p), .file(q)]), two)
        XCTAssertTrue(
            try FileManager.default.contentsOfDirectory(atPath: dir).contains { e in
                (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + e))).map { $0.count == 8 + 32 && $0.prefix(8) == Data(SeccompLoader.noMerge) } == true
            }, "the no-merge marker is cached (with its MAC)")
    }

    func testLogFilterTableAndReport() throws {
        let log = try SeccompLogFilter.build(EmbeddedPolicies.text("untrusted")!, name: "untrusted", ctx)
        XCTAssertEqual(log.defaultErrno, 38)
        // keyctl on all three x86 ABIs, each answering EPERM.
        let keyctl = log.rules.filter {
            $0.err == 1 && [0xc000_003e, 0x4000_0003].contains($0.arch) && ($0.nr == 250 || $0.nr == 288 || $0.nr == 0x4000_0000 + 250)
        }
        XCTAssertEqual(keyctl.count, 3, "x86_64 250, i386 288, x32 250|0x40000000")
        XCTAssertEqual(
            SeccompLogFilter.report([rl_denial(arch: 0xc000_003e, nr: 250, err: 1, count: 2), rl_denial(arch: 0x4000_0003, nr: 310, err: 1, count: 5)]),
            ["unshare [x86] ×5 → EPERM", "keyctl ×2 → EPERM"])
        // A policy that would block the hand-off is refused up front, not hung.
        let strict =
            #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","close","execve","rt_sigaction","rt_sigprocmask"],"action":"SCMP_ACT_ALLOW"}]}"#
        XCTAssertThrowsError(try SeccompLogFilter.build(strict, name: "s", ctx)) { XCTAssertTrue("\($0)".contains("does not allow sendmsg"), "\($0)") }
    }

    func testSHA256Vectors() {
        XCTAssertEqual(SHA256.hex("".utf8), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testPolicyChoiceParsing() throws {
        XCTAssertEqual(try SeccompChoice.parse("untrusted"), .builtin("untrusted"))
        XCTAssertEqual(try SeccompChoice.parse("unconfined"), .unconfined)
        XCTAssertEqual(try SeccompChoice.parse("./x.json"), .file("./x.json"))
        XCTAssertThrowsError(try SeccompChoice.parse("strict")) { XCTAssertTrue("\($0)".contains("use one of: default")) }
    }

    /// Malformed policies never crash the compile step either (the parser itself is fuzzed
    /// in SeccompPolicyTests): mutate a small valid policy and compile whatever parses.
    func testFuzzedPoliciesNeverCrashTheCompiler() {
        let base = Array(
            #"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},{"names":["ioctl"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":4294967295,"valueTwo":21522,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#
                .utf8)
        let junk = Array("{}[],:\"0123456789-e.SCMP_ACT_ALLOWKILL".utf8)
        let digits = Array("0123456789".utf8)
        // Seeded: the same mutants every run (an unseeded run once produced no valid one).
        var rng = SplitMix64(seed: 0x726f6f746c657373)
        var compiled = 0
        for _ in 0..<300 {
            var b = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[i] = junk.randomElement(using: &rng)!
                case 1: b.insert(junk.randomElement(using: &rng)!, at: i)
                default: if digits.contains(b[i]) { b[i] = digits.randomElement(using: &rng)! }  // stays valid JSON: reaches libseccomp
                }
            }
            if (try? SeccompLoader.compile(String(decoding: b, as: UTF8.self), name: "fuzz", ctx)) != nil { compiled += 1 }
        }
        XCTAssertGreaterThan(compiled, 0, "some mutants stay valid and compile")
    }
}

/// A tiny seeded generator so fuzz runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
