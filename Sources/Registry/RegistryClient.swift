import RootlessOS
import Images
import Glibc
import ImageFormat
import PureJSON
import RegistryWire

/// The OCI distribution API for one repository: scheme choice, authentication (bearer
/// tokens from the WWW-Authenticate challenge, or basic), redirects, error documents.
/// Shared by the download threads: the scheme and the Authorization value sit behind a
/// lock; each thread brings its own HTTPClient (connections are per thread).
final class RegistryClient {
    let ref: ImageReference
    let host: String  // where the API lives (docker.io → registry-1.docker.io)
    let plainAllowed: Bool  // loopback, or --tls-verify=false (tls.verify off)
    let creds: Credentials?
    let tls: TLSPolicy
    private var lock = pthread_mutex_t()
    private var secure = true
    private var authorization: String?

    init(ref: ImageReference, creds: Credentials?, tls: TLSPolicy) {
        self.ref = ref
        host = ref.registry == "docker.io" ? "registry-1.docker.io" : ref.registry
        self.creds = creds
        self.tls = tls
        // Plain HTTP: when asked for, or to a loopback registry reached directly — never
        // through a proxy, which could fail TLS on purpose to see the credentials in clear.
        plainAllowed = !tls.verify || (Self.isLoopback(host) && Self.direct(host, tls))
        pthread_mutex_init(&lock, nil)
    }

    /// Whether plain HTTP to authority would go straight there (no proxy).
    static func direct(_ authority: String, _ tls: TLSPolicy) -> Bool {
        guard let u = try? HTTPURL.parse("http://" + authority + "/") else { return false }
        return tls.proxy.proxy(for: u) == nil
    }

    static func isLoopback(_ authority: String) -> Bool {
        var h = Substring(authority)
        if h.hasPrefix("[") { h = h.dropFirst().prefix { $0 != "]" } } else if let c = h.lastIndex(of: ":") { h = h[..<c] }
        return h == "localhost" || h.hasPrefix("127.") || h == "::1"
    }

