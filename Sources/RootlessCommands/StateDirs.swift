import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import Glibc

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
