import RootlessOS
import Images
import CArchive
import Glibc
import RegistryWire

/// TLS trust for one host (podman's certs.d directories hold a private registry's CA), and
/// the proxy the environment names.
public struct TLSPolicy {
    /// HTTPS_PROXY, HTTP_PROXY, NO_PROXY.
    public var proxy = ProxySettings()
    /// false: certificates are not checked (--tls-verify=false).
    public var verify = true
    /// --cert-dir: *.crt trusted for every registry of this pull.
    public var certDir: String?
    /// Directories searched for HOST[:PORT]/*.crt (the first that exists is used).
    public var certDirs: [String] = []

    func extraCA(for authority: String) -> String? {
        if let d = certDir { return d }
        for d in certDirs where OS.lookup(d + "/" + authority) == true { return d + "/" + authority }
        return nil
    }
}

/// One HTTP/1.1 connection, plain or TLS, with its read buffer. Blocking I/O with a
/// socket timeout; a connection that ends early is an error the caller may retry.
final class HTTPConnection {
    let key: String
    let fd: Int32
    var tls: OpaquePointer?
    var buf = [UInt8](repeating: 0, count: 256 << 10)
    var start = 0, end = 0
    static let timeout = 30

    init(_ url: HTTPURL, tls policy: TLSPolicy) throws {
        key = Self.key(url)
        let proxy = policy.proxy.proxy(for: url)
        fd = try proxy.map { try Self.connect($0.host, $0.port, via: true) } ?? Self.connect(url.host, url.port)
        // HTTPS through a proxy: a CONNECT tunnel, and TLS with the registry inside it.
        if url.secure, let p = proxy {
            do { try tunnel(to: url, via: p) } catch {
                close(fd)
                throw error
            }
        }
        if url.secure {
            var err = [CChar](repeating: 0, count: 512)
            let extra = policy.extraCA(for: url.authority)
            var untrusted: Int32 = 0
            tls = rl_tls_connect(fd, url.host, extra, policy.verify ? 1 : 0, &untrusted, &err, err.count)
            if tls == nil {
                close(fd)
                let why = "TLS to \(url.authority) failed: \(String(cString: err))"
                throw untrusted != 0 ? HTTPError.untrusted(why) : HTTPError.tls(why)
            }
        }
    }