    private func locked<T>(_ f: () -> T) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return f()
    }

    func url(_ path: String) throws -> HTTPURL {
        let s = locked { secure }
        return try HTTPURL.parse((s ? "https://" : "http://") + host + "/v2/" + ref.repository + path)
    }

    /// GET on the repository's API path (e.g. "/manifests/latest"), following redirects
    /// and answering one auth challenge. The returned response is a 2xx; its body unread.
    func get(_ path: String, headers extra: [(String, String)] = [], client: HTTPClient) throws -> HTTPClient.Response {
        var challenged = false
        while true {
            var u = try url(path)
            var headers = extra
            if let a = locked({ authorization }) { headers.append(("Authorization", a)) }
            var r: HTTPClient.Response
            do {
                r = try client.send("GET", u, headers: headers)
            } catch HTTPError.tls where plainAllowed && u.secure {
                // A loopback or insecure registry that speaks plain HTTP: use it so from now
                // on. An untrusted certificate is not a reason: that stays an error.
                locked { secure = false }
                continue
            }
            // Redirects (blob storage elsewhere): the registry's credentials stay behind.
            var hops = 0
            while [301, 302, 303, 307, 308].contains(r.head.status) {
                hops += 1
                guard hops <= 5, let loc = r.head.header("location") else {
                    throw RootlessError("\(ref.registry): too many redirects (or one without a Location) for \(path)")
                }
                client.discard(r)
                let next = try wrapWire { try u.resolving(loc) }
                var h = extra
                if next.authority == u.authority, next.secure == u.secure, let a = locked({ authorization }) { h.append(("Authorization", a)) }
                u = next
                r = try client.send("GET", u, headers: h)
            }
            if r.head.status == 401 && !challenged {
                challenged = true
                let header = r.head.all("www-authenticate").joined(separator: ", ")
                _ = try? client.readAll(r, limit: 1 << 20)
                try authenticate(header, client: client)
                continue
            }
            guard (200..<300).contains(r.head.status) else { throw try failure(r, path: path, client: client) }
            return r
        }
    }

    /// Answers a challenge: a bearer token from the realm (with basic credentials if we
    /// have them), or basic credentials directly.
    func authenticate(_ header: String, client: HTTPClient) throws {
        let challenges = (try? AuthChallenge.parse(header)) ?? []
        if let b = challenges.first(where: { $0.scheme == "bearer" }), let realm = b.params["realm"] {
            var q: [String] = []
            if let s = b.params["service"] { q.append("service=" + percentEncode(s)) }
            q.append("scope=" + percentEncode(b.params["scope"] ?? "repository:\(ref.repository):pull"))
            let u = try wrapWire { try HTTPURL.parse(realm + (realm.contains("?") ? "&" : "?") + q.joined(separator: "&")) }
            guard u.secure || plainAllowed || (Self.isLoopback(u.authority) && Self.direct(u.authority, tls)) else {
                throw RootlessError(
                    "\(ref.registry) sends its token requests to plain-HTTP \(u.authority)",
                    fix: "refusing to send credentials in clear text; pass --tls-verify=false only if you trust the network")
            }
            var h: [(String, String)] = []
            if let c = creds { h.append(("Authorization", c.basicHeader)) }
            let r = try client.send("GET", u, headers: h)
            let body = try client.readAll(r, limit: 1 << 20)
            guard r.head.status == 200 else {
                throw RootlessError(
                    "the token server \(u.authority) refused access to \(ref.repository) (HTTP \(r.head.status)): \(Self.errorText(body))",
                    fix: creds == nil
                        ? "log in: put credentials in ~/.config/containers/auth.json (podman login does) or pass --creds USER:PASS"
                        : "check the credentials for \(ref.registry)")
            }
            let token = try wrapWire { try TokenResponse.token(body) }
            locked { authorization = "Bearer " + token }
        } else if challenges.contains(where: { $0.scheme == "basic" }) {
            guard let c = creds else {
                throw RootlessError(
                    "\(ref.registry) needs credentials", fix: "put them in ~/.config/containers/auth.json (podman login writes it) or pass --creds USER:PASS")
            }
            locked { authorization = c.basicHeader }
        } else {
            throw RootlessError("\(ref.registry) answered 401 with no challenge we understand: \"\(header.prefix(200))\"")
        }
    }

    /// The registry's error document, turned into what happened and what to do.
    func failure(_ r: HTTPClient.Response, path: String, client: HTTPClient) throws -> RootlessError {
        let body = (try? client.readAll(r, limit: 1 << 20)) ?? []
        let text = Self.errorText(body)
        switch r.head.status {
        case 401:
            return RootlessError(
                "\(ref.registry) rejected our credentials for \(ref.repository): \(text)",
                fix: creds == nil
                    ? "log in: ~/.config/containers/auth.json (podman login) or --creds USER:PASS" : "check the user and password for \(ref.registry)")
        case 403: return RootlessError("\(ref.registry) denies access to \(ref.repository): \(text)")
        case 404 where path.hasPrefix("/manifests/"):
            return RootlessError("\(ref) not found: \(text)", fix: "check the name and tag (rootless pull NAME:TAG)")
        case 429: return RootlessError("\(ref.registry) is rate-limiting us (HTTP 429): \(text)", fix: "wait and pull again, or log in for a higher limit")
        default: return RootlessError("\(ref.registry) answered HTTP \(r.head.status) for \(path): \(text)")
        }
    }

    static func errorText(_ body: [UInt8]) -> String {
        if let doc = try? JSONParser.parse(body), let errs = doc["errors"]?.arrayValue, let e = errs.first {
            return [e["code"]?.stringValue, e["message"]?.stringValue].compactMap { $0 }.joined(separator: ": ")
        }
        let s = String(decoding: body.prefix(200), as: UTF8.self).filter { $0 != "\n" && $0 != "\r" }
        return s.isEmpty ? "no details" : s
    }

    func wrapWire<T>(_ f: () throws -> T) throws -> T {
        do { return try f() } catch let e as WireError { throw RootlessError("\(ref.registry): \(e.description)") }
    }
}
