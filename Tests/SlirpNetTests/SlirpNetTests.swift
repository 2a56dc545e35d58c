@testable import SlirpNet
import XCTest

/// An IPv4 address as the engine takes it.
func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> IP { IP(IPv4(a, b, c, d)) }

/// The sandbox's side of the wire, simulated: builds its frames and reads the engine's.
struct Sandbox {
    var b = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: SlirpConfig.gatewayMAC)
    var ip = v4(10, 0, 2, 100)
    /// The sandbox on IPv6 (its address on the link, fd00::100).
    static var v6: Sandbox {
        var s = Sandbox()
        s.ip = SlirpConfig.guest6
        return s
    }
    mutating func tcp(_ s: TCPSegment, to dst: IP) -> [UInt8] { b.tcp(s, src: ip, dst: dst) }
    mutating func udp(_ port: UInt16, to dst: IP, _ dport: UInt16, _ data: [UInt8]) -> [UInt8] {
        b.udp(src: ip, srcPort: port, dst: dst, dstPort: dport, payload: data[...])
    }
}

extension Effect {
    /// The frame's bytes as they go on the wire (a segment's headers and payload joined);
    /// nil for an effect that is no frame.
    var wire: [UInt8]? {
        switch self {
        case let .frame(f): return f
        case let .segment(h, p): return h + p
        default: return nil
        }
    }
}

func segments(_ effects: [Effect]) -> [TCPSegment] {
    effects.compactMap {
        guard let f = $0.wire, let ip = IPPacket.parse(f), ip.proto == IPProto.tcp else { return nil }
        return TCPSegment.parse(f, ip)
    }
}

final class CodecTests: XCTestCase {
    func testAddressesAndNetworks() {
        XCTAssertEqual(IPv4("10.0.2.2")?.value, 0x0a00_0202)
        XCTAssertNil(IPv4("10.0.2"))
        XCTAssertNil(IPv4("10.0.2.256"))
        XCTAssertNil(IPv4("1.2.3.+4"))
        XCTAssertEqual(CIDR("169.254.1.2/16")?.description, "169.254.0.0/16")
        XCTAssertTrue(CIDR("198.18.0.0/15")!.contains(IPv4(198, 19, 7, 1)))
        XCTAssertNil(CIDR("1.2.3.4/33"))
        XCTAssertEqual(MAC(0x5255_0a00_0202).description, "52:55:0a:00:02:02")
    }

    /// A frame built here parses back to what went in, checksums included.
    func testTCPRoundTrip() {
        var sb = Sandbox()
        let s = TCPSegment(srcPort: 40000, dstPort: 80, seq: 7, ack: 9, flags: TCPFlag.syn, window: 64240, mss: 1460, windowScale: 7, payload: [1, 2, 3])
        let f = sb.tcp(s, to: v4(198, 18, 0, 1))
        let ip = IPPacket.parse(f)!
        XCTAssertEqual(ip.src, sb.ip)
        XCTAssertEqual(TCPSegment.parse(f, ip), s)
        var bad = f
        bad[bad.count - 1] ^= 0xff
        XCTAssertNil(TCPSegment.parse(bad, IPPacket.parse(bad)!), "a corrupt payload fails the checksum")
    }

    /// rtnetlink requests, byte for byte (native endian, as x86_64 and arm64 read them).
    func testNetlinkGoldenBytes() {
        XCTAssertEqual(
            Netlink.address(v4(10, 0, 2, 100), prefix: 24, seq: 2),
            [
                40, 0, 0, 0, 20, 0, 0x05, 0x06, 2, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr: len 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
                2, 24, 0, 0, 0, 0, 0, 0,  // ifaddrmsg: AF_INET /24, index 0 (the child fills it)
                8, 0, 2, 0, 10, 0, 2, 100,  // IFA_LOCAL
                8, 0, 1, 0, 10, 0, 2, 100,
            ])  // IFA_ADDRESS
        XCTAssertEqual(
            Netlink.linkUp(mtu: 65520, seq: 1),
            [
                40, 0, 0, 0, 16, 0, 0x05, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
                8, 0, 4, 0, 0xf0, 0xff, 0, 0,
            ])
        XCTAssertEqual(
            Netlink.defaultRoute(via: v4(10, 0, 2, 2), seq: 3),
            [36, 0, 0, 0, 24, 0, 0x05, 0x06, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0, 8, 0, 5, 0, 10, 0, 2, 2])
    }

    func testSlirpOptions() throws {
        let c = try SlirpConfig.parse(options: "mtu=1500,cidr=10.9.0.0/24,allow_host_loopback=true")
        XCTAssertEqual(c.mtu, 1500)
        XCTAssertEqual(c.gateway, IPv4(10, 9, 0, 2))
        XCTAssertEqual(c.guest, IPv4(10, 9, 0, 100))
        XCTAssertTrue(c.allowHostLoopback)
        XCTAssertThrowsError(try SlirpConfig.parse(options: "mtu=99"))
        XCTAssertThrowsError(try SlirpConfig.parse(options: "speed=1"))
        XCTAssertThrowsError(try SlirpConfig.parse(options: "cidr=10.0.0.0/30"))
        XCTAssertEqual(c.pollMicros, 200, "the engine polls up to 200 us unless told")
        XCTAssertEqual(try SlirpConfig.parse(options: "poll=0").pollMicros, 0)
        for bad in ["poll=1001", "poll=-1", "poll=x", "poll="] { XCTAssertThrowsError(try SlirpConfig.parse(options: bad[...]), bad) }
        XCTAssertEqual(c.lingerMS, 10_000, "an ended sandbox's connections get 10 s unless told")
        XCTAssertEqual(try SlirpConfig.parse(options: "linger=0").lingerMS, 0)
        XCTAssertEqual(try SlirpConfig.parse(options: "linger=3600").lingerMS, 3_600_000)
        for bad in ["linger=3601", "linger=-1", "linger=1.5", "linger="] { XCTAssertThrowsError(try SlirpConfig.parse(options: bad[...]), bad) }
        XCTAssertThrowsError(try EgressPolicy.targets("1.2.3.0/24,no_pe", flag: "--allow-net", names: true))
    }

    /// The word-at-a-time checksum is the textbook one (RFC 1071), at every offset and length.
    func testTheChecksumIsRFC1071() {
        func naive(_ b: [UInt8], _ from: Int, _ to: Int, _ sum: UInt32) -> UInt32 {
            var s = UInt64(sum)
            var i = from
            while i + 1 < to { s += UInt64(b[i]) << 8 | UInt64(b[i + 1]); i += 2 }
            if i < to { s += UInt64(b[i]) << 8 }
            while s > 0xffff_ffff { s = (s & 0xffff_ffff) + (s >> 32) }
            return UInt32(s)
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let b = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let from = Int.random(in: 0...b.count, using: &rng), to = Int.random(in: from...b.count, using: &rng)
            let initial = UInt32.random(in: 0...0x3ffff, using: &rng)
            XCTAssertEqual(Checksum.fold(Checksum.add(b, from, to, initial)), Checksum.fold(naive(b, from, to, initial)))
        }
        let big = [UInt8](repeating: 0xff, count: 65536)
        XCTAssertEqual(Checksum.fold(Checksum.add(big, 0, big.count)), Checksum.fold(naive(big, 0, big.count, 0)))
    }

    /// A reply for svc.test: a CNAME to a.svc.test (by compression pointer), then its A.
    static let dnsReply: [UInt8] = {
        var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        m += [3] + Array("svc".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]  // question at 12
        m += [0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 0x61, 0xc0, 12]  // CNAME a.svc.test
        m += [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 2]  // A 198.18.0.2
        return m
    }()

