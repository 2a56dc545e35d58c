import CRootless
import Glibc

/// The host facts a plan is made from, each read through one rl_observe operation. While
/// `recording` (a run whose start may be cached, see StartCache), each operation and its
/// result bytes are logged; a later run replays the log in C and reuses the plan only if
/// every result is the same. So a fact read here but not through Observe would be a fact
/// a cached start does not check: SystemFacts reads all of its facts through these.
public enum Observe {
    package nonisolated(unsafe) static var recording = false
    package nonisolated(unsafe) static var log: [UInt8] = []
    /// A fact too big to log was read: this run's plan is not cached.
    package nonisolated(unsafe) static var spoiled = false
    static let maxRead = 256 * 1024

    /// One operation into a fresh buffer; logged while recording.
    static func run(_ op: rl_obs, _ path: String, _ arg: UInt32 = 0, cap: Int = 16) -> [UInt8] {
        let res = [UInt8](unsafeUninitializedCapacity: cap) { b, n in
            n = max(rl_observe(Int32(op.rawValue), path, arg, b.baseAddress, cap), 0)
        }
        if recording {
            let room = 16 + path.utf8.count + 1 + res.count
            let at = log.count
            log.append(contentsOf: repeatElement(0, count: room))
            let k = log.withUnsafeMutableBytes { b in
                res.withUnsafeBytes { r in
                    rl_observe_record(b.baseAddress! + at, room, Int32(op.rawValue), path, arg, r.baseAddress, r.count)
                }
            }
            if k != room { spoiled = true }
        }
        return res
    }

    static func int32(_ b: [UInt8], _ i: Int = 0) -> Int32 {
        guard b.count >= 4 * (i + 1) else { return -1 }
        return Int32(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24)
    }

    /// stat(path): nil when it fails, else (st_mode, st_uid).
    public static func stat(_ path: String) -> (mode: UInt32, uid: UInt32)? {
        let r = run(RL_OBS_STAT, path)
        guard int32(r, 0) == 0 else { return nil }
        return (UInt32(bitPattern: int32(r, 1)), UInt32(bitPattern: int32(r, 2)))
    }

    /// OS.lookup's answer (nil: missing; true: a directory) through stat.
    public static func lookup(_ path: String) -> Bool? {
        stat(path).map { $0.mode & S_IFMT == S_IFDIR }
    }

    /// The file's text (its first `limit` bytes); nil if it cannot be read.
    public static func readFile(_ path: String, limit: Int = 4 << 20) -> String? {
        // 4 KiB first (most facts are small /proc and cgroup files), then the most we log.
        var want = min(limit, 4096)
        var r = run(RL_OBS_READ, path, UInt32(want), cap: 4 + want)
        if int32(r) == -1 && limit > want {
            if recording { log.removeLast(16 + path.utf8.count + 1 + r.count) }
            want = min(limit, maxRead)
            r = run(RL_OBS_READ, path, UInt32(want), cap: 4 + want)
        }
        switch int32(r) {
        case 0: return String(decoding: r[4...], as: UTF8.self)
        case -1:
            // Longer than we log: read as before, and this plan is not cached.
            spoiled = true
            return OS.readFile(path, limit: limit)
        default: return nil
        }
    }

    /// statfs(path).f_type, or a negative errno.
    public static func fsType(_ path: String) -> Int {
        let r = run(RL_OBS_FSTYPE, path, cap: 8)
        guard r.count == 8 else { return -1 }
        return r.withUnsafeBytes { Int(Int64(littleEndian: $0.loadUnaligned(as: Int64.self))) }
    }

    /// access(path, mode) == 0.
    public static func access(_ path: String, _ mode: Int32) -> Bool { int32(run(RL_OBS_ACCESS, path, UInt32(mode))) == 0 }

    /// getenv(name).
    public static func env(_ name: String) -> String? {
        let r = run(RL_OBS_ENV, name, cap: 4 + 64 * 1024)
        return int32(r) == 0 ? String(decoding: r[4...], as: UTF8.self) : nil
    }

    /// Where path really is, every symlink resolved (a missing last component: its parent
    /// resolved, plus its name); nil if it cannot be.
    public static func realpath(_ path: String) -> String? {
        let r = run(RL_OBS_REALPATH, path, cap: 4 + 4096)
        return int32(r) == 0 ? String(decoding: r[4...], as: UTF8.self) : nil
    }

    /// rl_has_file_caps(path).
    public static func fileCaps(_ path: String) -> Int32 { int32(run(RL_OBS_FCAPS, path)) }
}
