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

/// The compacted program answers as libseccomp's does, on every input class, for every
/// shipped policy (and Podman's), with and without an x32 branch; and it is smaller.
final class BPFCompactorTests: XCTestCase {
    let ctx = SeccompContext(arch: "SCMP_ARCH_X86_64", caps: Capabilities.defaultSet.sorted(), kernel: (6, 18))
    static let x86_64: UInt32 = 0xc000_003e, i386: UInt32 = 0x4000_0003

    /// Every number below 1100 and in the x32 range, for x86_64, i386, another arch and
    /// an unknown one; arguments zero, then 40 seeded random argument sets per number.
    func assertSameAnswers(_ raw: [UInt8], _ compact: [UInt8], _ name: String) { assertSameAnswers(stack: [raw], compact, name) }

    /// As the kernel answers for `stack` loaded in order (BPFCompactor.stacked, checked
    /// against the kernel's rule in testStackedPicksAsTheKernelDoes).
    func assertSameAnswers(stack: [[UInt8]], _ compact: [UInt8], _ name: String) {
        let progs = stack.map { BPF.decode($0)! }, b = BPF.decode(compact)!
        func reference(_ i: SeccompInput) -> UInt32? {
            var rets: [UInt32] = []
            for p in progs { guard let r = BPF.run(p, i) else { return nil }; rets.append(r.ret) }
            return BPFCompactor.stacked(rets)
        }
        var rng = SplitMix64(seed: 42)
        var nrs = Array(UInt32(0)..<1100) + (UInt32(0x4000_0000)..<0x4000_0000 + 1100)
        nrs += [0x3fff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]
        var differ = 0
        for arch in [Self.x86_64, Self.i386, 0xc000_00b7 /* aarch64 */, 0] {
            for nr in nrs {
                var inputs = [SeccompInput(nr: nr, arch: arch)]
                for _ in 0..<40 {
                    // Random words, and small values (flags, families, personalities).
                    inputs.append(
                        SeccompInput(nr: nr, arch: arch, ip: rng.next(), args: (0..<6).map { _ in rng.next() % 3 == 0 ? rng.next() % 64 : rng.next() }))
                }
                for i in inputs where reference(i) != BPF.run(b, i)?.ret {
                    differ += 1
                    if differ < 5 {
                        XCTFail("\(name): arch \(arch) nr \(nr) args \(i.args): \(String(describing: reference(i))) vs \(String(describing: BPF.run(b, i)))")
                    }
                }
            }
        }
        XCTAssertEqual(differ, 0, name)
    }

    func testShippedPoliciesCompactToTheSameAnswers() throws {
        var no32 = ctx
        no32.x32 = false
        for c in [ctx, no32] {
            for e in EmbeddedPolicies.all {
                let raw = try SeccompLoader.compile(e.text, name: e.name, c, compact: false).bpf
                let shipped = try SeccompLoader.compile(e.text, name: e.name, c).bpf
                guard let compact = BPFCompactor.compact(raw) else {
                    XCTAssertEqual(shipped, raw, "\(e.name): not compacted, shipped as libseccomp made it")
                    continue
                }
                XCTAssertEqual(shipped, compact)
                assertSameAnswers(raw, compact, "\(e.name) x32=\(c.x32)")
            }
        }
    }

    /// The point of it: the default policy in under half the instructions. And the x32
    /// numbers, with no x32 branch, still get libseccomp's bad-arch action (kill).
    func testTheDefaultPolicyShrinksAndStillKillsX32() throws {
        var c = ctx
        c.x32 = false
        let text = EmbeddedPolicies.text("default")!
        let raw = try SeccompLoader.compile(text, name: "default", c, compact: false).bpf
        let compact = try XCTUnwrap(BPFCompactor.compact(raw))
        XCTAssertLessThan(compact.count * 2, raw.count, "\(compact.count / 8) of \(raw.count / 8) instructions")
        let p = BPF.decode(compact)!
        XCTAssertEqual(BPF.run(p, SeccompInput(nr: 0x4000_0001, arch: Self.x86_64))?.ret, 0x8000_0000)
        XCTAssertEqual(BPF.run(p, SeccompInput(nr: 0, arch: Self.x86_64))?.ret, 0x7fff_0000, "read is allowed")
        XCTAssertEqual(BPF.run(p, SeccompInput(nr: 3, arch: Self.i386))?.ret, 0x7fff_0000, "i386 read is allowed")
    }

