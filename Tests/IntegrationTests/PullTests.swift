import Foundation
import XCTest

/// `rootless pull` against real registries as the unprivileged user: Debian's
/// docker-registry on loopback (plain HTTP; TLS with a private CA and htpasswd; token
/// auth with a small token server), images pushed by the real skopeo from OCI layouts
/// built here (ImageTests.helpers): OCI and Docker schema-2 manifests, gzip and zstd
/// layers, a multi-arch index, concurrent pulls, a pull killed mid-download.
final class PullTests: XCTestCase {
    var h: Harness!
    var servers: [Process] = []
    var store: String { h.scratch.appendingPathComponent("store").path }
    var fixtures: String { ProcessInfo.processInfo.environment["ROOTLESS_FIXTURES"] ?? "" }

    override func setUpWithError() throws {
        h = try Harness.make(role: "subids")
        for tool in ["/usr/bin/docker-registry", "/usr/bin/skopeo"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIP: \(tool) is not installed (scripts/setup installs it)")
        }
        guard FileManager.default.fileExists(atPath: fixtures + "/token-server.py") else {
            throw XCTSkip("SKIP: ROOTLESS_FIXTURES not set (scripts/test stages them)")
        }
    }

    override func tearDown() {
        for p in servers where p.isRunning { p.terminate(); p.waitUntilExit() }
        if let h { _ = try? h.run(["unshare", "--root", store, "--", "rm", "-rf", store]) }
        h?.cleanup()
    }