    /// CONNECT host:port through the proxy; its answer must be 2xx (read byte by byte:
    /// nothing past its head may be taken from what becomes the TLS stream).
    func tunnel(to url: HTTPURL, via p: ProxyURL) throws {
        let target = (url.host.contains(":") ? "[\(url.host)]" : url.host) + ":\(url.port)"
        var req = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\nUser-Agent: rootless/0.1\r\n"
        if let a = p.authorization { req += "Proxy-Authorization: \(a)\r\n" }
        req += "\r\n"
        let bytes = Array(req.utf8)
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw HTTPError.connect("cannot talk to the proxy \(p): \(OS.errorText(errno))")
        }
        var head: [UInt8] = []
        var b: UInt8 = 0
        let deadline = OS.monotonicSeconds() + Double(Self.timeout)
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            let n = Glibc.read(fd, &b, 1)
            if n < 0 && errno == EINTR { continue }
            guard head.count < 16384, n == 1, OS.monotonicSeconds() < deadline else {
                throw HTTPError.connect("the proxy \(p) did not answer CONNECT (closed, or over \(Self.timeout) s)")
            }
            head.append(b)
        }
        // Its status line, printable bytes only (it reaches the terminal).
        let line = String(decoding: head.prefix { $0 != 13 }.filter { $0 >= 0x20 && $0 < 0x7f }.prefix(200), as: UTF8.self)
        let status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard (200..<300).contains(status) else {
            throw HTTPError.connect(
                "the proxy \(p) refused CONNECT \(url.authority): \(line)\(status == 407 ? " (it wants credentials: http://USER:PASSWORD@host:port)" : "")")
        }
    }

    /// The pool's key: scheme and authority.
    static func key(_ url: HTTPURL) -> String { (url.secure ? "s:" : "p:") + url.authority }

    deinit {
        if let t = tls { rl_tls_free(t) }
        close(fd)
    }

    static func connect(_ host: String, _ port: Int, via proxy: Bool = false) throws -> Int32 {
        do { return try connectDirect(host, port) } catch HTTPError.connect(let why) where proxy {
            throw HTTPError.connect("proxy: \(why) (HTTPS_PROXY/HTTP_PROXY; NO_PROXY lists hosts reached directly)")
        }
    }

    static func connectDirect(_ host: String, _ port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>?
        let r = getaddrinfo(host, String(port), &hints, &res)
        guard r == 0, let first = res else {
            throw HTTPError.connect("cannot resolve \(host): \(String(cString: gai_strerror(r)))")
        }
        defer { freeaddrinfo(first) }
        var lastErr: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else { lastErr = errno; continue }
            var tv = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
            // SO_SNDTIMEO bounds a blocking connect() too (Linux: EINPROGRESS after it).
            if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
            lastErr = errno
            close(fd)
        }
        throw HTTPError.connect("cannot connect to \(host) port \(port): \(OS.errorText(lastErr))")
    }

    func write(_ b: [UInt8]) throws {
        var off = 0
        var err = [CChar](repeating: 0, count: 256)
        while off < b.count {
            let n: Int = b.withUnsafeBytes { p in
                let q = p.baseAddress! + off
                if let t = tls { return rl_tls_write(t, q, p.count - off, &err, err.count) }
                return Glibc.send(fd, q, p.count - off, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR && tls == nil { continue }
            guard n > 0 else { throw HTTPError.closed(tls != nil ? String(cString: err) : OS.errorText(errno)) }
            off += n
        }
    }

    /// Reads more into the buffer (compacting it first); false at end of stream.
    func fill() throws -> Bool {
        if start == end {
            start = 0; end = 0
        } else if end == buf.count {
            if start > 0 {
                buf.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + start, end - start) }
                end -= start; start = 0
            } else {
                buf.append(contentsOf: [UInt8](repeating: 0, count: buf.count))  // a long head
            }
        }
        var err = [CChar](repeating: 0, count: 256)
        while true {
            let n: Int = buf.withUnsafeMutableBytes { p in
                if let t = tls { return rl_tls_read(t, p.baseAddress! + end, p.count - end, &err, err.count) }
                return Glibc.read(fd, p.baseAddress! + end, p.count - end)
            }
            if n < 0 && tls == nil && errno == EINTR { continue }
            if n < 0 {
                let why = tls != nil ? String(cString: err) : (errno == EAGAIN ? "timed out after \(Self.timeout) s" : OS.errorText(errno))
                throw HTTPError.closed(why)
            }
            end += n
            return n > 0
        }
    }
}

enum HTTPError: Error, CustomStringConvertible {
    case connect(String)
    case tls(String)  // no TLS there (or a broken handshake)
    case untrusted(String)  // TLS, but a certificate we do not trust: never downgraded
    case closed(String)
    case protocolError(String)
    var description: String {
        switch self {
        case .connect(let s), .tls(let s), .untrusted(let s): return s
        case .closed(let s): return "connection lost: \(s)"
        case .protocolError(let s): return "bad HTTP response: \(s)"
        }
    }
}

/// A blocking HTTP/1.1 client with one kept-alive connection per origin. Not shared
/// between threads: each download worker has its own.
final class HTTPClient {
    var tls: TLSPolicy
    var pool: [String: HTTPConnection] = [:]
    init(tls: TLSPolicy) { self.tls = tls }

    struct Response {
        var head: HTTPHead
        var url: HTTPURL
        fileprivate var conn: HTTPConnection
        fileprivate var framing: HTTPHead.Framing
    }

