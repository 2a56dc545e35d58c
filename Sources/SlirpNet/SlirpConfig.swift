// `--net slirp[:k=v,...]` and the egress flags, parsed into values. The sandbox's side of
// the virtual link: its addresses (IPv4, and IPv6 unless ipv6=false), the gateway (the
// host, as far as the sandbox can tell), the DNS forwarder, the MTU.

public struct SlirpConfig: Equatable, Sendable {
    public var network = CIDR(IPv4(10, 0, 2, 0), 24)
    public var mtu = 65520
    /// The host's loopback reached at the gateway's address (off: refused).
    public var allowHostLoopback = false
    /// Where the DNS forwarder sends queries (nil: the host's resolvers, found at run time).
    public var dnsUpstream: IP?
    public var dnsUpstreamPort: UInt16 = 53
    /// IPv6 on the link too: fd00::100/64, gateway fd00::2, DNS fd00::3 (slirp4netns's
    /// layout); neighbour discovery answered for the gateway's addresses.
    public var ipv6 = true
    /// The longest the engine polls for its next event before it sleeps, in µs (0: it
    /// never polls). See SlirpHost's PollWindow.
    public var pollMicros = 200
    /// Once the sandbox has ended, how long its connections may go on delivering what it
    /// sent before them (its kernel still holds it), in ms; those not done by then are reset.
    public var lingerMS: UInt64 = 10_000
    public static let network6 = IPNet(IP(hi: 0xfd00_0000_0000_0000, lo: 0), 64)

    public init() {}

    public var gateway: IPv4 { IPv4(network.base.value + 2) }
    public var dns: IPv4 { IPv4(network.base.value + 3) }
    public var guest: IPv4 { IPv4(network.base.value + 100) }
    public static let gateway6 = IP(hi: network6.base.hi, lo: 2)
    public static let dns6 = IP(hi: network6.base.hi, lo: 3)
    public static let guest6 = IP(hi: network6.base.hi, lo: 0x100)
    /// The link's IPv6 MTU floor (RFC 8200 §5): below it, IPv6 is left off.
    public static let minMTU6 = 1280
    public static let gatewayMAC = MAC(0x5255_0a00_0202)

    /// "slirp" or "slirp:mtu=1500,cidr=10.9.0.0/24,allow_host_loopback=true,poll=0,linger=30"
    /// (mode: the --net mode they came with, for the errors). Errors name the value and the fix.
    public static func parse(options: Substring, mode: String = "slirp") throws -> SlirpConfig {
        var c = SlirpConfig()
        for kv in options.split(separator: ",") {
            let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard p.count == 2 else { throw SlirpError("--net \(mode) option \"\(kv)\" is not KEY=VALUE", fix: "e.g. --net slirp:mtu=1500") }
            switch p[0] {
            case "mtu":
                guard let m = Int(p[1]), (576...65520).contains(m) else {
                    throw SlirpError("--net \(mode) mtu \"\(p[1])\" is not a number from 576 to 65520", fix: "e.g. mtu=1500")
                }
                c.mtu = m
            case "cidr":
                guard let n = CIDR(p[1]), n.prefix >= 8, n.prefix <= 25 else {
                    throw SlirpError("--net \(mode) cidr \"\(p[1])\" is not an IPv4 network from /8 to /25", fix: "e.g. cidr=10.9.0.0/24")
                }
                c.network = n
            case "ipv6":
                guard p[1] == "true" || p[1] == "false" else {
                    throw SlirpError("--net \(mode) ipv6 \"\(p[1])\" is not true or false", fix: "ipv6=false")
                }
                c.ipv6 = p[1] == "true"
            case "allow_host_loopback":
                guard p[1] == "true" || p[1] == "false" else {
                    throw SlirpError("--net \(mode) allow_host_loopback \"\(p[1])\" is not true or false", fix: "allow_host_loopback=true")
                }
                c.allowHostLoopback = p[1] == "true"
            case "poll":
                guard let us = Int(p[1]), (0...1000).contains(us) else {
                    throw SlirpError("--net \(mode) poll \"\(p[1])\" is not a number of microseconds from 0 to 1000", fix: "e.g. poll=0 (never poll)")
                }
                c.pollMicros = us
            case "linger":
                guard let s = UInt64(p[1]), s <= 3600 else {
                    throw SlirpError("--net \(mode) linger \"\(p[1])\" is not a number of seconds from 0 to 3600", fix: "e.g. linger=60")
                }
                c.lingerMS = s * 1000
            default:
                throw SlirpError("unknown --net \(mode) option \"\(p[0])\"", fix: "known: mtu, cidr, ipv6, allow_host_loopback, poll, linger")
            }
        }
        if c.mtu < SlirpConfig.minMTU6 { c.ipv6 = false }
        return c
    }
}