    /// The image helpers (layout, multi) then script, in the scratch dir; it must succeed.
    func sh(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, err) = try h.shell(ImageTests.helpers + "\n" + script)
        XCTAssertEqual(status, 0, "helper script failed: \(err)", file: file, line: line)
    }

    func rl(_ args: [String]) throws -> Harness.Result { try h.run([args[0], "--root", store] + args.dropFirst()) }

    static func freePort() -> Int {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var a = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(s, $0, len) } }
        withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(s, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// Waits (polling, up to 20 s) until something accepts connections on the port.
    static func waitListening(_ port: Int) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in(
                sin_family: sa_family_t(AF_INET), sin_port: UInt16(port).bigEndian, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
                sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            let ok =
                withUnsafeMutablePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                } == 0
            close(s)
            if ok { return true }
            poll(nil, 0, 20)
        }
        return false
    }

    /// docker-registry on 127.0.0.1 with the shared storage and `extra` config; its port.
    func registry(_ extra: String = "") throws -> Int {
        let port = Self.freePort()
        servers.append(try Self.startRegistry(in: h.scratch.path, port: port, extra))
        return port
    }

    /// docker-registry on 127.0.0.1:port, storing under dir/registry-data, once it listens.
    static func startRegistry(in dir: String, port: Int, _ extra: String = "") throws -> Process {
        let cfg = "\(dir)/registry-\(port).yml"
        try """
        version: 0.1
        log:
          level: error
        storage:
          filesystem:
            rootdirectory: \(dir)/registry-data
        http:
          addr: 127.0.0.1:\(port)
        \(extra)
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        p.arguments = ["serve", cfg]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        XCTAssertTrue(waitListening(port), "docker-registry did not start on \(port)")
        return p
    }

    /// A fixture script that prints its port when listening.
    func helper(_ script: String, _ args: [String]) throws -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [fixtures + "/" + script] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        servers.append(p)
        let r = Harness.Running(p, out.fileHandleForReading.fileDescriptor)
        guard let line = r.read(until: "\n", timeout: 20), let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw XCTSkip("SKIP: \(script) did not start (python3 with cryptography is needed: scripts/setup installs python3-cryptography)")
        }
        return port
    }

    /// The base image (busybox, whiteouts in a second layer) pushed as `test/bb:TAG`.
    func push(_ port: Int, tag: String = "v1", skopeoArgs: String = "", layout: String = "oci") throws {
        let s = h.scratch.path
        try sh(
            """
            [ -d \(s)/oci ] || {
              mkdir -p \(s)/l1/bin \(s)/l1/etc \(s)/l1/opt/old \(s)/l1/work \(s)/l2/etc \(s)/l2/opt \(s)/l2/work
              cp /bin/busybox \(s)/l1/bin/busybox; ln -s busybox \(s)/l1/bin/sh
              echo gone > \(s)/l1/etc/victim; echo kept > \(s)/l1/opt/old/file; echo base > \(s)/l1/etc/base
              : > \(s)/l2/etc/.wh.victim; : > \(s)/l2/opt/.wh..wh..opq; echo new > \(s)/l2/opt/fresh; echo top > \(s)/l2/work/new
              layout \(s)/oci v1 \(s)/l1 \(s)/l2
              COMP=zstd layout \(s)/oci-zstd v1 \(s)/l1 \(s)/l2
            }
            skopeo --insecure-policy copy -q --dest-tls-verify=false \(skopeoArgs) oci:\(s)/\(layout):v1 docker://127.0.0.1:\(port)/test/bb:\(tag)
            """)
    }

    func assertBaseImage(_ name: String, driver: String = "auto", file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try h.run([
            "run", "--root", store, "--storage-driver", driver, name, "--", "/bin/sh", "-c",
            "echo victim=$(ls /etc/victim 2>&1 | grep -c 'No such'); echo opt=$(ls /opt | tr '\\n' ' '); echo new=$(cat /work/new); echo foo=$FOO; echo pwd=$(pwd)",
        ])
        XCTAssertEqual(r.status, 0, r.err, file: file, line: line)
        XCTAssertEqual(r["victim"], "1", "the whiteout hid /etc/victim", file: file, line: line)
        XCTAssertEqual(r["opt"], "fresh", "the opaque dir hid /opt/old", file: file, line: line)
        XCTAssertEqual(r["new"], "top", file: file, line: line)
        XCTAssertEqual(r["foo"], "bar", "the image's Env", file: file, line: line)
        XCTAssertEqual(r["pwd"], "/work", "the image's WorkingDir", file: file, line: line)
    }

    func testPullOCIDockerSchema2AndZstdThenRunWithEachDriver() throws {
        let port = try registry()
        try push(port)
        try push(port, tag: "v2s2", skopeoArgs: "--format v2s2")
        try push(port, tag: "zstd", layout: "oci-zstd")
        let p = try rl(["pull", "127.0.0.1:\(port)/test/bb:v1"])
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertTrue(p.out.hasPrefix("sha256:"), p.out)
        XCTAssertTrue(p.err.contains("Copied blob"), "plain progress lines off a terminal: \(p.err)")
        for driver in ["overlay", "fuse-overlayfs", "copy"] { try assertBaseImage("127.0.0.1:\(port)/test/bb:v1", driver: driver) }
        XCTAssertFalse(
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).contains { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("fuse-overlayfs") == true
            }, "the fuse-overlayfs daemon ends with its sandbox")
        // auto: probed once per store and kernel, and it says what it chose.
        let auto = try h.run(["run", "--root", store, "127.0.0.1:\(port)/test/bb:v1", "--", "/bin/busybox", "true"])
        XCTAssertTrue(auto.err.contains("storage driver: auto chose "), auto.err)
        XCTAssertFalse(
            try h.run(["run", "--root", store, "127.0.0.1:\(port)/test/bb:v1", "--", "/bin/busybox", "true"]).err.contains("auto chose"), "said once")
        // Docker schema 2: same layers, so nothing is fetched again but the manifest.
        let d = try rl(["pull", "127.0.0.1:\(port)/test/bb:v2s2"])
        XCTAssertEqual(d.status, 0, d.err)
        XCTAssertFalse(d.err.contains("Copied blob"), "layers already unpacked are skipped: \(d.err)")
        XCTAssertTrue(try rl(["inspect", "127.0.0.1:\(port)/test/bb:v2s2"]).out.contains("application/vnd.docker.distribution.manifest.v2+json"))
        try assertBaseImage("127.0.0.1:\(port)/test/bb:v2s2")
        // zstd layers: new blobs, the same diff-ids, so the unpacked layers are shared.
        let z = try rl(["pull", "127.0.0.1:\(port)/test/bb:zstd"])
        XCTAssertEqual(z.status, 0, z.err)
        XCTAssertTrue(try rl(["inspect", "127.0.0.1:\(port)/test/bb:zstd"]).out.contains("tar+zstd"), "the pushed layers are zstd")
        try assertBaseImage("127.0.0.1:\(port)/test/bb:zstd")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers").count, 2)
        // Unknown tags and dead registries: the cause and the fix.
        let missing = try rl(["pull", "127.0.0.1:\(port)/test/bb:nope"])
        XCTAssertEqual(missing.status, 125)
        XCTAssertTrue(missing.err.contains("not found") && missing.err.contains("MANIFEST_UNKNOWN"), missing.err)
        let dead = try rl(["pull", "127.0.0.1:\(Self.freePort())/test/bb:v1"])
        XCTAssertTrue(dead.err.contains("cannot connect") && dead.err.contains("Connection refused"), dead.err)
    }

    func testMultiArchIndexSelectsThePlatform() throws {
        let port = try registry()
        let s = h.scratch.path
        try sh(
            """
            mkdir -p \(s)/amd/bin \(s)/arm/bin
            cp /bin/busybox \(s)/amd/bin/busybox; echo amd64 > \(s)/amd/arch
            cp /bin/busybox \(s)/arm/bin/busybox; echo arm64 > \(s)/arm/arch
            multi \(s)/multi m \(s)/amd \(s)/arm
            skopeo --insecure-policy copy -q --all --dest-tls-verify=false oci:\(s)/multi:m docker://127.0.0.1:\(port)/test/multi:m
            """)
        let name = "127.0.0.1:\(port)/test/multi:m"
        XCTAssertEqual(try rl(["pull", name]).status, 0)
        XCTAssertEqual(try h.run(["run", "--root", store, name, "--", "/bin/busybox", "cat", "/arch"]).out, "amd64\n", "linux/amd64 by default")
        let arm = try rl(["pull", "--platform", "linux/arm64", name])
        XCTAssertEqual(arm.status, 0, arm.err)
        // The arm64 image's files (its busybox is this host's: only the file is looked at).
        XCTAssertEqual(
            try h.run(["run", "--root", store, name, "--", "/bin/busybox", "cat", "/arch"]).out, "arm64\n", "the name now points at the arm64 image")
        let none = try rl(["pull", "--platform", "linux/s390x", name])
        XCTAssertEqual(none.status, 125)
        XCTAssertTrue(none.err.contains("no image for linux/s390x") && none.err.contains("linux/arm64/v8"), none.err)
    }

    func testHtpasswdOverTLSWithAPrivateCA() throws {
        let s = h.scratch.path
        try sh(
            """
            cd \(s)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=rootless test CA" 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf
            openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext.cnf 2>/dev/null
            htpasswd -Bbc htpasswd alice s3cret 2>/dev/null
            mkdir -p certs; cp ca.crt certs/
            """)
        let plain = try registry()
        try push(plain)
        let port = try registry(
            """
              tls:
                certificate: \(s)/srv.crt
                key: \(s)/srv.key
            auth:
              htpasswd:
                realm: rootless-test
                path: \(s)/htpasswd
            """)
        let name = "localhost:\(port)/test/bb:v1"
        let untrusted = try rl(["pull", name])
        XCTAssertEqual(untrusted.status, 125)
        XCTAssertTrue(
            untrusted.err.contains("certificate verification failed") && untrusted.err.contains("certs.d"),
            "a private CA is not trusted by default, and never downgraded to HTTP: \(untrusted.err)")
        let anonymous = try rl(["pull", "--cert-dir", s + "/certs", name])
        XCTAssertTrue(anonymous.err.contains("needs credentials"), anonymous.err)
        let wrong = try rl(["pull", "--cert-dir", s + "/certs", "--creds", "alice:wrong", name])
        XCTAssertTrue(wrong.err.contains("rejected our credentials"), wrong.err)
        // Credentials from an auth.json (the containers format podman login writes).
        let auth = s + "/auth.json"
        try "{\"auths\":{\"localhost:\(port)\":{\"auth\":\"\(Data("alice:s3cret".utf8).base64EncodedString())\"}}}".write(
            toFile: auth, atomically: true, encoding: .utf8)
        let ok = try rl(["pull", "--cert-dir", s + "/certs", "--authfile", auth, name])
        XCTAssertEqual(ok.status, 0, ok.err)
        try assertBaseImage(name)
        // REGISTRY_AUTH_FILE and certs.d under XDG_CONFIG_HOME, as podman reads them.
        try FileManager.default.createDirectory(atPath: s + "/xdg/containers/certs.d/localhost:\(port)", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: s + "/ca.crt", toPath: s + "/xdg/containers/certs.d/localhost:\(port)/ca.crt")
        _ = try rl(["rmi", name]); _ = try rl(["gc"])
        let env = try h.run(["pull", "--root", store, name], env: ["REGISTRY_AUTH_FILE": auth, "XDG_CONFIG_HOME": s + "/xdg"])
        XCTAssertEqual(env.status, 0, env.err)
        // A docker credential helper named in the auth file: run as docker runs it (on PATH,
        // the server on stdin); the control: the same helper handing out a wrong password.
        let bin = s + "/helper-bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for (helper, password) in [("rltest", "s3cret"), ("rlwrong", "nope")] {
            let script =
                "#!/bin/sh\n[ \"$1\" = get ] && read server && [ \"$server\" = localhost:\(port) ] || exit 1\necho '{\"ServerURL\":\"'$server'\",\"Username\":\"alice\",\"Secret\":\"\(password)\"}'\n"
            try script.write(toFile: bin + "/docker-credential-" + helper, atomically: true, encoding: .utf8)
            chmod(bin + "/docker-credential-" + helper, 0o755)
        }
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        for (helper, works) in [("rltest", true), ("rlwrong", false)] {
            let helperAuth = s + "/helper-\(helper).json"
            try "{\"auths\":{},\"credHelpers\":{\"localhost:\(port)\":\"\(helper)\"}}".write(toFile: helperAuth, atomically: true, encoding: .utf8)
            _ = try rl(["rmi", name]); _ = try rl(["gc"])
            let viaHelper = try h.run(["pull", "--root", store, "--cert-dir", s + "/certs", "--authfile", helperAuth, name], env: ["PATH": path])
            if works {
                XCTAssertEqual(viaHelper.status, 0, viaHelper.err)
            } else {
                XCTAssertTrue(viaHelper.err.contains("rejected our credentials"), viaHelper.err)
            }
        }
        // HTTPS through a proxy: a CONNECT tunnel, TLS with the registry inside it.
        let (proxy, log) = try tinyproxy()
        _ = try rl(["rmi", name]); _ = try rl(["gc"])
        let tunnel = try h.run(
            ["pull", "--root", store, "--cert-dir", s + "/certs", "--authfile", auth, name], env: ["HTTPS_PROXY": "http://alice:s3cret@127.0.0.1:\(proxy)"])
        XCTAssertEqual(tunnel.status, 0, tunnel.err)
        XCTAssertTrue(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("CONNECT localhost:\(port)"), "through the proxy")
    }

    /// registries.conf (podman's file, here through CONTAINERS_REGISTRIES_CONF): a short
    /// name's alias, and a registry whose mirror serves it while its own location is down;
    /// the image is named as asked. The control: with the mirror down too the pull fails,
    /// having tried both; a blocked prefix is refused.
    func testRegistriesConfAliasesAndMirrors() throws {
        let port = try registry()
        try push(port)
        let dead = Self.freePort()
        let conf = h.scratch.path + "/registries.conf"
        func write(mirror: Int) throws {
            try """
            [aliases]
            "bbalias" = "example.test/test/bb"
            [[registry]]
            prefix = "example.test"
            location = "127.0.0.1:\(dead)"
            [[registry.mirror]]
            location = "127.0.0.1:\(mirror)"
            [[registry]]
            prefix = "blocked.test"
            blocked = true
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        }
        try write(mirror: port)
        let env = ["CONTAINERS_REGISTRIES_CONF": conf]
        let ok = try h.run(["pull", "--root", store, "bbalias:v1"], env: env)
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertTrue(try rl(["images"]).out.contains("example.test/test/bb:v1"))
        try assertBaseImage("example.test/test/bb:v1")
        // run takes the alias too (as typed: the image is stored under its target's name).
        let byAlias = try h.run(["run", "--root", store, "bbalias:v1", "--", "/bin/busybox", "echo", "alias-ok"], env: env)
        XCTAssertEqual(byAlias.out, "alias-ok\n", byAlias.err)
        try write(mirror: dead)
        _ = try rl(["rmi", "example.test/test/bb:v1"]); _ = try rl(["gc"])
        let down = try h.run(["pull", "--root", store, "example.test/test/bb:v1"], env: env)
        XCTAssertNotEqual(down.status, 0)
        XCTAssertTrue(down.err.contains("trying 127.0.0.1:\(dead)") && down.err.contains("port \(dead)"), down.err)
        let blocked = try h.run(["pull", "--root", store, "blocked.test/x:1"], env: env)
        XCTAssertEqual(blocked.status, 125)
        XCTAssertTrue(blocked.err.contains("blocked by registries.conf"), blocked.err)
    }

    /// tinyproxy on loopback, wanting alice:s3cret: its port and log file.
    func tinyproxy() throws -> (Int, String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tinyproxy") else {
            throw XCTSkip("SKIP: tinyproxy is not installed (scripts/setup installs it)")
        }
        let port = Self.freePort()
        let conf = h.scratch.path + "/tinyproxy-\(port).conf", log = h.scratch.path + "/tinyproxy-\(port).log"
        try "Port \(port)\nListen 127.0.0.1\nTimeout 60\nLogFile \"\(log)\"\nLogLevel Info\nMaxClients 20\nBasicAuth alice s3cret\n".write(
            toFile: conf, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tinyproxy")
        p.arguments = ["-d", "-c", conf]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        servers.append(p)
        XCTAssertTrue(Self.waitListening(port), "tinyproxy did not start on \(port)")
        return (port, log)
    }

    /// HTTP_PROXY: a plain-HTTP registry is reached through a real proxy (absolute-form
    /// requests with the proxy's credentials) when --tls-verify=false allows plain HTTP
    /// (loopback's exception holds only for a direct connection); the control: without
    /// credentials the proxy refuses (407), and the error says so; NO_PROXY goes straight there.
    func testPullThroughAProxy() throws {
        let port = try registry()
        try push(port)
        let (proxy, log) = try tinyproxy()
        let name = "127.0.0.1:\(port)/test/bb:v1"
        // Plain HTTP through a proxy only when asked for (--tls-verify=false): a proxy could
        // fail TLS on purpose to see the credentials in clear.
        let unasked = try h.run(["pull", "--root", store, name], env: ["HTTP_PROXY": "http://alice:s3cret@127.0.0.1:\(proxy)"])
        XCTAssertNotEqual(unasked.status, 0, unasked.err)
        let refused = try h.run(["pull", "--root", store, "--tls-verify=false", name], env: ["HTTP_PROXY": "http://127.0.0.1:\(proxy)"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("the proxy 127.0.0.1:\(proxy) refused the request: 407"), refused.err)
        let ok = try h.run(["pull", "--root", store, "--tls-verify=false", name], env: ["http_proxy": "http://alice:s3cret@127.0.0.1:\(proxy)"])
        XCTAssertEqual(ok.status, 0, ok.err)
        let seen = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(seen.contains("GET http://127.0.0.1:\(port)/v2/"), seen)
        _ = try rl(["rmi", name]); _ = try rl(["gc"])
        let direct = try h.run(["pull", "--root", store, name], env: ["HTTP_PROXY": "http://127.0.0.1:1", "NO_PROXY": "example.com,127.0.0.1"])
        XCTAssertEqual(direct.status, 0, direct.err)
        let bad = try h.run(["pull", "--root", store, name], env: ["HTTP_PROXY": "socks5://127.0.0.1:1080"])
        XCTAssertEqual(bad.status, 125)
        XCTAssertTrue(bad.err.contains("only http:// proxies"), bad.err)
    }

    func testBearerTokenFromTheChallenge() throws {
        let s = h.scratch.path
        try sh("cd \(s) && openssl req -x509 -newkey rsa:2048 -nodes -keyout tok.key -out tok.crt -days 1 -subj '/CN=token signer' 2>/dev/null")
        let plain = try registry()
        try push(plain)
        let tport = try helper("token-server.py", [s + "/tok.key", s + "/tok.crt", "bob", "pw", "rootless-test"])
        let port = try registry(
            """
            auth:
              token:
                realm: http://127.0.0.1:\(tport)/token
                service: rootless-registry
                issuer: rootless-test
                rootcertbundle: \(s)/tok.crt
            """)
        let name = "127.0.0.1:\(port)/test/bb:v1"
        let anonymous = try rl(["pull", name])
        XCTAssertTrue(anonymous.err.contains("token server") && anonymous.err.contains("refused"), anonymous.err)
        let ok = try rl(["pull", "--creds", "bob:pw", name])
        XCTAssertEqual(ok.status, 0, ok.err)
        try assertBaseImage(name)
    }

    func testConcurrentPullsAndAKilledPullResumes() throws {
        let port = try registry()
        let s = h.scratch.path
        // 48 MB of incompressible data behind a proxy sending 16 MB/s: the kill lands mid-blob.
        try sh(
            """
            mkdir -p \(s)/big/bin \(s)/big/data; cp /bin/busybox \(s)/big/bin/
            head -c 48000000 /dev/urandom > \(s)/big/data/random
            layout \(s)/big-oci v1 \(s)/big
            skopeo --insecure-policy copy -q --dest-tls-verify=false oci:\(s)/big-oci:v1 docker://127.0.0.1:\(port)/test/big:v1
            """)
        try push(port)
        // Two pulls of one image at once: both succeed, each layer is unpacked once.
        let pull = ["pull", "--root", store, "127.0.0.1:\(port)/test/bb:v1"]
        let both = try h.together(pull, pull)
        XCTAssertEqual(both[0].status, 0)
        XCTAssertEqual(both[1].status, 0)
        XCTAssertEqual(both[0].out, both[1].out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers").count, 2)

        let proxy = try helper("slow-proxy.py", [String(port), "16000000"])
        let name = "127.0.0.1:\(proxy)/test/big:v1"
        func killMidBlob() throws -> Int {
            let k = try h.start(["pull", "--root", store, name])
            var size = 0
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let part = ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).first { $0.hasSuffix(".partial") }
                if let p = part, let n = (try? FileManager.default.attributesOfItem(atPath: store + "/tmp/" + p))?[.size] as? Int, n > 4_000_000 {
                    size = n; break
                }
                poll(nil, 0, 5)
            }
            kill(k.process.processIdentifier, SIGKILL)
            k.process.waitUntilExit()
            return size
        }
        XCTAssertGreaterThan(try killMidBlob(), 0, "the kill lands while the blob downloads")
        XCTAssertFalse(try rl(["images"]).out.contains("test/big"), "a killed pull names nothing")
        // gc removes the partial (no pull holds its lock)...
        let gc = try rl(["gc"])
        XCTAssertEqual(gc.status, 0, gc.err)
        XCTAssertFalse(
            ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).contains { $0.hasSuffix(".partial") }, "gc removed the partial blob")
        // ...and a pull killed again is resumed by the next one (a Range request).
        let had = try killMidBlob()
        XCTAssertGreaterThan(had, 0)
        let again = try rl(["pull", name])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains("resuming at"), "the partial blob was resumed: \(again.err)")
        let r = try h.run(["run", "--root", store, name, "--", "/bin/busybox", "stat", "-c", "size=%s", "/data/random"])
        XCTAssertEqual(r["size"], "48000000", r.err)
    }
}