    func testDNSAnswersAreReadAndBadOnesRecordNothing() throws {
        let a = DNS.answers(CodecTests.dnsReply[...])
        XCTAssertEqual(a?.name, "svc.test")
        XCTAssertEqual(a?.addresses, [v4(198, 18, 0, 2)])
        var loop = CodecTests.dnsReply
        loop[12] = 0xc0
        loop[13] = 12  // the question's name points at itself
        XCTAssertNil(DNS.answers(loop[...]))
        var rng = SystemRandomNumberGenerator()
        for i in 0..<20_000 {
            var m = CodecTests.dnsReply
            if i % 2 == 0 {
                for _ in 0..<Int.random(in: 1...4, using: &rng) { m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            } else {
                m = Array(m.prefix(Int.random(in: 0...m.count, using: &rng)))
            }
            _ = DNS.answers(m[...])
        }
        XCTAssertTrue(DNS.isHostName("pypi.org"))
        XCTAssertTrue(DNS.isHostName("files.pythonhosted.org."))
        XCTAssertFalse(DNS.isHostName("-bad.org"))
        XCTAssertFalse(DNS.isHostName("a..b"))
        XCTAssertFalse(DNS.isHostName("1.2.3"))
        XCTAssertEqual(try EgressPolicy.targets("pypi.org,10.0.0.0/8", flag: "--allow-net", names: true).1, [NameRule("pypi.org")])
        let (nets, names) = try EgressPolicy.targets("10.0.0.0/8:443,192.0.2.7:8000-8100,:25,Files.Pythonhosted.org.:443", flag: "--allow-net", names: true)
        XCTAssertEqual(
            nets,
            [
                NetRule(CIDR("10.0.0.0/8")!, ports: Ports([443...443])), NetRule(CIDR("192.0.2.7")!, ports: Ports([8000...8100])),
                NetRule(IPNet(IP(hi: 0, lo: 0), 0), ports: Ports([25...25])),  // every address, both families
            ])
        XCTAssertEqual(nets.map(\.description), ["10.0.0.0/8:443", "192.0.2.7:8000-8100", ":25"])
        XCTAssertEqual(names, [NameRule("files.pythonhosted.org", ports: Ports([443...443]))])
        for bad in ["pypi.org:", "pypi.org:0", "10.0.0.1:70000", "10.0.0.1:90-80", "10.0.0.1:80:81", ":", ":x", "a_b:80"] {
            XCTAssertThrowsError(try EgressPolicy.targets(bad, flag: "--allow-net", names: true), bad)
        }
        XCTAssertThrowsError(try EgressPolicy.targets("pypi.org", flag: "--deny-net", names: false))
    }

    func testPortForwardSpellings() throws {
        XCTAssertEqual(try PortForward.parse("8080:80"), PortForward(hostIP: IPv4(0), hostPort: 8080, guestPort: 80))
        XCTAssertEqual(try PortForward.parse("127.0.0.1:8080:80/tcp"), PortForward(hostIP: IPv4(127, 0, 0, 1), hostPort: 8080, guestPort: 80))
        XCTAssertEqual(try PortForward.parse("5353:53/udp"), PortForward(hostIP: IPv4(0), hostPort: 5353, guestPort: 53, udp: true))
        // An IPv6 host address is bracketed; the host's side is written back the same way.
        let v6 = try PortForward.parse("[::1]:8080:80/udp")
        XCTAssertEqual(v6, PortForward(hostIP: IP("::1")!, hostPort: 8080, guestPort: 80, udp: true))
        XCTAssertEqual(v6.host.description, "[::1]:8080")
        XCTAssertEqual(try PortForward.parse("[::]:8080:80").hostIP, IP("::")!)
        XCTAssertEqual(try PortForward.parse("[127.0.0.1]:8080:80").host.description, "127.0.0.1:8080")
        // A slash inside the brackets is the address's, not the protocol's.
        XCTAssertThrowsError(try PortForward.parse("[2001:db8::/64]:8080:80")) { e in
            XCTAssertEqual((e as? SlirpError)?.message, "-p \"[2001:db8::/64]:8080:80\": \"2001:db8::/64\" is not an IP address")
        }
        for bad in [
            "80", "a:80", "8080:0", "8080:70000", "1.2.3:8080:80", "8080:80/sctp", "8080:80/", "::80", "[::1]:80", "[::1]8080:80", "[::1:8080:80",
            "[x]:8080:80",
            "[::1]:1.2.3.4:8080:80", "[]:8080:80", "[fe80::1]:8080:80", "[fe80::1%eth0]:8080:80",
        ] {
            XCTAssertThrowsError(try PortForward.parse(bad), bad)
        }
        // Unbracketed, the address's colons and the ports' cannot be told apart: the error says so.
        XCTAssertThrowsError(try PortForward.parse("::1:8080:80")) { e in
            XCTAssertEqual((e as? SlirpError)?.message, "-p \"::1:8080:80\": an IPv6 HOSTIP goes in brackets")
        }
    }

    /// Fuzzed -p values never trap, and what parses is written back (the host's side, the
    /// port, the protocol) as text that parses to the same forward.
    func testFuzzedPortForwardsParseOrSayWhy() {
        var rng = Seeded(21)
        let hosts = ["", "127.0.0.1:", "[::1]:", "[::]:", "0.0.0.0:", "[fe80::1]:", "::1:", "[::1", "1.2.3:", "[]:"]
        let ports = ["1", "80", "8080", "65535", "0", "70000", "x", ""]
        let protos = ["", "/tcp", "/udp", "/sctp", "/"]
        let junk: [Character] = ["[", "]", ":", "/", ".", "1", "f"]
        var parsed = 0
        for _ in 0..<20000 {
            var text = [hosts, ports, [":"], ports, protos].map { $0.randomElement(using: &rng)! }.joined()
            // Then a character or two inserted or taken away, anywhere.
            for _ in 0..<Int.random(in: 0...2, using: &rng) where !text.isEmpty {
                let at = text.index(text.startIndex, offsetBy: Int.random(in: 0..<text.count, using: &rng))
                if rng.chance(0.5) { text.remove(at: at) } else { text.insert(junk.randomElement(using: &rng)!, at: at) }
            }
            let f: PortForward
            do { f = try PortForward.parse(text) } catch is SlirpError { continue } catch {
                XCTFail("\(text): \(error), not a SlirpError (the one-line message and fix)")
                continue
            }
            parsed += 1
            XCTAssertEqual(try? PortForward.parse("\(f.host):\(f.guestPort)/\(f.udp ? "udp" : "tcp")"), f, text)
        }
        XCTAssertGreaterThan(parsed, 500, "the generator reaches valid spellings")
    }

    func testThePolicyDefaults() {
        var p = EgressPolicy()
        p.hostAddresses = [v4(192, 168, 1, 5)]
        XCTAssertNil(p.refuses(v4(198, 18, 0, 1), port: 80), "the internet: yes")
        XCTAssertNotNil(p.refuses(v4(169, 254, 169, 254), port: 80), "cloud metadata: no")
        XCTAssertNotNil(p.refuses(v4(127, 0, 0, 1), port: 80), "host loopback: no")
        XCTAssertNotNil(p.refuses(v4(192, 168, 1, 5), port: 80), "the host's own address: no")
        XCTAssertNotNil(p.refuses(v4(224, 0, 0, 1), port: 80))
        XCTAssertNotNil(p.refuses(v4(100, 100, 100, 200), port: 80), "Alibaba's metadata")
        XCTAssertNotNil(p.refuses(v4(168, 63, 129, 16), port: 80), "Azure's WireServer")
        var named = EgressPolicy()
        named.allowNames = [NameRule("evil.test")]
        named.resolved = [v4(169, 254, 169, 254): .all]
        XCTAssertNotNil(named.refuses(v4(169, 254, 169, 254), port: 80), "a name's answer never opens metadata")
        p.allow = [NetRule(CIDR("198.18.0.0/15")!)]
        XCTAssertNil(p.refuses(v4(198, 19, 0, 1), port: 80))
        XCTAssertNotNil(p.refuses(v4(8, 8, 8, 8), port: 80), "--allow-net is the only way out once given")
        p.deny = [NetRule(CIDR("198.19.0.0/16")!)]
        XCTAssertNotNil(p.refuses(v4(198, 19, 0, 1), port: 80))
    }

    /// Rules with ports: an allowed network only on its ports; a bare port everywhere but
    /// link-local; a denied port everywhere; a name's answer only on the name's ports.
    func testPolicyRulesWithPorts() throws {
        var p = EgressPolicy()
        p.allow = try EgressPolicy.targets("198.18.0.0/15:443,:8000-8100", flag: "--allow-net", names: true).0
        XCTAssertNil(p.refuses(v4(198, 18, 0, 1), port: 443))
        XCTAssertNotNil(p.refuses(v4(198, 18, 0, 1), port: 80), "not its port")
        XCTAssertNil(p.refuses(v4(8, 8, 8, 8), port: 8080), "a bare port range: every address")
        XCTAssertNotNil(p.refuses(v4(169, 254, 169, 254), port: 8080), "but never link-local")
        XCTAssertNotNil(p.refuses(v4(8, 8, 8, 8), port: 22))
        var d = EgressPolicy()
        d.deny = try EgressPolicy.targets(":25", flag: "--deny-net", names: false).0
        XCTAssertNotNil(d.refuses(v4(8, 8, 8, 8), port: 25))
        XCTAssertNil(d.refuses(v4(8, 8, 8, 8), port: 587))
        var n = EgressPolicy()
        n.allowNames = [NameRule("pypi.org", ports: Ports([443...443]))]
        n.resolved = [v4(198, 18, 0, 9): Ports([443...443])]
        XCTAssertNil(n.refuses(v4(198, 18, 0, 9), port: 443))
        XCTAssertNotNil(n.refuses(v4(198, 18, 0, 9), port: 80))
        // Link-local opens only to a rule naming a network inside it, not a wide one.
        var wide = EgressPolicy()
        wide.allow = try EgressPolicy.targets("0.0.0.0/1:80,128.0.0.0/1:80", flag: "--allow-net", names: true).0
        XCTAssertNotNil(wide.refuses(v4(169, 254, 169, 254), port: 80))
        XCTAssertNotNil(wide.refuses(v4(168, 63, 129, 16), port: 80))
        XCTAssertNil(wide.refuses(v4(8, 8, 8, 8), port: 80))
        wide.allow += try EgressPolicy.targets("169.254.169.254:80", flag: "--allow-net", names: true).0
        XCTAssertNil(wide.refuses(v4(169, 254, 169, 254), port: 80))
        // A forwarded UDP port's peer: loopback is fine, metadata and denied ones are not.
        XCTAssertNil(EgressPolicy().refusesPeer(v4(127, 0, 0, 1), port: 5000))
        XCTAssertNotNil(EgressPolicy().refusesPeer(v4(169, 254, 169, 254), port: 80))
        XCTAssertNotNil(EgressPolicy(deny: [NetRule(CIDR("10.0.0.0/8")!)]).refusesPeer(v4(10, 1, 1, 1), port: 80))
        XCTAssertEqual(Ports([443...443]).union(Ports([80...80])), Ports([80...80, 443...443]))
        XCTAssertEqual(Ports([443...443]).union(.all), .all)
    }
}

final class EngineTests: XCTestCase {
    let remote = v4(198, 18, 0, 1)