extension Endpoint {
    /// "A.B.C.D", "A.B.C.D:PORT", an IPv6 address alone, or "[V6]:PORT" (the port 1 to
    /// 65535, `port` when none is given); nil otherwise.
    public static func parse(_ text: Substring, port: UInt16) -> Endpoint? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), let ip = IP(text[text.index(after: text.startIndex)..<close]), !ip.isV4 else { return nil }
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return Endpoint(ip, port) }
            guard rest.hasPrefix(":"), let p = Ports.number(rest.dropFirst()) else { return nil }
            return Endpoint(ip, p)
        }
        if let ip = IP(text) { return Endpoint(ip, port) }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4(parts[0]), let p = Ports.number(parts[1]) else { return nil }
        return Endpoint(IP(a), p)
    }
}

/// A refused network flag: what, and the fix (RootlessError is made from it at the edge).
public struct SlirpError: Error, Equatable {
    public var message: String
    public var fix: String
    public init(_ message: String, fix: String) {
        self.message = message
        self.fix = fix
    }
}

/// The ports a rule covers: ranges, none listed meaning every port.
public struct Ports: Hashable, Sendable, CustomStringConvertible {
    public var ranges: [ClosedRange<UInt16>] = []
    public init(_ ranges: [ClosedRange<UInt16>] = []) { self.ranges = ranges }
    public static let all = Ports()
    public func contains(_ p: UInt16) -> Bool { ranges.isEmpty || ranges.contains { $0.contains(p) } }
    /// Both rules' ports (every port if either has every port).
    public func union(_ o: Ports) -> Ports {
        ranges.isEmpty || o.ranges.isEmpty ? .all : Ports(Array(Set(ranges + o.ranges)).sorted { $0.lowerBound < $1.lowerBound })
    }
    public var description: String { ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: "+") }
    /// One port: decimal digits, 1 to 65535 (every flag that takes a port reads it here).
    static func number(_ s: Substring) -> UInt16? {
        !s.isEmpty && s.count <= 5 && s.allSatisfy({ $0.isASCII && $0.isNumber }) ? UInt16(s).flatMap { $0 > 0 ? $0 : nil } : nil
    }
    /// "80", "8000-8100" (1 to 65535).
    static func parse(_ t: Substring) -> Ports? {
        let r = t.split(separator: "-", omittingEmptySubsequences: false)
        guard r.count <= 2, let lo = number(r[0]), let hi = r.count == 2 ? number(r[1]) : lo, lo <= hi else { return nil }
        return Ports([lo...hi])
    }
}

/// A network (or one address) and the ports it covers: `--allow-net 10.0.0.0/8:443`,
/// `--allow-net [2001:db8::/32]:443`.
public struct NetRule: Hashable, Sendable, CustomStringConvertible {
    public var net: IPNet
    public var ports: Ports
    public init(_ net: IPNet, ports: Ports = .all) {
        self.net = net
        self.ports = ports
    }
    public init(_ net: CIDR, ports: Ports = .all) { self.init(IPNet(net), ports: ports) }
    public func matches(_ a: IP, _ port: UInt16) -> Bool { net.contains(a) && ports.contains(port) }
    public var description: String {
        if net.prefix == 0 && !ports.ranges.isEmpty { return ":\(ports)" }
        let n = net.isSingle ? "\(net.base)" : "\(net)"
        if ports.ranges.isEmpty { return n }
        return net.isV4 ? "\(n):\(ports)" : "[\(n)]:\(ports)"
    }
}

/// A host name and the ports it covers: `--allow-net pypi.org:443`.
public struct NameRule: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var ports: Ports
    public init(_ name: String, ports: Ports = .all) {
        self.name = name
        self.ports = ports
    }
    public var description: String { ports.ranges.isEmpty ? name : "\(name):\(ports)" }
}

