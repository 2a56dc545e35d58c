// `--net slirp[:k=v,...]` and the egress flags, parsed into values. The sandbox's side of
// the virtual link: its address, the gateway (the host, as far as the sandbox can tell),
// the DNS forwarder, the MTU.

public struct SlirpConfig: Equatable, Sendable {
    public var network = CIDR(IPv4(10, 0, 2, 0), 24)
    public var mtu = 65520
    /// The host's loopback reached at the gateway's address (off: refused).
    public var allowHostLoopback = false
    /// Where the DNS forwarder sends queries (nil: the host's resolvers, found at run time).
    public var dnsUpstream: IPv4?
    public var dnsUpstreamPort: UInt16 = 53

    public init() {}

    public var gateway: IPv4 { IPv4(network.base.value + 2) }
    public var dns: IPv4 { IPv4(network.base.value + 3) }
    public var guest: IPv4 { IPv4(network.base.value + 100) }
    public static let gatewayMAC = MAC(0x5255_0a00_0202)

    /// "slirp" or "slirp:mtu=1500,cidr=10.9.0.0/24,allow_host_loopback=true". Errors name the
    /// value and the fix.
    public static func parse(options: Substring) throws -> SlirpConfig {
        var c = SlirpConfig()
        for kv in options.split(separator: ",") {
            let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard p.count == 2 else { throw SlirpError("--net slirp option \"\(kv)\" is not KEY=VALUE", fix: "e.g. --net slirp:mtu=1500") }
            switch p[0] {
            case "mtu":
                guard let m = Int(p[1]), (576...65520).contains(m) else {
                    throw SlirpError("--net slirp mtu \"\(p[1])\" is not a number from 576 to 65520", fix: "e.g. mtu=1500")
                }
                c.mtu = m
            case "cidr":
                guard let n = CIDR(p[1]), n.prefix >= 8, n.prefix <= 25 else {
                    throw SlirpError("--net slirp cidr \"\(p[1])\" is not an IPv4 network from /8 to /25", fix: "e.g. cidr=10.9.0.0/24")
                }
                c.network = n
            case "allow_host_loopback":
                guard p[1] == "true" || p[1] == "false" else {
                    throw SlirpError("--net slirp allow_host_loopback \"\(p[1])\" is not true or false", fix: "allow_host_loopback=true")
                }
                c.allowHostLoopback = p[1] == "true"
            default:
                throw SlirpError("unknown --net slirp option \"\(p[0])\"", fix: "known: mtu, cidr, allow_host_loopback")
            }
        }
        return c
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

/// What a sandbox may reach through SlirpNet. The defaults: the internet yes; the host's
/// loopback and its own addresses no (unless allow_host_loopback); link-local
/// 169.254.0.0/16 no (cloud metadata); --deny-net refuses more, and --allow-net, once
/// given, is the only way out (DNS to the forwarder always works).
public struct EgressPolicy: Equatable, Sendable {
    public var allow: [CIDR] = []
    /// --allow-net NAME: the addresses the DNS forwarder answered for these names are allowed.
    public var allowNames: [String] = []
    /// What those answers were (recorded by the engine; bounded).
    public var resolved: Set<IPv4> = []
    public var deny: [CIDR] = []
    /// The host's own addresses (its interfaces'), refused like its loopback.
    public var hostAddresses: [IPv4] = []
    public var allowHostLoopback = false

    public init(allow: [CIDR] = [], deny: [CIDR] = [], allowHostLoopback: Bool = false) {
        self.allow = allow
        self.deny = deny
        self.allowHostLoopback = allowHostLoopback
    }

    static let linkLocal = CIDR(IPv4(169, 254, 0, 0), 16)
    /// Cloud metadata outside link-local: Alibaba's (100.100.100.200) and Azure's WireServer.
    static let metadata = [CIDR(IPv4(100, 100, 100, 200), 32), CIDR(IPv4(168, 63, 129, 16), 32)]
    static let loopback = CIDR(IPv4(127, 0, 0, 0), 8)
    static let special = [CIDR(IPv4(0, 0, 0, 0), 8), CIDR(IPv4(224, 0, 0, 0), 4), CIDR(IPv4(240, 0, 0, 0), 4)]

    /// nil: allowed; else why not (for --net-log and the refusal).
    public func refuses(_ a: IPv4) -> String? {
        if EgressPolicy.special.contains(where: { $0.contains(a) }) { return "not a unicast address" }
        if deny.contains(where: { $0.contains(a) }) { return "--deny-net" }
        if EgressPolicy.linkLocal.contains(a) || EgressPolicy.metadata.contains(where: { $0.contains(a) }) {
            // Only an explicit network opens it (never a name's answer).
            return allow.contains(where: { $0.contains(a) && $0.prefix > 0 }) ? nil : "link-local or cloud metadata; --allow-net with its network opens it"
        }
        if EgressPolicy.loopback.contains(a) || hostAddresses.contains(a) {
            return allowHostLoopback ? nil : "the host itself (allow_host_loopback=true opens it)"
        }
        if allow.contains(where: { $0.contains(a) }) || resolved.contains(a) { return nil }
        if !allow.isEmpty || !allowNames.isEmpty { return "not in --allow-net" + (allowNames.isEmpty ? "" : " (nor an answer for its names)") }
        return nil
    }

    /// A comma-separated list of CIDRs and, where `names`, host names (--allow-net, --deny-net).
    public static func targets(_ text: String, flag: String, names: Bool) throws -> ([CIDR], [String]) {
        var out: [CIDR] = []
        var hosts: [String] = []
        for item in text.split(separator: ",") {
            if let c = CIDR(item) {
                out.append(c)
            } else if names, DNS.isHostName(item) {
                hosts.append(String(item.hasSuffix(".") ? item.dropLast() : item).lowercased())
            } else {
                throw SlirpError(
                    "\(flag) \"\(item)\" is not an IPv4 address or network\(names ? " or a host name" : "")",
                    fix: "e.g. \(flag) 198.18.0.0/15,192.0.2.7\(names ? ",pypi.org" : "")")
            }
        }
        guard !out.isEmpty || !hosts.isEmpty else { throw SlirpError("\(flag) needs at least one network", fix: "e.g. \(flag) 198.18.0.0/15") }
        return (out, hosts)
    }
}

/// `-p [HOSTIP:]HOSTPORT:SANDBOXPORT[/tcp|/udp]`: a host port whose connections (or
/// datagrams) reach the sandbox's port (podman's spelling; HOSTIP defaults to 0.0.0.0, as
/// podman's).
public struct PortForward: Equatable, Sendable, CustomStringConvertible {
    public var hostIP: IPv4
    public var hostPort: UInt16
    public var guestPort: UInt16
    public var udp = false

    public init(hostIP: IPv4, hostPort: UInt16, guestPort: UInt16, udp: Bool = false) {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.guestPort = guestPort
        self.udp = udp
    }

    public static func parse(_ text: String) throws -> PortForward {
        let fix = "e.g. -p 8080:80, -p 127.0.0.1:8080:80 or -p 5353:53/udp"
        var spec = Substring(text)
        var udp = false
        if let slash = spec.firstIndex(of: "/") {
            let proto = spec[spec.index(after: slash)...]
            guard proto == "tcp" || proto == "udp" else { throw SlirpError("-p \(text): unknown protocol \"\(proto)\"", fix: "tcp or udp: \(fix)") }
            udp = proto == "udp"
            spec = spec[..<slash]
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { throw SlirpError("-p \"\(text)\" is not [HOSTIP:]HOSTPORT:SANDBOXPORT", fix: fix) }
        func port(_ s: Substring) -> UInt16? { s.allSatisfy({ $0.isASCII && $0.isNumber }) ? UInt16(s).flatMap { $0 > 0 ? $0 : nil } : nil }
        guard let hp = port(parts[parts.count - 2]), let gp = port(parts[parts.count - 1]) else {
            throw SlirpError("-p \"\(text)\": ports are numbers from 1 to 65535", fix: fix)
        }
        var ip = IPv4(0)
        if parts.count == 3 {
            guard let a = IPv4(parts[0]) else { throw SlirpError("-p \"\(text)\": \"\(parts[0])\" is not an IPv4 address", fix: fix) }
            ip = a
        }
        return PortForward(hostIP: ip, hostPort: hp, guestPort: gp, udp: udp)
    }

    public var description: String { "\(hostIP):\(hostPort)->\(guestPort)/\(udp ? "udp" : "tcp")" }
}