    func engine(_ c: SlirpConfig = SlirpConfig()) -> SlirpEngine { SlirpEngine(config: c, policy: EgressPolicy()) }

    /// SYN -> host connect -> SYN-ACK only once connected -> ACK: established.
    func open(_ e: SlirpEngine, _ sb: inout Sandbox, port: UInt16 = 40000, window: UInt16 = 65535, scale: UInt8? = 7) -> (id: Int, iss: UInt32) {
        e.input(
            sb.tcp(TCPSegment(srcPort: port, dstPort: 80, seq: 1000, ack: 0, flags: TCPFlag.syn, window: window, mss: 1460, windowScale: scale), to: remote),
            now: 0)
        guard case let .tcpConnect(id, to) = e.drain().first else { XCTFail("no connect"); return (0, 0) }
        XCTAssertEqual(to, Endpoint(remote, 80))
        e.tcpConnected(id, ok: true, now: 1)
        let synack = segments(e.drain())
        XCTAssertEqual(synack.count, 1)
        XCTAssertEqual(synack[0].flags, TCPFlag.syn | TCPFlag.ack)
        XCTAssertEqual(synack[0].ack, 1001)
        e.input(sb.tcp(TCPSegment(srcPort: port, dstPort: 80, seq: 1001, ack: synack[0].seq &+ 1, flags: TCPFlag.ack, window: window), to: remote), now: 2)
        XCTAssertEqual(e.drain(), [])
        return (id, synack[0].seq &+ 1)
    }

