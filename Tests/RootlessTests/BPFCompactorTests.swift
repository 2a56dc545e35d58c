@testable import Rootless
import SeccompPolicy
import XCTest

/// The compacted program answers as libseccomp's does, on every input class, for every
/// shipped policy (and Podman's), with and without an x32 branch; and it is smaller.
final class BPFCompactorTests: XCTestCase {
    let ctx = SeccompContext(arch: "SCMP_ARCH_X86_64", caps: Capabilities.defaultSet.sorted(), kernel: (6, 18))
    static let x86_64: UInt32 = 0xc000_003e, i386: UInt32 = 0x4000_0003

    /// Every number below 1100 and in the x32 range, for x86_64, i386, another arch and
    /// an unknown one; arguments zero, then 40 seeded random argument sets per number.
    func assertSameAnswers(_ raw: [UInt8], _ compact: [UInt8], _ name: String) {
        let a = BPF.decode(raw)!, b = BPF.decode(compact)!
        var rng = SplitMix64(seed: 42)
        var nrs = Array(UInt32(0)..<1100) + (UInt32(0x4000_0000)..<0x4000_0000 + 1100)
        nrs += [0x3fff_ffff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]
        var differ = 0
        for arch in [Self.x86_64, Self.i386, 0xc000_00b7 /* aarch64 */, 0] {
            for nr in nrs {
                var inputs = [SeccompInput(nr: nr, arch: arch)]
                for _ in 0..<40 {
                    // Random words, and small values (flags, families, personalities).
                    inputs.append(SeccompInput(nr: nr, arch: arch, ip: rng.next(), args: (0..<6).map { _ in rng.next() % 3 == 0 ? rng.next() % 64 : rng.next() }))
                }
                for i in inputs where BPF.run(a, i)?.ret != BPF.run(b, i)?.ret {
                    differ += 1
                    if differ < 5 { XCTFail("\(name): arch \(arch) nr \(nr) args \(i.args): \(String(describing: BPF.run(a, i))) vs \(String(describing: BPF.run(b, i)))") }
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

    func testPodmansProfileCompactsToTheSameAnswers() throws {
        let podman = try String(contentsOf: SeccompTests.repo.appendingPathComponent("Tests/SeccompPolicyTests/Fixtures/podman-containers-common-0.50.1.json"), encoding: .utf8)
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
        for arch in [Self.x86_64, 0, 1, 63, 64] { for nr in UInt32(0)..<70 {
            let i = SeccompInput(nr: nr, arch: arch)
            XCTAssertEqual(BPF.run(a, i)?.ret, BPF.run(b, i)?.ret)
        } }
    }
}
