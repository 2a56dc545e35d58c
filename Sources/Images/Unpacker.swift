import RootlessOS
import RootlessCore
import FastStart
import CRootless
import Glibc
import IDMap
import ImageFormat

/// Unpacking layers into the store, in the store's user namespace: the parent side
/// (spawns `rootless __unpack` there, the keeper's namespace under --map auto) and the
/// child side (that hidden command: blobs in, layer directories and digests out).
public enum Unpacker {
    public struct Job {
        public var blob: String
        /// The digest the blob must have (nil: none known, e.g. a plain rootfs tar).
        public var digest: Digest?
        /// The diff-id the tar must have (nil: computed and used as the layer's id).
        public var diffID: Digest?
        package init(blob: String, digest: Digest?, diffID: Digest?) { self.blob = blob; self.digest = digest; self.diffID = diffID }
    }

    /// Unpacks the jobs whose layer is missing (one at a time, each under its layer's
    /// lock, so two imports of one image do the work once), into tmp/layer-HEX, then
    /// renames it to layers/HEX. Returns the diff-ids in job order.
    public static func run(_ jobs: [Job], store: Store, map: MapMode, warn: (String) -> Void) throws -> [Digest] {
        var out: [Digest] = []
        for (i, j) in jobs.enumerated() {
            if let d = j.diffID, store.hasLayer(d) { out.append(d); continue }
            // Without a known diff-id (a plain rootfs tar) the lock is on the blob.
            let key = j.diffID?.hex ?? ("blob-" + (j.digest?.hex ?? String(i)))
            let lock = try store.lock(key)
            defer { close(lock) }
            if let d = j.diffID, store.hasLayer(d) { out.append(d); continue }
            let tmp = store.root + "/tmp/layer-" + key
            let result = store.root + "/tmp/result-\(getpid())"
            defer { unlink(result) }
            // The child checks the digests and moves the layer into layers/ itself: the
            // layer's root directory may belong to a subordinate id (the tar's "./" entry),
            // and moving a directory to another parent needs write access to it, which
            // only root in the store's namespace has.
            let code = try inNamespace(
                [
                    "/proc/self/exe", "__unpack", j.blob, tmp, result, store.root + "/layers",
                    j.digest?.description ?? "-", j.diffID?.description ?? "-",
                ], map: map)
            let text = OS.readFile(result, limit: 1 << 16) ?? ""
            let lines = text.split(separator: "\n").map(String.init)
            guard code == 0, let first = lines.first else {
                throw RootlessError(lines.first.map { String($0) } ?? "unpacking \(j.blob) failed (exit \(code))")
            }
            let f = first.split(separator: " ").map(String.init)
            guard f.count == 3, Digest(f[0]) != nil, let diffID = Digest(f[1]) else { throw RootlessError("unpacking \(j.blob): bad result \"\(first)\"") }
            for n in lines.dropFirst() { warn(n) }
            out.append(diffID)
        }
        return out
    }

    /// A rootless command in the store's user namespace; its exit status. It runs as
    /// `rootless unshare --die-with-parent`, a fresh process (posix_spawn: exec, no Swift
    /// in a forked child): joining the keeper's namespace is a setns() of the launching
    /// process that cannot be undone, and this process has work left to do as itself.
    static func inNamespace(_ argv: [String], map: MapMode) throws -> Int32 {
        let args = ["rootless", "unshare", "--die-with-parent", "--map", map.rawValue, "--"] + argv
        let cargs = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, "/proc/self/exe", nil, nil, cargs, environ)
        guard r == 0 else { throw RootlessError("cannot start rootless unshare", errno: r) }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        return (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
    }

    /// `rootless unshare`: the launch itself, in this process.
    package static func launch(_ argv: [String], map: MapMode, dieWithParent: Bool) throws -> Int32 {
        let facts = SystemFacts.gather(subIDs: map != .selfOnly, cgroups: false)
        var plan = try Planner.planUnshare(command: argv, map: map, facts)
        plan.dieWithParent = dieWithParent
        return Launcher(fast: KeeperStarts(), warn: { OS.writeStderr("rootless: " + $0 + "\n") }).run(plan)
    }

    static func removeInNamespace(_ path: String, map: MapMode) throws {
        guard OS.lookup(path) != nil else { return }
        // After a run that joined the keeper, this process is root in the store's
        // namespace already (setns is for good): remove directly.
        if let m = OS.readFile("/proc/self/uid_map", limit: 4096),
            !m.split(separator: "\n").contains(where: { $0.split(separator: " ") == ["0", "0", "4294967295"] })
        {
            return try removeTree(path)
        }
        _ = try inNamespace(["/proc/self/exe", "__rmtree", path], map: map)
    }

    // ---- the child side: `rootless __unpack BLOB DEST RESULT LAYERS WANTDIGEST WANTDIFF`

    /// Runs as root in the store's namespace: unpacks into DEST, checks the blob digest
    /// and diff-id against the wanted ones ("-": none), then renames DEST to
    /// LAYERS/DIFFID (or drops it if that layer appeared meanwhile). Writes "BLOBDIGEST
    /// DIFFID COMPRESSION" and then the notes to RESULT; on failure, the error as its
    /// first line (exit 1), and DEST is gone.
    public static func child(_ args: [String]) -> Int32 {
        guard args.count == 6 else { return 2 }
        let (blob, dest, result, layers) = (args[0], args[1], args[2], args[3])
        let wantDigest = Digest(args[4]), wantDiff = Digest(args[5])
        do {
            if OS.lookup(dest) != nil { try removeTree(dest) }  // left by a killed import
            guard mkdir(dest, 0o755) == 0 else { throw RootlessError("cannot create \(dest)", errno: errno) }
            let root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            let fd = open(blob, O_RDONLY | O_CLOEXEC)
            guard root >= 0, fd >= 0 else { throw RootlessError("cannot open \(fd < 0 ? blob : dest)", errno: errno) }
            defer { close(fd); close(root) }
            let src = BlobSource(fd: fd)
            var reader = TarReader(src)
            let notes = try LayerWriter.unpack(&reader, into: root)
            try src.drain()
            let (digest, diffID) = (src.compressed.finish(), src.uncompressed.finish())
            if let want = wantDigest, want != digest {
                throw RootlessError(
                    "layer \(blob) has digest \(digest), not the \(want) its manifest names", fix: "the image is corrupt or was tampered with; fetch it again")
            }
            if let want = wantDiff, want != diffID {
                throw RootlessError(
                    "layer \(blob) unpacks to diff-id \(diffID), not the \(want) the image config names",
                    fix: "the image is corrupt or was tampered with; fetch it again")
            }
            let final = layers + "/" + diffID.hex
            if OS.lookup(final) != nil {
                try removeTree(dest)
            } else if rename(dest, final) != 0 {
                throw RootlessError("cannot move the unpacked layer into \(final)", errno: errno)
            }
            let line = "\(digest) \(diffID) \(src.compression.rawValue)\n" + notes.sorted().map { $0 + "\n" }.joined()
            _ = OS.replaceFile(result, Array(line.utf8))
            return 0
        } catch {
            if OS.lookup(dest) != nil { try? removeTree(dest) }
            _ = OS.replaceFile(result, Array("\(error)\n".utf8))
            return 1
        }
    }

    public static func removeTree(_ path: String) throws {
        let slash = path.lastIndex(of: "/")!
        let parent = open(slash == path.startIndex ? "/" : String(path[..<slash]), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        try LayerWriter.removeTree(parent, String(path[path.index(after: slash)...]))
    }
}
