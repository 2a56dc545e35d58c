import RootlessOS
import RootlessCore
import FastStart
import CRootless
import Glibc
import ImageFormat

/// Writes one layer's tar entries into a layer directory, in the store's user namespace
/// (so image ownership is kept where ids are mapped), in the format overlayfs reads with
/// `userxattr`: a whiteout is a 0:0 character device, an opaque directory carries
/// user.overlay.opaque=y.
///
/// Hostile archives cannot write outside the directory: names with `..` or a leading `/`
/// are refused; every parent is opened with openat2(RESOLVE_BENEATH | NO_SYMLINKS |
/// NO_XDEV), so a symlink (or a chain of them) in the path is refused rather than
/// followed; hardlinks must name a file already in this layer, found the same way; files
/// are created O_EXCL | O_NOFOLLOW. The first refusal ends the unpack: the caller removes
/// the half-written directory, nothing is renamed into the store.
struct LayerWriter {
    let root: Int32
    /// Directories get their mode, owner and times after their contents are in.
    var dirs: [(path: String, entry: TarEntry)] = []
    var notes: Set<String> = []
    var skippedDevices = 0
    /// One data buffer for every file (a fresh one per file cost more than the writes).
    var buf = [UInt8](repeating: 0, count: 1 << 17)
    /// The last parent directory opened: tar lists a directory's files together, so most
    /// entries reuse it (dropped whenever anything is removed, which could be it).
    var cached: (parts: ArraySlice<String>, fd: Int32)?

    init(root: Int32) { self.root = root }

    mutating func forgetParent() {
        if let c = cached { close(c.fd) }
        cached = nil
    }

    static func hostile(_ path: String, _ why: String) -> RootlessError {
        RootlessError("refusing a hostile layer: \(path.debugDescription) \(why)", fix: "this archive tries to write outside its layer; do not use it")
    }

    /// "a/./b/" -> ["a", "b"]; `..` or a leading `/` is hostile.
    static func components(_ path: String) throws -> [String] {
        if path.hasPrefix("/") { throw hostile(path, "is an absolute path") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        if parts.contains("..") { throw hostile(path, "climbs out with ..") }
        return parts
    }

    /// The parent directory of `parts`, made where missing (mode 0755, fixed later if the
    /// archive names it), never through a symlink.
    mutating func parent(_ parts: [String], for path: String) throws -> Int32 {
        if let c = cached, c.parts == parts.dropLast() { return dup(c.fd) }
        let fd = try openParent(parts, for: path)
        forgetParent()
        cached = (parts.dropLast(), dup(fd))
        return fd
    }

    func openParent(_ parts: [String], for path: String) throws -> Int32 {
        var fd = dup(root)
        for (i, p) in parts.dropLast().enumerated() {
            var next = rl_openat2_beneath(fd, p, OS.oPath | O_DIRECTORY, 0)
            if next == -ENOENT {
                if mkdirat(fd, p, 0o755) != 0 && errno != EEXIST {
                    let e = errno; close(fd); throw RootlessError("cannot create \(parts[...i].joined(separator: "/")) in the layer", errno: e)
                }
                next = rl_openat2_beneath(fd, p, OS.oPath | O_DIRECTORY, 0)
            }
            close(fd)
            if next == -ELOOP || next == -EXDEV { throw Self.hostile(path, "goes through the symlink \(parts[...i].joined(separator: "/"))") }
            if next == -ENOTDIR { throw Self.hostile(path, "goes through \(parts[...i].joined(separator: "/")), which is not a directory") }
            guard next >= 0 else { throw RootlessError("cannot open \(parts[...i].joined(separator: "/")) in the layer", errno: -next) }
            fd = next
        }
        return fd
    }

    /// Makes room for a new entry: keeps an existing directory when a directory comes,
    /// else removes what is there (a later entry replaces an earlier one, as tar does).
    mutating func clear(_ dir: Int32, _ name: String, keepDirectory: Bool) throws {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if keepDirectory { return }
            forgetParent()
            try Self.removeTree(dir, name)
        } else if unlinkat(dir, name, 0) != 0 {
            throw RootlessError("cannot replace \(name) in the layer", errno: errno)
        }
    }

