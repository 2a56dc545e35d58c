import CRootless
import Glibc

/// The caller's private runtime directory: $XDG_RUNTIME_DIR/rootless, else
/// /tmp/rootless-UID. Used only if it is a real directory, owned by the caller and closed
/// to others (a squatted /tmp path is refused, and whatever needed it does without).
/// The rule is rl_runtime_dir's (starts.c), which the start-up constructor uses too.
public enum RuntimeDir {
    public static func path(sub: String? = nil) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        guard rl_runtime_dir(&buf, buf.count, sub) == 0 else { return nil }
        return String(cString: buf)
    }
}

/// rootless's own state, made before a run is planned: a directory that does not exist
/// cannot be masked (there is nothing to mount over), and a sandbox that could write its
/// parent would make it, its own way, for a later run to trust. Both runtime directories
/// (with and without XDG_RUNTIME_DIR), the cache and the image store.
public enum StateDirs {
    public static func ensure(storeRoot: String?) {
        _ = RuntimeDir.path()
        _ = mkdir("/tmp/rootless-\(getuid())", 0o700)
        if let c = SeccompLoader.defaultCacheDir() { makeAll(String(c.dropLast("/seccomp".count))) }
        if let s = storeRoot ?? Store.defaultRoot() { makeAll(s) }
    }

    /// mkdir -p, the missing components private (0700).
    static func makeAll(_ path: String) {
        var partial = ""
        for c in path.split(separator: "/") {
            partial += "/" + c
            _ = mkdir(partial, 0o700)
        }
    }
}
