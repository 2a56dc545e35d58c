import SeccompPolicy
import XCTest

final class PolicyTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    var podmanText: String { try! String(contentsOf: Self.fixtures.appendingPathComponent("podman-containers-common-0.50.1.json"), encoding: .utf8) }
    let ctx = ResolveContext(
        arch: "SCMP_ARCH_X86_64",
        caps: [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
            "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
        ], kernel: (6, 18))

    func testPodmansDefaultProfileLoadsUnchangedAndResolves() throws {
        let p = try PolicyLoader.parse(podmanText, file: "podman.json")
        XCTAssertEqual(p.defaultAction, .errno)
        XCTAssertEqual(p.defaultErrnoRet, 38, "ENOSYS: newer syscalls fail softly")
        XCTAssertEqual(p.syscalls.count, 35)
        let e = p.resolve(ctx)
        XCTAssertEqual(Array(e.architectures.prefix(3)), ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        XCTAssertTrue(e.rules.contains { $0.name == "read" && $0.action == .allow })
        XCTAssertEqual(e.rules.first { $0.name == "kexec_load" }?.action, .errno, "explicitly denied")
        // Podman pairs "allow with the cap" and "deny without it": the action flips.
        XCTAssertEqual(e.rules.filter { $0.name == "bpf" }.map(\.action), [.errno])
        let withAdmin = p.resolve(ResolveContext(arch: ctx.arch, caps: ctx.caps.union(["CAP_SYS_ADMIN"]), kernel: ctx.kernel))
        XCTAssertEqual(withAdmin.rules.filter { $0.name == "bpf" }.map(\.action), [.allow])
        XCTAssertEqual(e.rules.filter { $0.name == "chroot" }.map(\.action), [.allow], "CAP_SYS_CHROOT is in the default set")
    }

    func testUnknownFieldsAreErrorsWithPathAndHint() {
        let cases: [(String, String)] = [
            (#"{"defaultAction":"SCMP_ACT_ALLOW","defaultActon":1}"#, "$.defaultActon: unknown field"),
            (#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","arg":[]}]}"#, "$.syscalls[0].arg: unknown field"),
            (#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "$.defaultAction: unknown action"),
            (
                #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"op":"SCMP_CMP_EQ"}]}]}"#,
                "$.syscalls[0].args[0].index"
            ),
            (
                #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"errno":"EACCES"}]}"#,
                "EACCES is 13 but errnoRet says 1"
            ),
            (#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}"#, "rule has no syscall names"),
            (#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_X"]}"#, "$.flags[0]: unknown flag"),
            (
                #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"new"}}]}"#,
                "not a kernel version"
            ),
            (#"{"defaultAction":"SCMP_ACT_ALLOW",}"#, "not valid JSON"),
        ]
        for (text, expect) in cases {
            XCTAssertThrowsError(try PolicyLoader.parse(text, file: "p.json"), expect) { e in
                XCTAssertTrue("\(e)".contains(expect), "\(e)")
                XCTAssertTrue("\(e)".hasPrefix("p.json: "), "names the file: \(e)")
                XCTAssertTrue("\(e)".contains(" — "), "has a hint: \(e)")
            }
        }
    }

    func testIncludesAndExcludes() throws {
        let p = try PolicyLoader.parse(
            """
            {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
             {"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}},
             {"names":["b"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
             {"names":["c"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"7.0"}},
             {"names":["d"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_KILL"]}},
             {"names":["e"],"action":"SCMP_ACT_ERRNO"}]}
            """, file: "t")
        let e = p.resolve(ctx)
        XCTAssertEqual(e.rules.map(\.name), ["a", "e"])
        XCTAssertEqual(e.rules.last?.errnoRet, 38, "ERRNO without errnoRet uses the default")
        XCTAssertTrue(e.render().contains("a: SCMP_ACT_ALLOW"))
    }

    func testJSONParserEdgeCases() throws {
        XCTAssertEqual(
            try JSONParser.parse(#"{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00\n"]}"#),
            .object([("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .null, .string("é😀\n")]))]))
        for bad in [
            "", "{", "[1,]", "01", "\"\\x\"", "{\"a\":1,\"a\":2}", "\"\u{1}\"", "\"\\ud800\"", "nul", "1 2",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ] {
            XCTAssertThrowsError(try JSONParser.parse(bad), bad)
        }
    }

    /// Malformed policies must never crash the loader: mutate the real profile at random.
    func testFuzzedPoliciesNeverCrash() {
        let base = Array(podmanText.utf8)
        let junk: [UInt8] = Array("{}[],:\"\\0123456789-eE.tfn \u{7f}".utf8) + [0xff, 0xc3]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            var b = base
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[i] = junk.randomElement(using: &rng)!
                case 1: b.remove(at: i)
                default: b.insert(junk.randomElement(using: &rng)!, at: i)
                }
            }
            if let p = try? PolicyLoader.parse(String(decoding: b, as: UTF8.self), file: "fuzz") { _ = p.resolve(ctx) }
        }
        for _ in 0..<2000 {
            let s = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in junk.randomElement(using: &rng)! }
            _ = try? JSONParser.parse(s)
        }
    }
}
