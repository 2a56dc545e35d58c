// rtnetlink requests that configure the sandbox's TAP, as bytes (golden-tested): the
// link up with its MTU, its addresses, and the default routes through the gateway. The child
// (C, net.c) sends them in order, each acknowledged, after it made the TAP; it fills in
// the TAP's interface index where a message needs one (ifinfomsg/ifaddrmsg index 0).

public enum Netlink {
    static let newLink: UInt16 = 16, newAddr: UInt16 = 20, newRoute: UInt16 = 24
    static let request: UInt16 = 0x1, ack: UInt16 = 0x4, excl: UInt16 = 0x200, create: UInt16 = 0x400

    /// Native-endian (x86_64, arm64: little) fields, as the kernel reads them.
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
    static func attr(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
        var a = le16(UInt16(4 + data.count)) + le16(type) + data
        while a.count % 4 != 0 { a.append(0) }
        return a
    }
    static func message(_ type: UInt16, flags: UInt16, seq: UInt32, _ body: [UInt8]) -> [UInt8] {
        le32(UInt32(16 + body.count)) + le16(type) + le16(flags | request | ack) + le32(seq) + le32(0) + body
    }
    static func be(_ a: IPv4) -> [UInt8] { [UInt8(a.value >> 24), UInt8((a.value >> 16) & 0xff), UInt8((a.value >> 8) & 0xff), UInt8(a.value & 0xff)] }

    /// RTM_NEWLINK: the TAP (index filled in by the child) up, with this MTU.
    public static func linkUp(mtu: Int, seq: UInt32) -> [UInt8] {
        // ifinfomsg: family, pad, type, index, flags (IFF_UP), change (IFF_UP)
        let ifi: [UInt8] = [0, 0] + le16(0) + le32(0) + le32(1) + le32(1)
        return message(newLink, flags: 0, seq: seq, ifi + attr(4, le32(UInt32(mtu))))  // IFLA_MTU
    }

    /// The address's family (AF_INET or AF_INET6) and bytes.
    static func family(_ a: IP) -> (UInt8, [UInt8]) { a.v4.map { (2, be($0)) } ?? (10, a.bytes) }

    /// RTM_NEWADDR: address/prefix on the TAP (an IPv6 one without duplicate address
    /// detection: the link has no one else on it, and DAD would hold the address ~1 s).
    public static func address(_ a: IP, prefix: Int, seq: UInt32) -> [UInt8] {
        let (af, bytes) = family(a)
        // ifaddrmsg: family, prefixlen, flags (IFA_F_NODAD for IPv6), scope universe, index
        let ifa: [UInt8] = [af, UInt8(prefix), af == 10 ? 0x02 : 0, 0] + le32(0)
        return message(newAddr, flags: create | excl, seq: seq, ifa + attr(2, bytes) + attr(1, bytes))  // IFA_LOCAL, IFA_ADDRESS
    }

    /// RTM_NEWROUTE: the default route through gw (main table, boot protocol, universe scope).
    public static func defaultRoute(via gw: IP, seq: UInt32) -> [UInt8] {
        let (af, bytes) = family(gw)
        // rtmsg: family, dst_len, src_len, tos, table main(254), protocol boot(3), scope universe(0), type unicast(1), flags
        let rtm: [UInt8] = [af, 0, 0, 0, 254, 3, 0, 1] + le32(0)
        return message(newRoute, flags: create | excl, seq: seq, rtm + attr(5, bytes))  // RTA_GATEWAY
    }

    /// RTM_GETROUTE: how the host routes to a (the driver asks, in the host's own network
    /// namespace, whether a destination is the host itself).
    public static func getRoute(to a: IP, seq: UInt32) -> [UInt8] {
        let (af, bytes) = family(a)
        // rtmsg: family, dst_len (the whole address), src_len, tos, table, protocol, scope, type, flags
        let rtm: [UInt8] = [af, UInt8(bytes.count * 8), 0, 0, 0, 0, 0, 0] + le32(0)
        return le32(UInt32(16 + rtm.count + 4 + bytes.count)) + le16(getRouteType) + le16(request) + le32(seq) + le32(0) + rtm + attr(1, bytes)  // RTA_DST
    }
    static let getRouteType: UInt16 = 26

    /// What an RTM_GETROUTE answer says: the route's type (RTN_UNICAST 1, RTN_LOCAL 2,
    /// RTN_BROADCAST 3, RTN_ANYCAST 4, ...), 0 for an error answer (no route), nil for
    /// anything else.
    public static func routeType(_ reply: [UInt8]) -> UInt8? {
        guard reply.count >= 20 else { return nil }
        let len = Int(reply[0]) | Int(reply[1]) << 8 | Int(reply[2]) << 16 | Int(reply[3]) << 24
        let type = UInt16(reply[4]) | UInt16(reply[5]) << 8
        guard len <= reply.count else { return nil }
        if type == 2 && len >= 20 { return 0 }  // NLMSG_ERROR
        guard type == newRoute, len >= 28 else { return nil }
        return reply[23]
    }
    /// A netlink message's sequence number (what question it answers), or nil.
    public static func replySeq(_ reply: [UInt8]) -> UInt32? {
        guard reply.count >= 16 else { return nil }
        return UInt32(reply[8]) | UInt32(reply[9]) << 8 | UInt32(reply[10]) << 16 | UInt32(reply[11]) << 24
    }

    /// Route types that end at this host: local, broadcast, anycast.
    public static func isHostRoute(_ type: UInt8) -> Bool { type == 2 || type == 3 || type == 4 }

    /// The whole setup of a SlirpNet TAP, in order, one request each.
    public static func setup(_ c: SlirpConfig) -> [[UInt8]] {
        var m = [
            linkUp(mtu: c.mtu, seq: 1), address(IP(c.guest), prefix: c.network.prefix, seq: 2), defaultRoute(via: IP(c.gateway), seq: 3),
        ]
        if c.ipv6 {
            m += [
                address(SlirpConfig.guest6, prefix: SlirpConfig.network6.prefix, seq: 4), defaultRoute(via: SlirpConfig.gateway6, seq: 5),
            ]
        }
        return m
    }
}
