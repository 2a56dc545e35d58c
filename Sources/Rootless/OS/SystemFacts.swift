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
    public static func gather(_ p: HostPaths = HostPaths()) -> HostFacts {
        let uid = getuid(), gid = getgid()
        let name = OS.readFile(p.etc + "/passwd").flatMap { Passwd.lookup(uid: uid, in: $0)?.name }
        let nnp = noNewPrivs(p)
        var f = HostFacts(uid: uid, gid: gid, userName: name, cwd: OS.currentDirectory(), env: OS.environment(),
                          subuid: OS.readFile(p.etc + "/subuid").map { SubIDTable(parsing: $0) },
                          subgid: OS.readFile(p.etc + "/subgid").map { SubIDTable(parsing: $0) },
                          uidHelper: helper("newuidmap", p, nnp), gidHelper: helper("newgidmap", p, nnp),
                          lookup: OS.lookup)
        f.subuidPath = p.etc + "/subuid"
        f.subgidPath = p.etc + "/subgid"
        return f
    }

    public static func noNewPrivs(_ p: HostPaths) -> Bool {
        guard let s = OS.readFile(p.proc + "/self/status") else { return false }
        return s.split(separator: "\n").contains { $0.hasPrefix("NoNewPrivs:") && $0.hasSuffix("1") }
    }

    /// A helper is usable when it is setuid root or carries file capabilities, and our
    /// own no_new_privs does not neuter both.
    public static func helper(_ name: String, _ p: HostPaths, _ nnp: Bool) -> HelperStatus {
        for dir in p.helperDirs {
            let path = dir + "/" + name
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let setuidRoot = st.st_uid == 0 && (st.st_mode & S_ISUID) != 0
            guard setuidRoot || rl_has_file_caps(path) == 1 else { return .notPrivileged(path: path) }
            return nnp ? .blockedByNoNewPrivs(path: path) : .usable(path: path)
        }
        return .missing(name: name)
    }
}
