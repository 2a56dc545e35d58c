// PURE: registry authentication pieces: WWW-Authenticate challenges (RFC 7235 as the
// distribution spec's token flow uses them), base64, credentials from the containers
// auth.json / docker config.json text, and the token server's answer.
import ImageFormat
import PureJSON

public struct AuthChallenge: Equatable, Sendable {
    public var scheme: String  // lower-cased: "bearer", "basic"
    public var params: [String: String]  // names lower-cased

    public init(scheme: String, params: [String: String]) {
        self.scheme = scheme
        self.params = params
    }

    /// All challenges in one header value: `Bearer realm="…",service="…",scope="…"`.
    /// Quoted strings may hold commas and escaped quotes.
    public static func parse(_ header: String) throws -> [AuthChallenge] {
        guard header.utf8.count <= 8192 else { throw WireError("WWW-Authenticate header over 8 KiB") }
        let b = Array(header.utf8)
        var i = 0
        var out: [AuthChallenge] = []
        func skipSpace() { while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 44 { i += 1 } }
        func token() -> String {
            let s = i
            while i < b.count, b[i] != 32, b[i] != 9, b[i] != 44, b[i] != 61 { i += 1 }
            return String(decoding: b[s..<i], as: UTF8.self)
        }
        skipSpace()
        while i < b.count {
            let scheme = token().lowercased()
            guard !scheme.isEmpty else { throw WireError("bad WWW-Authenticate \"\(header.prefix(120))\"") }
            var params: [String: String] = [:]
            while true {
                // A parameter is NAME=VALUE; a bare token after a comma starts the next challenge.
                while i < b.count, b[i] == 32 || b[i] == 9 { i += 1 }
                let save = i
                while i < b.count, b[i] == 44 || b[i] == 32 { i += 1 }
                let name = token()
                while i < b.count, b[i] == 32 { i += 1 }
                guard !name.isEmpty, i < b.count, b[i] == 61 else { i = save; break }
                i += 1
                while i < b.count, b[i] == 32 { i += 1 }
                var value: [UInt8] = []
                if i < b.count, b[i] == 34 {
                    i += 1
                    var closed = false
                    while i < b.count {
                        if b[i] == 92, i + 1 < b.count { value.append(b[i + 1]); i += 2; continue }
                        if b[i] == 34 { closed = true; i += 1; break }
                        value.append(b[i]); i += 1
                    }
                    guard closed else { throw WireError("unterminated quoted value in WWW-Authenticate") }
                } else {
                    while i < b.count, b[i] != 44, b[i] != 32 { value.append(b[i]); i += 1 }
                }
                params[name.lowercased()] = String(decoding: value, as: UTF8.self)
            }
            out.append(AuthChallenge(scheme: scheme, params: params))
            skipSpace()
        }
        return out
    }
}