    /// Sends a request and reads the response head. A kept-alive connection that the
    /// server closed meanwhile is retried once on a fresh one.
    func send(_ method: String, _ url: HTTPURL, headers: [(String, String)]) throws -> Response {
        // Plain HTTP through a proxy: the absolute URL on the request line, and the proxy's
        // credentials (HTTPS goes through a CONNECT tunnel instead: HTTPConnection).
        let proxy = url.secure ? nil : tls.proxy.proxy(for: url)
        var req =
            "\(method) \(proxy != nil ? "http://" + url.authority + url.target : url.target) HTTP/1.1\r\nHost: \(url.authority)\r\nUser-Agent: rootless/0.1\r\n"
        if let a = proxy?.authorization { req += "Proxy-Authorization: \(a)\r\n" }
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        req += "\r\n"
        let key = HTTPConnection.key(url)
        for attempt in 0..<2 {
            let reused = pool[key] != nil
            let c = try pool[key] ?? HTTPConnection(url, tls: tls)
            pool[key] = nil
            do {
                try c.write(Array(req.utf8))
                let head = try readHead(c)
                if let p = proxy, head.status == 407 {
                    throw HTTPError.connect("the proxy \(p) refused the request: 407 (it wants credentials: http://USER:PASSWORD@host:port)")
                }
                return Response(head: head, url: url, conn: c, framing: try wrap { try head.framing(request: method) })
            } catch HTTPError.closed(let why) {
                if reused && attempt == 0 { continue }
                throw HTTPError.closed(why)
            }
        }
        throw HTTPError.closed("retry failed")
    }

    func readHead(_ c: HTTPConnection) throws -> HTTPHead {
        while true {
            let n = try c.buf.withUnsafeBytes { p in try wrap { try HTTPHead.end(in: UnsafeRawBufferPointer(rebasing: p[c.start..<c.end])) } }
            if let n = n {
                let head = try wrap { try HTTPHead.parse(Array(c.buf[c.start..<(c.start + n)])) }
                c.start += n
                if head.status == 100 { continue }
                return head
            }
            guard try c.fill() else { throw HTTPError.closed("the server closed the connection before answering") }
        }
    }

    /// Streams the body to sink, then returns the connection to the pool when it may
    /// be reused. Throws when the body ends early (a cut connection is never a success).
    func readBody(_ r: Response, limit: Int64 = .max, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let c = r.conn
        var total: Int64 = 0
        func emit(_ p: UnsafeRawBufferPointer) throws {
            total += Int64(p.count)
            guard total <= limit else { throw HTTPError.protocolError("body over \(limit) bytes") }
            try sink(p)
        }
        switch r.framing {
        case .none:
            break
        case .length(var left):
            while left > 0 {
                if c.start == c.end { guard try c.fill() else { throw HTTPError.closed("body cut short: \(left) of its bytes missing") } }
                let n = Int(min(Int64(c.end - c.start), left))
                try c.buf.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[c.start..<(c.start + n)])) }
                c.start += n
                left -= Int64(n)
            }
        case .chunked:
            var dec = ChunkedDecoder()
            while !dec.done {
                if c.start == c.end { guard try c.fill() else { throw HTTPError.closed("chunked body cut short") } }
                let used = try c.buf.withUnsafeBytes { p -> Int in
                    let window = UnsafeRawBufferPointer(rebasing: p[c.start..<c.end])
                    return try wrap { try dec.feed(window) { off, n in try emit(UnsafeRawBufferPointer(rebasing: window[off..<(off + n)])) } }
                }
                c.start += used
            }
        case .close:
            while true {
                if c.start < c.end {
                    try c.buf.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[c.start..<c.end])) }
                    c.start = c.end
                }
                guard try c.fill() else { break }
            }
            return
        }
        if r.head.keepAlive { pool[c.key] = c }
    }

    /// A whole small body (manifests, tokens, error documents).
    func readAll(_ r: Response, limit: Int64 = 16 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        try readBody(r, limit: limit) { out.append(contentsOf: $0) }
        return out
    }

    /// Drops a response's connection without reading its body (an unwanted redirect body
    /// or error page of unknown size).
    func discard(_ r: Response) {
        if case .length(let n) = r.framing, n <= 64 << 10 { _ = try? readAll(r) }
    }

    func wrap<T>(_ f: () throws -> T) throws -> T {
        do { return try f() } catch let e as WireError { throw HTTPError.protocolError(e.description) }
    }
}