/// What a sandbox may reach through SlirpNet, over IPv4 and IPv6 alike. The defaults: the
/// internet yes; the host's loopback and its own addresses no (unless
/// allow_host_loopback); link-local (169.254.0.0/16, fe80::/10) no, nor the cloud metadata
/// addresses; --deny-net refuses more, and --allow-net, once given, is the only way out
/// (DNS to the forwarder always works). Each rule may name ports (`:443`, `:8000-8100`);
/// without, it covers every port. An IPv4 address in IPv6 form (mapped, or NAT64's
/// 64:ff9b::/96) gets the IPv4 address's verdict.
public struct EgressPolicy: Equatable, Sendable {
    public var allow: [NetRule] = []
    /// --allow-net NAME: the addresses the DNS forwarder answered for these names are allowed.
    public var allowNames: [NameRule] = []
    /// What those answers were, with the ports of the names that gave them (recorded by
    /// the engine; bounded).
    public var resolved: [IP: Ports] = [:]
    public var deny: [NetRule] = []
    /// The host's own addresses (its interfaces'), refused like its loopback.
    public var hostAddresses: [IP] = []
    public var allowHostLoopback = false

    public init(allow: [NetRule] = [], deny: [NetRule] = [], allowHostLoopback: Bool = false) {
        self.allow = allow
        self.deny = deny
        self.allowHostLoopback = allowHostLoopback
    }

