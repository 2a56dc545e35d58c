import CRootless
import Glibc
import IDMap

/// Kernel and config roots, injectable so tests can point them at a temp dir.
public struct HostPaths: Sendable {
    public var etc = "/etc"
    public var proc = "/proc"
    public var sys = "/sys"
    public var helperDirs = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
    public init() {}
}

public enum SystemFacts {
    public static func noNewPrivs(_ p: HostPaths) -> Bool {
        guard let s = OS.readFile(p.proc + "/self/status") else { return false }  // unobserved: a run under it never leaves a cached start
        return Text.line(in: s, after: "NoNewPrivs:")?.hasSuffix("1") ?? false
    }

    /// A helper is usable when it is setuid root or carries file capabilities, and our
    /// own no_new_privs does not neuter both. (no_new_privs is not observed: a run under
    /// it has no warm request, so no cached start, and rl_warm_pack refuses it.)
    public static func helper(_ name: String, _ p: HostPaths, _ nnp: Bool) -> HelperStatus {
        for dir in p.helperDirs {
            let path = dir + "/" + name
            guard let st = Observe.stat(path), st.mode & S_IFMT == S_IFREG else { continue }
            let setuidRoot = st.uid == 0 && (st.mode & S_ISUID) != 0
            guard setuidRoot || Observe.fileCaps(path) == 1 else { return .notPrivileged(path: path) }
            return nnp ? .blockedByNoNewPrivs(path: path) : .usable(path: path)
        }
        return .missing(name: name)
    }
}
