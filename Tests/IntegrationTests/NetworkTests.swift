import Foundation
import XCTest

/// --net slirp, as rltest: the sandbox's TAP and SlirpNet's engine in the run's process.
/// Traffic goes only to servers on the host's loopback (started here) and in the "remote"
/// network namespace scripts/net-remote makes (.2 and .3 of a 198.18.N.0/24 of its own,
/// joined by a veth).
final class NetworkTests: XCTestCase {
    var h: Harness!
    var servers: [Process] = []
    /// The remote servers' ports: address -> (http, udp, dns, hold).
    var remote: [String: [Int]] = [:]
    /// The remote's IPv6 server: its address and ports, as above.
    var remote6: (addr: String, ports: [Int])?

    override func setUpWithError() throws {
        h = try Harness.make()
        guard let f = ProcessInfo.processInfo.environment["ROOTLESS_NET_REMOTE"], let text = try? String(contentsOfFile: f, encoding: .utf8) else {
            throw XCTSkip("SKIP: ROOTLESS_NET_REMOTE not set — scripts/test makes the remote network namespace (scripts/net-remote)")
        }
        for line in text.split(separator: "\n") {
            let w = line.split(separator: " ")
            guard w.count == 5 else { continue }
            if w[0].contains(":") {
                remote6 = (String(w[0]), w.dropFirst().compactMap { Int($0) })
            } else {
                remote[String(w[0])] = w.dropFirst().compactMap { Int($0) }
            }
        }
        guard remote.count == 2 else { throw XCTSkip("SKIP: the remote servers did not start (\(text))") }
    }

    override func tearDown() {
        for s in servers { s.terminate(); s.waitUntilExit() }
        h?.stopKeepersAndClean()
    }

    var a: String { remote.keys.sorted { $0.split(separator: ".").last.flatMap { Int($0) } ?? 0 < $1.split(separator: ".").last.flatMap { Int($0) } ?? 0 }[0] }
    var b: String { remote.keys.sorted { $0.split(separator: ".").last.flatMap { Int($0) } ?? 0 < $1.split(separator: ".").last.flatMap { Int($0) } ?? 0 }[1] }
    func port(_ host: String, _ i: Int) -> Int { remote[host]![i] }

