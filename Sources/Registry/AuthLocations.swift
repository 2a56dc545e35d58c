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
            do {
                if let c = try AuthFile.credentials(text, registry: ref.registry, repository: ref.repository) { return c }
            } catch {
                throw RootlessError("the auth file \(f) is not valid: \(error)", fix: "fix or remove it (podman login rewrites it)")
            }
        }
        return nil
    }

    /// podman's certs.d locations for per-registry CAs (--cert-dir is TLSPolicy.certDir).
    package static func certDirs(env: [String] = OS.environment()) -> [String] {
        [configHome(env) + "/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"]
    }

    /// $XDG_CONFIG_HOME, else ~/.config.
    static func configHome(_ env: [String]) -> String {
        OS.env("XDG_CONFIG_HOME", in: env).flatMap { $0.isEmpty ? nil : $0 } ?? (OS.env("HOME", in: env) ?? "") + "/.config"
    }
}
