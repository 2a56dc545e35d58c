import ImageFormat
import RegistryWire
import XCTest

/// The registry client's parsers: URLs, response heads, chunked bodies, auth challenges,
/// base64, auth files, token answers. All take the network's bytes, so all are fuzzed.
final class RegistryWireTests: XCTestCase {
    func testURLs() throws {
        let u = try HTTPURL.parse("https://auth.docker.io/token?service=registry.docker.io&scope=repository:library/alpine:pull")
        XCTAssertEqual(u.host, "auth.docker.io")
        XCTAssertEqual(u.port, 443)
        XCTAssertTrue(u.secure)
        XCTAssertEqual(u.target, "/token?service=registry.docker.io&scope=repository:library/alpine:pull")
        XCTAssertEqual(u.authority, "auth.docker.io")
        let p = try HTTPURL.parse("http://127.0.0.1:5000")
        XCTAssertEqual(p.target, "/")
        XCTAssertEqual(p.authority, "127.0.0.1:5000")
        let v6 = try HTTPURL.parse("http://[::1]:5000/v2/")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.authority, "[::1]:5000")
        XCTAssertEqual(try u.resolving("/v2/x").description, "https://auth.docker.io/v2/x")
        XCTAssertEqual(try u.resolving("https://cdn.example/blob?sig=1").host, "cdn.example")
        XCTAssertEqual(try p.resolving("//other:81/y").description, "http://other:81/y")
        XCTAssertEqual(try HTTPURL.parse("https://user:pw@host/x").host, "host", "userinfo is dropped")
        for bad in ["ftp://x/", "https://", "http://h:99999/", "http://h:x/", "https://a b/", "relative", "http://h/x\r\nInjected: 1"] {
            XCTAssertThrowsError(try HTTPURL.parse(bad), bad)
        }
        XCTAssertThrowsError(try u.resolving("relative/path"))
        XCTAssertEqual(percentEncode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull")
    }