    /// A far end on the host's loopback (for the loopback tests): its ports.
    func loopbackServer(_ addr: String = "127.0.0.1") throws -> [Int] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [ProcessInfo.processInfo.environment["ROOTLESS_FIXTURES"]! + "/net-server.py", addr]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        servers.append(p)
        let line = Harness.Running(p, out.fileHandleForReading.fileDescriptor).read(until: "\n", timeout: 20) ?? ""
        let ports = line.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard ports.count == 4 else { throw XCTSkip("SKIP: net-server.py did not start on loopback") }
        return ports
    }

    func slirp(_ flags: [String], _ script: String) throws -> Harness.Result {
        try h.run(["run", "--net", "slirp"] + flags + ["--", "sh", "-c", script])
    }

    /// The sandbox sees its TAP with the plan's address, MTU, default route and resolver.
    func testTheSandboxGetsItsLinkRouteAndResolver() throws {
        let r = try h.run([
            "run", "--net", "slirp:mtu=9000", "--", "sh", "-c",
            "cat /sys/class/net/tap0/mtu; cat /etc/resolv.conf; awk '$2==\"00000000\" {print $1, $3}' /proc/net/route; cat /sys/class/net/tap0/operstate",
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "9000\nnameserver 10.0.2.3\ntap0 0202000A\nunknown\n")
        let none = try h.run(["run", "--", "sh", "-c", "ls /sys/class/net"])
        XCTAssertEqual(none.out, "lo\n", "--net none: no TAP")
    }

    /// A host on the "internet" (the remote namespace) by address and by name, through the
    /// DNS forwarder.
    func testRemoteHTTPAndDNS() throws {
        let r = try slirp(["--dns", "\(a):\(port(a, 2))"], "curl -sS -m 10 http://\(a):\(port(a, 0))/hello; getent ahostsv4 svc.test | head -1")
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("hello-from-server\n\(a) "), r.out)
    }

    func testUDPEcho() throws {
        let r = try slirp(
            [],
            "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(b'echo-me', ('\(a)', \(port(a, 1)))); print(s.recv(100).decode())\""
        )
        XCTAssertEqual(r.out, "echo-me\n", r.err)
    }

    /// The host's loopback is refused by default, at once (curl: connection refused, 7; a
    /// hang would be its timeout, 28); the control: with allow_host_loopback it is reached.
    func testHostLoopbackIsRefusedUnlessAllowed() throws {
        let p = try loopbackServer()[0]
        let refused = try slirp(["--net-log"], "curl -sS -m 10 http://10.0.2.2:\(p)/hello; echo rc=$?")
        XCTAssertEqual(refused["rc"], "7", refused.out + refused.err)
        XCTAssertFalse(refused.out.contains("hello-from-server"))
        XCTAssertTrue(refused.err.contains("tcp 10.0.2.2:\(p) x1 refused (the host's loopback"), refused.err)
        let allowed = try h.run(["run", "--net", "slirp:allow_host_loopback=true", "--", "curl", "-sS", "-m", "10", "http://10.0.2.2:\(p)/hello"])
        XCTAssertEqual(allowed.out, "hello-from-server\n", allowed.err)
    }

    /// The host's own addresses other than loopback (here its end of the remote's veth,
    /// IPv4 and IPv6) are the host too: a server listening on all of the host's addresses
    /// is refused through them at once; the control: allow_host_loopback reaches it.
    func testTheHostsOwnAddressesAreRefused() throws {
        guard let (far6, _) = remote6 else { throw XCTSkip("SKIP: the remote has no IPv6 server") }
        let p = try loopbackServer("::")[0]
        let v4 = a.split(separator: ".").dropLast().joined(separator: ".") + ".1"
        let v6 = String(far6.dropLast()) + "1"
        let script = "curl -sS -m 10 http://\(v4):\(p)/hello; echo rc4=$?; curl -sS -m 10 -g http://[\(v6)]:\(p)/hello; echo rc6=$?"
        let refused = try slirp(["--net-log"], script)
        XCTAssertEqual([refused["rc4"], refused["rc6"]], ["7", "7"], refused.out + refused.err)
        XCTAssertTrue(
            refused.err.contains("tcp \(v4):\(p) x1 refused (the host itself") && refused.err.contains("tcp [\(v6)]:\(p) x1 refused (the host itself"),
            refused.err)
        let allowed = try h.run(["run", "--net", "slirp:allow_host_loopback=true", "--", "sh", "-c", script])
        XCTAssertEqual(allowed.out, "hello-from-server\nrc4=0\nhello-from-server\nrc6=0\n", allowed.err)
    }

    /// Cloud metadata (169.254.169.254) is refused at once; the control: allowed by
    /// --allow-net, the engine does try it (the net-log shows no refusal).
    func testCloudMetadataIsRefused() throws {
        let r = try slirp(["--net-log"], "curl -sS -m 10 http://169.254.169.254/latest/meta-data/; echo rc=$?")
        XCTAssertEqual(r["rc"], "7", r.out + r.err)
        XCTAssertTrue(r.err.contains("tcp 169.254.169.254:80 x1 refused (link-local"), r.err)
        let open = try slirp(["--net-log", "--allow-net", "169.254.0.0/16"], "curl -sS -m 10 http://169.254.169.254/; true")
        XCTAssertTrue(open.err.contains("net-log: tcp 169.254.169.254:80 x1"), open.err)
        XCTAssertFalse(open.err.contains("refused"), open.err)
    }

    /// Ping: an echo request beyond the gateway is answered by the remote host (through the
    /// host's ICMP sockets: scripts/net-remote lets the test user's group open them); the
    /// gateway answers itself; cloud metadata is refused, and the net-log says so.
    func testEchoRequestsAreAnswered() throws {
        let ping = """
            import socket, struct, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            s.settimeout(3)
            p = struct.pack('!BBHHH', 8, 0, 0, 0x4242, 1) + b'rootless'
            c = sum(struct.unpack('!8H', p)); c = (c >> 16) + (c & 0xffff); c = ~(c + (c >> 16)) & 0xffff
            s.sendto(p[:2] + struct.pack('!H', c) + p[4:], (sys.argv[1], 0))
            try:
                while True:
                    d, a = s.recvfrom(2048)
                    i = (d[0] & 15) * 4
                    if d[i] == 0 and d[i + 4:i + 6] == b'BB': print('reply', a[0], d[i + 8:].decode()); break
            except socket.timeout:
                print('timeout', sys.argv[1])
            """
        let r = try slirp(
            ["--cap-add", "CAP_NET_RAW", "--net-log"],
            ["\(a)", "10.0.2.2", "169.254.169.254"].map { "python3 -c \"$P\" \($0)" }.joined(separator: "; ").replacingOccurrences(
                of: "$P", with: ping.replacingOccurrences(of: "\"", with: "\\\"")))
        XCTAssertEqual(r.out, "reply \(a) rootless\nreply 10.0.2.2 rootless\ntimeout 169.254.169.254\n", r.err)
        XCTAssertTrue(r.err.contains("icmp \(a) x1") && r.err.contains("icmp 169.254.169.254 x1 refused"), r.err)
    }

    /// IPv6 on the link: the sandbox has fd00::100/64 and a default route through fd00::2
    /// (its kernel found the gateway by neighbour discovery, which the engine answers);
    /// HTTP, UDP and ping reach the remote's IPv6 server; the gateway's IPv6 address is
    /// the host's ::1, refused unless allow_host_loopback (the control: reached with it);
    /// a rule with IPv6 ports holds; ipv6=false leaves the link IPv4 only.
    func testIPv6() throws {
        guard let (far, ports) = remote6 else { throw XCTSkip("SKIP: the remote has no IPv6 server (scripts/net-remote: is IPv6 disabled on this host?)") }
        let ping6 = """
            import socket, sys
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            s.settimeout(3)
            s.sendto(bytes([128, 0, 0, 0, 0x42, 0x42, 0, 1]) + b'rootless', (sys.argv[1], 0))
            try:
                while True:
                    d, a = s.recvfrom(2048)
                    if d[0] == 129 and d[4:6] == b'BB': print('reply', a[0], d[8:].decode()); break
            except socket.timeout:
                print('timeout', sys.argv[1])
            """.replacingOccurrences(of: "\"", with: "\\\"")
        let udp6 =
            "import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(b'echo-me', ('\(far)', \(ports[1]))); print(s.recv(100).decode())"
        let r = try slirp(
            ["--cap-add", "CAP_NET_RAW", "--net-log"],
            """
            grep tap0 /proc/net/if_inet6 | cut -c1-32; awk '$1=="00000000000000000000000000000000" && $10=="tap0" {print $5}' /proc/net/ipv6_route
            curl -sS -m 10 -g http://[\(far)]:\(ports[0])/hello
            python3 -c "\(udp6)"
            python3 -c "\(ping6)" \(far); python3 -c "\(ping6)" fd00::2
            """)
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("fd000000000000000000000000000100"), r.out)
        XCTAssertTrue(lines.contains("fd000000000000000000000000000002"), "the default route through fd00::2: " + r.out)
        XCTAssertTrue(lines.contains("hello-from-server"), r.out + r.err)
        XCTAssertTrue(lines.contains("echo-me"), r.out + r.err)
        XCTAssertTrue(lines.contains("reply \(far) rootless"), r.out + r.err)
        XCTAssertTrue(lines.contains("reply fd00::2 rootless"), r.out + r.err)
        XCTAssertTrue(r.err.contains("tcp [\(far)]:\(ports[0]) x1") && r.err.contains("udp [\(far)]:\(ports[1]) x1"), r.err)

        let lo = try loopbackServer("::1")[0]
        let refused = try slirp(["--net-log"], "curl -sS -m 10 -g http://[fd00::2]:\(lo)/hello; echo rc=$?")
        XCTAssertEqual(refused["rc"], "7", refused.out + refused.err)
        XCTAssertTrue(refused.err.contains("tcp [fd00::2]:\(lo) x1 refused (the host's loopback"), refused.err)
        let allowed = try h.run(["run", "--net", "slirp:allow_host_loopback=true", "--", "curl", "-sS", "-m", "10", "-g", "http://[fd00::2]:\(lo)/hello"])
        XCTAssertEqual(allowed.out, "hello-from-server\n", allowed.err)

        let rule = try slirp(
            ["--allow-net", "[\(far)/64]:\(ports[0])"],
            "curl -sS -m 10 -g http://[\(far)]:\(ports[0])/hello; curl -sS -m 10 -g http://[\(far)]:\(ports[3])/; echo rc=$?")
        XCTAssertTrue(rule.out.hasPrefix("hello-from-server\n"), rule.out + rule.err)
        XCTAssertEqual(rule["rc"], "7", "another port of the allowed network is refused: " + rule.out + rule.err)

        // DNS from an IPv6 upstream, and --allow-net NAME opening what its AAAA answer gave.
        let named = try slirp(
            ["--dns", "[\(far)]:\(ports[2])", "--allow-net", "svc.test"],
            "getent ahostsv6 svc.test | head -1 | cut -d' ' -f1; curl -sS -m 10 -g http://svc.test:\(ports[0])/hello; curl -sS -m 10 http://\(a):\(port(a, 0))/hello; echo rc=$?"
        )
        XCTAssertTrue(named.out.hasPrefix("\(far)\nhello-from-server\n"), named.out + named.err)
        XCTAssertEqual(named["rc"], "7", "an address no lookup gave is refused: " + named.out + named.err)

        let off = try h.run([
            "run", "--net", "slirp:ipv6=false", "--", "sh", "-c",
            "grep -c tap0 /proc/net/if_inet6; curl -sS -m 10 -g http://[\(far)]:\(ports[0])/hello; echo rc=$?",
        ])
        XCTAssertFalse(off.out.contains("hello-from-server"), off.out)
        XCTAssertEqual(off["rc"], "7", off.out + off.err)
    }

    /// --allow-net lets one destination through and refuses the rest; --deny-net refuses one.
    func testAllowAndDenyNet() throws {
        let r = try slirp(["--allow-net", a], "curl -sS -m 10 http://\(a):\(port(a, 0))/hello; curl -sS -m 10 http://\(b):\(port(b, 0))/hello; echo rc=$?")
        XCTAssertTrue(r.out.hasPrefix("hello-from-server\n"), r.out)
        XCTAssertEqual(r["rc"], "7", r.out + r.err)
        let d = try slirp(
            ["--deny-net", "\(b)/32"], "curl -sS -m 10 http://\(a):\(port(a, 0))/hello; curl -sS -m 10 http://\(b):\(port(b, 0))/hello; echo rc=$?")
        XCTAssertTrue(d.out.hasPrefix("hello-from-server\n"), d.out)
        XCTAssertEqual(d["rc"], "7", d.out + d.err)
    }

    /// Rules with ports: --allow-net ADDR:PORT opens that port only (another port of the
    /// same server is refused; the control: without the port, it connects); --deny-net
    /// :PORT refuses that port everywhere; a name's rule keeps its port.
    func testAllowAndDenyNetByPort() throws {
        let http = port(a, 0), hold = port(a, 3)
        let tryHold =
            "python3 -c \"import socket\ntry:\n    socket.create_connection(('\(a)', \(hold)), 10); print('connected')\nexcept OSError as e: print(type(e).__name__)\""
        let r = try slirp(["--allow-net", "\(a):\(http)"], "curl -sS -m 10 http://\(a):\(http)/hello; \(tryHold)")
        XCTAssertEqual(r.out, "hello-from-server\nConnectionRefusedError\n", r.err)
        let control = try slirp(["--allow-net", a], tryHold)
        XCTAssertEqual(control.out, "connected\n", control.err)
        let d = try slirp(["--deny-net", ":\(hold)"], "curl -sS -m 10 http://\(a):\(http)/hello; \(tryHold)")
        XCTAssertEqual(d.out, "hello-from-server\nConnectionRefusedError\n", d.err)
        let n = try slirp(
            ["--allow-net", "svc.test:\(http)", "--dns", "\(a):\(port(a, 2))"],
            "curl -sS -m 10 http://svc.test:\(http)/hello; \(tryHold.replacingOccurrences(of: "'\(a)'", with: "'svc.test'"))")
        XCTAssertEqual(n.out, "hello-from-server\nConnectionRefusedError\n", n.err)
    }

    /// --allow-net NAME: the name's address (as our forwarder answered it) is reached, an
    /// address never looked up is refused.
    func testAllowNetByName() throws {
        let r = try slirp(
            ["--allow-net", "svc.test", "--dns", "\(a):\(port(a, 2))"],
            "curl -sS -m 10 http://svc.test:\(port(a, 0))/hello; curl -sS -m 10 http://\(b):\(port(b, 0))/hello; echo rc=$?")
        XCTAssertTrue(r.out.hasPrefix("hello-from-server\n"), r.out + r.err)
        XCTAssertEqual(r["rc"], "7", r.out + r.err)
    }

    /// --net slirp4netns: the peer tool serves the sandbox's namespace (started before the
    /// command, so the first packet goes out), and is gone when the run ends.
    func testTheSlirp4netnsBackend() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/slirp4netns") else { throw XCTSkip("SKIP: slirp4netns is not installed") }
        let r = try h.run(["run", "--net", "slirp4netns", "--", "sh", "-c", "curl -sS -m 10 http://\(a):\(port(a, 0))/hello; cat /etc/resolv.conf"])
        XCTAssertEqual(r.out, "hello-from-server\nnameserver 10.0.2.3\n", r.err)
        // -p through its API socket; a host port in use fails the run, naming it.
        let (busy, port) = try publish(through: "slirp4netns", offset: 8)
        XCTAssertTrue(busy.contains("-p 127.0.0.1:\(port): slirp4netns cannot forward it"), busy)
        XCTAssertEqual(ours { $0 == "slirp4netns" }, [], "no slirp4netns of ours is left")
    }

    /// --net pasta: the peer tool serves the sandbox's namespace with the same layout, -p
    /// goes through its forwarder, and it is gone when the run ends.
    func testThePastaBackend() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/pasta") else { throw XCTSkip("SKIP: pasta is not installed (Debian: passt)") }
        let r = try h.run([
            "run", "--net", "pasta", "--", "sh", "-c", "curl -sS -m 10 http://\(a):\(port(a, 0))/hello; cat /etc/resolv.conf /sys/class/net/tap0/mtu",
        ])
        XCTAssertEqual(r.out, "hello-from-server\nnameserver 10.0.2.3\n65520\n", r.err)
        let (busy, port) = try publish(through: "pasta", offset: 1)
        XCTAssertTrue(busy.contains("127.0.0.1/\(port):80") && !busy.contains("syslog"), busy)
        XCTAssertEqual(ours { $0 == "pasta" || $0.hasPrefix("passt") }, [], "no pasta of ours is left")
    }

    /// -p through a backend: a server inside answers on the host's port while the run
    /// lasts; the same host port asked for again fails that run (exit 125, one line). Its
    /// stderr, and the port.
    func publish(through net: String, offset: Int) throws -> (String, Int) {
        let port = 20000 + Int(getpid() % 20000) + offset
        try "forwarded-ok\n".write(to: h.scratch.appendingPathComponent("pf.txt"), atomically: true, encoding: .utf8)
        let server = try h.start([
            "run", "--net", net, "-p", "127.0.0.1:\(port):8000", "--bind", h.scratch.path, "-w", h.scratch.path, "--",
            "python3", "-m", "http.server", "8000", "--bind", "0.0.0.0",
        ])
        defer {
            server.process.terminate()
            server.process.waitUntilExit()
        }
        XCTAssertEqual(fetch("http://127.0.0.1:\(port)/pf.txt", until: "forwarded-ok\n"), "forwarded-ok\n", net)
        let busy = try h.run(["run", "--net", net, "-p", "127.0.0.1:\(port):80", "--", "true"])
        XCTAssertEqual(busy.status, 125, net)
        XCTAssertEqual(busy.err.split(separator: "\n").count, 1, busy.err)
        return (busy.err, port)
    }

    /// Our own processes whose command name matches.
    func ours(_ comm: (String) -> Bool) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid.allSatisfy(\.isNumber), let c = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
            return comm(c.trimmingCharacters(in: .newlines))
                && (try? FileManager.default.attributesOfItem(atPath: "/proc/\(pid)"))?[.ownerAccountID] as? NSNumber == NSNumber(value: getuid())
        }
    }

    /// curl's answer from url, retried (up to 200 times) until it is want: the sandbox's
    /// server is listening by then.
    func fetch(_ url: String, until want: String) -> String {
        var got = ""
        for _ in 0..<200 {
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            c.arguments = ["-s", "-g", "-m", "2", url]
            let out = Pipe()
            c.standardOutput = out
            guard (try? c.run()) != nil else { break }
            got = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            c.waitUntilExit()
            if got == want { break }
        }
        return got
    }

    func test200ConcurrentConnections() throws {
        let r = try slirp([], "seq 200 | xargs -P 200 -I{} curl -s -m 30 http://\(a):\(port(a, 0))/hello | grep -c hello-from-server")
        XCTAssertEqual(r.out, "200\n", r.err)
    }

    /// 1 GiB each way, every byte checked (SHA-256 on both ends).
    func testOneGiBEachWayKeepsEveryByte() throws {
        let n = 1 << 30
        let url = "http://\(a):\(port(a, 0))"
        let r = try slirp(
            [],
            """
            curl -sS -m 120 "\(url)/bytes?n=\(n)" | sha256sum | cut -d' ' -f1; curl -sS -m 60 "\(url)/bytes-sha?n=\(n)"
            head -c \(n) /dev/urandom > /tmp/up; sha256sum /tmp/up | cut -d' ' -f1; curl -sS -m 120 -T /tmp/up \(url)/sha256
            """)
        let l = r.out.split(separator: "\n")
        XCTAssertEqual(l.count, 4, r.out + r.err)
        guard l.count == 4 else { return }
        XCTAssertEqual(l[0], l[1], "download")
        XCTAssertEqual(l[2], l[3], "upload")
    }

    /// A lossy link: 1% of the TCP frames into the sandbox dropped inside it (an nftables
    /// rule on its input hook, after the link: to the engine's TCP, lost segments). A
    /// 64 MiB download keeps every byte through the engine's repair, and the rule's
    /// counter shows frames were dropped. Integrity, against the sandbox's real TCP: how
    /// fast the repair comes is the unit tests' (EngineTests) and bench-net's to show.
    func testALossyLinkKeepsEveryByte() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            throw XCTSkip("SKIP: nft (nftables) is not installed: scripts/setup installs it")
        }
        let n = 64 << 20
        let url = "http://\(a):\(port(a, 0))"
        let r = try slirp(
            ["--cap-add", "NET_ADMIN"],
            """
            /usr/sbin/nft add table ip loss && /usr/sbin/nft add chain ip loss in '{ type filter hook input priority 0; }' \
              && /usr/sbin/nft add rule ip loss in meta l4proto tcp numgen random mod 100 lt 1 counter drop || exit 3
            curl -sS -m 120 "\(url)/bytes?n=\(n)" | sha256sum | cut -d' ' -f1; curl -sS -m 60 "\(url)/bytes-sha?n=\(n)"
            /usr/sbin/nft list chain ip loss in | grep -o 'packets [0-9]*' | cut -d' ' -f2
            """)
        if r.status == 3 { throw XCTSkip("SKIP: nftables cannot add a rule in the sandbox's namespace here: \(r.err)") }
        let l = r.out.split(separator: "\n")
        XCTAssertEqual(l.count, 3, r.out + r.err)
        guard l.count == 3 else { return }
        XCTAssertEqual(l[0], l[1], "every byte, in order")
        XCTAssertGreaterThan(Int(l[2]) ?? 0, 0, "frames were dropped")
    }

    /// When the sandbox ends, every host socket its flows opened is closed: a connection
    /// left open by a payload that exits is closed at the far end, and no rootless
    /// process is left.
    func testTeardownLeavesNoSocketOrProcess() throws {
        let hold = port(a, 3)
        let r = try slirp(
            [], "python3 -c \"import socket, os; s=socket.create_connection(('\(a)', \(hold))); s.sendall(b'x'); print('held', flush=True); os._exit(0)\"")
        XCTAssertEqual(r.out, "held\n", r.err)
        var open = "?"
        for _ in 0..<100 {
            open = try h.run(["run", "--net", "slirp", "--", "curl", "-s", "-m", "5", "http://\(a):\(port(a, 0))/open"]).out
            if open == "0\n" { break }
        }
        XCTAssertEqual(open, "0\n", "the held connection was closed when the sandbox ended")
        XCTAssertEqual(h.processes(withArgv: [h.bin, "run", "--net", "slirp", "--", "sh", "-c"]).count, 0)
        // No socket of ours to the hold port is left established in the host's namespace.
        let tcp = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let rem = String(format: ":%04X", hold)
        XCTAssertFalse(tcp.split(separator: "\n").contains { $0.split(separator: " ")[2].hasSuffix(rem) && $0.split(separator: " ")[3] == "01" }, tcp)
    }

    /// The payload PUTs n bytes of the fixture's stream to the far end's sink, which reads
    /// them at `pace` (net-server.py), and exits without waiting for an answer (with stall,
    /// it sends what the buffers take, then exits); then, from another sandbox, the sink's
    /// account: bytes, their SHA-256, and how the stream ended (whole, FIN, RST); and how
    /// long the payload's run took.
    func sink(_ n: Int, pace: String, net: String = "slirp", options: String = "") throws -> (run: Harness.Result, account: [Substring], seconds: Double) {
        let tag = UUID().uuidString
        let started = Date()
        let r = try h.run(["run", "--net", net + options, "--", "python3", "-c", sinkPayload(n, pace: pace, tag: tag)])
        let seconds = Date().timeIntervalSince(started)
        return (r, try account(tag), seconds)
    }

    /// The payload for sink: sends the PUT's head, then n bytes (stall: what the buffers
    /// take, until the far end has taken nothing for a second: every buffer on the way is
    /// full then, and the sandbox's kernel holds bytes it cannot send), says how many
    /// ("bytes N") and "sent", and exits.
    func sinkPayload(_ n: Int, pace: String, tag: String, thenWait: Bool = false) -> String {
        #"""
        import hashlib, socket
        n = \#(n)
        block = hashlib.sha256(b"rootless").digest() * 32768
        s = socket.create_connection(("\#(a)", \#(port(a, 0))))
        s.sendall(b"PUT /sink?tag=\#(tag)&pace=\#(pace) HTTP/1.1\r\nHost: far\r\nContent-Length: %d\r\n\r\n" % n)
        s.settimeout(\#(pace == "stall" ? "1" : "None"))
        sent = 0
        try:
            while n > 0:
                k = s.send(block[:min(n, len(block))])
                sent += k
                n -= k
        except socket.timeout:
            pass
        print("bytes", sent, flush=True)
        print("sent", flush=True)
        if \#(thenWait ? "True" : "False"):
            import signal
            signal.pause()
        s.close()
        """#
    }

    /// The bytes the sink's payload said it sent.
    func sentBytes(_ out: String) -> Int {
        Int(out.split(separator: "\n").first { $0.hasPrefix("bytes ") }?.dropFirst(6) ?? "") ?? -1
    }

    /// The sink's account of the stream tagged tag (after its sender's run).
    func account(_ tag: String) throws -> [Substring] {
        let r = try h.run(["run", "--net", "slirp", "--", "curl", "-sS", "-m", "90", "http://\(a):\(port(a, 0))/sink?tag=\(tag)"])
        return r.out.split(separator: " ").map { $0.hasSuffix("\n") ? $0.dropLast() : $0 }
    }

    /// What the sandbox sent before it ended is delivered. The payload writes 32 MiB to a
    /// far end that reads slowly, closes the socket and exits while megabytes still wait in
    /// its kernel and in the engine; the run ends once they are delivered, and the far end
    /// gets every byte, then the end of the stream. The control, linger=0 (no wait): the
    /// far end gets fewer bytes, and a reset, never a shortened stream that ends as if it
    /// were whole.
    func testWhatTheSandboxSentBeforeItEndedIsDelivered() throws {
        let n = 32 << 20
        let sha = try h.run(["run", "--net", "slirp", "--", "curl", "-sS", "-m", "60", "http://\(a):\(port(a, 0))/bytes-sha?n=\(n)"]).out
        let whole = try sink(n, pace: "slow")
        XCTAssertEqual(whole.run.status, 0, whole.run.err)
        XCTAssertEqual(whole.account, ["\(n)", sha.dropLast(), "whole"], whole.run.err)
        XCTAssertFalse(whole.run.err.contains("were reset"), whole.run.err)
        let cut = try sink(n, pace: "slow", options: ":linger=0")
        XCTAssertEqual(cut.account.count, 3, cut.run.err)
        XCTAssertLessThan(Int(cut.account.first ?? "") ?? n, n, "control: without the wait, bytes are lost")
        XCTAssertEqual(cut.account.last, "RST", "and the far end is told")
        XCTAssertTrue(cut.run.err.contains("1 connection(s) were reset: they had not delivered everything the sandbox sent when it ended"), cut.run.err)
    }

    /// Through the peer tools too: the run stops pasta or slirp4netns only once the sockets
    /// the sandbox left have handed it every byte and their FIN. The control, linger=0 (the
    /// tool stopped at once, as before), to a far end that reads nothing until the run is
    /// over, so that the sandbox's kernel surely still holds bytes when it ends: the far end
    /// gets fewer bytes than the payload sent, then a FIN, a stream cut short that ends as
    /// if it were whole.
    func testWhatTheSandboxSentThroughPastaBeforeItEndedIsDelivered() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/pasta") else { throw XCTSkip("SKIP: pasta is not installed (Debian: passt)") }
        try deliveredThrough("pasta")
    }

    /// The same through slirp4netns; and a far end that reads nothing holds the run only up
    /// to linger's bound, and the run says what was cut short.
    func testWhatTheSandboxSentThroughSlirp4netnsBeforeItEndedIsDelivered() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/slirp4netns") else { throw XCTSkip("SKIP: slirp4netns is not installed") }
        try deliveredThrough("slirp4netns")
        let stuck = try sink(1 << 30, pace: "stall", net: "slirp4netns", options: ":linger=1")
        XCTAssertEqual(stuck.run.status, 0, stuck.run.err)
        // The payload's second of sending into full buffers, then linger's.
        XCTAssertTrue(stuck.seconds >= 2 && stuck.seconds < 9, "\(stuck.seconds) s")
        XCTAssertTrue(
            stuck.run.err.contains("1 connection(s) had not carried everything the sandbox sent through slirp4netns 1 s after it ended"), stuck.run.err)
        XCTAssertEqual(ours { $0 == "slirp4netns" }, [], "no slirp4netns of ours is left")
    }

    /// A tool that exits while the run waits for it ends the wait: nothing would carry
    /// the bytes any more, and the run says what was cut short (long before linger's 30 s).
    func testAPeerToolThatExitsEndsTheWait() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/slirp4netns") else { throw XCTSkip("SKIP: slirp4netns is not installed") }
        let run = try h.start(
            [
                "-c", "exec \"$0\" \"$@\" 2>&1", h.bin, "run", "--net", "slirp4netns:linger=30", "--", "python3", "-c",
                sinkPayload(1 << 30, pace: "stall", tag: UUID().uuidString),
            ],
            executable: "/bin/sh")
        let seen = run.read(until: "sent\n", timeout: 30) ?? ""
        XCTAssertTrue(seen.contains("sent\n"), seen)
        let started = Date()
        let tools = ours { $0 == "slirp4netns" }
        XCTAssertEqual(tools.count, 1, "the run's slirp4netns")
        tools.forEach { kill(pid_t($0) ?? 0, SIGKILL) }
        let rest = run.read(until: nil, timeout: 30) ?? "(still waiting after 30 s)"
        run.process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, rest)
        XCTAssertEqual(run.process.terminationStatus, 0, seen + rest)
        XCTAssertTrue(rest.contains("1 connection(s) had not carried everything the sandbox sent through slirp4netns when slirp4netns exited"), rest)
    }

    /// A terminal's Ctrl-C goes to the run's whole process group: the run passes it to the
    /// sandbox, whose command ends, and the tool, in a group of its own, is still there to
    /// carry what the command sent: the far end gets all of it. (Without the group of its
    /// own, slirp4netns dies of the same Ctrl-C, and the run says what was cut short.)
    func testCtrlCEndsTheCommandNotThePeerTool() throws {
        guard FileManager.default.fileExists(atPath: "/usr/bin/slirp4netns") else { throw XCTSkip("SKIP: slirp4netns is not installed") }
        let tag = UUID().uuidString
        let n = 32 << 20
        // The run leads a process group of its own, SIGINT at its default, as a shell's
        // foreground job.
        let run = try h.start(
            [
                "--default-signal=INT", "python3", "-c", "import os, sys; os.setpgid(0, 0); os.dup2(1, 2); os.execv(sys.argv[1], sys.argv[1:])", h.bin, "run",
                "--net", "slirp4netns", "--", "python3", "-c", sinkPayload(n, pace: "slow", tag: tag, thenWait: true),
            ], executable: "/usr/bin/env")
        let seen = run.read(until: "sent\n", timeout: 60) ?? ""
        XCTAssertTrue(seen.contains("sent\n"), seen)
        kill(-run.process.processIdentifier, SIGINT)
        let rest = run.read(until: nil, timeout: 60) ?? "(still waiting after 60 s)"
        run.process.waitUntilExit()
        XCTAssertFalse(rest.contains("cut short"), rest)
        XCTAssertEqual(
            try account(tag),
            [
                "\(n)", try h.run(["run", "--net", "slirp", "--", "curl", "-sS", "-m", "60", "http://\(a):\(port(a, 0))/bytes-sha?n=\(n)"]).out.dropLast(),
                "whole",
            ])
        XCTAssertEqual(ours { $0 == "slirp4netns" }, [], "no slirp4netns of ours is left")
    }

    func deliveredThrough(_ tool: String) throws {
        let n = 32 << 20
        let sha = try h.run(["run", "--net", "slirp", "--", "curl", "-sS", "-m", "60", "http://\(a):\(port(a, 0))/bytes-sha?n=\(n)"]).out
        let whole = try sink(n, pace: "slow", net: tool)
        XCTAssertEqual(whole.run.status, 0, whole.run.err)
        XCTAssertEqual(whole.account, ["\(n)", sha.dropLast(), "whole"], whole.run.err)
        XCTAssertFalse(whole.run.err.contains("cut short"), whole.run.err)
        let cut = try sink(1 << 30, pace: "stall", net: tool, options: ":linger=0")
        XCTAssertEqual(cut.account.count, 3, cut.run.err)
        let sent = sentBytes(cut.run.out)
        XCTAssertGreaterThan(sent, 0, cut.run.out)
        XCTAssertLessThan(Int(cut.account.first ?? "") ?? sent, sent, "control: with the tool stopped at once, bytes are lost")
        XCTAssertEqual(cut.account.last, "FIN", "and the stream ends as if whole")
    }

    /// A connection that cannot deliver what the sandbox sent (the far end reads nothing)
    /// holds the run only up to linger's bound: then it is reset, and the run says so.
    func testAConnectionThatCannotDeliverIsResetAtTheBound() throws {
        let stuck = try sink(1 << 30, pace: "stall", options: ":linger=1")
        XCTAssertEqual(stuck.run.status, 0, stuck.run.err)
        // Far within the default 10 s: the bound was linger's 1 s, and it was waited for
        // (after the payload's own second of sending into full buffers).
        XCTAssertTrue(stuck.seconds >= 2 && stuck.seconds < 9, "\(stuck.seconds) s")
        XCTAssertTrue(
            stuck.run.err.contains("1 connection(s) were reset: they had not delivered everything the sandbox sent 1 s after it ended"), stuck.run.err)
        XCTAssertEqual(stuck.account.last, "RST", stuck.account.joined(separator: " "))
    }

    /// A --net slirp sandbox the keeper built ahead (its TAP made then, and handed over in
    /// a socket with it) has the network a cold one has: the remote by name through the DNS
    /// forwarder, and -p's port, spliced into its namespace (the server sees its own
    /// address as the peer). Each run checks it was warm (ROOTLESS_TIMING); the control,
    /// --no-warm, is not.
    func testAWarmSandboxHasItsNetwork() throws {
        // The same sandbox for every run (a --bind or -w of its own would be another one).
        let flags = ["run", "--net", "slirp", "--dns", "\(a):\(port(a, 2))", "--bind", h.scratch.path, "-w", h.scratch.path]
        let timing = ["ROOTLESS_TIMING": "1"]
        let fetch = "curl -sS -m 10 http://svc.test:\(port(a, 0))/hello"
        var warm = false
        for _ in 0..<10 where !warm {
            let r = try h.run(flags + ["--", "sh", "-c", fetch], env: timing)
            XCTAssertEqual(r.out, "hello-from-server\n", r.err)
            warm = r.err.contains("warm: command sent")
        }
        let status = try h.run(["keeper", "status"]).out
        XCTAssertTrue(warm, "no --net slirp run was warm: \(status)")
        let cold = try h.run(["run", "--no-warm"] + flags.dropFirst() + ["--", "sh", "-c", fetch], env: timing)
        XCTAssertEqual(cold.out, "hello-from-server\n", cold.err)
        XCTAssertFalse(cold.err.contains("warm: command sent"), cold.err)

        // The keeper builds the next one once the last warm run's sandbox is gone: the -p
        // run waits for it (bounded: 3 s).
        for _ in 0..<300 {
            let words = try h.run(["keeper", "status"]).out.split(separator: " ")
            if let i = words.firstIndex(of: "ready"), i > 0, Int(words[i - 1]) ?? 0 > 0 { break }
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
        }
        let pport = 20000 + Int((getpid() + 7) % 20000)
        try "warm-forwarded\n".write(to: h.scratch.appendingPathComponent("wf.txt"), atomically: true, encoding: .utf8)
        let script =
            "python3 -c \"import http.server as s\nclass H(s.SimpleHTTPRequestHandler):\n def log_message(self, *a): print(self.client_address[0], flush=True)\ns.ThreadingHTTPServer(('0.0.0.0', 8000), H).serve_forever()\""
        let errFile = h.scratch.appendingPathComponent("warm-p.err").path
        let server = try h.start(
            flags + ["-p", "127.0.0.1:\(pport):8000", "--", "sh", "-c", script], env: timing, stderr: errFile)
        XCTAssertEqual(self.fetch("http://127.0.0.1:\(pport)/wf.txt", until: "warm-forwarded\n"), "warm-forwarded\n")
        // Joined to the keeper's user namespace (to splice), the run is non-dumpable: its
        // /proc files are root's, and no process of the sandbox may ptrace it.
        var st = stat()
        XCTAssertEqual(stat("/proc/\(server.process.processIdentifier)/fd", &st), 0)
        XCTAssertEqual(st.st_uid, 0, "the joined warm run is non-dumpable")
        server.process.terminate()
        let peers = server.read(until: nil, timeout: 20) ?? ""
        server.process.waitUntilExit()
        XCTAssertTrue(peers.split(separator: "\n").contains("10.0.2.100"), "spliced: the peer is the sandbox's own address: \(peers)")
        let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
        XCTAssertTrue(err.contains("warm: command sent"), "the -p run was not warm: \(err)")
    }

    /// A --net slirp run like an earlier one starts from its entry (starts.c holds the warm
    /// sandbox before main; main makes the engine from the flags and sends the command): the
    /// remote by name, and the command's status passed through. A -p port that is busy by
    /// then fails the run before the command runs (its output never comes).
    func testACachedStartHasItsNetwork() throws {
        let timing = ["ROOTLESS_TIMING": "1"]
        let pport = 20000 + Int((getpid() + 11) % 20000)
        let args = [
            "run", "--net", "slirp", "--dns", "\(a):\(port(a, 2))", "-p", "127.0.0.1:\(pport):80", "--", "sh", "-c",
            "curl -sS -m 10 http://svc.test:\(port(a, 0))/hello; exit 7",
        ]
        let held = try untilFromEntry(args) { r in
            guard r.err.contains("start cache held") else { return false }
            XCTAssertFalse(sentFirst(r.err), "with -p the command waits for the listener: \(r.err)")
            return true
        }
        XCTAssertTrue(held, "no --net slirp run started from its entry")
        // Without -p the command goes from the constructor, before the engine runs: the
        // sandbox's first frames wait in the TAP, and its first connection still works,
        // within the second after which ARP and TCP would resend a frame that was lost (by
        // address: no DNS, whose resolver retries).
        let first = [
            "run", "--net", "slirp", "--dns", "\(a):\(port(a, 2))", "--", "sh", "-c",
            "curl -sS -m 10 --connect-timeout 0.95 http://\(a):\(port(a, 0))/hello; exit 7",
        ]
        let went = try untilFromEntry(first) { sentFirst($0.err) }
        XCTAssertTrue(went, "no --net slirp run without -p sent its command from the constructor")
        // The port, taken: the next run from the entry fails at its listener.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(pport).bigEndian)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 1), 0)
        var busy = try h.run(args, env: timing)
        for _ in 0..<10 where !busy.err.contains("start cache held") { busy = try h.run(args, env: timing) }
        XCTAssertTrue(busy.err.contains("start cache held"), busy.err)
        XCTAssertEqual(busy.status, 125, busy.err)
        XCTAssertEqual(busy.out, "", "the command did not run")
        XCTAssertTrue(busy.err.contains("-p 127.0.0.1:\(pport): cannot listen on that host port"), busy.err)
    }

    /// Whether a run's timing lines say its cached start sent the command before main.
    func sentFirst(_ err: String) -> Bool { err.contains("start cache held: warm: command sent") }

    /// Runs args (timed) until `took` says a run started the way under test, at most 10
    /// times; each run must get the server's answer and exit 7. Whether one did.
    func untilFromEntry(_ args: [String], _ took: (Harness.Result) -> Bool) throws -> Bool {
        for _ in 0..<10 {
            let r = try h.run(args, env: ["ROOTLESS_TIMING": "1"])
            XCTAssertEqual(r.out, "hello-from-server\n", r.err)
            XCTAssertEqual(r.status, 7, r.err)
            if took(r) { return true }
        }
        return false
    }

    /// A cold --net slirp run may join a network namespace of the keeper's pool whose TAP
    /// the keeper made ahead, with the setup requests of the last such run (its key): the
    /// sandbox has the link its own flags ask for, and its network works. A run with other
    /// flags never gets that TAP (it makes its own), and teaches the pool its own. A run
    /// whose warm request missed gets one too.
    func testATAPMadeAheadIsTheLinkTheRunAskedFor() throws {
        let timing = ["ROOTLESS_TIMING": "1"]
        let fetch = "cat /sys/class/net/tap0/mtu; curl -sS -m 10 http://\(a):\(port(a, 0))/hello"
        /// Runs with this MTU until one joins a TAP made ahead (the pool is filled in the
        /// background: at most 20 runs), each checked from inside; whether one did.
        func untilMadeAhead(_ mtu: Int) throws -> (ahead: Bool, first: Bool) {
            var first = false
            for i in 0..<20 {
                let r = try h.run(["run", "--no-warm", "--net", "slirp:mtu=\(mtu)", "--", "sh", "-c", fetch], env: timing)
                XCTAssertEqual(r.out, "\(mtu)\nhello-from-server\n", r.err)
                let ahead = r.err.contains("keeper: TAP made ahead")
                if i == 0 { first = ahead }
                if ahead { return (true, first) }
            }
            return (false, first)
        }
        let one = try untilMadeAhead(1400)
        XCTAssertTrue(one.ahead, "no run joined a TAP made ahead")
        XCTAssertFalse(one.first, "the first run taught the pool its key")
        // Another MTU: its first run makes its own TAP (the one made ahead has MTU 1400),
        // and later ones get TAPs made with its key.
        let other = try untilMadeAhead(9000)
        XCTAssertFalse(other.first, "a run with another MTU was given a TAP made for 1400")
        XCTAssertTrue(other.ahead, "the pool did not learn the new key")
        // A missed warm request is a key too (the keeper reads it from the request's config):
        // each run here is a sandbox of its own (its own -w), so each misses.
        var missAhead = false
        for dir in ["/usr", "/usr/bin", "/usr/lib", "/usr/share", "/usr/sbin", "/etc"] where !missAhead {
            let r = try h.run(["run", "--net", "slirp:mtu=9000", "-w", dir, "--", "sh", "-c", fetch], env: timing)
            XCTAssertEqual(r.out, "9000\nhello-from-server\n", r.err)
            XCTAssertFalse(r.err.contains("warm: command sent"), "a sandbox of its own: \(r.err)")
            missAhead = r.err.contains("keeper: TAP made ahead")
        }
        XCTAssertTrue(missAhead, "no missed warm request got a TAP made ahead")
    }

    /// A warm --net slirp run's TAP: the keeper holds a reference of its own while the run
    /// lives (the last close of a TAP waits an RCU grace period, which is then not on the
    /// run's exit path) and lets it go once the run has exited: no TAP is kept after.
    func testTheKeeperHoldsAWarmRunsTAPUntilTheRunExits() throws {
        let flags = ["run", "--net", "slirp"]
        let timing = ["ROOTLESS_TIMING": "1"]
        var warm = false
        for _ in 0..<10 where !warm { warm = try h.run(flags + ["--", "true"], env: timing).err.contains("warm: command sent") }
        XCTAssertTrue(warm, "no --net slirp run was warm")
        // Every keeper of the user's ("keeper KEY pid N ..." a line each).
        let status = try h.run(["keeper", "status"]).out
        let keepers = status.split(separator: "\n").compactMap { line -> Int? in
            let w = line.split(separator: " ")
            return w.firstIndex(of: "pid").flatMap { $0 + 1 < w.count ? Int(w[$0 + 1]) : nil }
        }
        XCTAssertFalse(keepers.isEmpty, status)
        func taps() -> Int {
            keepers.reduce(0) { n, pid in
                let dir = "/proc/\(pid)/fd"
                // "/net/tun": opened where the sandbox's pid 1 was, a mount namespace of its own.
                return n
                    + ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                        (try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0))?.hasSuffix("net/tun") == true
                    }.count
            }
        }
        XCTAssertEqual(taps(), 0, "no run yet: the spares' TAPs wait in their sockets, not in the keeper")
        let errFile = h.scratch.appendingPathComponent("hold.err").path
        let run = try h.start(flags + ["--", "sh", "-c", "echo up; exec sleep 60"], env: timing, stderr: errFile)
        XCTAssertEqual(run.read(until: "up\n", timeout: 20), "up\n")
        let during = taps()
        run.process.terminate()
        run.process.waitUntilExit()
        XCTAssertTrue(((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "").contains("warm: command sent"), "the run was warm")
        XCTAssertEqual(during, 1, "the keeper holds the running sandbox's TAP: \(status)")
        var after = during
        for _ in 0..<300 where after > 0 {
            after = taps()
            var p = pollfd(fd: -1, events: 0, revents: 0)
            _ = poll(&p, 0, 10)
        }
        XCTAssertEqual(after, 0, "the keeper let the TAP go once the run exited")
    }

    /// -p: a connection to the host's port reaches the sandbox's listener; a host port in
    /// use fails the run at once, naming it.
    func testPortForwarding() throws {
        let port = 20000 + Int(getpid() % 20000)
        try "forwarded-ok\n".write(to: h.scratch.appendingPathComponent("pf.txt"), atomically: true, encoding: .utf8)
        let server = try h.start([
            "run", "--net", "slirp", "-p", "127.0.0.1:\(port):8000", "--bind", h.scratch.path, "-w", h.scratch.path, "--",
            "python3", "-m", "http.server", "8000", "--bind", "0.0.0.0",
        ])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        XCTAssertEqual(fetch("http://127.0.0.1:\(port)/pf.txt", until: "forwarded-ok\n"), "forwarded-ok\n")
        let busy = try h.run(["run", "--net", "slirp", "-p", "127.0.0.1:\(port):80", "--", "true"])
        XCTAssertEqual(busy.status, 125)
        XCTAssertTrue(busy.err.contains("-p 127.0.0.1:\(port): cannot listen on that host port") && busy.err.contains("in use"), busy.err)
    }

    /// -p with an IPv6 host address (bracketed, as podman's): [::] (every IPv6 address, so
    /// ::1 too) reaches the sandbox's IPv4 listener, and IPv4's 127.0.0.1 on the same port
    /// is a listener of its own beside it: the IPv6 one is IPv6-only (without IPV6_V6ONLY, on
    /// a host with bindv6only=0, [::] would hold IPv4's port too and the second -p would fail
    /// as in use). The peer tools run IPv4-only: refused at once, naming the address.
    func testPortForwardingFromIPv6() throws {
        let inet6 = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
        guard inet6.contains("00000000000000000000000000000001") else { throw XCTSkip("SKIP: the host's loopback has no ::1 (IPv6 disabled on lo)") }
        let port = 20000 + Int(getpid() % 20000) + 10
        try "forwarded-v6\n".write(to: h.scratch.appendingPathComponent("pf6.txt"), atomically: true, encoding: .utf8)
        let server = try h.start([
            "run", "--net", "slirp", "-p", "[::]:\(port):8000", "-p", "127.0.0.1:\(port):8000", "--bind", h.scratch.path, "-w", h.scratch.path, "--",
            "python3", "-m", "http.server", "8000", "--bind", "0.0.0.0",
        ])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        XCTAssertEqual(fetch("http://[::1]:\(port)/pf6.txt", until: "forwarded-v6\n"), "forwarded-v6\n")
        XCTAssertEqual(fetch("http://127.0.0.1:\(port)/pf6.txt", until: "forwarded-v6\n"), "forwarded-v6\n")
        let pasta = try h.run(["run", "--net", "pasta", "-p", "[::1]:\(port + 1):80", "--", "true"])
        XCTAssertEqual(pasta.status, 125)
        XCTAssertTrue(pasta.err.contains("-p [::1]:\(port + 1): --net pasta forwards IPv4 host addresses only"), pasta.err)
    }

    /// -p's two paths, each with 8 MiB up (half-closed after) and 4 MiB back after an urgent
    /// byte (splice stops at TCP's urgent mark: the engine must neither spin nor lose bytes),
    /// checksummed. By default the run holds the keeper's user namespace and splices each connection to
    /// a socket inside the sandbox's namespace (the server sees its own address as the
    /// peer); with a user namespace of its own the connection goes over the TAP (the peer
    /// is the gateway). A port nobody listens on inside ends the host's connection at once.
    func testPortForwardingPaths() throws {
        let server = listening8000(
            """
            while True:
                c, a = s.accept()
                h, n = hashlib.sha256(), 0
                while True:
                    d = c.recv(1 << 16)
                    if not d: break
                    h.update(d)
                    n += len(d)
                c.sendall(f'{a[0]} {n} {h.hexdigest()}\\n'.encode())
                c.send(b'!', socket.MSG_OOB)
                c.sendall(b'x' * (4 << 20))
                c.close()
            """)
        let up = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let sha = sha256Hex(up)
        for (flags, peer) in [([String](), "10.0.2.100"), (["--no-keeper"], "10.0.2.2")] {
            let port = 20000 + Int(getpid() % 20000) + 4 + flags.count * 2
            let run = try h.start(
                ["run", "--net", "slirp"] + flags + ["-p", "127.0.0.1:\(port):8000", "-p", "127.0.0.1:\(port + 1):8001", "--", "python3", "-c", server])
            XCTAssertEqual(run.read(until: "ready\n", timeout: 20), "ready\n")
            let (reply, _) = tcpExchange(port, up)
            let head = reply.prefix { $0 != UInt8(ascii: "\n") }
            XCTAssertEqual(String(decoding: head, as: UTF8.self), "\(peer) \(up.count) \(sha)", "\(flags)")
            // An urgent byte comes as data, and nothing after it is lost.
            XCTAssertEqual(reply.dropFirst(head.count + 1).first, UInt8(ascii: "!"), "\(flags)")
            XCTAssertEqual(reply.count, head.count + 2 + (4 << 20), "\(flags)")
            let (none, err) = tcpExchange(port + 1, Array("x".utf8))
            XCTAssertTrue(none.isEmpty && err != EAGAIN, "a closed port inside: the connection ends at once (\(err)) \(flags)")
            XCTAssertEqual(listening([port, port + 1]), [port, port + 1], "the control: its listeners seen while it runs")
            run.process.terminate()
            run.process.waitUntilExit()
            // The run's end closes its listeners: nothing of ours listens on the ports after.
            XCTAssertEqual(listening([port, port + 1]), [], "\(flags)")
        }
    }

    /// A Python server for inside: listens on port 8000 (the socket s, hashlib imported),
    /// says "ready", then runs body.
    func listening8000(_ body: String) -> String {
        """
        import hashlib, socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', 8000))
        s.listen()
        print('ready', flush=True)

        """ + body
    }

    /// Which of ports have a TCP socket listening in the host's namespace (/proc/net/tcp).
    func listening(_ ports: [Int]) -> [Int] {
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        return ports.filter { p in
            table.split(separator: "\n").dropFirst().contains { row in
                let f = row.split(separator: " ")
                return f.count > 3 && f[1].hasSuffix(String(format: ":%04X", p)) && f[3] == "0A"
            }
        }
    }

    /// sha256sum's digest of bytes (hex).
    func sha256Hex(_ bytes: [UInt8]) -> String {
        let f = h.scratch.appendingPathComponent("sha-in")
        FileManager.default.createFile(atPath: f.path, contents: Data(bytes))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [f.path]
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return "?" }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

    /// Ctrl-C while the run waits for such a connection ends the wait at once: the
    /// connection is reset, the run says so and ends with the sandbox's own status (its
    /// cleanup done as usual), long before linger's 60 s. The run is started with SIGINT
    /// at its default (a test runner started by a shell's `&` would pass it on ignored);
    /// the control, one started with SIGINT ignored (as under `nohup` or `&`), takes no
    /// Ctrl-C: its wait runs to linger's bound.
    func testCtrlCEndsTheWait() throws {
        /// The run, its stderr into the pipe too (to see the wait begin), with SIGINT as
        /// `signal` says (env's --default-signal or --ignore-signal).
        func start(_ signal: String, linger: Int, tag: String) throws -> Harness.Running {
            try h.start(
                [
                    "--\(signal)-signal=INT", "sh", "-c", "exec \"$0\" \"$@\" 2>&1", h.bin, "run", "--net", "slirp:linger=\(linger)", "--", "python3", "-c",
                    sinkPayload(1 << 30, pace: "stall", tag: tag),
                ], executable: "/usr/bin/env")
        }
        let ignoring = UUID().uuidString
        let control = try start("ignore", linger: 2, tag: ignoring)
        XCTAssertTrue((control.read(until: "still deliver", timeout: 30) ?? "").contains("sent\n"))
        control.process.interrupt()
        let ran = control.read(until: nil, timeout: 30) ?? "(still waiting after 30 s)"
        control.process.waitUntilExit()
        XCTAssertTrue(ran.contains("they had not delivered everything the sandbox sent 2 s after it ended"), "the control: \(ran)")

        let tag = UUID().uuidString
        let run = try start("default", linger: 60, tag: tag)
        let seen = run.read(until: "still deliver", timeout: 30) ?? ""
        XCTAssertTrue(seen.contains("sent\n"), seen)
        run.process.interrupt()  // SIGINT, as a terminal's Ctrl-C
        let rest = run.read(until: nil, timeout: 30) ?? "(still waiting after 30 s)"
        run.process.waitUntilExit()
        XCTAssertEqual(run.process.terminationReason, .exit, "not killed by the signal")
        XCTAssertEqual(run.process.terminationStatus, 0, seen + rest)
        XCTAssertTrue(
            rest.contains("1 connection(s) were reset: they had not delivered everything the sandbox sent when the wait for them was interrupted"), rest)
        XCTAssertEqual(try account(tag).last, "RST")
    }

    /// A -p connection whose server inside answers, then exits with its answer still on
    /// the way to a client that reads slowly: the client gets all of it, then the end (not
    /// a reset), on both paths (spliced, and over the link with --no-keeper: the peer the
    /// server saw says which); the client half-closed first, so the connection ends while
    /// the run waits for it.
    func testAForwardedAnswerSentBeforeTheSandboxEndedIsDelivered() throws {
        let server = listening8000(
            """
            c, a = s.accept()
            print(a[0], flush=True)
            while c.recv(1 << 16): pass
            c.sendall(b'x' * (16 << 20))
            print('sent', flush=True)
            c.close()
            """)
        for (flags, peer) in [([String](), "10.0.2.100"), (["--no-keeper"], "10.0.2.2")] {
            let port = 20000 + Int(getpid() % 20000) + 14 + flags.count
            let run = try h.start(["run", "--net", "slirp"] + flags + ["-p", "127.0.0.1:\(port):8000", "--", "python3", "-c", server])
            XCTAssertEqual(run.read(until: "ready\n", timeout: 20), "ready\n")
            let (reply, err) = tcpExchange(port, Array("GET".utf8), slowly: true)
            XCTAssertEqual(run.read(until: "sent\n", timeout: 30), "\(peer)\nsent\n", "spliced, or over the link \(flags)")
            XCTAssertEqual(err, 0, "ended, not reset \(flags)")
            XCTAssertEqual(reply.count, 16 << 20, "\(flags)")
            run.process.waitUntilExit()
            XCTAssertEqual(run.process.terminationStatus, 0, "\(flags)")
        }
    }

    /// Connects to 127.0.0.1:port, sends data, half-closes, reads to the end (10 s at most
    /// per read; slowly: 64 KiB a millisecond at most): what came back, and the errno that
    /// ended it (0: EOF).
    func tcpExchange(_ port: Int, _ data: [UInt8], slowly: Bool = false) -> ([UInt8], Int32) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(port).bigEndian
        sa.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { return ([], errno) }
        var off = 0
        while off < data.count {
            let n = data.withUnsafeBytes { send(fd, $0.baseAddress! + off, data.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return ([], errno) }
            off += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (out, 0) }
            if n < 0 { return (out, errno) }
            out += buf[0..<n]
            if slowly { usleep(1000) }
        }
    }

    /// -p /udp: a datagram to the host's port reaches the sandbox's UDP server, and its
    /// answer comes back to the sender (SlirpNet and pasta alike). pasta is asked at the
    /// host's end of the remote link: Debian 12's build loses UDP answers on its path for
    /// the host's loopback.
    func testUDPPortForwarding() throws {
        for net in ["slirp", "pasta"] {
            if net == "pasta" && !FileManager.default.fileExists(atPath: "/usr/bin/pasta") { continue }
            let port = 20000 + Int(getpid() % 20000) + (net == "slirp" ? 2 : 3)
            let host = net == "slirp" ? "127.0.0.1" : a.split(separator: ".").dropLast().joined(separator: ".") + ".1"
            let server = try h.start([
                "run", "--net", net, "-p", "\(host):\(port):5300/udp", "--", "python3", "-c",
                "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5300))\nprint('ready', flush=True)\nwhile True:\n    d, a = s.recvfrom(2048)\n    s.sendto(b'echo:' + d, a)",
            ])
            XCTAssertEqual(server.read(until: "ready\n", timeout: 20), "ready\n", net)
            XCTAssertEqual(udpAsk(host, port, "ping"), "echo:ping", net)
            server.process.terminate()
            server.process.waitUntilExit()
        }
    }

    /// -p /udp on the wildcard address: the answer leaves from the address the datagram came
    /// to. The client is connected to 127.0.0.2, which drops an answer from anywhere else; the
    /// kernel's own choice for a wildcard socket answering 127.0.0.1 is 127.0.0.1 (the control:
    /// without IP_PKTINFO the client gets nothing).
    func testUDPPortForwardingAnswersFromTheAddressAsked() throws {
        let port = 20000 + Int(getpid() % 20000) + 12
        let server = try h.start([
            "run", "--net", "slirp", "-p", "0.0.0.0:\(port):5300/udp", "-p", "[::]:\(port):5300/udp", "--", "python3", "-c",
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5300))\nprint('ready', flush=True)\nwhile True:\n    d, a = s.recvfrom(2048)\n    s.sendto(b'echo:' + d, a)",
        ])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        XCTAssertEqual(server.read(until: "ready\n", timeout: 20), "ready\n")
        XCTAssertEqual(udpAsk("127.0.0.2", port, "ping"), "echo:ping")
        XCTAssertEqual(udpAsk("127.0.0.1", port, "pong"), "echo:pong")
        // IPv6's wildcard beside it (IPv6-only: the same port in both families), answered
        // over ::1. That is the only IPv6 loopback address, so the kernel's own choice of
        // source is the same: this shows the [::] listener and its answer path, not the
        // choice (127.0.0.2 above does).
        let inet6 = (try? String(contentsOfFile: "/proc/net/if_inet6", encoding: .utf8)) ?? ""
        guard inet6.contains("00000000000000000000000000000001") else { throw XCTSkip("SKIP: the host's loopback has no ::1 (IPv6 disabled on lo)") }
        XCTAssertEqual(udpAsk("::1", port, "six"), "echo:six")
    }

    /// Sends text to host:port over UDP until an answer comes (up to 20 tries of 500 ms,
    /// should a datagram be lost); the answer.
    func udpAsk(_ host: String, _ port: Int, _ text: String) -> String? {
        // A numeric address of either family, as the C library reads it.
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var ai: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &ai) == 0, let a = ai else { return nil }
        defer { freeaddrinfo(a) }
        let fd = socket(a.pointee.ai_family, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen)
        guard ok == 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<20 {
            _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return String(decoding: buf[0..<n], as: UTF8.self) }
        }
        return nil
    }

    func testBadNetworkFlagsSayWhatAndHow() throws {
        for (args, text) in [
            (["--net", "slirp:mtu=1"], "mtu \"1\" is not a number from 576 to 65520"),
            (["--net", "slirp:bogus=1"], "unknown --net slirp option \"bogus\""),
            (["--net", "slirp", "--allow-net", "exa_mple"], "\"exa_mple\" is not an IPv4 or IPv6 address or network or a host name"),
            (["--net", "slirp", "--allow-net", "pypi.org:0"], "the ports are not a number or range from 1 to 65535"),
            (["--net", "slirp", "--deny-net", "[2001:db8::/32:443"], "\"[2001:db8::/32:443\": no closing ]"),
            (["--net", "slirp:ipv6=maybe"], "ipv6 \"maybe\" is not true or false"),
            (["--net-log"], "need --net slirp"),
            (["--net", "slirp", "--dns", "8.8.8.8:x"], "is not an IPv4 or IPv6 address"),
            (["--net", "slirp", "-p", "80"], "is not [HOSTIP:]HOSTPORT:SANDBOXPORT"),
            (["--net", "slirp", "-p", "8080:80/sctp"], "unknown protocol \"sctp\""),
            (["-p", "8080:80"], "-p needs a network of the sandbox's own"),
        ] {
            let r = try h.run(["run"] + args + ["--", "true"])
            XCTAssertEqual(r.status, 125, "\(args)")
            XCTAssertTrue(r.err.contains(text) && r.err.contains(" — "), "\(args): \(r.err)")
            XCTAssertEqual(r.err.split(separator: "\n").count, 1, r.err)
        }
    }
}
