import CRootless
import SlirpNet
import XCTest

/// The key of a TAP the keeper makes ahead (pool.c): a --net slirp run's setup requests,
/// back to back. The keeper sends a key's requests for every later run with it, from its
/// own fd table, so it takes only what SlirpNet's setup makes.
final class TapKeyTests: XCTestCase {
    func ok(_ key: [UInt8]) -> Bool { key.withUnsafeBytes { rl_tap_key_ok($0.baseAddress, $0.count) } == 1 }

    static func key(_ c: SlirpConfig) -> [UInt8] { Netlink.setup(c).flatMap { $0 } }

    /// A request with one more attribute (type, 4-byte value), its length fixed up.
    static func withAttribute(_ m: [UInt8], type: UInt16, value: UInt32) -> [UInt8] {
        var out = m + [8, 0, UInt8(type & 0xff), UInt8(type >> 8)] + withUnsafeBytes(of: value.littleEndian) { Array($0) }
        let n = UInt32(out.count)
        out.replaceSubrange(0..<4, with: withUnsafeBytes(of: n.littleEndian) { Array($0) })
        return out
    }

    /// rl_tap_key (what a run sends) makes of a config's setup requests exactly their
    /// bytes, back to back, and the keeper takes every one the engine makes.
    func testEverySetupTheEngineMakesIsTaken() throws {
        var small = SlirpConfig()
        small.mtu = 1500
        var v4 = SlirpConfig()
        v4.ipv6 = false
        for c in [SlirpConfig(), small, v4] {
            let setup = Netlink.setup(c)
            let copies = setup.map { m -> UnsafeMutableRawPointer in
                let b = UnsafeMutableRawPointer.allocate(byteCount: m.count, alignment: 8)
                m.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: m.count) }
                return b
            }
            defer { copies.forEach { $0.deallocate() } }
            let msgs = zip(copies, setup).map { rl_nlmsg(bytes: UnsafeRawPointer($0), len: Int32($1.count), pad: 0) }
            let key = msgs.withUnsafeBufferPointer { m -> [UInt8] in
                var cfg = rl_config()
                cfg.tap = 1
                cfg.net_setup = m.baseAddress
                cfg.n_net_setup = Int32(m.count)
                var buf = [UInt8](repeating: 0, count: 8192)
                let n = buf.withUnsafeMutableBytes { rl_tap_key(&cfg, $0.baseAddress, $0.count) }
                return Array(buf.prefix(n))
            }
            XCTAssertEqual(key, Self.key(c), "\(c)")
            XCTAssertTrue(ok(key), "\(c)")
        }
    }

    /// Anything else is refused: an attribute that names an fd (IFLA_NET_NS_FD) or another
    /// one, a request of another kind, a cut or empty key, more than 8 requests.
    func testAnythingElseIsRefused() {
        let setup = Netlink.setup(SlirpConfig())
        XCTAssertTrue(ok(setup.flatMap { $0 }), "the control")
        XCTAssertTrue(ok(Self.withAttribute(setup[0], type: 4, value: 1500) + setup.dropFirst().flatMap { $0 }), "the control: one more IFLA_MTU")
        var cases: [(String, [UInt8])] = []
        cases.append(("IFLA_NET_NS_FD on the link", (Self.withAttribute(setup[0], type: 28, value: 3) + setup.dropFirst().flatMap { $0 })))
        cases.append(("IFLA_NET_NS_PID on the link", (Self.withAttribute(setup[0], type: 19, value: 1) + setup.dropFirst().flatMap { $0 })))
        cases.append(("RTA_OIF on a route", setup[0] + setup[1] + Self.withAttribute(setup[2], type: 4, value: 1)))
        cases.append(("a nested attribute type", (Self.withAttribute(setup[0], type: 0x8000 | 4, value: 1500))))
        var del = setup[0]
        del[4] = 17  // RTM_DELLINK
        cases.append(("RTM_DELLINK", del))
        let whole = setup.flatMap { $0 }
        cases.append(("cut by a byte", Array(whole.dropLast())))
        cases.append(("empty", []))
        cases.append(("9 requests", Array(repeating: setup[0], count: 9).flatMap { $0 }))
        var short = setup[0]
        short.replaceSubrange(0..<4, with: [28, 0, 0, 0])
        cases.append(("a link request shorter than its ifinfomsg", Array(short.prefix(28))))
        var tiny = Self.withAttribute(setup[0], type: 4, value: 1500)
        tiny[setup[0].count] = 2  // rta_len 2: shorter than an attribute's header
        cases.append(("an attribute of length 2", tiny))
        var noAck = setup[0]
        noAck[6] = 0x01  // NLM_F_REQUEST only: no ack would come
        cases.append(("a request without NLM_F_ACK", noAck))
        var echo = setup[0]
        echo[6] = 0x0d  // NLM_F_ECHO too
        cases.append(("a request with NLM_F_ECHO", echo))
        var replace = setup[1]
        replace[7] = 0x01  // NLM_F_REPLACE, not NLM_F_EXCL
        cases.append(("an address that replaces", setup[0] + replace))
        for (what, k) in cases { XCTAssertFalse(ok(k), what) }
    }

    /// Mutated and random keys: refused or taken, never a crash or a read out of bounds;
    /// one that is taken splits into link, address and route requests only.
    func testFuzzedKeysNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let seed = Self.key(SlirpConfig())
        var taken = 0
        for i in 0..<20000 {
            let b = FuzzInputs.make(i, seed: seed, changes: 1...4, randomUpTo: 96, using: &rng)
            guard ok(b) else { continue }
            taken += 1
            var at = 0
            while at < b.count {
                let len = Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24
                let type = Int(b[at + 4]) | Int(b[at + 5]) << 8
                XCTAssertTrue([16, 20, 24].contains(type), "a taken key holds only setup requests: \(b)")
                at += max(len, 1)
            }
        }
        XCTAssertGreaterThan(taken, 0, "some mutations (a changed address, say) are still a setup")
    }
}
