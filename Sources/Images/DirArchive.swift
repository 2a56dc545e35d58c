import RootlessOS
import RootlessCore
import FastStart
import Glibc
import ImageFormat

/// `rootless import DIR`: a plain root filesystem directory as one layer. The directory
/// is the caller's, so it is read as the caller and written out as a tar whose entries
/// all belong to 0:0 (what `tar --owner=0 --group=0` makes of a user's tree, and what a
/// base image is); modes, setuid bits, symlinks, hardlinks and mtimes are kept. Sockets,
/// fifos and devices are skipped with a note (an unprivileged user cannot make devices).
/// Walked with openat from the top (no path is followed twice, symlinks never followed).
struct DirArchive {
    let out: Int32
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    var inodes: [UInt64: String] = [:]  // dev<<32^ino of files with links > 1 -> first path
    var notes: [String] = []
    var written: Int64 = 0

    static func write(_ dir: String, to path: String) throws -> [String] {
        let root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw RootlessError("cannot open \(dir)", errno: errno) }
        defer { close(root) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RootlessError("cannot create \(path)", errno: errno) }
        defer { close(fd) }
        var a = DirArchive(out: fd)
        try a.emit(TarHeader.encode(path: "./", kind: .directory, mode: a.mode(root, dir), mtime: a.mtime(root)))
        try a.walk(root, prefix: "./", where: dir)
        try a.emit(TarHeader.end)
        return a.notes
    }

    func mode(_ fd: Int32, _ what: String) throws -> UInt32 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RootlessError("cannot stat \(what)", errno: errno) }
        return UInt32(st.st_mode & 0o7777)
    }

    func mtime(_ fd: Int32) -> Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_mtim.tv_sec) : 0
    }

    mutating func emit(_ b: [UInt8]) throws {
        try b.withUnsafeBytes { try emit($0) }
    }

    mutating func emit(_ p: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < p.count {
            let n = Glibc.write(out, p.baseAddress! + off, p.count - off)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RootlessError("cannot write the layer tar", errno: errno, fix: "free some disk space") }
            off += n
        }
        written += Int64(p.count)
    }

    mutating func walk(_ dir: Int32, prefix: String, where path: String) throws {
        // Sorted: the same tree gives the same tar, so the same diff-id.
        for e in OS.listDirectory(fd: dir).sorted(by: { $0.name < $1.name }) {
            var st = stat()
            guard fstatat(dir, e.name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw RootlessError("cannot stat \(path)/\(e.name)", errno: errno) }
            let name = prefix + e.name
            let mode = UInt32(st.st_mode & 0o7777)
            let mtime = Int64(st.st_mtim.tv_sec)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                let sub = openat(dir, e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else {
                    throw RootlessError("cannot open \(path)/\(e.name)", errno: errno, fix: "the whole tree must be readable by you")
                }
                defer { close(sub) }
                try emit(TarHeader.encode(path: name + "/", kind: .directory, mode: mode, mtime: mtime))
                try walk(sub, prefix: name + "/", where: path + "/" + e.name)
            case S_IFLNK:
                var t = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(dir, e.name, &t, 4096)
                guard n >= 0 else { throw RootlessError("cannot read the symlink \(path)/\(e.name)", errno: errno) }
                let target = String(decoding: t[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try emit(TarHeader.encode(path: name, kind: .symlink, mode: 0o777, mtime: mtime, link: target))
            case S_IFREG:
                let key = UInt64(st.st_dev) << 32 ^ UInt64(st.st_ino)
                if st.st_nlink > 1 {
                    if let first = inodes[key] {
                        try emit(TarHeader.encode(path: name, kind: .hardlink, mode: mode, mtime: mtime, link: first))
                        continue
                    }
                    inodes[key] = name
                }
                let f = openat(dir, e.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard f >= 0 else {
                    throw RootlessError("cannot read \(path)/\(e.name)", errno: errno, fix: "the whole tree must be readable by you")
                }
                defer { close(f) }
                let size = Int64(st.st_size)
                try emit(TarHeader.encode(path: name, kind: .file, mode: mode, size: size, mtime: mtime))
                var left = size
                while left > 0 {
                    let n = buf.withUnsafeMutableBytes { Glibc.read(f, $0.baseAddress!, min($0.count, Int(left))) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        throw RootlessError(
                            "\(path)/\(e.name) changed while it was read (\(n < 0 ? OS.errorText(errno) : "it shrank"))",
                            fix: "import it again when it is not being written")
                    }
                    let chunk = buf
                    try chunk.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    left -= Int64(n)
                }
                try emit([UInt8](repeating: 0, count: TarHeader.padding(size)))
            default:
                notes.append(
                    "\(path)/\(e.name): \(st.st_mode & S_IFMT == S_IFIFO ? "fifo" : st.st_mode & S_IFMT == S_IFSOCK ? "socket" : "device node") skipped")
            }
        }
    }
}
