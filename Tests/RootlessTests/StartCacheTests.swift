import CRootless
import Foundation
@testable import IDMap
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

/// Cached starts (starts.c): an entry holds a run's config with what it was planned from;
/// it is used only while every input and observed fact is the same, and read as untrusted.
final class StartCacheTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "startcache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        Observe.log = []
        Observe.spoiled = false
    }
    override func tearDown() {
        Observe.recording = false
        Observe.log = []
        try? FileManager.default.removeItem(atPath: dir)
    }

    func plan(_ args: [String], env: [String] = ["PATH=/usr/bin:/bin", "HOME=/home/alice"]) throws -> Plan {
        let f = HostFacts(
            uid: 1000, gid: 1000, userName: "alice", cwd: "/home/alice", env: env, subuid: nil, subgid: nil,
            uidHelper: .missing(name: "newuidmap"), gidHelper: .missing(name: "newgidmap"), lookup: { _ in true })
        return try Planner.plan(try RunArguments.parse(args), f)
    }

    /// An entry for cfg with these inputs and observations, as bytes (8-aligned when read).
    func encode(_ cfg: CConfig, inputs: [UInt8], obs: [UInt8] = [], sets: [String] = [], clear: Bool = false, notes: String = "") -> [UInt8] {
        let cs = sets.map { strdup($0) } + [nil]
        defer { cs.forEach { free($0) } }
        var out = [UInt8](repeating: 0, count: 1 << 20)
        let n = cs.withUnsafeBufferPointer { sp in
            sp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: cs.count) { setsC in
                inputs.withUnsafeBytes { i in
                    obs.withUnsafeBytes { o in
                        var e = rl_start()
                        e.inputs = i.baseAddress?.assumingMemoryBound(to: CChar.self)
                        e.n_inputs = i.count
                        e.obs = o.baseAddress?.assumingMemoryBound(to: CChar.self)
                        e.n_obs = o.count
                        e.sock = UnsafePointer(strdup("/run/user/1000/rootless/k.sock"))
                        e.notes = notes.isEmpty ? nil : UnsafePointer(strdup(notes))
                        e.clear_env = clear ? 1 : 0
                        e.sets = setsC
                        e.default_path = UnsafePointer(strdup(Planner.defaultPath))
                        defer {
                            free(UnsafeMutablePointer(mutating: e.sock)); free(UnsafeMutablePointer(mutating: e.notes));
                            free(UnsafeMutablePointer(mutating: e.default_path))
                        }
                        return withUnsafePointer(to: cfg.config) { rl_start_encode(&out, out.count, &e, $0) }
                    }
                }
            }
        }
        XCTAssertGreaterThan(n, 0)
        return Array(out.prefix(max(n, 0)))
    }

    /// Parses a copy in 8-aligned memory and hands the result to body (nil: refused).
    func parsed<T>(_ bytes: [UInt8], _ body: (rl_start?) -> T) -> T {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        defer { p.deallocate() }
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        var s = rl_start()
        return body(rl_start_parse(p, bytes.count, &s) == 0 ? s : nil)
    }

    func valid(_ bytes: [UInt8], inputs: [UInt8]) -> Bool {
        parsed(bytes) { s in
            guard var s else { return false }
            return inputs.withUnsafeBytes { rl_start_valid(&s, $0.baseAddress, $0.count) } == 1
        }
    }

    func strings(_ v: UnsafePointer<UnsafePointer<CChar>?>?) -> [String] {
        var out: [String] = []
        var i = 0
        while let v, let s = v[i] { out.append(String(cString: s)); i += 1 }
        return out
    }

    /// The config comes back as it went in (argv, mounts, filters, cwd, timeout), with the
    /// notes and socket; envp and PATH are not kept (made per run).
    func testAnEntryKeepsTheRunsConfig() throws {
        let p = try plan(["--rootfs", "/srv/root", "--timeout", "2", "-e", "A=1", "sh", "-c", "echo hi"])
        let filters = LoadedFilters(programs: [[6, 0, 0, 0, 0, 0, 0xff, 0x7f]])
        let cfg = CConfig(p, filters: filters)
        let bytes = encode(cfg, inputs: Array("in".utf8), sets: ["A=1"], notes: "rootless: a note\n")
        parsed(bytes) { s in
            guard let s, let c = s.cfg?.pointee else { return XCTFail("refused") }
            XCTAssertEqual(strings(c.argv), ["sh", "-c", "echo hi"])
            XCTAssertNil(c.envp)
            XCTAssertNil(c.search_path)
            XCTAssertEqual(String(cString: c.rootfs), "/srv/root")
            XCTAssertEqual(String(cString: c.cwd), "/")
            XCTAssertEqual(c.timeout_ms, 2000)
            XCTAssertEqual(Int(c.n_mounts), p.mounts.count)
            XCTAssertEqual((0..<Int(c.n_mounts)).map { String(cString: c.mounts[$0].target) }, p.mounts.map(\.target))
            XCTAssertEqual(c.n_filters, 1)
            XCTAssertEqual(c.filters[0].len, 1)
            XCTAssertEqual(String(cString: s.sock), "/run/user/1000/rootless/k.sock")
            XCTAssertEqual(String(cString: s.notes), "rootless: a note\n")
            XCTAssertEqual(strings(s.sets), ["A=1"])
        }
        XCTAssertTrue(valid(bytes, inputs: Array("in".utf8)))
        XCTAssertFalse(valid(bytes, inputs: Array("in2".utf8)), "other inputs")
        XCTAssertFalse(valid(bytes, inputs: Array("i".utf8)), "other inputs")
    }

    /// A run with a tty, kept fds or its own cgroup is never kept (nor read back).
    func testOnlyAWarmStartsConfigIsKept() throws {
        let cfg = CConfig(try plan(["-t", "true"]))
        var out = [UInt8](repeating: 0, count: 65536)
        var e = rl_start()
        e.sock = UnsafePointer(strdup("/s"))
        e.default_path = UnsafePointer(strdup("/bin"))
        defer { free(UnsafeMutablePointer(mutating: e.sock)); free(UnsafeMutablePointer(mutating: e.default_path)) }
        XCTAssertEqual(withUnsafePointer(to: cfg.config) { rl_start_encode(&out, out.count, &e, $0) }, -Int(EINVAL))
    }

    /// Every fact read while planning is replayed: the same results keep the entry; a file
    /// that changed, a path that appeared, a variable that changed each make it stale.
    func testObservedFactsAreCheckedAgain() throws {
        let file = dir + "/subuid", missing = dir + "/later"
        try "alice:100000:65536\n".write(toFile: file, atomically: true, encoding: .utf8)
        setenv("ROOTLESS_TEST_OBSERVED", "one", 1)
        defer { unsetenv("ROOTLESS_TEST_OBSERVED") }
        Observe.recording = true
        XCTAssertEqual(Observe.readFile(file), "alice:100000:65536\n")
        XCTAssertEqual(Observe.lookup(dir), true)
        XCTAssertNil(Observe.lookup(missing))
        XCTAssertGreaterThan(Observe.fsType(dir), 0)
        XCTAssertTrue(Observe.access(file, R_OK))
        XCTAssertEqual(Observe.fileCaps(file), 0)
        XCTAssertEqual(Observe.env("ROOTLESS_TEST_OBSERVED"), "one")
        Observe.recording = false
        XCTAssertFalse(Observe.spoiled)
        let bytes = encode(CConfig(try plan(["true"])), inputs: [1], obs: Observe.log)
        XCTAssertTrue(valid(bytes, inputs: [1]), "nothing changed")

        try "alice:200000:65536\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertFalse(valid(bytes, inputs: [1]), "the file changed")
        try "alice:100000:65536\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertTrue(valid(bytes, inputs: [1]), "and back")

        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        XCTAssertFalse(valid(bytes, inputs: [1]), "a missing path appeared")
        try FileManager.default.removeItem(atPath: missing)

        setenv("ROOTLESS_TEST_OBSERVED", "two", 1)
        XCTAssertFalse(valid(bytes, inputs: [1]), "the variable changed")
        setenv("ROOTLESS_TEST_OBSERVED", "one", 1)
        XCTAssertTrue(valid(bytes, inputs: [1]))
    }

    /// A file longer than what is logged is read in full, and spoils the recording.
    func testAFactTooBigToLogIsReadButNotCached() throws {
        let file = dir + "/big"
        let text = String(repeating: "x", count: Observe.maxRead + 10)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        Observe.recording = true
        XCTAssertEqual(Observe.readFile(file)?.count, text.count)
        XCTAssertTrue(Observe.spoiled)
    }

    /// The recipe (rl_env_recipe, the one implementation the planner and a cached start
    /// call), pinned case by case: base or nothing, -e in order, copies from the caller,
    /// the other copies of a name dropped, PATH added when missing and searched last.
    func testTheEnvironmentRecipe() throws {
        func env(_ args: [String], _ caller: [String]) throws -> ([String], String) {
            let p = try plan(args + ["true"], env: caller)
            return (p.env, p.searchPath)
        }
        XCTAssertEqual(try env([], ["A=1", "PATH=/x"]).0, ["A=1", "PATH=/x"])
        XCTAssertEqual(try env(["--clearenv"], ["A=1"]).0, ["PATH=" + Planner.defaultPath])
        XCTAssertEqual(try env(["-e", "A=2"], ["A=1", "B=1", "A=3"]).0, ["A=2", "B=1", "PATH=" + Planner.defaultPath])
        XCTAssertEqual(
            try env(["--clearenv", "-e", "B", "-e", "C"], ["A=1", "B=x=y"]).0, ["B=x=y", "PATH=" + Planner.defaultPath], "a missing copy is skipped")
        XCTAssertEqual(try env(["-e", "PATH=/a", "-e", "PATH=/b"], []).1, "/b")
        XCTAssertEqual(try env(["-e", "K="], []).0.first, "K=", "an empty value is a value")
    }

    /// A cached start makes the environment the plan made, from the recipe stored in the
    /// entry and this run's environment, for random environments and recipes (--clearenv,
    /// -e K=V, -e K): the entry carries the recipe faithfully.
    func testTheEnvironmentIsMadeAsThePlannerMakesIt() throws {
        var rng = SystemRandomNumberGenerator()
        let keys = ["A", "B", "PATH", "AB", "HOME"]
        func entry(_ withValue: Bool) -> String {
            let k = keys.randomElement(using: &rng)!
            return withValue || Bool.random(using: &rng) ? k + "=" + ["", "1", "x=y", "/bin"].randomElement(using: &rng)! : k
        }
        for _ in 0..<500 {
            let env = (0..<Int.random(in: 0...5, using: &rng)).map { _ in entry(true) }
            let sets = (0..<Int.random(in: 0...4, using: &rng)).map { _ in entry(false) }
            let clear = Bool.random(using: &rng)
            let p = try plan((clear ? ["--clearenv"] : []) + sets.flatMap { ["-e", $0] } + ["true"], env: env)
            let bytes = encode(CConfig(p), inputs: [1], sets: sets, clear: clear)
            let cenv = env.map { strdup($0) } + [nil]
            defer { cenv.forEach { free($0) } }
            parsed(bytes) { s in
                guard var s else { return XCTFail("refused") }
                var out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
                var path: UnsafePointer<CChar>?
                XCTAssertEqual(cenv.withUnsafeBufferPointer { rl_start_env(&s, $0.baseAddress, &out, &path) }, 0)
                defer { free(out) }
                XCTAssertEqual(strings(out), p.env, "env \(env) sets \(sets) clear \(clear)")
                XCTAssertEqual(path.map { String(cString: $0) }, p.searchPath)
            }
        }
    }

    /// Entries are read as untrusted bytes: mutated, truncated or garbage ones are refused
    /// or parsed within bounds, never followed outside the buffer.
    func testBadEntriesAreRefusedNeverFollowed() throws {
        Observe.recording = true
        _ = Observe.readFile("/proc/self/cgroup")
        _ = Observe.lookup("/")
        Observe.recording = false
        let good = encode(
            CConfig(try plan(["--rootfs", "/srv/root", "-e", "A=1", "sh", "-c", "x"])), inputs: [1, 2, 3], obs: Observe.log,
            sets: ["A=1", "B"], notes: "n\n")
        XCTAssertTrue(valid(good, inputs: [1, 2, 3]))
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for i in 0..<4000 {
            var b = good
            switch i % 4 {
            case 0: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            case 1: for _ in 0..<Int.random(in: 1...8, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2:
                // An offset or count in the header (the first 120 bytes) or the config.
                let at = Int.random(in: 0..<(b.count / 8), using: &rng) * 8
                let v = [UInt64.random(in: 0...UInt64(b.count + 64), using: &rng), UInt64.max, 0, UInt64(UInt32.max)].randomElement(using: &rng)!
                withUnsafeBytes(of: v.littleEndian) { for k in 0..<8 where at + k < b.count { b[at + k] = $0[k] } }
            default: b = (0..<Int.random(in: 0...512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            parsed(b) { s in
                guard let s, let c = s.cfg?.pointee else { return }
                accepted += 1
                // Everything it points at is readable and terminated within the entry.
                _ = strings(c.argv).count + strings(s.sets).count + (s.notes.map { strlen($0) } ?? 0) + strlen(s.sock)
                for m in 0..<Int(c.n_mounts) { _ = strlen(c.mounts[m].target) + (c.mounts[m].source.map { strlen($0) } ?? 0) }
                for f in 0..<Int(c.n_filters) { _ = c.filters[f].prog.load(fromByteOffset: Int(c.filters[f].len) * 8 - 1, as: UInt8.self) }
            }
        }
        XCTAssertGreaterThan(accepted, 0, "some mutations leave a parseable entry (strings' bytes)")
    }
}