    static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ prefix: Int = 32) -> IPNet { IPNet(CIDR(IPv4(a, b, c, d), prefix)) }
    static func v6(_ hi: UInt64, _ lo: UInt64 = 0, _ prefix: Int = 128) -> IPNet { IPNet(IP(hi: hi, lo: lo), prefix) }
    /// fe80::/10: an address there is one only with its interface (a zone).
    static let linkLocalV6 = v6(0xfe80 << 48, 0, 10)
    /// 169.254.0.0/16, fe80::/10.
    static let linkLocal = [v4(169, 254, 0, 0, 16), linkLocalV6]
    /// Cloud metadata outside link-local: Alibaba's (100.100.100.200), Azure's WireServer,
    /// and the IPv6 endpoints of AWS (fd00:ec2::254), Google Cloud (fd20:ce::254) and
    /// Oracle Cloud (fd00:c1::a9fe:a9fe); and NAT64's local-use prefix (64:ff9b:1::/48,
    /// RFC 8215), where a translator on the host would put 169.254.169.254 too.
    static let metadata = [
        v4(100, 100, 100, 200), v4(168, 63, 129, 16), v6(0xfd00_0ec2_0000_0000, 0x254), v6(0xfd20_00ce_0000_0000, 0x254),
        v6(0xfd00_00c1_0000_0000, 0xa9fe_a9fe), v6(0x0064_ff9b_0001_0000, 0, 48),
    ]
    static let loopback = [v4(127, 0, 0, 0, 8), v6(0, 1)]
    /// Not unicast (or not an address one may send to): IPv4's this-network, multicast and
    /// reserved; IPv6's unspecified and IPv4-compatible (::/96, ::1 aside), the deprecated
    /// site-local fec0::/10, and multicast.
    static let special = [
        v4(0, 0, 0, 0, 8), v4(224, 0, 0, 0, 4), v4(240, 0, 0, 0, 4), v6(0, 0, 96), v6(0xfec0 << 48, 0, 10), v6(0xff00 << 48, 0, 8),
    ]
    /// NAT64's well-known prefix (64:ff9b::/96): an IPv4 address inside.
    static let nat64 = v6(0x0064_ff9b_0000_0000, 0, 96)

    /// nil: a flow to a's port is allowed; else why not (for --net-log and the refusal).
    /// A NAT64 address answers to the rules written for it (a deny, an allow, a DNS64
    /// answer) and to its IPv4 address's: refused if either refuses, allowed if either
    /// allows what only --allow-net refused.
    public func refuses(_ a: IP, port: UInt16) -> String? {
        var forms = [a]
        if EgressPolicy.nat64.contains(a) { forms.append(IP(IPv4(UInt32(truncatingIfNeeded: a.lo)))) }
        for f in forms { if let why = refusesAlways(f, port) { return why } }
        // The host itself, opened by allow_host_loopback, needs no --allow-net rule too.
        if allowHostLoopback && forms.contains(where: { f in EgressPolicy.loopback.contains { $0.contains(f) } || hostAddresses.contains(f) }) { return nil }
        if forms.contains(where: { allows($0, port) }) { return nil }
        if !allow.isEmpty || !allowNames.isEmpty { return "not in --allow-net" + (allowNames.isEmpty ? "" : " (nor an answer for its names)") }
        return nil
    }

    /// What no --allow-net rule opens: --deny-net, the host itself, non-unicast, and
    /// link-local/metadata (opened only by a rule naming them; see refusesMetadata).
    func refusesAlways(_ a: IP, _ port: UInt16) -> String? {
        if deny.contains(where: { $0.matches(a, port) }) { return "--deny-net" }
        if EgressPolicy.loopback.contains(where: { $0.contains(a) }) || hostAddresses.contains(a) {
            return allowHostLoopback ? nil : "the host itself (allow_host_loopback=true opens it)"
        }
        if EgressPolicy.special.contains(where: { $0.contains(a) }) { return "not a unicast address" }
        return refusesMetadata(a, port)
    }

    func allows(_ a: IP, _ port: UInt16) -> Bool { allow.contains(where: { $0.matches(a, port) }) || resolved[a]?.contains(port) == true }

    /// Link-local and the metadata addresses: refused unless a rule names a network inside
    /// them (never a name's answer, a bare port, nor a wide network that happens to cover
    /// them, such as 128.0.0.0/1).
    func refusesMetadata(_ a: IP, _ port: UInt16) -> String? {
        guard let zone = (EgressPolicy.linkLocal + EgressPolicy.metadata).first(where: { $0.contains(a) }) else { return nil }
        let named = allow.contains { $0.matches(a, port) && zone.covers($0.net) }
        return named ? nil : "link-local or cloud metadata; --allow-net with its network opens it"
    }

    /// For a host peer a forwarded UDP port hears from (the sandbox answers it): refused if
    /// it is not unicast, denied, or link-local/metadata. The host's loopback is fine (the
    /// peer is usually a local client).
    public func refusesPeer(_ a: IP, port: UInt16) -> String? {
        if EgressPolicy.nat64.contains(a) {
            if deny.contains(where: { $0.matches(a, port) }) { return "--deny-net" }
            return refusesPeer(IP(IPv4(UInt32(truncatingIfNeeded: a.lo))), port: port)
        }
        if EgressPolicy.special.contains(where: { $0.contains(a) }) && !EgressPolicy.loopback.contains(where: { $0.contains(a) }) {
            return "not a unicast address"
        }
        if deny.contains(where: { $0.matches(a, port) }) { return "--deny-net" }
        return refusesMetadata(a, port)
    }

    /// A comma-separated list of networks, addresses and, where `names`, host names, each
    /// with its ports or not (`10.0.0.0/8:443`, `pypi.org:443`, `2001:db8::/32`,
    /// `[2001:db8::/32]:443`, `:25` for every address) — --allow-net, --deny-net.
    public static func targets(_ text: String, flag: String, names: Bool) throws -> ([NetRule], [NameRule]) {
        var out: [NetRule] = []
        var hosts: [NameRule] = []
        let fix = "e.g. \(flag) 198.18.0.0/15,192.0.2.7:443,[2001:db8::/32]:443\(names ? ",pypi.org:443" : ",:25")"
        for item in text.split(separator: ",") {
            var target = item
            var portText: Substring?
            let bracketed = item.hasPrefix("[")
            if bracketed {
                // [IPv6 network]:PORTS (the brackets keep its colons apart from the ports').
                guard let close = item.firstIndex(of: "]") else { throw SlirpError("\(flag) \"\(item)\": no closing ]", fix: fix) }
                target = item[item.index(after: item.startIndex)..<close]
                let rest = item[item.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":") else { throw SlirpError("\(flag) \"\(item)\": only :PORTS may follow ]", fix: fix) }
                    portText = rest.dropFirst()
                }
            } else if item.filter({ $0 == ":" }).count == 1, let colon = item.firstIndex(of: ":") {
                portText = item[item.index(after: colon)...]
                target = item[..<colon]
            } else if let colon = item.lastIndex(of: ":"), !item.contains("/"), item[item.index(after: colon)...].allSatisfy(\.isNumber),
                IP(item[..<colon]) != nil
            {
                // "2001:db8::5:22": an address, or 2001:db8::5 and port 22? Brackets say which.
                throw SlirpError(
                    "\(flag) \"\(item)\" could be an IPv6 address or one with a port",
                    fix: "write [\(item[..<colon])]:\(item[item.index(after: colon)...]) for the port, or [\(item)] for the address")
            }
            var ports = Ports.all
            if let t = portText {
                guard let p = Ports.parse(t) else {
                    throw SlirpError("\(flag) \"\(item)\": the ports are not a number or range from 1 to 65535", fix: fix)
                }
                ports = p
            }
            if target.isEmpty && !ports.ranges.isEmpty {
                out.append(NetRule(IPNet(IP(hi: 0, lo: 0), 0), ports: ports))
            } else if let c = IPNet(target) {
                out.append(NetRule(c, ports: ports))
            } else if names, !bracketed, DNS.isHostName(target) {
                hosts.append(NameRule(String(target.hasSuffix(".") ? target.dropLast() : target).lowercased(), ports: ports))
            } else {
                throw SlirpError(
                    "\(flag) \"\(item)\" is not an IPv4 or IPv6 address or network\(names ? " or a host name" : ""), with or without :PORTS", fix: fix)
            }
        }
        guard !out.isEmpty || !hosts.isEmpty else { throw SlirpError("\(flag) needs at least one network", fix: fix) }
        return (out, hosts)
    }
}