    func testResponseHeadsAndFraming() throws {
        let text =
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nWWW-Authenticate: Bearer realm=\"https://a/token\"\r\nContent-Length:  12 \r\nConnection: close\r\n\r\nbody"
        let b = Array(text.utf8)
        let end = try b.withUnsafeBytes { try HTTPHead.end(in: $0) }
        XCTAssertEqual(end, text.utf8.count - 4)
        let h = try HTTPHead.parse(Array(b[0..<end!]))
        XCTAssertEqual(h.status, 401)
        XCTAssertEqual(h.reason, "Unauthorized")
        XCTAssertEqual(h.header("content-length"), "12")
        XCTAssertEqual(h.header("www-authenticate"), "Bearer realm=\"https://a/token\"")
        XCTAssertEqual(try h.framing(request: "GET"), .length(12))
        XCTAssertEqual(try h.framing(request: "HEAD"), HTTPHead.Framing.none)
        XCTAssertFalse(h.keepAlive)
        XCTAssertNil(try Array("HTTP/1.1 200 OK\r\nA: b\r\n".utf8).withUnsafeBytes { try HTTPHead.end(in: $0) }, "not complete yet")
        let chunked = try HTTPHead.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".utf8))
        XCTAssertEqual(try chunked.framing(request: "GET"), .chunked)
        XCTAssertEqual(try HTTPHead.parse(Array("HTTP/1.0 200 OK\r\n\r\n".utf8)).framing(request: "GET"), .close)
        for bad in [
            "HTTP/2 200\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "SSH-2.0\r\n\r\n",
        ] {
            XCTAssertThrowsError(try HTTPHead.parse(Array(bad.utf8)), bad)
        }
        XCTAssertThrowsError(try HTTPHead.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".utf8)).framing(request: "GET"))
        XCTAssertThrowsError(try HTTPHead.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n".utf8)).framing(request: "GET"))
        let huge = [UInt8](repeating: 65, count: HTTPHead.maxSize + 1)
        XCTAssertThrowsError(try huge.withUnsafeBytes { try HTTPHead.end(in: $0) })
    }

    func decodeChunked(_ s: [UInt8], pieces: Int) throws -> ([UInt8], Int) {
        var d = ChunkedDecoder()
        var out: [UInt8] = []
        var i = 0
        let step = max(1, s.count / pieces)
        while i < s.count && !d.done {
            let part = Array(s[i..<min(s.count, i + step)])
            let used = try part.withUnsafeBytes { p in try d.feed(p) { off, n in out += p[off..<(off + n)] } }
            i += used
            if used < part.count { break }
        }
        XCTAssertTrue(d.done)
        return (out, i)
    }

    func testChunkedBodiesInAnySplit() throws {
        let body = Array("4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT".utf8)
        for pieces in [1, 2, 3, 7, body.count] {
            let (out, used) = try decodeChunked(body, pieces: pieces)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "Wikipedia in\r\n\r\nchunks.", "split in \(pieces)")
            XCTAssertEqual(used, body.count - 4, "stops before the next response")
        }
        for bad in ["x\r\n", "4\r\nWikiXX", "4\n", "ffffffffffffffff\r\n"] {
            var d = ChunkedDecoder()
            XCTAssertThrowsError(try Array(bad.utf8).withUnsafeBytes { try d.feed($0) { _, _ in } }, bad)
        }
    }

    func testAuthChallenges() throws {
        let c = try AuthChallenge.parse(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#)
        XCTAssertEqual(
            c,
            [
                AuthChallenge(
                    scheme: "bearer",
                    params: ["realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:samalba/my-app:pull,push"])
            ])
        let two = try AuthChallenge.parse(#"Basic realm="a \"quoted\" realm", Bearer realm="https://t/", service=reg"#)
        XCTAssertEqual(two.map(\.scheme), ["basic", "bearer"])
        XCTAssertEqual(two[0].params["realm"], #"a "quoted" realm"#)
        XCTAssertEqual(two[1].params["service"], "reg")
        XCTAssertEqual(try AuthChallenge.parse("Basic").first?.scheme, "basic")
        XCTAssertThrowsError(try AuthChallenge.parse(#"Bearer realm="unterminated"#))
    }

    func testBase64AndCredentials() throws {
        XCTAssertEqual(Base64.encode("alice:s3cret"), "YWxpY2U6czNjcmV0")
        XCTAssertEqual(Base64.encode("a"), "YQ==")
        XCTAssertEqual(Base64.encode("ab"), "YWI=")
        XCTAssertEqual(Base64.decode("YWxpY2U6czNjcmV0").map { String(decoding: $0, as: UTF8.self) }, "alice:s3cret")
        XCTAssertEqual(Base64.decode("YQ").map { String(decoding: $0, as: UTF8.self) }, "a", "unpadded")
        XCTAssertNil(Base64.decode("YQ*="))
        XCTAssertEqual(Credentials(pair: "u:p:q"), Credentials(user: "u", password: "p:q"))
        XCTAssertNil(Credentials(pair: ":p"))
        XCTAssertEqual(Credentials(user: "alice", password: "s3cret").basicHeader, "Basic YWxpY2U6czNjcmV0")
    }

    func testAuthFiles() throws {
        let podman = Array(#"{"auths":{"localhost:5000":{"auth":"YWxpY2U6czNjcmV0"},"quay.io/team":{"auth":"dGVhbTp0"},"quay.io":{"auth":"YW55OmE="}}}"#.utf8)
        XCTAssertEqual(try AuthFile.credentials(podman, registry: "localhost:5000", repository: "x/y"), Credentials(user: "alice", password: "s3cret"))
        XCTAssertEqual(
            try AuthFile.credentials(podman, registry: "quay.io", repository: "team/app"), Credentials(user: "team", password: "t"), "the longest match wins")
        XCTAssertEqual(try AuthFile.credentials(podman, registry: "quay.io", repository: "other/app"), Credentials(user: "any", password: "a"))
        XCTAssertNil(try AuthFile.credentials(podman, registry: "ghcr.io", repository: "x"))
        let docker = Array(#"{"auths":{"https://index.docker.io/v1/":{"auth":"ZDpw"}},"credsStore":"desktop"}"#.utf8)
        XCTAssertEqual(try AuthFile.credentials(docker, registry: "docker.io", repository: "library/alpine"), Credentials(user: "d", password: "p"))
        let plain = Array(#"{"auths":{"r.example":{"username":"u","password":"p"}}}"#.utf8)
        XCTAssertEqual(try AuthFile.credentials(plain, registry: "r.example", repository: "x"), Credentials(user: "u", password: "p"))
        XCTAssertThrowsError(
            try AuthFile.credentials(Array(#"{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}"#.utf8), registry: "r", repository: "x"), "base64 without a colon")
        XCTAssertEqual(try TokenResponse.token(Array(#"{"token":"abc","expires_in":300}"#.utf8)), "abc")
        XCTAssertEqual(try TokenResponse.token(Array(#"{"access_token":"xyz"}"#.utf8)), "xyz")
        XCTAssertThrowsError(try TokenResponse.token(Array(#"{"token":"a\r\nInjected: 1"}"#.utf8)), "no header injection through a token")
        XCTAssertThrowsError(try TokenResponse.token(Array(#"{}"#.utf8)))
    }

    func testFuzzedWireInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
            "5\r\nhello\r\n0\r\nA: b\r\n\r\n",
            #"Bearer realm="https://a/t",service="s",scope="repository:a:pull", Basic realm="x""#,
            "https://[::1]:5000/v2/a/b/manifests/latest?x=1#f",
            #"{"auths":{"h":{"auth":"YTpi","username":"u"}},"token":"t"}"#,
        ].map { Array($0.utf8) }
        for _ in 0..<20000 {
            var b = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: b.remove(at: i)
                default: b.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
                if b.isEmpty { b = [0] }
            }
            _ = try? HTTPHead.parse(b)
            _ = try? HTTPHead.parse(b).framing(request: "GET")
            _ = try? b.withUnsafeBytes { try HTTPHead.end(in: $0) }
            var d = ChunkedDecoder()
            _ = try? b.withUnsafeBytes { try d.feed($0) { off, n in precondition(off >= 0 && n >= 0 && off + n <= b.count) } }
            let s = String(decoding: b, as: UTF8.self)
            _ = try? AuthChallenge.parse(s)
            _ = try? HTTPURL.parse(s)
            _ = Base64.decode(s)
            _ = try? AuthFile.credentials(b, registry: "h", repository: "a/b")
            _ = try? TokenResponse.token(b)
        }
    }

    /// HTTPS_PROXY/HTTP_PROXY/NO_PROXY as curl reads them: lowercase first, credentials from
    /// the URL (percent-decoded), NO_PROXY's hosts, domains, ports and "*".
    func testProxySettingsFromTheEnvironment() throws {
        let p = try ProxySettings(env: [
            "HTTPS_PROXY=http://ignored:1", "https_proxy=http://al%40ice:p%3Aw@proxy.corp:3128/", "HTTP_PROXY=proxy.corp",
            "NO_PROXY=.internal, registry.local:5000,10.0.0.9",
        ])
        let https = try HTTPURL.parse("https://ghcr.io/v2/")
        XCTAssertEqual(p.proxy(for: https), ProxyURL(host: "proxy.corp", port: 3128, credentials: Credentials(user: "al@ice", password: "p:w")))
        XCTAssertEqual(p.proxy(for: try HTTPURL.parse("http://127.0.0.1:5000/v2/"))?.port, 1080, "loopback too (curl's way); no port: 1080")
        XCTAssertNil(p.proxy(for: try HTTPURL.parse("https://reg.internal/v2/")))
        XCTAssertNil(p.proxy(for: try HTTPURL.parse("https://internal/v2/")))
        XCTAssertNil(p.proxy(for: try HTTPURL.parse("http://registry.local:5000/v2/")))
        XCTAssertNotNil(p.proxy(for: try HTTPURL.parse("http://registry.local:5001/v2/")), "another port")
        XCTAssertNil(p.proxy(for: try HTTPURL.parse("https://10.0.0.9/v2/")))
        XCTAssertNil(try ProxySettings(env: ["https_proxy=http://p:1", "no_proxy=*"]).proxy(for: https))
        XCTAssertNil(try ProxySettings(env: []).proxy(for: https))
        XCTAssertThrowsError(try ProxySettings(env: ["HTTPS_PROXY=socks5://p:1080"]))
        XCTAssertThrowsError(try ProxySettings(env: ["HTTPS_PROXY=http://p:1/x"]))
        XCTAssertEqual(ProxyURL(host: "p", port: 1, credentials: Credentials(user: "a", password: "b")).authorization, "Basic YTpi")
    }

    /// docker's credential helpers: credHelpers for the registry, else credsStore; a name,
    /// never a path; the helper's answer read as docker writes it.
    func testCredentialHelpersAreNamedNotPaths() throws {
        let doc = Array(#"{"auths":{"r.io":{"auth":"YTpi"}},"credHelpers":{"ghcr.io":"gh","index.docker.io":"desk"},"credsStore":"pass"}"#.utf8)
        XCTAssertEqual(try AuthFile.helper(doc, registry: "ghcr.io"), "gh")
        XCTAssertEqual(try AuthFile.helper(doc, registry: "docker.io"), "desk")
        XCTAssertEqual(try AuthFile.helper(doc, registry: "r.io"), "pass", "a store holds every registry's")
        XCTAssertNil(try AuthFile.helper(Array(#"{"auths":{}}"#.utf8), registry: "r.io"))
        XCTAssertThrowsError(try AuthFile.helper(Array(#"{"credsStore":"../../tmp/x"}"#.utf8), registry: "r.io"))
        XCTAssertEqual(try AuthFile.helperAnswer(Array(#"{"ServerURL":"r.io","Username":"u","Secret":"s"}"#.utf8)), Credentials(user: "u", password: "s"))
        XCTAssertNil(try AuthFile.helperAnswer(Array(#"{"Username":"<token>","Secret":"t"}"#.utf8)))
        XCTAssertThrowsError(try AuthFile.helperAnswer(Array("not json".utf8)))
        XCTAssertEqual(AuthFile.helperServer("docker.io"), "https://index.docker.io/v1/")
    }

    /// registries.conf: aliases, the longest matching prefix, mirrors before the location,
    /// a relocated repository, a blocked prefix; errors name the line; garbage never crashes.
    func testRegistriesConf() throws {
        let text = """
            unqualified-search-registries = ["docker.io", "quay.io"]  # not used by pulls here
            [aliases]
            "bb" = "example.test/test/bb"
            'tool' = "quay.io/team/tool"

            [[registry]]
            prefix = "example.test"
            location = "real.example:5000"
            [[registry.mirror]]
            location = "mirror.corp/cache"
            insecure = true
            [[registry.mirror]]
            location = "mirror2.corp"

            [[registry]]
            prefix = "example.test/secret"
            blocked = true

            [[registry]]
            location = "quay.io"
            """
        let c = try RegistriesConf.parse(Array(text.utf8), name: "r.conf")
        XCTAssertEqual(c.alias("bb"), "example.test/test/bb")
        XCTAssertEqual(c.alias("tool"), "quay.io/team/tool")
        XCTAssertEqual(c.expand("bb:v1"), "example.test/test/bb:v1")
        XCTAssertEqual(c.expand("tool@sha256:00"), "quay.io/team/tool@sha256:00")
        XCTAssertEqual(c.expand("other:v1"), "other:v1")
        XCTAssertEqual(c.expand("reg.io/bb:v1"), "reg.io/bb:v1", "a name with its registry is never an alias")
        let ref = try ImageReference.parse("example.test/test/bb:v1")
        let src = try c.sources(ref)
        XCTAssertEqual(src.map { $0.0.description }, ["mirror.corp/cache/test/bb:v1", "mirror2.corp/test/bb:v1", "real.example:5000/test/bb:v1"])
        XCTAssertEqual(src.map(\.insecure), [true, false, false])
        XCTAssertThrowsError(try c.sources(try ImageReference.parse("example.test/secret/x:1")))
        XCTAssertEqual(try c.sources(try ImageReference.parse("quay.io/a/b:1")).map { $0.0.description }, ["quay.io/a/b:1"])
        XCTAssertEqual(try c.sources(try ImageReference.parse("other.io/a:1")).count, 1, "no entry: as asked")
        XCTAssertFalse(RegistriesConf.matches("example.test", "example.testing/x"), "a prefix ends at a /")
        XCTAssertTrue(RegistriesConf.matches("example.test/", "example.test/x"))
        XCTAssertTrue(RegistriesConf.matches("*.corp.example", "reg.corp.example/a/b"))
        XCTAssertFalse(RegistriesConf.matches("*.corp.example", "corp.example.evil/a"))
        // Digest-only mirrors serve no tag pull; a wildcard's block holds.
        let strict = try RegistriesConf.parse(
            Array(
                """
                [[registry]]
                prefix = "q.io"
                [[registry.mirror]]
                location = "m1.corp"
                pull-from-mirror = "digest-only"
                [[registry.mirror]]
                location = "m2.corp"
                [[registry]]
                prefix = "*.bad.example"
                blocked = true
                """.utf8), name: "s.conf")
        XCTAssertEqual(try strict.sources(try ImageReference.parse("q.io/a:1")).map { $0.0.registry }, ["m2.corp", "q.io"])
        let pinned = try ImageReference.parse("q.io/a@sha256:" + String(repeating: "ab", count: 32))
        XCTAssertEqual(try strict.sources(pinned).map { $0.0.registry }, ["m1.corp", "m2.corp", "q.io"])
        XCTAssertThrowsError(try strict.sources(try ImageReference.parse("x.bad.example/a:1")))
        // What podman's files hold beyond our keys does no harm: multi-line arrays, numbers.
        let wide = try RegistriesConf.parse(
            Array(
                "unqualified-search-registries = [\n  \"docker.io\",\n  \"quay.io\", # c\n]\nshort-name-mode = \"enforcing\"\nretries = 3\n[aliases]\n  \"a\" = \"q.io/a\"\n"
                    .utf8), name: "w")
        XCTAssertEqual(wide.alias("a"), "q.io/a")
        for (bad, line) in [
            ("[[registry]\n", 1), ("[aliases]\n\"a\" = \"b\n", 2), ("[[registry]]\nprefix = 1\n", 2), ("[[registry.mirror]]\n", 1), ("x = [\n\"a\"\n", 1),
        ] {
            XCTAssertThrowsError(try RegistriesConf.parse(Array(bad.utf8), name: "f")) { XCTAssertTrue("\($0)".contains("f line \(line)"), "\($0)") }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var b = Array(text.utf8)
            for _ in 0..<8 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try? RegistriesConf.parse(b, name: "fuzz")
        }
        XCTAssertTrue(ImageReference.namesRegistry("localhost/x"))
        XCTAssertFalse(ImageReference.namesRegistry("library/alpine"))
    }
}
