import CRootless
import RootlessOS
import Images
import Glibc
import ImageFormat
import RegistryWire

/// Where credentials live, in the order podman reads them (containers-auth.json(5)):
/// --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
/// ~/.config/containers/auth.json, then docker's ~/.docker/config.json. The first file
/// with an entry for the registry wins.
package enum AuthLocations {
    static func files(explicit: String?, env: [String] = OS.environment()) -> [String] {
        if let e = explicit { return [e] }
        var out: [String] = []
        if let f = OS.env("REGISTRY_AUTH_FILE", in: env), !f.isEmpty { out.append(f) }
        if let r = OS.env("XDG_RUNTIME_DIR", in: env), !r.isEmpty { out.append(r + "/containers/auth.json") }
        let home = OS.env("HOME", in: env) ?? ""
        out.append(configHome(env) + "/containers/auth.json")
        if let d = OS.env("DOCKER_CONFIG", in: env), !d.isEmpty { out.append(d + "/config.json") } else { out.append(home + "/.docker/config.json") }
        return out
    }

    static func credentials(for ref: ImageReference, file: String?) throws -> Credentials? {
        for f in files(explicit: file) {
            guard let text = OS.readBytes(f, limit: 1 << 20) else {
                if file != nil { throw RootlessError("cannot read the auth file \(f)", errno: errno) }
                continue
            }
            let helper: String?
            do {
                helper = try AuthFile.helper(text, registry: ref.registry)
                if helper == nil, let c = try AuthFile.credentials(text, registry: ref.registry, repository: ref.repository) { return c }
            } catch {
                throw RootlessError("the auth file \(f) is not valid: \(error)", fix: "fix or remove it (podman login rewrites it)")
            }
            if let h = helper { return try ask(h, ref.registry, file: f) }
        }
        return nil
    }

    /// Runs `docker-credential-NAME get` (found on PATH, as docker runs it, as you and
    /// outside any sandbox: it is your own configured helper) with the server on stdin;
    /// its answer, or nil when it has none for this server (it exits non-zero saying so).
    static func ask(_ name: String, _ registry: String, file: String) throws -> Credentials? {
        let program = "docker-credential-" + name
        // Its stdin is a socket (send with MSG_NOSIGNAL: a helper that exits unread cannot
        // kill us with SIGPIPE); its answer comes on a pipe, within 30 s.
        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &input) == 0, rl_pipe_cloexec(&output) == 0 else {
            throw RootlessError("cannot make pipes for \(program)", errno: errno)
        }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_adddup2(&fa, input[0], 0)
        posix_spawn_file_actions_adddup2(&fa, output[1], 1)
        let args: [UnsafeMutablePointer<CChar>?] = [strdup(program), strdup("get"), nil]
        defer { args.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawnp(&pid, program, &fa, nil, args, environ)
        close(input[0])
        close(output[1])
        guard r == 0 else {
            close(input[1])
            close(output[0])
            throw RootlessError(
                "\(file) names the credential helper \(name) for \(registry), but \(program) cannot be run", errno: r, step: "auth",
                fix: "install \(program) on your PATH, or remove it from \(file)")
        }
        let server = Array((AuthFile.helperServer(registry) + "\n").utf8)
        _ = server.withUnsafeBytes { send(input[1], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(input[1])
        var answer: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = OS.monotonicSeconds() + 30
        var timedOut = false
        while answer.count < 1 << 16 {
            let left = deadline - OS.monotonicSeconds()
            var p = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, Int32(left * 1000)) != 0 else {
                timedOut = true
                break
            }
            let n = buf.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            answer += buf[0..<n]
        }
        close(output[0])
        if timedOut { kill(pid, SIGKILL) }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        if timedOut { throw RootlessError("\(program) did not answer in 30 s", step: "auth", fix: "check \(program) get by hand") }
        guard st == 0 else { return nil }  // "credentials not found": anonymous, as docker
        do { return try AuthFile.helperAnswer(answer) } catch {
            throw RootlessError("\(program) answered something else than credentials: \(error)", step: "auth", fix: "check \(program) get by hand")
        }
    }

    /// podman's certs.d locations for per-registry CAs (--cert-dir is TLSPolicy.certDir).
    package static func certDirs(env: [String] = OS.environment()) -> [String] {
        [configHome(env) + "/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"]
    }

    /// registries.conf as podman finds it: $CONTAINERS_REGISTRIES_CONF, else the user's
    /// ($XDG_CONFIG_HOME/containers/registries.conf), else the system's
    /// (/etc/containers/registries.conf); none is an empty configuration.
    package static func registries(env: [String] = OS.environment(), system: String = "/etc/containers/registries.conf") throws -> RegistriesConf {
        let explicit = OS.env("CONTAINERS_REGISTRIES_CONF", in: env).flatMap { $0.isEmpty ? nil : $0 }
        for f in explicit.map({ [$0] }) ?? [configHome(env) + "/containers/registries.conf", system] {
            guard let text = OS.readBytes(f, limit: 1 << 20) else {
                if explicit != nil { throw RootlessError("cannot read CONTAINERS_REGISTRIES_CONF=\(f)", errno: errno) }
                continue
            }
            var conf = try parse(text, f)
            // Its drop-ins, FILE.d/*.conf in name order, each over the ones before.
            let dir = String(f.dropLast(".conf".count)) + ".conf.d"
            for d in (OS.listDirectory(dir) ?? []).map(\.name).filter({ $0.hasSuffix(".conf") }).sorted() {
                if let t = OS.readBytes(dir + "/" + d, limit: 1 << 20) { conf.merge(try parse(t, dir + "/" + d)) }
            }
            return conf
        }
        return RegistriesConf()
    }

    static func parse(_ text: [UInt8], _ f: String) throws -> RegistriesConf {
        do { return try RegistriesConf.parse(text, name: f) } catch {
            throw RootlessError("\(error)", step: "pull", fix: "fix \(f) (containers-registries.conf(5)), or move it aside")
        }
    }

    /// $XDG_CONFIG_HOME, else ~/.config.
    static func configHome(_ env: [String]) -> String {
        OS.env("XDG_CONFIG_HOME", in: env).flatMap { $0.isEmpty ? nil : $0 } ?? (OS.env("HOME", in: env) ?? "") + "/.config"
    }
}
