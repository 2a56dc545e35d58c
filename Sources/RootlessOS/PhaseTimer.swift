import Glibc

/// ROOTLESS_TIMING=1: one stderr line per start-up phase (µs since the previous mark), to
/// see where a start goes without a profiler (callgrind cannot read the static binary).
public enum PhaseTimer {
    nonisolated(unsafe) static var enabled: Bool?
    nonisolated(unsafe) static var last = 0.0

    public static func mark(_ phase: String) {
        if enabled == nil {
            enabled = getenv("ROOTLESS_TIMING").map { String(cString: $0) == "1" } ?? false
            last = OS.monotonicSeconds()
        }
        guard enabled == true else { return }
        let now = OS.monotonicSeconds()
        OS.writeStderr("rootless timing: \(phase) \(Int((now - last) * 1e6)) us\n")
        last = now
    }
}
