@testable import SlirpNet
import XCTest

func v6(_ text: String) -> IP { IP(text)! }

/// IPv6 on the link: addresses, neighbour discovery, TCP/UDP/ICMPv6 through the engine,
/// and the policy over both families.
final class IPv6Tests: XCTestCase {
    let remote = v6("2001:db8::1")

    func engine(_ c: SlirpConfig = SlirpConfig(), _ p: EgressPolicy = EgressPolicy()) -> SlirpEngine { SlirpEngine(config: c, policy: p) }

    func testAddressText() {
        XCTAssertEqual(v6("fd00::100"), SlirpConfig.guest6)
        XCTAssertEqual(v6("FD00:0:0:0:0:0:0:100"), SlirpConfig.guest6)
        XCTAssertEqual(v6("::1"), IP(hi: 0, lo: 1))
        XCTAssertEqual(v6("::"), IP(hi: 0, lo: 0))
        XCTAssertEqual(v6("::ffff:1.2.3.4"), IP(IPv4(1, 2, 3, 4)), "IPv4-mapped is the IPv4 address")
        XCTAssertEqual(v6("::ffff:1.2.3.4").description, "1.2.3.4")
        XCTAssertEqual(v6("64:ff9b::169.254.169.254"), v6("64:ff9b::a9fe:a9fe"))
        for (text, printed) in [
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), ("2001:db8::0:1", "2001:db8::1"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"), ("fe80::", "fe80::"), ("::", "::"),
        ] {
            XCTAssertEqual(v6(text).description, printed, text)
        }
        for bad in ["1::2::3", "12345::", "g::", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "1:2:3:4:5:6:7", "::1.2.3", "[::1]", "fe80::1%eth0", ""] {
            XCTAssertNil(IP(bad), bad)
        }
        // Every address prints as text that parses back to it; random text never crashes.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let zeros = UInt64.random(in: 0...255, using: &rng)
            var a = IP(hi: UInt64.random(in: 0...UInt64.max, using: &rng), lo: UInt64.random(in: 0...UInt64.max, using: &rng))
            for k in 0..<8 where zeros & (1 << UInt64(k)) != 0 {  // runs of zero groups, as real addresses have
                if k < 4 { a.hi &= ~(0xffff << UInt64(48 - 16 * k)) } else { a.lo &= ~(0xffff << UInt64(48 - 16 * (k - 4))) }
            }
            XCTAssertEqual(IP(a.description), a, a.description)
            let alphabet = Array("0123456789abcdefABCDEF:.:/%[]")
            let junk = String((0..<Int.random(in: 0...46, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
            _ = IP(junk)
            _ = IPNet(Substring(junk))
            _ = try? EgressPolicy.targets(junk, flag: "--allow-net", names: true)
            _ = Endpoint.parse(Substring(junk), port: 53)
        }
        XCTAssertTrue(IPNet("fd00::/8")!.contains(SlirpConfig.guest6))
        XCTAssertFalse(IPNet("fd00::/8")!.contains(v6("fe80::1")))
        XCTAssertEqual(IPNet("10.1.2.3/8")?.description, "10.0.0.0/8")
        XCTAssertTrue(IPNet("10.0.0.0/8")!.isV4)
        XCTAssertFalse(IPNet("10.0.0.0/8")!.contains(v6("a00::1")), "an IPv4 network holds no IPv6 address")
        XCTAssertEqual(IPNet("2001:db8::1/32")?.description, "2001:db8::/32")
        XCTAssertNil(IPNet("1.2.3.4/33"))
        XCTAssertNil(IPNet("::1/129"))
        XCTAssertTrue(IPNet(Substring("::/0"))!.contains(v4(8, 8, 8, 8)), "::/0 is every address")
    }

    /// The gateway's and the DNS forwarder's addresses are answered for; others (the
    /// sandbox's own, during its duplicate address check) and off-link solicitations not.
    func testNeighbourDiscoveryAnswersForTheGatewayOnly() {
        let e = engine()
        var b = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: .broadcast)
        func solicit(_ target: IP, from: IP = SlirpConfig.guest6, hop: UInt8 = 255) -> [UInt8] {
            var rest = [UInt8](repeating: 0, count: 4 + 16 + 8)
            target.write(&rest, at: 4)
            rest[20] = 1
            rest[21] = 1
            MAC(0x0200_0000_0001).write(&rest, at: 22)
            return b.icmp(src: from, dst: v6("ff02::1:ff00:2"), type: 135, rest: rest[...], hopLimit: hop)
        }
        for target in [SlirpConfig.gateway6, SlirpConfig.dns6] {
            e.input(solicit(target), now: 0)
            guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f) else { return XCTFail("no advertisement for \(target)") }
            let i = ip.payload.lowerBound
            XCTAssertEqual(ip.proto, IPProto.icmp6)
            XCTAssertEqual(ip.hopLimit, 255)
            XCTAssertEqual([ip.src, ip.dst], [target, SlirpConfig.guest6])
            XCTAssertEqual(f[i], 136)
            XCTAssertEqual(f[i + 4], 0x60, "solicited, override")
            XCTAssertEqual(IP(f, at: i + 8), target)
            XCTAssertEqual(Array(f[(i + 24)..<(i + 32)]), [2, 1, 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02], "the gateway's MAC")
            XCTAssertEqual(Checksum.fold(Checksum.add(f, i, ip.payload.upperBound, Checksum.pseudo(ip.src, ip.dst, proto: 58, length: ip.payload.count))), 0)
        }
        e.input(solicit(SlirpConfig.guest6, from: v6("::")), now: 0)
        e.input(solicit(SlirpConfig.gateway6, hop: 64), now: 0)
        e.input(solicit(v6("fd00::5")), now: 0)
        e.input(solicit(v6("::ffff:10.0.2.2")), now: 0)
        e.input(solicit(SlirpConfig.gateway6, from: v6("ff02::1")), now: 0)
        XCTAssertEqual(e.drain(), [], "its own address, a routed solicitation, nobody's address, a mapped one, a multicast asker")
        var off = SlirpConfig()
        off.ipv6 = false
        let e2 = engine(off)
        e2.input(solicit(SlirpConfig.gateway6), now: 0)
        XCTAssertEqual(e2.drain(), [], "ipv6=false: the link carries no IPv6")
    }