/// `-p [HOSTIP:]HOSTPORT:SANDBOXPORT[/tcp|/udp]`: a host port whose connections (or
/// datagrams) reach the sandbox's port (podman's spelling; HOSTIP defaults to 0.0.0.0, as
/// podman's; an IPv6 one is bracketed, `[::1]:8080:80`).
public struct PortForward: Equatable, Sendable, CustomStringConvertible {
    public var hostIP: IP
    public var hostPort: UInt16
    public var guestPort: UInt16
    public var udp = false

    public init(hostIP: IP, hostPort: UInt16, guestPort: UInt16, udp: Bool = false) {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.guestPort = guestPort
        self.udp = udp
    }
    public init(hostIP: IPv4, hostPort: UInt16, guestPort: UInt16, udp: Bool = false) {
        self.init(hostIP: IP(hostIP), hostPort: hostPort, guestPort: guestPort, udp: udp)
    }

    /// The host's side: `127.0.0.1:8080`, `[::1]:8080`.
    public var host: Endpoint { Endpoint(hostIP, hostPort) }
    /// The host's side as messages name it: `-p 127.0.0.1:8080`, `-p [::1]:5353/udp`.
    public var named: String { "-p \(host)\(udp ? "/udp" : "")" }

    public static func parse(_ text: String) throws -> PortForward {
        let fix = "e.g. -p 8080:80, -p 127.0.0.1:8080:80, -p [::1]:8080:80 or -p 5353:53/udp"
        var spec = Substring(text)
        var udp = false
        // The protocol's slash comes after a bracketed address (whose own text may hold one).
        let after = spec.first == "[" ? spec.firstIndex(of: "]") ?? spec.endIndex : spec.startIndex
        if let slash = spec[after...].firstIndex(of: "/") {
            let proto = spec[spec.index(after: slash)...]
            guard proto == "tcp" || proto == "udp" else { throw SlirpError("-p \(text): unknown protocol \"\(proto)\"", fix: "tcp or udp: \(fix)") }
            udp = proto == "udp"
            spec = spec[..<slash]
        }
        // A bracketed HOSTIP (IPv6 has colons of its own), then HOSTPORT:SANDBOXPORT.
        var ip: IP?
        if spec.first == "[" {
            guard let close = spec.firstIndex(of: "]"), spec[spec.index(after: close)...].first == ":" else {
                throw SlirpError("-p \"\(text)\" is not [HOSTIP]:HOSTPORT:SANDBOXPORT", fix: fix)
            }
            let inner = spec[spec.index(after: spec.startIndex)..<close]
            guard let a = IP(inner) else { throw SlirpError("-p \"\(text)\": \"\(inner)\" is not an IP address", fix: fix) }
            // A link-local address needs its interface (a zone), which -p does not take.
            guard !EgressPolicy.linkLocalV6.contains(a) else {
                throw SlirpError("-p \"\(text)\": \(inner) is link-local, which needs an interface", fix: "use the host's global or loopback address, or [::]")
            }
            ip = a
            spec = spec[spec.index(close, offsetBy: 2)...]
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || (parts.count == 3 && ip == nil) else {
            if ip == nil, parts.count > 3, IP(Substring(parts.dropLast(2).joined(separator: ":"))) != nil {
                throw SlirpError("-p \"\(text)\": an IPv6 HOSTIP goes in brackets", fix: "e.g. -p [::1]:8080:80")
            }
            throw SlirpError("-p \"\(text)\" is not [HOSTIP:]HOSTPORT:SANDBOXPORT", fix: fix)
        }
        guard let hp = Ports.number(parts[parts.count - 2]), let gp = Ports.number(parts[parts.count - 1]) else {
            throw SlirpError("-p \"\(text)\": ports are numbers from 1 to 65535", fix: fix)
        }
        if parts.count == 3 {
            guard let a = IPv4(parts[0]) else { throw SlirpError("-p \"\(text)\": \"\(parts[0])\" is not an IPv4 address", fix: fix) }
            ip = IP(a)
        }
        return PortForward(hostIP: ip ?? IP(IPv4(0)), hostPort: hp, guestPort: gp, udp: udp)
    }

    public var description: String { "\(host)->\(guestPort)/\(udp ? "udp" : "tcp")" }
}
