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