    /// A connection to an IPv6 address: a host connect to it, a SYN-ACK with IPv6's MSS,
    /// bytes both ways.
    func testTCPOverIPv6() {
        let e = engine()
        var sb = Sandbox.v6
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 443, seq: 1000, ack: 0, flags: TCPFlag.syn, window: 65535, mss: 65460), to: remote), now: 0)
        guard case let .tcpConnect(id, to)? = e.drain().first else { return XCTFail() }
        XCTAssertEqual(to, Endpoint(remote, 443))
        XCTAssertEqual(to.description, "[2001:db8::1]:443")
        e.tcpConnected(id, ok: true, now: 1)
        let synack = segments(e.drain())
        XCTAssertEqual(synack.first?.flags, TCPFlag.syn | TCPFlag.ack)
        XCTAssertEqual(synack.first?.mss.map(Int.init), 65520 - 60)
        e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 443, seq: 1001, ack: synack[0].seq &+ 1, flags: TCPFlag.ack, window: 65535), to: remote), now: 2)
        e.input(
            sb.tcp(
                TCPSegment(srcPort: 40000, dstPort: 443, seq: 1001, ack: synack[0].seq &+ 1, flags: TCPFlag.ack, window: 65535, payload: [1, 2, 3]),
                to: remote), now: 3)
        XCTAssertEqual(e.drain().first, .tcpSend(id, [1, 2, 3][...]))
        e.tcpReceived(id, [9, 8][...], now: 4)
        guard let f = e.drain().first?.wire, let ip = IPPacket.parse(f), let s = TCPSegment.parse(f, ip) else { return XCTFail() }
        XCTAssertEqual([ip.src, ip.dst], [remote, SlirpConfig.guest6])
        XCTAssertEqual(Array(s.payload), [9, 8])
    }

    /// The gateway's IPv6 address is the host's ::1 only with allow_host_loopback; the
    /// DNS forwarder answers at fd00::3; UDP to the internet goes out as IPv6.
    func testGatewayDNSAndUDPOverIPv6() {
        var c = SlirpConfig()
        c.dnsUpstream = v4(127, 0, 0, 53)
        let e = engine(c)
        var sb = Sandbox.v6
        e.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: SlirpConfig.gateway6), now: 0)
        XCTAssertTrue(segments(e.drain()).first?.has(TCPFlag.rst) == true, "host loopback refused")
        c.allowHostLoopback = true
        let open = engine(c)
        open.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: SlirpConfig.gateway6), now: 0)
        XCTAssertEqual(open.drain().first, .tcpConnect(1, Endpoint(v6("::1"), 8080)))
        e.input(sb.udp(5353, to: SlirpConfig.dns6, 53, [1, 2]), now: 1)
        guard case let .udpSend(dnsID, to, data)? = e.drain().first else { return XCTFail() }
        XCTAssertEqual(to, Endpoint(v4(127, 0, 0, 53), 53))
        XCTAssertEqual(Array(data), [1, 2])
        e.udpReceived(dnsID, [3][...], now: 2)
        guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f), let u = UDPDatagram.parse(f, ip) else { return XCTFail() }
        XCTAssertEqual([ip.src, ip.dst], [SlirpConfig.dns6, SlirpConfig.guest6])
        XCTAssertEqual(u.srcPort, 53)
        e.input(sb.udp(5000, to: remote, 7, [4]), now: 3)
        XCTAssertEqual(e.drain(), [.udpSend(dnsID + 1, Endpoint(remote, 7), [4][...])])
    }

    /// Echo requests: the gateway answers; beyond it, an ICMPv6 ping socket carries them
    /// and the reply comes back with the sandbox's identifier.
    func testEchoOverIPv6() {
        let e = engine()
        var b = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: SlirpConfig.gatewayMAC)
        e.input(b.icmp(src: SlirpConfig.guest6, dst: SlirpConfig.gateway6, type: 128, rest: [0, 1, 0, 1, 42][...]), now: 0)
        guard case let .frame(f)? = e.drain().first, let ip = IPPacket.parse(f) else { return XCTFail() }
        XCTAssertEqual(f[ip.payload.lowerBound], 129)
        XCTAssertEqual(f.last, 42)
        e.input(b.icmp(src: SlirpConfig.guest6, dst: remote, type: 128, rest: [0x12, 0x34, 0, 7, 42][...]), now: 0)
        guard case let .icmpEcho(id, to, _)? = e.drain().first else { return XCTFail() }
        XCTAssertEqual(to, remote)
        e.icmpReceived(id, [0, 0, 0, 0, 0x99, 0x99, 0, 7, 42][...], now: 1)
        XCTAssertEqual(e.drain(), [], "an IPv4 reply type is not an answer to an ICMPv6 echo")
        e.icmpReceived(id, [129, 0, 0, 0, 0x99, 0x99, 0, 7, 42][...], now: 1)
        guard case let .frame(r)? = e.drain().first, let rip = IPPacket.parse(r) else { return XCTFail() }
        let i = rip.payload.lowerBound
        XCTAssertEqual(Array(r[i..<(i + 6)].enumerated().filter { $0.offset != 2 && $0.offset != 3 }.map(\.element)), [129, 0, 0x12, 0x34])
        XCTAssertEqual(Checksum.fold(Checksum.add(r, i, rip.payload.upperBound, Checksum.pseudo(rip.src, rip.dst, proto: 58, length: rip.payload.count))), 0)
    }

    /// An IPv4 address in IPv6 form is IPv4's verdict; IPv6's own loopback, link-local,
    /// multicast and metadata are refused; rules take IPv6 networks, bracketed with ports.
    func testThePolicyOverBothFamilies() throws {
        XCTAssertEqual(EgressPolicy.linkLocal.map(\.description), ["169.254.0.0/16", "fe80::/10"])
        XCTAssertEqual(
            EgressPolicy.metadata.map(\.description),
            [
                "100.100.100.200/32", "168.63.129.16/32", "fd00:ec2::254/128", "fd20:ce::254/128", "fd00:c1::a9fe:a9fe/128", "64:ff9b:1::/48",
            ])
        XCTAssertEqual(EgressPolicy.loopback.map(\.description), ["127.0.0.0/8", "::1/128"])
        XCTAssertEqual(EgressPolicy.special.map(\.description), ["0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "::/96", "fec0::/10", "ff00::/8"])
        XCTAssertEqual(EgressPolicy.nat64.description, "64:ff9b::/96")
        var p = EgressPolicy()
        p.hostAddresses = [v6("2001:db8:5::5")]
        XCTAssertNil(p.refuses(remote, port: 80), "the IPv6 internet: yes")
        for refused in [
            "::1", "::ffff:127.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b::127.0.0.1", "fe80::1", "fd00:ec2::254", "ff02::1", "::", "2001:db8:5::5",
        ] {
            XCTAssertNotNil(p.refuses(v6(refused), port: 80), refused)
        }
        XCTAssertNil(p.refuses(v6("64:ff9b::198.18.0.1"), port: 80), "NAT64 of an allowed address")
        var a = EgressPolicy()
        a.allow = try EgressPolicy.targets("[2001:db8::/32]:443,198.18.0.0/15", flag: "--allow-net", names: false).0
        XCTAssertEqual(a.allow.map(\.description), ["[2001:db8::/32]:443", "198.18.0.0/15"])
        XCTAssertNil(a.refuses(remote, port: 443))
        XCTAssertNotNil(a.refuses(remote, port: 80))
        XCTAssertNotNil(a.refuses(v6("2001:db9::1"), port: 443))
        XCTAssertNotNil(a.refuses(v6("fe80::1"), port: 443))
        XCTAssertNil(a.refuses(v6("::ffff:198.18.0.7"), port: 22), "the mapped form of an allowed IPv4 address")
        let wideV6 = try EgressPolicy.targets("::/1,8000::/1", flag: "--allow-net", names: false).0
        var w = EgressPolicy()
        w.allow = wideV6
        XCTAssertNotNil(w.refuses(v6("fe80::1"), port: 80), "a wide rule never opens link-local")
        XCTAssertNotNil(w.refuses(v6("fd00:ec2::254"), port: 80))
        w.allow += try EgressPolicy.targets("fe80::/64", flag: "--allow-net", names: false).0
        XCTAssertNil(w.refuses(v6("fe80::1"), port: 80), "a rule naming it does")
        let d = try EgressPolicy.targets("2001:db8::/32,[::1]", flag: "--deny-net", names: false).0
        XCTAssertEqual(d.map(\.description), ["2001:db8::/32", "::1"])
        for bad in ["[2001:db8::/32", "[2001:db8::]x", "[2001:db8::]:0", "2001:db8::/129", "[pypi.org]:443"] {
            XCTAssertThrowsError(try EgressPolicy.targets(bad, flag: "--allow-net", names: true), bad)
        }
        for refused in ["fd20:ce::254", "fd00:c1::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", "fec0::1"] {
            XCTAssertNotNil(EgressPolicy().refuses(v6(refused), port: 80), refused)
        }
        // "2001:db8::5:22" is an address or one with a port: the brackets must say which.
        XCTAssertThrowsError(try EgressPolicy.targets("2001:db8::5:22", flag: "--deny-net", names: false)) {
            XCTAssertTrue(($0 as? SlirpError)?.fix.contains("[2001:db8::5]:22") == true, "\($0)")
        }
        XCTAssertEqual(try EgressPolicy.targets("[2001:db8::5:22]", flag: "--deny-net", names: false).0.map(\.description), ["2001:db8::5:22"])
        XCTAssertEqual(try EgressPolicy.targets("::1,fd00::1", flag: "--deny-net", names: false).0.count, 2)
        XCTAssertNil(EgressPolicy().refusesPeer(v6("::1"), port: 5000))
        XCTAssertNotNil(EgressPolicy().refusesPeer(v6("fe80::1"), port: 5000))
    }

    /// --dns: IPv4 with or without a port, IPv6 alone or bracketed with one; the forwarder
    /// relays to an IPv6 upstream as to any.
    func testDNSUpstreamsOfEitherFamily() {
        XCTAssertEqual(Endpoint.parse("192.0.2.53", port: 53), Endpoint(v4(192, 0, 2, 53), 53))
        XCTAssertEqual(Endpoint.parse("127.0.0.1:5353", port: 53), Endpoint(v4(127, 0, 0, 1), 5353))
        XCTAssertEqual(Endpoint.parse("2001:db8::53", port: 53), Endpoint(v6("2001:db8::53"), 53))
        XCTAssertEqual(Endpoint.parse("[2001:db8::53]:5353", port: 53), Endpoint(v6("2001:db8::53"), 5353))
        XCTAssertEqual(Endpoint.parse("[::1]", port: 53), Endpoint(v6("::1"), 53))
        for bad in ["8.8.8.8:x", "8.8.8.8:0", "[2001:db8::53", "[1.2.3.4]:53", "[::1]53", "dns.example", "", ":53", "1.2.3.4:99999"] {
            XCTAssertNil(Endpoint.parse(Substring(bad), port: 53), bad)
        }
        var c = SlirpConfig()
        c.dnsUpstream = v6("2001:db8::53")
        let e = engine(c)
        var sb = Sandbox()
        e.input(sb.udp(5353, to: IP(c.dns), 53, [1]), now: 0)
        XCTAssertEqual(e.drain(), [.udpSend(1, Endpoint(v6("2001:db8::53"), 53), [1][...])])
    }

    /// A NAT64 address answers to the rules written for it and to its IPv4 address's:
    /// a deny of the prefix holds, an allow of it opens it (never metadata behind it), and
    /// a DNS64 answer for an allowed name opens it.
    func testNAT64AddressesAnswerToTheirOwnRules() throws {
        var d = EgressPolicy()
        d.deny = try EgressPolicy.targets("64:ff9b::/96", flag: "--deny-net", names: false).0
        XCTAssertNotNil(d.refuses(v6("64:ff9b::808:808"), port: 443), "a deny of the NAT64 prefix")
        XCTAssertNil(EgressPolicy().refuses(v6("64:ff9b::808:808"), port: 443), "the control: without it, allowed")
        var a = EgressPolicy()
        a.allow = try EgressPolicy.targets("[64:ff9b::/96]:443", flag: "--allow-net", names: false).0
        XCTAssertNil(a.refuses(v6("64:ff9b::808:808"), port: 443), "an allow of the NAT64 prefix")
        XCTAssertNotNil(a.refuses(v6("64:ff9b::808:808"), port: 80))
        XCTAssertNotNil(a.refuses(v6("64:ff9b::a9fe:a9fe"), port: 443), "never the metadata behind it")
        var n = EgressPolicy()
        n.allowNames = [NameRule("svc.test")]
        n.resolved = [v6("64:ff9b::102:304"): .all]
        XCTAssertNil(n.refuses(v6("64:ff9b::102:304"), port: 443), "a DNS64 answer")
    }

    /// With the host's loopback open, a --deny-net rule on the gateway or a loopback
    /// address, in either family, refuses the gateway in both.
    func testDeniedLoopbackPortsHoldInBothFamilies() throws {
        var c = SlirpConfig()
        c.allowHostLoopback = true
        for rule in ["127.0.0.1:5432", "10.0.2.2:5432", "[::1]:5432", "[fd00::2]:5432"] {
            let p = EgressPolicy(deny: try EgressPolicy.targets(rule, flag: "--deny-net", names: false).0)
            for (gw, sandbox) in [(IP(c.gateway), Sandbox()), (SlirpConfig.gateway6, Sandbox.v6)] {
                var sb = sandbox
                let e = engine(c, p)
                e.input(sb.tcp(TCPSegment(srcPort: 2, dstPort: 5432, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: gw), now: 0)
                XCTAssertTrue(segments(e.drain()).first?.has(TCPFlag.rst) == true, "\(rule) refuses \(gw):5432")
                e.input(sb.tcp(TCPSegment(srcPort: 3, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: gw), now: 0)
                guard case .tcpConnect? = e.drain().first else { return XCTFail("the control: \(gw):8080 is reached (\(rule))") }
            }
        }
    }

    /// allow_host_loopback opens the host itself with or without --allow-net; a deny range
    /// of one family does not close the gateway's address in the other.
    func testHostLoopbackRulesKeepTheirScope() throws {
        var p = EgressPolicy(allow: try EgressPolicy.targets("198.18.0.0/15", flag: "--allow-net", names: false).0, allowHostLoopback: true)
        p.hostAddresses = [v4(192, 0, 2, 2)]
        XCTAssertNil(p.refuses(v4(127, 0, 0, 1), port: 8080), "allow_host_loopback needs no --allow-net rule")
        XCTAssertNil(p.refuses(v4(192, 0, 2, 2), port: 8080))
        XCTAssertNotNil(p.refuses(v4(8, 8, 8, 8), port: 80), "the control: --allow-net still holds elsewhere")
        var c = SlirpConfig()
        c.allowHostLoopback = true
        let ula = EgressPolicy(deny: try EgressPolicy.targets("fd00::/8", flag: "--deny-net", names: false).0)
        for ipv6 in [true, false] {
            c.ipv6 = ipv6
            let e = engine(c, ula)
            var sb = Sandbox()
            e.input(sb.tcp(TCPSegment(srcPort: 3, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: IP(c.gateway)), now: 0)
            guard case .tcpConnect? = e.drain().first else { return XCTFail("--deny-net fd00::/8 closed the IPv4 gateway (ipv6=\(ipv6))") }
        }
        c.ipv6 = true
        let e = engine(c, ula)
        var sb6 = Sandbox.v6
        e.input(sb6.tcp(TCPSegment(srcPort: 3, dstPort: 8080, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100), to: SlirpConfig.gateway6), now: 0)
        XCTAssertTrue(segments(e.drain()).first?.has(TCPFlag.rst) == true, "the IPv6 gateway is in the denied range")
    }

    /// A slice that does not start at 0 is read as the frame it holds.
    func testASliceOfAFrameIsTheFrame() {
        let e = engine()
        var sb = Sandbox()
        let f = sb.tcp(TCPSegment(srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: TCPFlag.syn, window: 100), to: v4(198, 18, 0, 1))
        e.input(([0, 0, 0] + f)[3...], now: 0)
        XCTAssertEqual(e.drain(), [.tcpConnect(1, Endpoint(v4(198, 18, 0, 1), 80))])
    }

    /// A packet the sandbox dresses as IPv6 with an IPv4-mapped address is dropped whole:
    /// it gets no flow of its own (that would be IPv4's flow, in IPv6's frames).
    func testMappedAddressesOnTheWireAreDropped() {
        let e = engine()
        var sb = Sandbox.v6
        e.input(sb.tcp(TCPSegment(srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: TCPFlag.syn, window: 100), to: v6("::ffff:198.18.0.1")), now: 0)
        XCTAssertEqual(e.drain(), [])
        XCTAssertEqual(e.flowCount, 0)
    }

    /// A name's AAAA answers open that name too.
    func testAAAAAnswersAreRecorded() throws {
        var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        m += [3] + Array("svc".utf8) + [4] + Array("test".utf8) + [0, 0, 28, 0, 1]
        m += [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16] + remote.bytes
        XCTAssertEqual(DNS.answers(m[...])?.addresses, [remote])
    }

    func testNetlinkGoldenBytesForIPv6() {
        XCTAssertEqual(
            Netlink.address(SlirpConfig.guest6, prefix: 64, seq: 4),
            [
                64, 0, 0, 0, 20, 0, 0x05, 0x06, 4, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr: len 64, RTM_NEWADDR
                10, 64, 0x02, 0, 0, 0, 0, 0,  // ifaddrmsg: AF_INET6 /64, IFA_F_NODAD
                20, 0, 2, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,  // IFA_LOCAL fd00::100
                20, 0, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,  // IFA_ADDRESS
            ])
        XCTAssertEqual(
            Netlink.defaultRoute(via: SlirpConfig.gateway6, seq: 5),
            [48, 0, 0, 0, 24, 0, 0x05, 0x06, 5, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]
                + [20, 0, 5, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
        XCTAssertEqual(Netlink.setup(SlirpConfig()).count, 5)
        var off = SlirpConfig()
        off.ipv6 = false
        XCTAssertEqual(Netlink.setup(off).count, 3)
        XCTAssertFalse(try SlirpConfig.parse(options: "mtu=1000").ipv6, "below IPv6's minimum MTU: IPv4 only")
        XCTAssertFalse(try SlirpConfig.parse(options: "ipv6=false").ipv6)
        XCTAssertThrowsError(try SlirpConfig.parse(options: "ipv6=maybe"))
    }

    /// Garbage in IPv6 frames (and floods of them) never crash the engine nor open flows
    /// past its caps.
    func testFuzzedIPv6Frames() {
        let e = engine()
        var sb = Sandbox.v6
        var b = FrameBuilder(ourMAC: MAC(0x0200_0000_0001), peerMAC: SlirpConfig.gatewayMAC)
        var ns = [UInt8](repeating: 0, count: 28)
        SlirpConfig.gateway6.write(&ns, at: 4)
        let good = [
            sb.tcp(TCPSegment(srcPort: 9, dstPort: 80, seq: 1, ack: 0, flags: TCPFlag.syn, window: 10, mss: 100), to: remote),
            sb.udp(1, to: remote, 53, [1, 2, 3]),
            b.icmp(src: SlirpConfig.guest6, dst: v6("ff02::1:ff00:2"), type: 135, rest: ns[...], hopLimit: 255),
            b.icmp(src: SlirpConfig.guest6, dst: SlirpConfig.gateway6, type: 128, rest: [0, 1, 0, 1][...]),
        ]
        fuzz(e, good, &sb, to: remote, keep: 54)
    }
}
