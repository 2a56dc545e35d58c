// PURE: the HTTP/1.1 pieces a registry client needs, over bytes: URLs, response heads,
// chunked bodies. No Glibc, no Foundation; every input is the network's, so every
// parser is bounded and fuzzed (Tests/ImageFormatTests/RegistryWireTests.swift).

public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// An http(s) URL as registries use them: scheme, host, port, and the path with its query.
public struct HTTPURL: Equatable, Sendable, CustomStringConvertible {
    public var secure: Bool
    public var host: String
    public var port: Int
    public var target: String  // "/v2/...?..." (origin form, as sent on the request line)

    public init(secure: Bool, host: String, port: Int? = nil, target: String) {
        self.secure = secure
        self.host = host
        self.port = port ?? (secure ? 443 : 80)
        self.target = target.isEmpty ? "/" : target
    }

    public static func parse(_ s: String) throws -> HTTPURL {
        let secure: Bool
        var rest: Substring
        if s.hasPrefix("https://") {
            secure = true; rest = s.dropFirst(8)
        } else if s.hasPrefix("http://") {
            secure = false; rest = s.dropFirst(7)
        } else {
            throw WireError("\"\(s.prefix(200))\" is not an http(s) URL")
        }
        // It goes onto the request line: no spaces or control bytes (CR/LF would smuggle
        // in a header), checked on bytes (Swift's "\r\n" is one Character).
        guard s.utf8.count <= 8192, s.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else { throw WireError("URL too long or with spaces or control characters") }
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = rest[..<slash]
        rest = rest[slash...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }  // userinfo: never used
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw WireError("bad IPv6 host in \(s.prefix(200))") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()); guard port != nil else { throw WireError("bad port in \(s.prefix(200))") } }
        } else if let c = authority.lastIndex(of: ":") {
            host = authority[..<c]
            guard let p = Int(authority[authority.index(after: c)...]) else { throw WireError("bad port in \(s.prefix(200))") }
            port = p
        }
        guard !host.isEmpty else { throw WireError("no host in \(s.prefix(200))") }
        if let p = port, !(1...65535).contains(p) { throw WireError("port \(p) out of range") }
        var target = String(rest)
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.hasPrefix("?") { target = "/" + target }
        return HTTPURL(secure: secure, host: String(host), port: port, target: target)
    }

    /// A Location header's target against this URL (absolute, or absolute path).
    public func resolving(_ location: String) throws -> HTTPURL {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return try HTTPURL.parse(location) }
        guard location.hasPrefix("/"), !location.hasPrefix("//") else {
            if location.hasPrefix("//") { return try HTTPURL.parse((secure ? "https:" : "http:") + location) }
            throw WireError("unsupported redirect target \"\(location.prefix(200))\"")
        }
        var u = self
        u.target = location
        return u
    }

    /// host, or host:port when the port is not the scheme's default (the Host header).
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? h : "\(h):\(port)"
    }
    public var description: String { (secure ? "https://" : "http://") + authority + target }
}

/// A response's status line and headers.
public struct HTTPHead: Equatable, Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(String, String)]  // names lower-cased, in order

    public static let maxSize = 64 << 10

    public static func == (a: HTTPHead, b: HTTPHead) -> Bool {
        a.status == b.status && a.reason == b.reason && a.headers.map { $0.0 + ":" + $0.1 } == b.headers.map { $0.0 + ":" + $0.1 }
    }

    public func header(_ name: String) -> String? { headers.last { $0.0 == name }?.1 }
    public func all(_ name: String) -> [String] { headers.filter { $0.0 == name }.map { $0.1 } }

    /// The length of the head within bytes (through the blank line), or nil if the
    /// blank line has not arrived yet. Throws when no head can end within maxSize.
    public static func end(in b: UnsafeRawBufferPointer) throws -> Int? {
        if b.count >= 4 {
            for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i + 4 }
        }
        if b.count > maxSize { throw WireError("response head over \(maxSize) bytes") }
        return nil
    }

    public static func parse(_ bytes: [UInt8]) throws -> HTTPHead {
        guard bytes.count <= maxSize else { throw WireError("response head over \(maxSize) bytes") }
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map { Substring($0) }
        while lines.last == "" { lines.removeLast() }
        guard let first = lines.first else { throw WireError("empty response") }
        let parts = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]), (100...599).contains(status) else {
            throw WireError("not an HTTP/1.x response: \"\(first.prefix(80))\"")
        }
        var headers: [(String, String)] = []
        for l in lines.dropFirst() {
            guard let c = l.firstIndex(of: ":"), c != l.startIndex else { throw WireError("bad header line \"\(l.prefix(80))\"") }
            let name = l[..<c]
            guard !name.contains(where: { $0 == " " || $0 == "\t" }) else { throw WireError("bad header name \"\(name.prefix(80))\"") }
            headers.append((name.lowercased(), trim(l[l.index(after: c)...])))
            guard headers.count <= 256 else { throw WireError("more than 256 headers") }
        }
        return HTTPHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
    }

    /// How the body ends: a length, chunked, or the connection's close.
    public enum Framing: Equatable, Sendable { case length(Int64), chunked, close, none }

    public func framing(request method: String) throws -> Framing {
        if method == "HEAD" || status == 204 || status == 304 || status < 200 { return .none }
        if let te = header("transfer-encoding") {
            guard te.lowercased().split(separator: ",").last.map({ trim($0) }) == "chunked" else { throw WireError("unsupported transfer-encoding \(te)") }
            return .chunked
        }
        if let cl = header("content-length") {
            guard let n = Int64(cl), n >= 0 else { throw WireError("bad content-length \(cl.prefix(40))") }
            return .length(n)
        }
        return .close
    }

    /// Whether the connection may carry another request after this response.
    public var keepAlive: Bool { header("connection")?.lowercased().contains("close") != true }
}

