import RootlessOS
import RootlessCore
import FastStart
import CRootless
import Glibc

/// The copy driver's child side, `rootless __compose DEST LAYER...` (bottom layer first),
/// run as root in the store's user namespace so owners are kept: each layer is copied
/// over the ones below, its whiteouts (0:0 character devices) delete, its opaque
/// directories (user.overlay.opaque=y) hide what was below. File data moves with a
/// reflink where the filesystem can share extents, else copy_file_range.
package enum Compose {
    package static func child(_ args: [String]) -> Int32 {
        guard args.count >= 2 else { return 2 }
        let dest = open(args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dest >= 0 else { OS.writeStderr("rootless: cannot open \(args[0]): \(OS.errorText(errno))\n"); return 1 }
        do {
            for layer in args.dropFirst() {
                let fd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard fd >= 0 else { throw RootlessError("cannot open layer \(layer)", errno: errno) }
                defer { close(fd) }
                try copy(fd, into: dest)
                try meta(from: fd, to: dest)
            }
            return 0
        } catch {
            OS.writeStderr("rootless: \(error)\n")
            return 1
        }
    }

    static func opaque(_ fd: Int32) -> Bool {
        var v: UInt8 = 0
        return rl_fgetxattr(fd, "user.overlay.opaque", &v, 1) == 1 && v == UInt8(ascii: "y")
    }

    static func copy(_ src: Int32, into dst: Int32) throws {
        for e in OS.listDirectory(fd: src) {
            var st = stat()
            guard fstatat(src, e.name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            if type == S_IFCHR && rl_is_whiteout(UInt64(st.st_rdev)) != 0 {
                try LayerWriter.removeTree(dst, e.name)
                continue
            }
            var dt = stat()
            let exists = fstatat(dst, e.name, &dt, AT_SYMLINK_NOFOLLOW) == 0
            if type == S_IFDIR {
                if exists && (dt.st_mode & S_IFMT) != S_IFDIR { try LayerWriter.removeTree(dst, e.name) }
                if !exists || (dt.st_mode & S_IFMT) != S_IFDIR, mkdirat(dst, e.name, 0o700) != 0 {
                    throw RootlessError("cannot create \(e.name)", errno: errno)
                }
                let s = openat(src, e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                let d = openat(dst, e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard s >= 0, d >= 0 else { throw RootlessError("cannot open \(e.name)", errno: errno) }
                defer { close(s); close(d) }
                if opaque(s) { for x in OS.listDirectory(fd: d) { try LayerWriter.removeTree(d, x.name) } }
                try copy(s, into: d)
                try meta(from: s, to: d)
                continue
            }
            if exists { try LayerWriter.removeTree(dst, e.name) }
            switch type {
            case S_IFREG:
                let s = openat(src, e.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                let d = openat(dst, e.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard s >= 0, d >= 0 else { throw RootlessError("cannot copy \(e.name)", errno: errno) }
                defer { close(s); close(d) }
                let r = rl_copy_file(s, d, Int64(st.st_size))
                guard r == 0 else { throw RootlessError("cannot copy \(e.name)", errno: -r) }
                try meta(from: s, to: d)
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(src, e.name, &buf, 4096)
                guard n >= 0 else { throw RootlessError("cannot read the symlink \(e.name)", errno: errno) }
                buf[n] = 0
                guard symlinkat(buf, dst, e.name) == 0 else { throw RootlessError("cannot create the symlink \(e.name)", errno: errno) }
                fchownat(dst, e.name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
            default:
                // Devices the unpacker could create (none in a user namespace) and fifos.
                if rl_mknod_at(dst, e.name, st.st_mode, UInt32((st.st_rdev >> 8) & 0xfff), UInt32((st.st_rdev & 0xff) | ((st.st_rdev >> 12) & 0xfff00))) == 0 {
                    fchownat(dst, e.name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
                }
            }
        }
    }

    /// Owner (before the mode: chown clears setuid), mode, the xattrs other than
    /// overlay's own, times.
    static func meta(from s: Int32, to d: Int32) throws {
        var st = stat()
        guard fstat(s, &st) == 0 else { return }
        fchown(d, st.st_uid, st.st_gid)
        fchmod(d, st.st_mode & 0o7777)
        let size = rl_flistxattr(s, nil, 0)
        var names = [CChar](repeating: 0, count: max(Int(size), 0))
        let n = size > 0 ? rl_flistxattr(s, &names, names.count) : 0
        if n > 0 {
            for name in names[0..<n].split(separator: 0).map({ String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) })
            where !name.hasPrefix("user.overlay.") {
                var v = [UInt8](repeating: 0, count: 65536)
                let len = rl_fgetxattr(s, name, &v, v.count)
                if len >= 0 { _ = rl_fsetxattr(d, name, v, Int(len)) }
            }
        }
        var ts = [st.st_atim, st.st_mtim]
        futimens(d, &ts)
    }
}
