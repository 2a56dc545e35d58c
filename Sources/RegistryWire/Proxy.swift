// HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read as curl and Go read them (lowercase first):
// which proxy, if any, a registry URL goes through. Pure: the environment's values in.

/// An HTTP proxy: where it listens and, from the URL's user:password, its credentials.
public struct ProxyURL: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var credentials: Credentials?

    public init(host: String, port: Int, credentials: Credentials? = nil) {
        self.host = host
        self.port = port
        self.credentials = credentials
    }

    /// "http://[user:pass@]host[:port][/]" (a bare "host:port" too, as curl takes it).
    public static func parse(_ text: String, name: String) throws -> ProxyURL {
        var rest = Substring(text)
        if rest.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        } else if rest.contains("://") {
            throw WireError("\(name)=\(text): only http:// proxies are supported (CONNECT carries TLS through them)")
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var creds: Credentials?
        if let at = rest.lastIndex(of: "@") {
            let user = rest[..<at]
            let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            creds = Credentials(user: percentDecoded(parts[0]), password: parts.count > 1 ? percentDecoded(parts[1]) : "")
            rest = rest[rest.index(after: at)...]
        }
        guard let url = try? HTTPURL.parse("http://" + rest + "/"), !url.host.isEmpty, url.target == "/" else {
            throw WireError("\(name)=\(text) is not a proxy URL (http://[user:password@]host:port)")
        }
        let portGiven = rest.split(separator: "]").last?.contains(":") ?? false
        return ProxyURL(host: url.host, port: portGiven ? url.port : 1080, credentials: creds)
    }

    static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        var b = Array(s.utf8)[...]
        while let c = b.first {
            b = b.dropFirst()
            if c == UInt8(ascii: "%"), b.count >= 2, let v = UInt8(String(decoding: b.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                b = b.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { "\(host):\(port)" }
    /// Proxy-Authorization's value, if it has credentials.
    public var authorization: String? { credentials?.basicHeader }
}

public struct ProxySettings: Equatable, Sendable {
    public var http: ProxyURL?
    public var https: ProxyURL?
    /// NO_PROXY's entries: "*", a host or domain (".example.com" or "example.com": it and
    /// its subdomains), an address, each with an optional ":port".
    public var noProxy: [String] = []

    public init() {}

    /// From the environment's values (NAME=VALUE strings); errors name the variable.
    public init(env: [String]) throws {
        func get(_ k: String) -> String? {
            for name in [k.lowercased(), k] {
                if let v = env.last(where: { $0.hasPrefix(name + "=") })?.dropFirst(name.count + 1), !v.isEmpty { return String(v) }
            }
            return nil
        }
        http = try get("HTTP_PROXY").map { try ProxyURL.parse($0, name: "HTTP_PROXY") }
        https = try get("HTTPS_PROXY").map { try ProxyURL.parse($0, name: "HTTPS_PROXY") }
        noProxy = (get("NO_PROXY") ?? "").split(separator: ",").map { $0.trimmed.lowercased() }.filter { !$0.isEmpty }
    }

    /// The proxy for url (nil: straight there). The host's loopback is proxied too unless
    /// NO_PROXY names it, as curl does.
    public func proxy(for url: HTTPURL) -> ProxyURL? {
        guard let p = url.secure ? https : http else { return nil }
        let host = url.host.lowercased()
        for e in noProxy {
            if e == "*" { return nil }
            var name = Substring(e)
            if let c = name.lastIndex(of: ":"), !name.contains("["), let port = Int(name[name.index(after: c)...]) {
                guard port == url.port else { continue }
                name = name[..<c]
            }
            if name.hasPrefix(".") { name = name.dropFirst() }
            if host == name || host.hasSuffix("." + name) { return nil }
        }
        return p
    }
}
