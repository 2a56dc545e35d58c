// An Endpoint as the kernel takes it and gives it back: sockaddr_in for an IPv4 address,
// sockaddr_in6 for IPv6 (so the same connect, bind and sendto serve both families).
import Glibc
import SlirpNet

struct SockAddr {
    var storage = sockaddr_storage()
    let length: socklen_t
    let family: Int32

    init(_ e: Endpoint) {
        if let v = e.ip.v4 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = e.port.bigEndian
            sa.sin_addr.s_addr = v.value.bigEndian
            withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: sa) { s.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        } else {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = e.port.bigEndian
            let bytes = e.ip.bytes
            withUnsafeMutableBytes(of: &sa.sin6_addr) { a in bytes.withUnsafeBytes { a.copyMemory(from: $0) } }
            withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: sa) { s.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        }
    }

    func withPointer<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
    }

    /// The endpoint in an address the kernel filled in (nil: neither family).
    static func endpoint(_ s: sockaddr_storage) -> Endpoint? {
        withUnsafeBytes(of: s) { raw in
            switch Int32(s.ss_family) {
            case AF_INET:
                let sa = raw.load(as: sockaddr_in.self)
                return Endpoint(IPv4(UInt32(bigEndian: sa.sin_addr.s_addr)), UInt16(bigEndian: sa.sin_port))
            case AF_INET6:
                let sa = raw.load(as: sockaddr_in6.self)
                let b = withUnsafeBytes(of: sa.sin6_addr) { Array($0) }
                var hi: UInt64 = 0
                var lo: UInt64 = 0
                for k in 0..<8 { hi = hi << 8 | UInt64(b[k]) }
                for k in 8..<16 { lo = lo << 8 | UInt64(b[k]) }
                return Endpoint(IP(hi: hi, lo: lo), UInt16(bigEndian: sa.sin6_port))
            default:
                return nil
            }
        }
    }
}