    /// rm -r below dir (no symlink followed: entries are unlinked, directories opened
    /// O_NOFOLLOW beneath).
    static func removeTree(_ dir: Int32, _ name: String) throws {
        if unlinkat(dir, name, 0) == 0 || errno == ENOENT { return }
        let fd = rl_openat2_beneath(dir, name, O_RDONLY | O_DIRECTORY, 0)
        if fd >= 0 {
            for e in OS.listDirectory(fd: fd) { try removeTree(fd, e.name) }
            close(fd)
        }
        if unlinkat(dir, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw RootlessError("cannot remove \(name)", errno: errno) }
    }

    mutating func apply<S: ByteSource>(_ e: TarEntry, from reader: inout TarReader<S>) throws {
        let parts = try Self.components(e.path)
        guard let name = parts.last else {
            if e.kind == .directory { dirs.append((".", e)) }  // "./": the layer root itself
            return
        }
        let dir = try parent(parts, for: e.path)
        defer { close(dir) }
        // Whiteouts: ".wh..wh..opq" makes the parent opaque; ".wh.NAME" hides NAME.
        if name == ".wh..wh..opq" {
            let fd = rl_openat2_beneath(dir, ".", O_RDONLY | O_DIRECTORY, 0)
            defer { if fd >= 0 { close(fd) } }
            let r = fd < 0 ? fd : rl_fsetxattr(fd, "user.overlay.opaque", "y", 1)
            guard r == 0 else {
                throw RootlessError(
                    "cannot mark \(parts.dropLast().joined(separator: "/")) opaque", errno: -r, fix: "the store's filesystem must support user xattrs"
                )
            }
            return
        }
        if name.hasPrefix(".wh..wh.") { return }  // aufs bookkeeping, meaningless here
        if name.hasPrefix(".wh.") {
            let hidden = String(name.dropFirst(4))
            guard !hidden.isEmpty, hidden != ".", hidden != ".." else { throw Self.hostile(e.path, "is a whiteout of nothing") }
            try clear(dir, hidden, keepDirectory: false)
            let r = rl_mknod_at(dir, hidden, UInt32(S_IFCHR), 0, 0)
            guard r == 0 else {
                throw RootlessError("cannot create the whiteout for \(e.path)", errno: -r, fix: "kernel >= 5.8 lets a user create whiteouts")
            }
            return
        }
        try clear(dir, name, keepDirectory: e.kind == .directory)
        switch e.kind {
        case .directory:
            if mkdirat(dir, name, 0o700) != 0 && errno != EEXIST { throw RootlessError("cannot create \(e.path)", errno: errno) }
            dirs.append((parts.joined(separator: "/"), e))
            return
        case .file:
            let fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw RootlessError("cannot create \(e.path)", errno: errno) }
            defer { close(fd) }
            try writeData(fd, e, &reader)
            try finish(fd: fd, e)
            return
        case .hardlink:
            let target = try Self.components(e.linkTarget)
            guard let tname = target.last else { throw Self.hostile(e.path, "is a hardlink to the layer root") }
            let tdir: Int32
            do { tdir = try parent(target, for: e.linkTarget) } catch let err as RootlessError {
                throw err.message.hasPrefix("refusing") ? err : Self.hostile(e.path, "is a hardlink to \(e.linkTarget), which is not in this layer")
            }
            defer { close(tdir) }
            guard linkat(tdir, tname, dir, name, 0) == 0 else {
                throw errno == ENOENT
                    ? Self.hostile(e.path, "is a hardlink to \(e.linkTarget), which is not in this layer")
                    : RootlessError("cannot link \(e.path) to \(e.linkTarget)", errno: errno)
            }
            return
        case .symlink:
            guard symlinkat(e.linkTarget, dir, name) == 0 else { throw RootlessError("cannot create the symlink \(e.path)", errno: errno) }
        case .charDevice, .blockDevice:
            let type = e.kind == .charDevice ? S_IFCHR : S_IFBLK
            let r = rl_mknod_at(dir, name, UInt32(type) | (e.mode & 0o777), e.devMajor, e.devMinor)
            if r == -EPERM {
                skippedDevices += 1
                notes.insert("device nodes skipped (a user namespace cannot create them; the sandbox's /dev has the usual ones): \(skippedDevices)")
                return
            }
            guard r == 0 else { throw RootlessError("cannot create the device \(e.path)", errno: -r) }
        case .fifo:
            guard mkfifoat(dir, name, e.mode & 0o777) == 0 else { throw RootlessError("cannot create the fifo \(e.path)", errno: errno) }
        }
        // Symlinks, devices, fifos: owner and times on the name (never followed).
        if fchownat(dir, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0 { ownershipNote(e) }
        if e.kind != .symlink { fchmodat(dir, name, e.mode & 0o7777, 0) }
        var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: 0), timespec(tv_sec: Int(e.mtime), tv_nsec: 0)]
        utimensat(dir, name, &ts, AT_SYMLINK_NOFOLLOW)
    }

    mutating func ownershipNote(_ e: TarEntry) {
        notes.insert("ownership not kept where the id is not mapped (e.g. --map self): such files belong to you")
    }

    mutating func writeData<S: ByteSource>(_ fd: Int32, _ e: TarEntry, _ reader: inout TarReader<S>) throws {
        let segments = e.sparse ?? [TarEntry.SparseSegment(offset: 0, length: e.size)]
        for s in segments {
            var at = s.offset
            var left = s.length
            while left > 0 {
                let n = try buf.withUnsafeMutableBytes { try reader.readData(UnsafeMutableRawBufferPointer(rebasing: $0[0..<Int(min(Int64($0.count), left))])) }
                guard n > 0 else { throw RootlessError("truncated layer: \(e.path) ends early") }
                var off = 0
                while off < n {
                    let w = buf.withUnsafeBytes { pwrite(fd, $0.baseAddress! + off, n - off, off_t(at) + off_t(off)) }
                    guard w > 0 else { throw RootlessError("cannot write \(e.path)", errno: errno) }
                    off += w
                }
                at += Int64(n)
                left -= Int64(n)
            }
        }
        if e.sparse != nil && ftruncate(fd, off_t(e.realSize)) != 0 { throw RootlessError("cannot size \(e.path)", errno: errno) }
    }

    /// Order matters: chown clears setuid/setgid, so the mode comes after it; xattrs
    /// (file capabilities among them) after both; the times last.
    mutating func finish(fd: Int32, _ e: TarEntry) throws {
        if fchown(fd, e.uid, e.gid) != 0 { ownershipNote(e) }
        fchmod(fd, e.mode & 0o7777)
        for (k, v) in e.xattrs.sorted(by: { $0.key < $1.key }) {
            let r = v.withUnsafeBytes { rl_fsetxattr(fd, k, $0.baseAddress, $0.count) }
            if r != 0 { notes.insert("xattrs the store cannot hold were skipped (\(k): \(OS.errorText(-r)))") }
        }
        var ts = [timespec(tv_sec: Int(e.mtime), tv_nsec: 0), timespec(tv_sec: Int(e.mtime), tv_nsec: 0)]
        futimens(fd, &ts)
    }

    /// Directories last, deepest first (a directory's time is set after its children's).
    mutating func finishDirectories() throws {
        for (path, e) in dirs.reversed() {
            let fd = path == "." ? dup(root) : rl_openat2_beneath(root, path, O_RDONLY | O_DIRECTORY, 0)
            guard fd >= 0 else { continue }  // replaced by a later entry
            try finish(fd: fd, e)
            close(fd)
        }
    }

    /// The whole stream into `root`.
    static func unpack<S: ByteSource>(_ reader: inout TarReader<S>, into root: Int32) throws -> Set<String> {
        var w = LayerWriter(root: root)
        do {
            while let e = try reader.next() { try w.apply(e, from: &reader) }
        } catch let e as TarError {
            throw RootlessError("the layer is not a valid tar archive: \(e)")
        }
        w.forgetParent()
        try w.finishDirectories()
        return w.notes
    }
}