func trim<S: StringProtocol>(_ s: S) -> String {
    var sub = Substring(s)
    while let f = sub.first, f == " " || f == "\t" { sub = sub.dropFirst() }
    while let l = sub.last, l == " " || l == "\t" { sub = sub.dropLast() }
    return String(sub)
}

/// Chunked transfer-coding, decoded incrementally: feed what arrives, get the data
/// ranges back; `done` after the last chunk and its trailers.
public struct ChunkedDecoder: Sendable {
    enum State: Sendable { case size, sizeExt, sizeLF, data, dataCR, dataLF, trailer, trailerLF, trailerLine, done }
    var state = State.size
    var remaining: UInt64 = 0
    var digits = 0
    var lastTrailerEmpty = true
    public var done: Bool { state == .done }

    public init() {}

    /// Calls data(start, count) for the body bytes inside b; returns bytes consumed
    /// (less than b.count only when done).
    public mutating func feed(_ b: UnsafeRawBufferPointer, data: (Int, Int) throws -> Void) throws -> Int {
        var i = 0
        while i < b.count {
            let c = b[i]
            switch state {
            case .size:
                if let v = hexValue(c) {
                    digits += 1
                    guard digits <= 15 else { throw WireError("chunk size too long") }
                    remaining = remaining << 4 | UInt64(v)
                } else if digits > 0 && (c == 59 || c == 32 || c == 9) {
                    state = .sizeExt
                }  // ;ext
                else if digits > 0 && c == 13 {
                    state = .sizeLF
                } else {
                    throw WireError("bad chunk size byte \(c)")
                }
                i += 1
            case .sizeExt:
                if c == 13 { state = .sizeLF }
                i += 1
            case .sizeLF:
                guard c == 10 else { throw WireError("chunk size line not ended by CRLF") }
                i += 1
                digits = 0
                if remaining == 0 { state = .trailer } else { state = .data }
            case .data:
                let n = Int(min(UInt64(b.count - i), remaining))
                try data(i, n)
                i += n
                remaining -= UInt64(n)
                if remaining == 0 { state = .dataCR }
            case .dataCR:
                guard c == 13 else { throw WireError("chunk not ended by CRLF") }
                state = .dataLF; i += 1
            case .dataLF:
                guard c == 10 else { throw WireError("chunk not ended by CRLF") }
                state = .size; i += 1
            case .trailer:  // start of a trailer line (or the final CRLF)
                if c == 13 { state = .trailerLF } else { state = .trailerLine }
                i += 1
            case .trailerLine:
                if c == 13 { state = .trailerLF; lastTrailerEmpty = false }
                i += 1
            case .trailerLF:
                guard c == 10 else { throw WireError("trailer not ended by CRLF") }
                i += 1
                if lastTrailerEmpty { state = .done; return i }
                lastTrailerEmpty = true
                state = .trailer
            case .done:
                return i
            }
        }
        return i
    }
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 65...70: return c - 55
    case 97...102: return c - 87
    default: return nil
    }
}

/// Percent-encoding for query values (RFC 3986 unreserved kept).
public func percentEncode(_ s: String) -> String {
    var out = ""
    for b in s.utf8 {
        switch b {
        case 48...57, 65...90, 97...122, 45, 46, 95, 126: out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let h = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [h[Int(b >> 4)], h[Int(b & 15)]], as: UTF8.self)
        }
    }
    return out
}