    /// default + fake-root, as a single-id sandbox stacks them, become one program that
    /// answers as the pair: chown succeeds without effect (ERRNO 0), mknod of a character
    /// device too, a FIFO is made for real, and what default denies stays denied.
    func testDefaultAndFakeRootMergeIntoOneProgram() throws {
        for x32 in [true, false] {
            var c = ctx
            c.x32 = x32
            let d = try SeccompLoader.compile(EmbeddedPolicies.text("default")!, name: "default", c, compact: false).bpf
            let f = try SeccompLoader.compile(EmbeddedPolicies.text("fake-root")!, name: "fake-root", c, compact: false).bpf
            let m = try XCTUnwrap(BPFCompactor.merge([d, f]))
            XCTAssertLessThan(m.count * 3, d.count + f.count, "\(m.count / 8) of \(d.count / 8) + \(f.count / 8) instructions")
            assertSameAnswers(stack: [d, f], m, "default+fake-root x32=\(x32)")
            let p = BPF.decode(m)!
            let mknod: UInt32 = 133, chown: UInt32 = 92, ptrace: UInt32 = 101
            XCTAssertEqual(BPF.run(p, SeccompInput(nr: chown, arch: Self.x86_64))?.ret, 0x0005_0000, "chown: ERRNO(0)")
            XCTAssertEqual(BPF.run(p, SeccompInput(nr: mknod, arch: Self.x86_64, args: [0, 0o20644, 0, 0, 0, 0]))?.ret, 0x0005_0000, "char device: ERRNO(0)")
            XCTAssertEqual(BPF.run(p, SeccompInput(nr: mknod, arch: Self.x86_64, args: [0, 0o10644, 0, 0, 0, 0]))?.ret, 0x7fff_0000, "FIFO: allowed")
            XCTAssertEqual(
                BPF.run(p, SeccompInput(nr: ptrace, arch: Self.x86_64))?.ret, BPF.run(BPF.decode(d)!, SeccompInput(nr: ptrace, arch: Self.x86_64))?.ret)
        }
    }

    /// The kernel's rule (kernel/seccomp.c, seccomp_run_filters): from the newest filter
    /// back, a value replaces the best only if its action is lower as a signed 32-bit.
    func testStackedPicksAsTheKernelDoes() {
        let allow: UInt32 = 0x7fff_0000, errno0: UInt32 = 0x0005_0000, eperm: UInt32 = 0x0005_0001, kill: UInt32 = 0x8000_0000, trap: UInt32 = 0x0003_0000
        XCTAssertEqual(BPFCompactor.stacked([allow, errno0]), errno0)
        XCTAssertEqual(BPFCompactor.stacked([errno0, allow]), errno0)
        XCTAssertEqual(BPFCompactor.stacked([eperm, errno0]), errno0, "equal actions: the newest's data")
        XCTAssertEqual(BPFCompactor.stacked([errno0, eperm]), eperm)
        XCTAssertEqual(BPFCompactor.stacked([allow, kill]), kill, "KILL_PROCESS is negative: most restrictive")
        XCTAssertEqual(BPFCompactor.stacked([trap, errno0]), trap)
    }

    func testPodmansProfileCompactsToTheSameAnswers() throws {
        let podman = try String(
            contentsOf: SeccompTests.repo.appendingPathComponent("Tests/SeccompPolicyTests/Fixtures/podman-containers-common-0.50.1.json"), encoding: .utf8)
        let raw = try SeccompLoader.compile(podman, name: "podman", ctx, compact: false).bpf
        let compact = try XCTUnwrap(BPFCompactor.compact(raw))
        assertSameAnswers(raw, compact, "podman")
    }

    /// Bytes that are not a program, or programs it cannot prove things about: nil, no crash.
    func testGarbageIsRefusedNotCrashedOn() {
        var rng = SplitMix64(seed: 7)
        XCTAssertNil(BPFCompactor.compact([]))
        XCTAssertNil(BPFCompactor.compact([1, 2, 3]))
        for _ in 0..<2000 {
            let n = Int(rng.next() % 40 + 1)
            var b: [UInt8] = []
            for _ in 0..<n {
                let ops: [UInt16] = [0x20, 0x15, 0x25, 0x35, 0x45, 0x05, 0x06, 0x54, 0x16, 0x07, 0x00]
                let code = ops[Int(rng.next() % UInt64(ops.count))]
                let k = rng.next() % 3 == 0 ? UInt32(rng.next() % 64) : UInt32(truncatingIfNeeded: rng.next())
                b += BPF.encode([BPFInsn(code, UInt8(rng.next() % 8), UInt8(rng.next() % 8), k)])
            }
            if let c = BPFCompactor.compact(b) { assertSameAnswersSmall(b, c) }
        }
    }

    func assertSameAnswersSmall(_ raw: [UInt8], _ compact: [UInt8]) {
        let a = BPF.decode(raw)!, b = BPF.decode(compact)!
        for arch in [Self.x86_64, 0, 1, 63, 64] {
            for nr in UInt32(0)..<70 {
                let i = SeccompInput(nr: nr, arch: arch)
                XCTAssertEqual(BPF.run(a, i)?.ret, BPF.run(b, i)?.ret)
            }
        }
    }
}
