import CRootless
import Glibc

/// The small OS layer of the library: file reads, stat, errno text. Everything else that
/// touches the kernel goes through CRootless.
public enum OS {
    public static func readFile(_ path: String, limit: Int = 4 << 20) -> String? {
        readBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The whole file (at most `limit` bytes); nil if it cannot be opened.
    public static func readBytes(_ path: String, limit: Int = 4 << 20) -> [UInt8]? {
        // Never waits: a FIFO (or anything but a file) named where a file belongs is refused
        // (EINVAL), not read until some writer comes.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            errno = EINVAL
            return nil
        }
        return readBytes(fd: fd, limit: limit)
    }

    /// What an open fd gives from its offset to its end (at most `limit` bytes).
    public static func readBytes(fd: Int32, limit: Int = 4 << 20) -> [UInt8]? {
        // A malloc'd buffer, 4 KiB first and doubled when full: most files read here (/proc,
        // cgroup files, the seccomp cache) are small, and the zeroed 64 KiB scratch array
        // this used before cost 16 page faults per read on the start path.
        var cap = min(4096, max(limit, 1)), len = 0
        guard var p = malloc(cap)?.assumingMemoryBound(to: UInt8.self) else { return nil }
        defer { free(p) }
        while len < limit {
            if len == cap {
                cap = min(cap * 2, limit)
                guard let q = realloc(p, cap) else { break }
                p = q.assumingMemoryBound(to: UInt8.self)
            }
            let n = read(fd, p + len, cap - len)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            len += n
        }
        return Array(UnsafeBufferPointer(start: p, count: len))
    }

    /// nil: missing; true: directory; false: other.
    public static func lookup(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func errorText(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// "EPERM" for 1; the number when glibc has no name.
    public static func errnoName(_ e: Int32) -> String { rl_errno_name(e).map { String(cString: $0) } ?? "errno \(e)" }

    /// The working directory, or nil when getcwd fails (deleted, or not reachable from
    /// our root): then nothing may be resolved against it.
    public static func knownDirectory() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil, buf[0] == 0x2F else { return nil }
        return String(cString: buf)
    }

    public static func environment() -> [String] {
        var out: [String] = []
        var p = environ
        while let e = p.pointee {
            out.append(String(cString: e))
            p += 1
        }
        return out
    }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    public static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    public static func writeBytes(_ fd: Int32, _ b: [UInt8]) {
        b.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                off += n
            }
        }
    }

    /// Writes a temp file beside `path` and renames it over: a reader sees the old file
    /// or the whole new one, never half. false on any failure (the temp file is removed).
    @discardableResult
    public static func replaceFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) -> Bool {
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n == bytes.count, rename(tmp, path) == 0 else { unlink(tmp); return false }
        return true
    }

    /// rm -r of a directory we created (cache dirs of `policy time`). Never follows links.
    @discardableResult
    public static func removeTree(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return false }
        if (st.st_mode & S_IFMT) == S_IFDIR, let entries = listDirectory(path) {
            for e in entries { removeTree(path + "/" + e.name) }
            return rmdir(path) == 0
        }
        return unlink(path) == 0
    }

    /// Entries of a directory, without "." and ".."; isDir from d_type. nil if unreadable.
    public static func listDirectory(_ path: String) -> [(name: String, isDir: Bool)]? {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return listDirectory(fd: fd)
    }

    /// The value of KEY in a "KEY=VALUE" environment (the last one wins, as getenv).
    public static func env(_ key: String, in env: [String]) -> String? {
        env.last { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    public static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }

    /// O_PATH (Glibc's Swift module leaves it out).
    public static let oPath: Int32 = 0o10000000

    /// The same for an open directory fd (which stays open and ours).
    public static func listDirectory(fd: Int32) -> [(name: String, isDir: Bool)] {
        let own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard own >= 0, let d = fdopendir(own) else { return [] }
        defer { closedir(d) }
        var out: [(name: String, isDir: Bool)] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append((name, e.pointee.d_type == UInt8(DT_DIR))) }
        }
        return out
    }

    /// Start time of a live pid (field 22 of /proc/PID/stat), nil when there is none.
    public static func startTime(pid: Int32, proc: String = "/proc") -> UInt64? {
        readFile(proc + "/\(pid)/stat", limit: 4096).flatMap(ProcessRecord.startTime(stat:))
    }

    /// Whether the recorded process is the one running under its pid now.
    public static func isRunning(_ r: ProcessRecord, proc: String = "/proc") -> Bool { startTime(pid: r.pid, proc: proc) == r.startTime }

    /// Writes `value` into an existing file (procfs, cgroupfs) in one write(2). 0 or errno.
    public static func writeExisting(_ path: String, _ value: String) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let n = value.withCString { write(fd, $0, strlen($0)) }
        return n == value.utf8.count ? 0 : (n < 0 ? errno : EIO)
    }

    public static func writeStderr(_ s: String) { writeAll(2, s) }
    public static func writeStdout(_ s: String) { writeAll(1, s) }

    static func writeAll(_ fd: Int32, _ s: String) { writeBytes(fd, Array(s.utf8)) }
}
