/// The virtio-net header a TAP opened with IFF_VNET_HDR puts before every frame, both ways
/// (linux/virtio_net.h, struct virtio_net_hdr, 10 bytes: flags, gso_type, hdr_len,
/// gso_size, csum_start, csum_offset; the 16-bit fields in the machine's order, as a TAP
/// not told otherwise with TUNSETVNETLE/BE takes them).
/// It lets a frame to the sandbox carry a partial TCP checksum (NEEDS_CSUM): the sandbox's
/// kernel, delivering it locally, verifies none, and we sum no payload on the download path.
/// The other way, the sandbox's kernel leaves its TCP and UDP checksums to the link (the TAP
/// offers TUN_F_CSUM) and the engine checks none it was told not to.
public enum VirtioNet {
    public static let headerLength = 10
    /// VIRTIO_NET_HDR_F_NEEDS_CSUM: sum from csum_start to the end, store at csum_start + csum_offset.
    static let needsChecksum: UInt8 = 1
    /// VIRTIO_NET_HDR_F_DATA_VALID: the checksum was checked.
    static let dataValid: UInt8 = 2

    /// Whether a frame read with header h needs its TCP or UDP checksum checked: not when
    /// the sandbox's kernel left it to the link (the TAP offers TUN_F_CSUM) or checked it.
    public static func summed(_ h: [UInt8]) -> Bool { h[0] & (needsChecksum | dataValid) != 0 }

    /// Writes into h (headerLength bytes) frame's header: a TCP segment (whose checksum
    /// FrameBuilder left partial) asks for its checksum to be completed; any other frame,
    /// complete as built, asks nothing.
    public static func header(for frame: [UInt8], into h: inout [UInt8]) {
        for i in 0..<headerLength { h[i] = 0 }
        guard let start = tcpStart(frame) else { return }
        h[0] = needsChecksum
        putNative16(&h, 6, UInt16(start))
        putNative16(&h, 8, 16)  // the TCP header's checksum field
    }

    /// Where a frame's TCP header starts, if it carries one (IPv4 with its header length,
    /// or IPv6 with TCP as its next header: ours have no extension headers).
    static func tcpStart(_ f: [UInt8]) -> Int? {
        guard f.count >= Ethernet.headerLength + 40 else { return nil }
        switch (UInt16(f[12]) << 8) | UInt16(f[13]) {
        case EtherType.ipv4: return f[23] == IPProto.tcp ? Ethernet.headerLength + Int(f[14] & 0x0f) * 4 : nil
        case EtherType.ipv6: return f[20] == IPProto.tcp ? Ethernet.headerLength + IPv6Header.length : nil
        default: return nil
        }
    }

    static func putNative16(_ h: inout [UInt8], _ at: Int, _ v: UInt16) {
        withUnsafeBytes(of: v) { b in
            h[at] = b[0]
            h[at + 1] = b[1]
        }
    }
}
