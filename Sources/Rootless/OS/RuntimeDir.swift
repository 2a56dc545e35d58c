import Glibc

/// The caller's private runtime directory: $XDG_RUNTIME_DIR/rootless, else
/// /tmp/rootless-UID. Used only if it is a real directory, owned by the caller and closed
/// to others (a squatted /tmp path is refused, and whatever needed it does without).
public enum RuntimeDir {
    public static func path(env: [String] = OS.environment(), uid: UInt32 = getuid(), sub: String? = nil) -> String? {
        let xdg = OS.env("XDG_RUNTIME_DIR", in: env)
        var d = xdg.flatMap { $0.hasPrefix("/") ? $0 + "/rootless" : nil } ?? "/tmp/rootless-\(uid)"
        guard ours(d, uid) else { return nil }
        if let sub {
            d += "/" + sub
            guard ours(d, uid) else { return nil }
        }
        return d
    }

    static func ours(_ d: String, _ uid: UInt32) -> Bool {
        mkdir(d, 0o700)
        var st = stat()
        return lstat(d, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == uid && st.st_mode & 0o077 == 0
    }
}