public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ s: String) -> String { encode(Array(s.utf8)) }
    public static func encode(_ b: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i < b.count {
            let n = min(3, b.count - i)
            let v = UInt32(b[i]) << 16 | (n > 1 ? UInt32(b[i + 1]) << 8 : 0) | (n > 2 ? UInt32(b[i + 2]) : 0)
            for k in 0..<4 { out.append(k <= n ? alphabet[Int((v >> (18 - 6 * UInt32(k))) & 63)] : 61) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Standard or URL alphabet, padding optional; nil on any other byte.
    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        var acc: UInt32 = 0, bits = 0
        for c in s.utf8 {
            let v: UInt32
            switch c {
            case 65...90: v = UInt32(c - 65)
            case 97...122: v = UInt32(c - 71)
            case 48...57: v = UInt32(c + 4)
            case 43, 45: v = 62
            case 47, 95: v = 63
            case 61, 10, 13: continue
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 { bits -= 8; out.append(UInt8((acc >> UInt32(bits)) & 255)) }
        }
        return out
    }
}

public struct Credentials: Equatable, Sendable {
    public var user: String
    public var password: String
    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
    /// "user:password" as given to --creds.
    public init?(pair: String) {
        guard let c = pair.firstIndex(of: ":"), c != pair.startIndex else { return nil }
        self.init(user: String(pair[..<c]), password: String(pair[pair.index(after: c)...]))
    }
    public var basicHeader: String { "Basic " + Base64.encode(user + ":" + password) }
}

public enum AuthFile {
    /// The docker credential helper for a registry: `credHelpers[registry]`, else
    /// `credsStore` (docker's order: a helper, where one is named, holds the credentials,
    /// not `auths`). Its name only ([A-Za-z0-9._-]: the program is
    /// docker-credential-NAME on PATH, never a path from the file); nil if none.
    public static func helper(_ text: [UInt8], registry: String) throws -> String? {
        let doc = try JSONParser.parse(text)
        var name: String?
        if case .object(let helpers)? = doc["credHelpers"] {
            let keys = registry == "docker.io" ? ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"] : [registry]
            name = helpers.last { keys.contains($0.0) }?.1.stringValue
        }
        if name == nil { name = doc["credsStore"]?.stringValue }
        guard let n = name, !n.isEmpty else { return nil }
        guard n.utf8.count <= 64, n.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
            throw WireError("the credential helper name \"\(n.prefix(64))\" is not a plain name")
        }
        return n
    }

    /// What a credential helper's `get` wrote: {"ServerURL", "Username", "Secret"}. An
    /// identity token (Username "<token>") is not a password: nil.
    public static func helperAnswer(_ text: [UInt8]) throws -> Credentials? {
        let doc = try JSONParser.parse(text)
        guard let u = doc["Username"]?.stringValue, let p = doc["Secret"]?.stringValue else {
            throw WireError("the helper's answer has no Username and Secret")
        }
        return u == "<token>" ? nil : Credentials(user: u, password: p)
    }

    /// What a helper is asked for: the server as docker names it.
    public static func helperServer(_ registry: String) -> String { registry == "docker.io" ? "https://index.docker.io/v1/" : registry }

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) }

    /// Credentials for a registry from auth.json/config.json text: `auths` keyed by host,
    /// by host/repository (longest match wins, as containers-auth.json(5) says), or by an
    /// old-style URL ("https://index.docker.io/v1/"). nil when none fits.
    /// (`credHelpers`/`credsStore`: `helper`, which the caller runs.)
    public static func credentials(_ text: [UInt8], registry: String, repository: String) throws -> Credentials? {
        let doc = try JSONParser.parse(text)
        guard case .object(let auths)? = doc["auths"] else { return nil }
        var keys = [registry + "/" + repository]
        var parts = repository.split(separator: "/").map(String.init)
        while parts.count > 1 { parts.removeLast(); keys.append(registry + "/" + parts.joined(separator: "/")) }
        keys.append(registry)
        if registry == "docker.io" { keys += ["index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"] }
        func normal(_ k: String) -> String {
            var s = Substring(k)
            for p in ["https://", "http://"] where s.hasPrefix(p) { s = s.dropFirst(p.count) }
            if s.hasSuffix("/v1/") { s = s.dropLast(4) } else if s.hasSuffix("/v2/") { s = s.dropLast(4) }
            return String(s)
        }
        for k in keys {
            guard let entry = auths.last(where: { $0.0 == k || normal($0.0) == normal(k) })?.1 else { continue }
            if let a = entry["auth"]?.stringValue, !a.isEmpty {
                guard let raw = Base64.decode(a), let c = Credentials(pair: String(decoding: raw, as: UTF8.self)) else {
                    throw WireError("the auth entry for \(k) is not base64 of user:password")
                }
                return c
            }
            if let u = entry["username"]?.stringValue, let p = entry["password"]?.stringValue { return Credentials(user: u, password: p) }
        }
        return nil
    }
}

public enum TokenResponse {
    /// The bearer token from a token server's JSON (`token`, or OAuth2's `access_token`).
    public static func token(_ bytes: [UInt8]) throws -> String {
        let doc = try JSONParser.parse(bytes)
        guard let t = doc["token"]?.stringValue ?? doc["access_token"]?.stringValue, !t.isEmpty else {
            throw WireError("the token server's answer has no token")
        }
        // It goes into a header line: visible ASCII only (no CR/LF smuggling a header in).
        guard t.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else { throw WireError("the token server's token holds characters a header cannot carry") }
        return t
    }
}