    func testAConnectionCarriesBytesBothWaysAndCloses() {
        let e = engine()
        var sb = Sandbox()
        let (id, seq) = open(e, &sb)
        e.input(
            sb.tcp(
                TCPSegment(
                    srcPort: 40000, dstPort: 80, seq: 1001, ack: seq, flags: TCPFlag.ack | TCPFlag.psh, window: 65535, payload: Array("GET /".utf8)[...]),
                to: remote), now: 3)
        let fx = e.drain()
        XCTAssertEqual(fx.first, .tcpSend(id, Array("GET /".utf8)[...]))
        XCTAssertEqual(segments(fx).last?.ack, 1006)
        e.tcpReceived(id, Array("HTTP/1.0 200".utf8)[...], now: 4)
        let data = segments(e.drain())
        XCTAssertEqual(data.count, 1)
        XCTAssertEqual(Array(data[0].payload), Array("HTTP/1.0 200".utf8))
        e.tcpHostEOF(id, now: 5)
        let fin = segments(e.drain())
        XCTAssertTrue(fin[0].has(TCPFlag.fin))
        e.input(
            sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1006, ack: fin[0].seq &+ 1, flags: TCPFlag.ack | TCPFlag.fin, window: 65535), to: remote),
            now: 6)
        let end = e.drain()
        XCTAssertTrue(end.contains(.tcpShutdown(id)))
        XCTAssertTrue(end.contains(.tcpClose(id)))
        XCTAssertEqual(e.flowCount, 0, "both sides done: the flow is gone")
    }

    /// Where a connection's stream from the sandbox stands (an ended sandbox's runner waits
    /// while it is open): opening before the host's connect lets its handshake go on, open
    /// until its FIN (ended), gone after a reset, which resets the host's end too.
    func testTheSandboxsStreamIsOpenUntilItsFINOrAReset() {
        let e = engine()
        var sb = Sandbox()
        e.input(sb.tcp(TCPSegment(srcPort: 40001, dstPort: 80, seq: 1000, ack: 0, flags: TCPFlag.syn, window: 65535, mss: 1460), to: remote), now: 0)
        guard case let .tcpConnect(waiting, _) = e.drain().first else { return XCTFail("no connect") }
        XCTAssertEqual(e.sandboxStream(waiting), .opening, "connecting: the sandbox has had no answer to send on")
        let (id, seq) = open(e, &sb)
        XCTAssertEqual(e.sandboxStream(id), .open)
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: seq, flags: TCPFlag.ack | TCPFlag.fin, window: 65535), to: remote), now: 3)
        XCTAssertTrue(e.drain().contains(.tcpShutdown(id)))
        XCTAssertEqual(e.sandboxStream(id), .ended, "its FIN came")
        let (other, oseq) = open(e, &sb, port: 40002)
        e.input(sb.tcp(TCPSegment(srcPort: 40002, dstPort: 80, seq: 1001, ack: oseq, flags: TCPFlag.rst, window: 0), to: remote), now: 4)
        XCTAssertEqual(e.drain(), [.tcpAbort(other)], "the host's end is reset, not ended")
        XCTAssertNil(e.sandboxStream(other), "reset")
        XCTAssertNil(e.sandboxStream(9999), "no such flow")
    }

    /// A sandbox that stops answering: after the retries its end gets a reset, and the
    /// host's end is reset too (tcpAbort), not ended as if the stream were whole.
    func testASandboxThatStopsAnsweringIsResetBothWays() {
        let e = engine()
        var sb = Sandbox()
        let (id, _) = open(e, &sb)
        e.tcpReceived(id, [UInt8](repeating: 1, count: 100)[...], now: 3)
        _ = e.drain()
        var now: UInt64 = 3
        var fx: [Effect] = []
        while !fx.contains(.tcpAbort(id)) && now < 1_000_000 {
            now += 10_000
            e.tick(now: now)
            fx = e.drain()
        }
        XCTAssertTrue(fx.contains(.tcpAbort(id)))
        XCTAssertFalse(fx.contains(.tcpClose(id)))
        XCTAssertTrue(segments(fx).contains { $0.has(TCPFlag.rst) }, "the sandbox's end is reset")
        XCTAssertEqual(e.flowCount, 0)
    }

    /// A segment resent joined with new bytes (our acknowledgment was lost) gives the host
    /// only the new ones; a FIN behind bytes already taken is taken.
    func testAResentSegmentGivesOnlyItsNewBytes() {
        let e = engine()
        var sb = Sandbox()
        let (id, seq) = open(e, &sb)
        func data(_ at: UInt32, _ text: String, fin: Bool = false) -> [UInt8] {
            sb.tcp(
                TCPSegment(
                    srcPort: 40000, dstPort: 80, seq: at, ack: seq, flags: TCPFlag.ack | (fin ? TCPFlag.fin : 0), window: 65535,
                    payload: Array(text.utf8)[...]), to: remote)
        }
        e.input(data(1001, "GET "), now: 3)
        XCTAssertEqual(e.drain().first, .tcpSend(id, Array("GET ".utf8)[...]))
        e.input(data(1001, "GET /index"), now: 4)
        let fx = e.drain()
        XCTAssertEqual(fx.first, .tcpSend(id, Array("/index".utf8)[...]))
        XCTAssertEqual(segments(fx).last?.ack, 1011)
        e.input(data(1001, "GET /index", fin: true), now: 5)
        let end = e.drain()
        XCTAssertFalse(end.contains { if case .tcpSend = $0 { return true } else { return false } }, "nothing given twice")
        XCTAssertTrue(end.contains(.tcpShutdown(id)))
        XCTAssertEqual(segments(end).last?.ack, 1012)
    }

    /// Against a window nearly full (the host slow to take bytes), a resent segment's new
    /// bytes go as far as the window, and its FIN waits until all of them are taken; a SYN
    /// on the open connection gets an acknowledgment and gives nothing.
    func testAResentSegmentAgainstAFullWindow() {
        let e = engine()
        var sb = Sandbox()
        let (id, seq) = open(e, &sb)
        func data(_ at: UInt32, _ n: Int, flags: UInt8 = TCPFlag.ack) -> [UInt8] {
            sb.tcp(
                TCPSegment(srcPort: 40000, dstPort: 80, seq: at, ack: seq, flags: flags, window: 65535, payload: [UInt8](repeating: 7, count: n)[...]),
                to: remote)
        }
        let fill = TCPFlow.rcvCap - 100
        var at: UInt32 = 1001
        for chunk in stride(from: 0, to: fill, by: 60000) {
            e.input(data(at, min(60000, fill - chunk)), now: 3)
            at &+= UInt32(min(60000, fill - chunk))
        }
        _ = e.drain()
        // 50 bytes already taken, 300 new of which the window holds 100, then the FIN.
        e.input(data(at &- 50, 350, flags: TCPFlag.ack | TCPFlag.fin), now: 4)
        var fx = e.drain()
        XCTAssertEqual(fx.compactMap { if case let .tcpSend(_, d) = $0 { return d.count } else { return nil } }, [100])
        XCTAssertFalse(fx.contains(.tcpShutdown(id)), "the FIN behind bytes not taken waits")
        XCTAssertEqual(segments(fx).last?.ack, at &+ 100)
        e.tcpWritten(id, TCPFlow.rcvCap, now: 5)
        _ = e.drain()
        e.input(data(at &- 50, 350, flags: TCPFlag.ack | TCPFlag.fin), now: 6)
        fx = e.drain()
        XCTAssertEqual(fx.compactMap { if case let .tcpSend(_, d) = $0 { return d.count } else { return nil } }, [200])
        XCTAssertTrue(fx.contains(.tcpShutdown(id)))
        XCTAssertEqual(segments(fx).last?.ack, at &+ 301)
        // Another connection, open: a SYN at the very next number, with bytes.
        let (_, seq2) = open(e, &sb, port: 40001)
        let syn = TCPSegment(
            srcPort: 40001, dstPort: 80, seq: 1001, ack: seq2, flags: TCPFlag.syn | TCPFlag.ack, window: 65535, payload: [1, 2, 3][...])
        e.input(sb.tcp(syn, to: remote), now: 7)
        fx = e.drain()
        XCTAssertFalse(fx.contains { if case .tcpSend = $0 { return true } else { return false } }, "a SYN's bytes are not the stream's")
        XCTAssertEqual(segments(fx).map(\.flags), [TCPFlag.ack])
        XCTAssertEqual(segments(fx).first?.ack, 1001)
    }

    func testAFailedConnectIsAReset() {
        let e = engine()
        var sb = Sandbox()
        e.input(sb.tcp(TCPSegment(srcPort: 1, dstPort: 81, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: remote), now: 0)
        guard case let .tcpConnect(id, _) = e.drain().first else { return XCTFail() }
        e.tcpConnected(id, ok: false, now: 1)
        let r = segments(e.drain())
        XCTAssertTrue(r[0].has(TCPFlag.rst))
        XCTAssertEqual(r[0].ack, 6)
        XCTAssertEqual(e.flowCount, 0)
    }

    /// Refused at once with a reset (never a hang): metadata, the host's loopback.
    func testRefusedDestinationsGetAResetAndAreLogged() {
        let e = engine()
        var sb = Sandbox()
        for dst in [v4(169, 254, 169, 254), IP(SlirpConfig().gateway)] {
            e.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 80, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: dst), now: 0)
            let fx = e.drain()
            XCTAssertEqual(fx.count, 1)
            XCTAssertTrue(segments(fx)[0].has(TCPFlag.rst))
        }
        XCTAssertEqual(e.log.filter { $0.key.refused != nil }.count, 2)
        var open = SlirpConfig()
        open.allowHostLoopback = true
        let e2 = engine(open)
        e2.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: IP(open.gateway)), now: 0)
        XCTAssertEqual(e2.drain().first, .tcpConnect(1, Endpoint(v4(127, 0, 0, 1), 8080)))
        // --deny-net still applies to the host's loopback once it is opened.
        let e3 = SlirpEngine(config: open, policy: EgressPolicy(deny: [NetRule(CIDR("127.0.0.1/32")!)]))
        e3.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: IP(open.gateway)), now: 0)
        XCTAssertTrue(segments(e3.drain())[0].has(TCPFlag.rst))
    }

    /// The host sends 200 KB; the sandbox drops every 7th segment and acks in order only:
    /// everything arrives, in order, through retransmission.
    func testLossIsRepairedByRetransmission() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 65535, scale: 2)
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        e.tcpReceived(id, data[...], now: 10)
        var got: [UInt8] = []
        var expect = start
        var now: UInt64 = 10
        var n = 0
        var rounds = 0
        while got.count < data.count && rounds < 10_000 {
            rounds += 1
            let segs = segments(e.drain())
            if segs.isEmpty {
                now += 500
                e.tick(now: now)
                continue
            }
            for s in segs where !s.payload.isEmpty {
                n += 1
                if n % 7 == 0 { continue }  // lost
                if s.seq == expect {
                    got += s.payload
                    expect &+= UInt32(s.payload.count)
                }
                e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: expect, flags: TCPFlag.ack, window: 65535), to: remote), now: now)
            }
        }
        XCTAssertEqual(got.count, data.count)
        XCTAssertEqual(got, data)
    }

    /// An open connection whose host has sent ten full segments (14,600 bytes, each byte
    /// its offset times `mul`), sent to the sandbox and not yet acknowledged.
    func tenSegmentsSent(_ mul: UInt8) -> (SlirpEngine, Sandbox, Int, UInt32, [UInt8]) {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb)
        let data = (0..<14_600).map { UInt8(truncatingIfNeeded: $0 &* Int(mul)) }
        e.tcpReceived(id, data[...], now: 10)
        return (e, sb, id, start, data)
    }

    /// Ten segments go; the third is lost. A receiver that keeps what follows a hole (as
    /// Linux does) acknowledges each later one with the same number: the third duplicate
    /// sends the lost segment again at once, with no timer run; an acknowledgment of all
    /// of it ends the repair, and nothing more goes again.
    func testALostSegmentGoesAgainOnTheThirdDuplicateAck() throws {
        var (e, sb, id, start, data) = tenSegmentsSent(11)
        XCTAssertEqual(segments(e.drain()).filter { !$0.payload.isEmpty }.map(\.payload.count), Array(repeating: 1460, count: 10))
        func ack(_ through: Int) -> [Effect] {
            e.input(
                sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start &+ UInt32(through), flags: TCPFlag.ack, window: 65535), to: remote),
                now: 11)
            return e.drain()
        }
        XCTAssertEqual(ack(1460), [])
        XCTAssertEqual(ack(2920), [])
        // Segments 4 to 10 arrive past the hole.
        XCTAssertEqual(ack(2920), [], "one duplicate is not a loss")
        XCTAssertEqual(ack(2920), [], "nor two")
        let again = segments(ack(2920))
        XCTAssertEqual(again.count, 1, "the third resends")
        XCTAssertEqual(again.first?.seq, start &+ 2920)
        XCTAssertTrue(again.first.map { Array($0.payload) == Array(data[2920..<4380]) } ?? false, "the lost bytes")
        for _ in 0..<4 { XCTAssertEqual(ack(2920), [], "once is enough") }
        XCTAssertEqual(ack(14_600), [], "all acknowledged: the repair is over")
        XCTAssertNil(try XCTUnwrap(e.tcpByID[id]).recover)
    }

    /// A receiver that keeps nothing past a hole drops all that followed the lost segment:
    /// each acknowledgment short of what had been sent (a partial one) sends the next
    /// segment at once, so the whole stream is repaired without the timer.
    func testEachPartialAckSendsTheNextHoleAtOnce() throws {
        var (e, sb, id, start, data) = tenSegmentsSent(5)
        var got: [UInt8] = []
        var expect = start
        var queue = segments(e.drain()).filter { !$0.payload.isEmpty }
        var first = true
        var resent = 0
        while !queue.isEmpty {
            let s = queue.removeFirst()
            if s.seq == start &+ 2920 && first {
                first = false  // lost
                continue
            }
            if s.seq == expect {
                got += s.payload
                expect &+= UInt32(s.payload.count)
            }
            e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: expect, flags: TCPFlag.ack, window: 65535), to: remote), now: 11)
            let more = segments(e.drain()).filter { !$0.payload.isEmpty }
            resent += more.count
            queue += more
        }
        XCTAssertEqual(got.count, data.count)
        XCTAssertTrue(got == data, "all of it, in order, with no timer run")
        XCTAssertEqual(resent, 8, "the lost segment and the seven the receiver dropped, each once")
        XCTAssertNil(try XCTUnwrap(e.tcpByID[id]).recover)
    }

    /// All ten segments lost: the timer sends the first again, and each acknowledgment of
    /// a resent one sends the next at once (one timer run for the whole window).
    func testATimeoutStartsTheSameRepair() throws {
        var (e, sb, id, start, data) = tenSegmentsSent(3)
        _ = e.drain()  // all lost
        e.tick(now: 10 + 200)
        var queue = segments(e.drain()).filter { !$0.payload.isEmpty }
        XCTAssertEqual(queue.map(\.seq), [start], "the timer resends the first segment only")
        var got: [UInt8] = []
        while !queue.isEmpty {
            let s = queue.removeFirst()
            XCTAssertEqual(s.seq, start &+ UInt32(got.count), "in order, each once")
            got += s.payload
            e.input(
                sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start &+ UInt32(got.count), flags: TCPFlag.ack, window: 65535), to: remote),
                now: 211)
            queue += segments(e.drain()).filter { !$0.payload.isEmpty }
        }
        XCTAssertTrue(got == data, "all of it after one timer run")
        XCTAssertNil(try XCTUnwrap(e.tcpByID[id]).recover)
    }

    /// A sandbox that starts a repair and then acknowledges a byte at a time draws no
    /// more than it acknowledges (plus the one segment out): a resent segment must be
    /// acknowledged whole before the next goes again, never one per acknowledgment.
    func testByteAtATimeAcknowledgmentsDrawNoMoreThanTheyAcknowledge() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb)
        e.tcpReceived(id, [UInt8](repeating: 1, count: 14_600)[...], now: 10)
        _ = e.drain()
        func ack(_ n: Int) -> Int {
            e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start &+ UInt32(n), flags: TCPFlag.ack, window: 65535), to: remote), now: 11)
            return segments(e.drain()).reduce(0) { $0 + $1.payload.count }
        }
        var resent = (0..<3).reduce(0) { r, _ in r + ack(0) }
        XCTAssertEqual(resent, 1460, "the third duplicate resends one segment")
        for n in 1...5000 { resent += ack(n) }
        XCTAssertLessThanOrEqual(resent, 5000 + 1460, "no more than was acknowledged, and the segment out")
        XCTAssertGreaterThan(resent, 1460, "the repair went on as the resent bytes were acknowledged")
    }

    /// The window shut and probed: the probes (which the sandbox drops, as Linux does past
    /// a shut window) start no repair, and when the window opens the dropped byte goes at
    /// once with the rest, not when the backed-off probe timer runs out.
    func testAWindowThatOpensAfterProbesGetsTheDroppedByteAtOnce() throws {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 0, scale: nil)
        let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        e.tcpReceived(id, data[...], now: 10)
        XCTAssertEqual(segments(e.drain()).filter { !$0.payload.isEmpty }.count, 0)
        e.tick(now: 1000)
        e.tick(now: 5000)
        XCTAssertEqual(segments(e.drain()).filter { !$0.payload.isEmpty }.map(\.payload.count), [1, 1], "two probes")
        XCTAssertNil(try XCTUnwrap(e.tcpByID[id]).recover, "a probe repairs nothing")
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start, flags: TCPFlag.ack, window: 20_000), to: remote), now: 5001)
        let sent = segments(e.drain()).filter { !$0.payload.isEmpty }
        XCTAssertEqual(sent.first?.seq, start, "from the dropped byte")
        XCTAssertTrue(sent.flatMap(\.payload) == data, "all of it, at once")
    }

    /// A connection that ended (both FINs acknowledged) is answered for a while: the
    /// sandbox's FIN sent again (our acknowledgment of it lost) gets that acknowledgment,
    /// not a reset, and so do bytes from before it; a bare acknowledgment that fits gets
    /// nothing; an old SYN again is acknowledged, a new one opens a connection; once the
    /// wait is over, a reset. A connection ended by a reset is not waited on.
    func testAnEndedConnectionAcknowledgesWhatIsSentAgain() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb)
        let (id2, start2) = open(e, &sb, port: 40001)
        let (id3, _) = open(e, &sb, port: 40002)
        func tcp(_ port: UInt16, seq: UInt32, ack: UInt32, _ flags: UInt8, _ payload: [UInt8] = []) -> [UInt8] {
            sb.tcp(TCPSegment(srcPort: port, dstPort: 80, seq: seq, ack: ack, flags: flags, window: 65535, payload: payload[...]), to: remote)
        }
        func answer(_ frame: [UInt8], now: UInt64) -> [TCPSegment] {
            e.input(frame, now: now)
            return segments(e.drain())
        }
        e.tcpHostEOF(id, now: 10)
        XCTAssertEqual(segments(e.drain()).map(\.flags), [TCPFlag.fin | TCPFlag.ack])
        let fin = tcp(40000, seq: 1001, ack: start &+ 1, TCPFlag.fin | TCPFlag.ack)
        e.input(fin, now: 11)
        XCTAssertTrue(e.drain().contains(.tcpClose(id)))
        XCTAssertEqual(e.flowCount, 2, "ended")
        let again = answer(fin, now: 400)
        XCTAssertEqual(again.map(\.flags), [TCPFlag.ack], "acknowledged, not reset")
        XCTAssertEqual(again.first?.ack, 1002)
        XCTAssertEqual(again.first?.seq, start &+ 1)
        XCTAssertEqual(
            answer(tcp(40000, seq: 1001, ack: start &+ 1, TCPFlag.ack | TCPFlag.psh, [1, 2]), now: 401).map(\.ack), [1002], "old bytes again: acknowledged")
        XCTAssertEqual(answer(tcp(40000, seq: 1002, ack: start &+ 1, TCPFlag.ack), now: 402), [], "the answer to our acknowledgment: nothing")
        XCTAssertEqual(answer(tcp(40000, seq: 1000, ack: 0, TCPFlag.syn), now: 403).map(\.flags), [TCPFlag.ack], "the old SYN again")
        e.input(tcp(40000, seq: 9000, ack: 0, TCPFlag.syn), now: 404)
        guard case .tcpConnect = e.drain().first else { return XCTFail("a SYN past the old connection is a new one") }
        // Another connection ends; after the wait its FIN again is reset.
        e.tcpHostEOF(id2, now: 600)
        _ = e.drain()
        let fin2 = tcp(40001, seq: 1001, ack: start2 &+ 1, TCPFlag.fin | TCPFlag.ack)
        e.input(fin2, now: 601)
        _ = e.drain()
        e.tick(now: 601 + TimeWaitTable.ms)
        XCTAssertEqual(e.timeWait.count, 0, "the tick forgets it")
        XCTAssertEqual(answer(fin2, now: 601 + TimeWaitTable.ms).map { $0.has(TCPFlag.rst) }, [true], "the wait is over")
        // Ended by the host's error (the sandbox is reset): its bytes later are reset too.
        e.tcpHostError(id3)
        _ = e.drain()
        XCTAssertEqual(answer(tcp(40002, seq: 1001, ack: 1, TCPFlag.ack | TCPFlag.psh, [7]), now: 700).map { $0.has(TCPFlag.rst) }, [true])
    }

    /// The wait is bounded: past its cap the oldest ended connections are forgotten (a
    /// wait started over counts once, from its new start), and those whose time is over go.
    func testTheWaitIsBounded() {
        var t = TimeWaitTable()
        func key(_ i: Int) -> FlowKey { FlowKey(Endpoint(v4(10, 0, 2, 100), UInt16(1000 + i % 60000)), Endpoint(v4(198, 18, 0, UInt8(1 + i / 60000)), 80)) }
        t.add(key(0), snd: 1, rcv: 2, now: 0)
        for i in 1..<(2 * TimeWaitTable.cap) {
            t.add(key(i), snd: 1, rcv: 2, now: UInt64(i))
            if i % 2 == 0 { t.restart(key(0), now: UInt64(i)) }  // its wait keeps starting over
            if i % 3 == 0 { t.remove(key(i - 1)) }
        }
        XCTAssertLessThanOrEqual(t.count, TimeWaitTable.cap)
        XCTAssertNotNil(t.lookup(key(0), now: UInt64(2 * TimeWaitTable.cap)), "started over: kept")
        XCTAssertNil(t.lookup(key(1), now: 5000), "the oldest went first")
        t.expire(now: UInt64(2 * TimeWaitTable.cap) + TimeWaitTable.ms)
        XCTAssertEqual(t.count, 0)
        // Full, a wait that starts over takes no other connection's place.
        var u = TimeWaitTable()
        for i in 0..<TimeWaitTable.cap { u.add(key(i), snd: 1, rcv: 2, now: 0) }
        u.restart(key(5), now: 1)
        XCTAssertEqual(u.count, TimeWaitTable.cap)
        XCTAssertNotNil(u.lookup(key(0), now: 2), "the oldest is still there")
    }

    /// The host's last byte goes as a probe and its EOF follows (the FIN past the shut
    /// window too): when the window opens, the byte and the FIN go again at once.
    func testAWindowThatOpensAfterAProbeAndAFINGetsBoth() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 0, scale: nil)
        e.tcpReceived(id, [9][...], now: 10)
        e.tick(now: 1000)
        e.tcpHostEOF(id, now: 1001)
        XCTAssertEqual(segments(e.drain()).map(\.seq), [start, start &+ 1], "the probe, then the FIN")
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start, flags: TCPFlag.ack, window: 1000), to: remote), now: 1002)
        let again = segments(e.drain())
        XCTAssertEqual(again.map(\.seq), [start])
        XCTAssertEqual(again.map { Array($0.payload) }, [[9]])
        XCTAssertEqual(again.map { $0.has(TCPFlag.fin) }, [true], "the byte with the FIN")
    }

    /// A zero window stops the sender; the flow probes; when the window opens it resumes.
    func testAZeroWindowIsProbedNotOverrun() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 0, scale: nil)
        e.tcpReceived(id, [1, 2, 3][...], now: 10)
        XCTAssertEqual(segments(e.drain()).filter { !$0.payload.isEmpty }.count, 0, "nothing past a zero window")
        e.tick(now: 10_000)
        let probe = segments(e.drain())
        XCTAssertEqual(probe.count, 1)
        XCTAssertEqual(probe[0].payload.count, 1)
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start &+ 1, flags: TCPFlag.ack, window: 1000), to: remote), now: 10_001)
        let rest = segments(e.drain())
        XCTAssertEqual(rest.map { Array($0.payload) }, [[2, 3]])
    }

    /// The window is taken only from a segment no older than the last that set it (RFC 9293
    /// 3.10.7.4, SND.WL1 and SND.WL2): an acknowledgment a link delayed, with the window the
    /// sandbox had then, does not shut the window it has opened since, whether its
    /// acknowledgment is older or its sequence number is; nor does one that acknowledges
    /// bytes never sent, or one from far ahead (which, taken, would stop every later
    /// update). Each is followed by bytes from the host, which go at once.
    func testAnOlderSegmentDoesNotShutTheWindow() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 1000, scale: nil)
        func ack(_ seq: UInt32, _ ack: UInt32, _ window: UInt16, _ data: [UInt8] = []) {
            e.input(
                sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: seq, ack: ack, flags: TCPFlag.ack, window: window, payload: data[...]), to: remote), now: 20
            )
        }
        func sent(after bytes: Int) -> Int {
            e.tcpReceived(id, [UInt8](repeating: 5, count: bytes)[...], now: 20)
            return segments(e.drain()).reduce(0) { $0 + $1.payload.count }
        }
        XCTAssertEqual(sent(after: 1000), 1000)
        ack(1001, start &+ 1000, 0)  // its buffer full
        ack(1001, start &+ 1000, 8000)  // read: open again
        XCTAssertEqual(sent(after: 2000), 2000)
        ack(1001, start &+ 3000, 8000)
        ack(1001, start &+ 1000, 0)  // the first, delayed: an older acknowledgment
        XCTAssertEqual(sent(after: 500), 500, "the window the sandbox has now")
        // The sandbox's own bytes move its sequence number on; a delayed acknowledgment
        // from before them carries an older one.
        ack(1001, start &+ 3500, 8000, [1, 2, 3])
        _ = e.drain()
        ack(1004, start &+ 3500, 8000)
        ack(1001, start &+ 3500, 0)
        XCTAssertEqual(sent(after: 500), 500, "the window the sandbox has now")
        ack(1004, start &+ 9000, 0)  // acknowledges bytes never sent
        XCTAssertEqual(sent(after: 500), 500)
        ack(1004 &+ (1 << 30), start &+ 4500, 0)  // from far past any window we gave
        XCTAssertEqual(sent(after: 500), 500)
        // The control: a segment no older (the same numbers) sets the window, even to zero.
        ack(1004, start &+ 4500, 0)
        XCTAssertEqual(sent(after: 500), 0, "a zero window from a current segment is kept")
    }

    /// A reader that stops for long (zero window, probes answered) keeps its connection;
    /// only silence ends one. What a flow held leaves the engine's budgets with it.
    func testAStoppedReaderIsNotResetAndBudgetsComeBack() {
        let e = engine()
        var sb = Sandbox()
        let (id, start) = open(e, &sb, window: 0, scale: nil)
        e.tcpReceived(id, [UInt8](repeating: 7, count: 5000)[...], now: 10)
        var now: UInt64 = 10
        for _ in 0..<40 {
            now += 20_000
            e.tick(now: now)
            for s in segments(e.drain()) where !s.payload.isEmpty {
                e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: start, flags: TCPFlag.ack, window: 0), to: remote), now: now)
            }
        }
        XCTAssertFalse(e.drain().contains { $0 == .tcpClose(id) || $0 == .tcpAbort(id) }, "still open after 40 answered probes")
        XCTAssertEqual(e.flowCount, 1)
        XCTAssertEqual(e.sendBuffered, 5000)
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: 0, flags: TCPFlag.rst, window: 0), to: remote), now: now)
        XCTAssertEqual(e.flowCount, 0)
        XCTAssertEqual(e.sendBuffered, 0, "the closed flow's bytes left the budget")
    }

    /// The host writes slowly: the window the sandbox sees shrinks, and opens again.
    func testBackpressureTowardTheHost() {
        let e = engine()
        var sb = Sandbox()
        let (id, seq) = open(e, &sb)
        let chunk = [UInt8](repeating: 9, count: 60000)
        var at: UInt32 = 1001
        for _ in 0..<18 {
            e.input(
                sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: at, ack: seq, flags: TCPFlag.ack, window: 65535, payload: chunk[...]), to: remote), now: 3)
            at &+= 60000
        }
        let fx = e.drain()
        let sends = fx.compactMap { if case let .tcpSend(_, d) = $0 { return d.count } else { return nil } }
        XCTAssertEqual(sends.reduce(0, +), TCPFlow.rcvCap, "nothing past the buffer the host has not drained")
        XCTAssertEqual(sends.last, TCPFlow.rcvCap - 17 * 60000)
        XCTAssertEqual(segments(fx).last?.window, 0, "a shut window")
        e.tcpWritten(id, TCPFlow.rcvCap, now: 6)
        XCTAssertGreaterThan(segments(e.drain()).last.map { Int($0.window) } ?? 0, 1000, "a window update once the host drained")
    }

    /// Port forwarding: the engine opens the connection to the sandbox (SYN from the
    /// gateway), carries the host's bytes once established, and a reset closes it.
    func testAForwardedConnectionIsOpenedToTheSandbox() {
        let e = engine()
        var sb = Sandbox()
        guard let id = e.tcpAccepted(guestPort: 8000, now: 0) else { return XCTFail() }
        e.tcpReceived(id, Array("GET /".utf8)[...], now: 0)
        let syn = segments(e.drain())
        XCTAssertEqual(syn.count, 1)
        XCTAssertEqual(syn[0].flags, TCPFlag.syn)
        XCTAssertEqual(syn[0].dstPort, 8000)
        let gw = IP(SlirpConfig().gateway)
        let synack = TCPSegment(
            srcPort: 8000, dstPort: syn[0].srcPort, seq: 500, ack: syn[0].seq &+ 1, flags: TCPFlag.syn | TCPFlag.ack, window: 65535, mss: 1460, windowScale: 7)
        e.input(sb.tcp(synack, to: gw), now: 1)
        let out = segments(e.drain())
        XCTAssertEqual(out.first?.flags, TCPFlag.ack)
        XCTAssertEqual(out.first?.ack, 501)
        XCTAssertEqual(out.last.map { Array($0.payload) }, Array("GET /".utf8), "the bytes the host sent while it opened")
        // The sandbox resends its SYN-ACK (as when our ACK was lost): it gets the ACK it
        // waits for, at the next number, and nothing else happens.
        e.input(sb.tcp(synack, to: gw), now: 2)
        let again = segments(e.drain())
        XCTAssertEqual(again.map(\.flags), [TCPFlag.ack])
        XCTAssertEqual(again.first?.ack, 501)
        XCTAssertEqual(again.first?.seq, syn[0].seq &+ 1 &+ 5)
        e.input(sb.tcp(TCPSegment(srcPort: 8000, dstPort: syn[0].srcPort, seq: 501, ack: 0, flags: TCPFlag.rst, window: 0), to: gw), now: 2)
        XCTAssertEqual(e.drain(), [.tcpAbort(id)])
    }

    /// -p /udp: a host peer's datagram reaches the sandbox's port from the gateway; the
    /// sandbox's answer goes back to that peer; a second peer gets its own flow; idle, it ends.
    func testAForwardedUDPPortCarriesBothWays() {
        let e = engine()
        var sb = Sandbox()
        let c = SlirpConfig()
        let peer = Endpoint(v4(127, 0, 0, 1), 40000)
        guard let id = e.udpForwarded(guestPort: 53, from: peer, [7, 8][...], now: 0) else { return XCTFail() }
        guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f), let u = UDPDatagram.parse(f, ip) else { return XCTFail() }
        XCTAssertEqual(ip.src, IP(c.gateway))
        XCTAssertEqual(ip.dst, IP(c.guest))
        XCTAssertEqual(u.dstPort, 53)
        XCTAssertEqual(Array(f[u.payload]), [7, 8])
        XCTAssertEqual(e.udpForwarded(guestPort: 53, from: peer, [9][...], now: 1), id, "the same peer, the same flow")
        _ = e.drain()
        e.input(sb.udp(53, to: IP(c.gateway), u.srcPort, [1]), now: 2)
        XCTAssertEqual(e.drain(), [.udpSend(id, peer, [1][...])])
        XCTAssertNotEqual(e.udpForwarded(guestPort: 53, from: Endpoint(v4(127, 0, 0, 1), 40001), [1][...], now: 3), id)
        XCTAssertNil(e.udpForwarded(guestPort: 53, from: peer, [UInt8](repeating: 0, count: 70000)[...], now: 3), "larger than the link")
        _ = e.drain()
        // The sandbox's own sends do not keep a forwarded flow alive.
        e.input(sb.udp(53, to: IP(c.gateway), u.srcPort, [1]), now: SlirpEngine.udpIdleMS)
        _ = e.drain()
        e.tick(now: SlirpEngine.udpIdleMS + 10)
        let closed = e.drain().compactMap { if case let .udpClose(i) = $0 { return i } else { return nil } }
        XCTAssertEqual(Set(closed), [id, id + 1])
        XCTAssertEqual(e.flowCount, 0)
        // Senders on the host's port have a cap of their own; the sandbox's flows still open.
        for i in 0..<(SlirpEngine.maxUDPInbound + 50) {
            _ = e.udpForwarded(guestPort: 53, from: Endpoint(v4(127, 0, 0, 1), UInt16(1000 + i)), [1][...], now: 20)
        }
        XCTAssertEqual(e.udpInbound.count, SlirpEngine.maxUDPInbound)
        XCTAssertNil(e.udpForwarded(guestPort: 53, from: Endpoint(v4(169, 254, 169, 254), 53), [1][...], now: 20), "a peer the policy never reaches")
        _ = e.drain()
        e.input(sb.udp(7000, to: v4(198, 18, 0, 1), 53, [1]), now: 21)
        XCTAssertEqual(e.drain().count, 1, "the sandbox's own flow opens")
    }

    func testUDPAndDNSAreForwarded() {
        var c = SlirpConfig()
        c.dnsUpstream = v4(127, 0, 0, 53)
        let e = engine(c)
        var sb = Sandbox()
        e.input(sb.udp(5353, to: IP(c.dns), 53, [1, 2, 3]), now: 0)
        XCTAssertEqual(e.drain(), [.udpSend(1, Endpoint(v4(127, 0, 0, 53), 53), [1, 2, 3][...])])
        e.udpReceived(1, [4, 5][...], now: 1)
        guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f), let u = UDPDatagram.parse(f, ip) else { return XCTFail() }
        XCTAssertEqual(ip.src, IP(c.dns))
        XCTAssertEqual(u.srcPort, 53)
        XCTAssertEqual(Array(f[u.payload]), [4, 5])
        e.tick(now: SlirpEngine.udpIdleMS + 5)
        XCTAssertEqual(e.drain(), [.udpClose(1)])
    }

    /// --allow-net NAME: the address the forwarder answered for the name is reached; an
    /// address nobody looked up is refused.
    func testAnAllowedNameOpensWhatItsLookupAnswered() {
        var c = SlirpConfig()
        c.dnsUpstream = v4(127, 0, 0, 53)
        var p = EgressPolicy()
        p.allowNames = [NameRule("svc.test")]
        let e = SlirpEngine(config: c, policy: p)
        var sb = Sandbox()
        let syn = TCPSegment(srcPort: 3, dstPort: 80, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100)
        e.input(sb.tcp(syn, to: v4(198, 18, 0, 2)), now: 0)
        XCTAssertTrue(segments(e.drain())[0].has(TCPFlag.rst), "before the lookup: refused")
        e.input(sb.udp(5353, to: IP(c.dns), 53, [1]), now: 1)
        guard case let .udpSend(id, _, _)? = e.drain().first else { return XCTFail() }
        e.udpReceived(id, CodecTests.dnsReply[...], now: 2)
        _ = e.drain()
        e.input(sb.tcp(syn, to: v4(198, 18, 0, 2)), now: 3)
        XCTAssertEqual(e.drain().first, .tcpConnect(2, Endpoint(v4(198, 18, 0, 2), 80)))
        e.input(sb.tcp(TCPSegment(srcPort: 4, dstPort: 80, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: v4(198, 18, 0, 3)), now: 4)
        XCTAssertTrue(segments(e.drain())[0].has(TCPFlag.rst), "another address: refused")
    }

    func testARPAndPingOfTheGateway() {
        let e = engine()
        let me = MAC(0x0200_0000_0001)
        let req = ARP(op: 1, senderMAC: me, senderIP: IPv4(10, 0, 2, 100), targetMAC: MAC(0), targetIP: IPv4(10, 0, 2, 2))
        e.input(req.frame(from: me, to: .broadcast), now: 0)
        guard case let .frame(f)? = e.drain().first, let a = ARP.parse(f, at: 14) else { return XCTFail() }
        XCTAssertEqual(a.op, 2)
        XCTAssertEqual(a.senderMAC, SlirpConfig.gatewayMAC)
        var b = FrameBuilder(ourMAC: me, peerMAC: SlirpConfig.gatewayMAC)
        e.input(b.icmp(src: v4(10, 0, 2, 100), dst: v4(10, 0, 2, 2), type: 8, rest: [0, 1, 0, 1, 42][...]), now: 0)
        guard case let .frame(r)? = e.drain().first, let ip = IPv4Header.parse(r, at: 14) else { return XCTFail() }
        XCTAssertEqual(r[ip.payload.lowerBound], 0, "echo reply")
        XCTAssertEqual(r.last, 42)
    }

    /// Echo requests beyond the gateway go to a ping socket (policy first, as port 0); the
    /// reply comes back with the sandbox's identifier and a valid checksum; idle, it ends.
    func testEchoRequestsBeyondTheGatewayGoThroughPingSockets() {
        let e = engine()
        var b = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: SlirpConfig.gatewayMAC)
        let me = v4(10, 0, 2, 100)
        e.input(b.icmp(src: me, dst: remote, type: 8, rest: [0x12, 0x34, 0, 7, 42, 43][...]), now: 0)
        guard case let .icmpEcho(id, to, msg)? = e.drain().first else { return XCTFail() }
        XCTAssertEqual(to, remote)
        XCTAssertEqual(Array(msg.prefix(1)) + Array(msg.suffix(2)), [8, 42, 43])
        // The host's socket answers with its own identifier (0x9999).
        e.icmpReceived(id, [0, 0, 0, 0, 0x99, 0x99, 0, 7, 42, 43][...], now: 1)
        guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f) else { return XCTFail() }
        let i = ip.payload.lowerBound
        XCTAssertEqual(ip.src, remote)
        XCTAssertEqual(ip.dst, me)
        XCTAssertEqual(
            Array(f[i..<ip.payload.upperBound]).enumerated().filter { $0.offset != 2 && $0.offset != 3 }.map(\.element), [0, 0, 0x12, 0x34, 0, 7, 42, 43])
        XCTAssertEqual(Checksum.fold(Checksum.add(f, i, ip.payload.upperBound)), 0)
        e.icmpReceived(id, [8, 0, 0, 0, 0, 0, 0, 0][...], now: 1)
        XCTAssertEqual(e.drain(), [], "only echo replies come back")
        e.tick(now: SlirpEngine.udpIdleMS + 5)
        XCTAssertEqual(e.drain(), [.icmpClose(id)])
        // Metadata, and a rule with ports, never let a ping through.
        let m = SlirpEngine(config: SlirpConfig(), policy: EgressPolicy(allow: [NetRule(CIDR("198.18.0.0/15")!, ports: Ports([443...443]))]))
        m.input(b.icmp(src: me, dst: v4(169, 254, 169, 254), type: 8, rest: [0, 1, 0, 1][...]), now: 0)
        m.input(b.icmp(src: me, dst: remote, type: 8, rest: [0, 1, 0, 1][...]), now: 0)
        XCTAssertEqual(m.drain(), [])
        XCTAssertEqual(m.log.values.reduce(0, +), 2)
        XCTAssertTrue(m.log.keys.allSatisfy { $0.proto == "icmp" && $0.refused != nil })
    }

    /// An IPv4 frame cut into fragments of `size` payload bytes (a multiple of 8).
    func fragments(_ f: [UInt8], size: Int) -> [[UInt8]] {
        guard let ip = IPv4Header.parse(f, at: 14) else { return [] }
        let body = Array(f[ip.payload])
        return stride(from: 0, to: body.count, by: size).map { at in
            let part = body[at..<min(at + size, body.count)]
            var b = Array(f[0..<14]) + [UInt8](repeating: 0, count: 20) + part
            IPv4Header.write(&b, at: 14, src: ip.src, dst: ip.dst, proto: ip.proto, id: ip.id, payloadLength: part.count)
            let more: UInt16 = at + size < body.count ? 0x2000 : 0
            put16(&b, 20, more | UInt16(at / 8))
            put16(&b, 24, 0)
            put16(&b, 24, Checksum.fold(Checksum.add(b, 14, 34)))
            return b
        }
    }

    /// A fragmented UDP datagram is put back together, in any order; an overlap drops it; a
    /// flood of first fragments holds at most maxDatagrams, and they expire.
    func testFragmentsAreReassembledWithinBounds() {
        let e = engine()
        var sb = Sandbox()
        let data = (0..<3000).map { UInt8(truncatingIfNeeded: $0) }
        let parts = fragments(sb.udp(5000, to: remote, 53, data), size: 1480)
        XCTAssertEqual(parts.count, 3)
        for p in [parts[2], parts[0], parts[1]] { e.input(p, now: 0) }
        XCTAssertEqual(e.drain(), [.udpSend(1, Endpoint(remote, 53), data[...])])
        // An overlapping part: dropped, nothing sent.
        let again = fragments(sb.udp(5001, to: remote, 53, data), size: 1480)
        var shifted = again[0]
        put16(&shifted, 20, 0x2000 | 1)
        put16(&shifted, 24, 0)
        put16(&shifted, 24, Checksum.fold(Checksum.add(shifted, 14, 34)))
        e.input(again[0], now: 1)
        e.input(shifted, now: 1)
        e.input(again[1], now: 1)
        e.input(again[2], now: 1)
        XCTAssertEqual(e.drain(), [])
        // A flood: distinct datagrams' first fragments, never completed.
        for i in 0..<10_000 { e.input(fragments(sb.udp(UInt16(6000 + i % 50_000), to: remote, 9, data), size: 1480)[0], now: 2) }
        XCTAssertEqual(e.fragments.pending.count, Reassembler.maxDatagrams)
        e.tick(now: 2 + Reassembler.timeoutMS)
        XCTAssertEqual(e.fragments.pending.count, 0)
    }

    /// Garbage and mutated frames never crash the engine, and a SYN flood stays capped.
    func testFuzzedFramesAndFloods() {
        let e = engine()
        var sb = Sandbox()
        let good = [
            sb.tcp(TCPSegment(srcPort: 9, dstPort: 80, seq: 1, ack: 0, flags: TCPFlag.syn, window: 10, mss: 100), to: remote),
            sb.udp(1, to: remote, 53, [1, 2, 3]),
            ARP(op: 1, senderMAC: MAC(1), senderIP: IPv4(1), targetMAC: MAC(2), targetIP: IPv4(2)).frame(from: MAC(1), to: .broadcast),
        ]
        fuzz(e, good, &sb, to: remote, keep: 0)
    }
}

/// 20 000 frames made from good ones (bytes changed, cut short, or random after the first
/// `keep` bytes), then a SYN flood of 6000: no crash, and the flows stay within the caps.
func fuzz(_ e: SlirpEngine, _ good: [[UInt8]], _ sb: inout Sandbox, to remote: IP, keep: Int, file: StaticString = #filePath, line: UInt = #line) {
    var rng = SystemRandomNumberGenerator()
    for i in 0..<20_000 {
        var f = good[i % good.count]
        switch i % 3 {
        case 0: for _ in 0..<Int.random(in: 1...6, using: &rng) { f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
        case 1: f = Array(f.prefix(Int.random(in: 0...f.count, using: &rng)))
        default: f = Array(f.prefix(keep)) + (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        e.input(f, now: UInt64(i))
        _ = e.drain()
    }
    for p in 0..<6000 {
        e.input(sb.tcp(TCPSegment(srcPort: UInt16(1000 + p), dstPort: 80, seq: 1, ack: 0, flags: TCPFlag.syn, window: 10), to: remote), now: 1)
    }
    _ = e.drain()
    XCTAssertLessThanOrEqual(e.flowCount, SlirpEngine.maxTCPFlows + SlirpEngine.maxUDPFlows, file: file, line: line)
}
