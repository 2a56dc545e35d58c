import RootlessOS
import RootlessCore
import FastStart
import CRootless
import Glibc
import ImageFormat

/// The image store, `$XDG_DATA_HOME/rootless` (or ~/.local/share/rootless, or --root):
///
///     blobs/sha256/HEX     manifests and configs, verified by digest on the way in
///     layers/HEX/          an unpacked layer, by diff-id (overlay whiteout format)
///     images/HEX           an image by config digest: its manifest digest
///     names/ESCAPED        a name -> image id
///     tmp/                 layers being unpacked (tmp/layer-HEX, under tmp/HEX.lock)
///     containers/PID-START empty scratch dirs the overlay runs mount their tmpfs upper on
///
/// Everything appears by rename(2) from tmp/ or a .tmp file: a reader never sees half
/// of anything, and a killed import leaves only tmp/ entries that the next import of the
/// same layer (or `rootless gc`) removes.
public struct Store {
    public let root: String

    /// `create: false` (a run): the store must exist; nothing is made.
    public init(root: String, create: Bool = true) throws {
        self.root = root
        guard create else {
            guard OS.lookup(root + "/layers") == true else {
                throw RootlessError("no image store at \(root)", fix: "rootless import (or pull) an image first, or point --root at the store")
            }
            return
        }
        for d in ["", "/blobs", "/blobs/sha256", "/layers", "/images", "/names", "/tmp", "/containers"] {
            if mkdir(root + d, 0o700) != 0 && errno != EEXIST {
                throw RootlessError(
                    "cannot create the image store directory \(root + d)", errno: errno, fix: "check the path, or pick another with --root")
            }
        }
    }

    /// $XDG_DATA_HOME/rootless, else $HOME/.local/share/rootless.
    public static func defaultRoot(env: [String] = OS.environment()) -> String? {
        func value(_ k: String) -> String? { OS.env(k, in: env) }
        if let x = value("XDG_DATA_HOME"), x.hasPrefix("/") {
            _ = mkdir(x, 0o700)  // the XDG spec: create it, private, when missing
            return x + "/rootless"
        }
        if let h = value("HOME"), h.hasPrefix("/"), h != "/" {
            _ = mkdir(h + "/.local", 0o755)
            _ = mkdir(h + "/.local/share", 0o755)
            return h + "/.local/share/rootless"
        }
        return nil
    }

    public func blobPath(_ d: Digest) -> String { root + "/blobs/sha256/" + d.hex }
    public func layerPath(_ d: Digest) -> String { root + "/layers/" + d.hex }
    public func hasLayer(_ d: Digest) -> Bool { OS.lookup(layerPath(d)) == true }

    /// Stores a small blob (a manifest or a config) under its sha256.
    @discardableResult
    public func putBlob(_ bytes: [UInt8]) throws -> Digest {
        let d = SHA256Stream.digest(bytes)
        if OS.lookup(blobPath(d)) == nil {
            guard OS.replaceFile(blobPath(d), bytes, mode: 0o600) else { throw RootlessError("cannot write \(blobPath(d))", errno: errno) }
        }
        return d
    }

    /// A stored blob, verified again (the store is ours, but a disk or a hand may have
    /// changed it).
    public func blob(_ d: Digest) throws -> [UInt8] {
        guard let b = OS.readBytes(blobPath(d), limit: 16 << 20) else {
            throw RootlessError("blob \(d) is missing from the store \(root)", fix: "import or pull the image again")
        }
        // Pure-Swift SHA-256 here: this is on every image run's path, and libcrypto's
        // first use (OpenSSL 3 loads its config and providers) costs a fresh process ~1 ms.
        var h = SHA256()
        h.update(b)
        guard Digest(hex: SHA256.hexString(h.finish(), bytes: 32)) == d else {
            throw RootlessError("blob \(d) in the store \(root) is corrupt", fix: "rootless rmi the image and import or pull it again")
        }
        return b
    }

    // ---- images and names ---------------------------------------------------------------

    public struct Image: Equatable {
        public var id: Digest
        public var manifest: Digest
        public var names: [String]
    }

    public func addImage(config: Digest, manifest: Digest, names: [String]) throws {
        guard OS.replaceFile(root + "/images/" + config.hex, Array("\(manifest)\n".utf8), mode: 0o600) else {
            throw RootlessError("cannot record image \(config) in \(root)", errno: errno)
        }
        for n in names {
            guard OS.replaceFile(root + "/names/" + Self.escape(n), Array("\(config)\n".utf8), mode: 0o600) else {
                throw RootlessError("cannot name image \(config) \(n)", errno: errno)
            }
        }
    }

    public func images() -> [Image] {
        var names: [String: [String]] = [:]
        for e in OS.listDirectory(root + "/names") ?? [] where !e.name.contains(".tmp.") {
            if let id = OS.readFile(root + "/names/" + e.name, limit: 256).flatMap({ Digest($0.trimmingNewline) }) {
                names[id.hex, default: []].append(Self.unescape(e.name))
            }
        }
        return (OS.listDirectory(root + "/images") ?? []).compactMap { e -> Image? in
            guard !e.name.contains(".tmp."), let id = Digest(hex: e.name),
                let m = OS.readFile(root + "/images/" + e.name, limit: 256).flatMap({ Digest($0.trimmingNewline) })
            else { return nil }
            return Image(id: id, manifest: m, names: (names[id.hex] ?? []).sorted())
        }.sorted { ($0.names.first ?? "~" + $0.id.hex) < ($1.names.first ?? "~" + $1.id.hex) }
    }

    /// The image a name points at, by two small reads (names/NAME, images/ID) and no
    /// listing, so a run's start does not grow with the store; `names` holds only this
    /// name. nil when s is not a name (then `resolve` looks at ids too).
    public func named(_ s: String) -> Image? {
        for n in Store.candidates(s) {
            guard let id = OS.readFile(root + "/names/" + Self.escape(n), limit: 256).flatMap({ Digest($0.trimmingNewline) }),
                let m = OS.readFile(root + "/images/" + id.hex, limit: 256).flatMap({ Digest($0.trimmingNewline) })
            else { continue }
            return Image(id: id, manifest: m, names: [n])
        }
        return nil
    }

    /// A name (as given, or normalized as a reference), a full id, or a unique id prefix;
    /// the image with all its names.
    public func resolve(_ s: String) throws -> Image {
        let all = images()
        for n in Store.candidates(s) { if let i = all.first(where: { $0.names.contains(n) }) { return i } }
        let hex = s.hasPrefix("sha256:") ? String(s.dropFirst(7)) : s
        let byID = hex.count >= 4 ? all.filter { $0.id.hex.hasPrefix(hex) } : []
        if byID.count == 1 { return byID[0] }
        throw RootlessError(
            byID.count > 1 ? "image id prefix \(s) is ambiguous" : "no image \(s) in the store \(root)",
            fix: "rootless images lists them; rootless pull or rootless import adds one")
    }

    /// The names s may stand for, in order: itself, a local image's (localhost/NAME, as
    /// podman looks there first), a registry's (docker.io/library/NAME:latest).
    public static func candidates(_ s: String) -> [String] {
        var out = [s]
        for r in ["localhost", "docker.io"] {
            if let n = (try? ImageReference.parse(s, defaultRegistry: r))?.description, !out.contains(n) { out.append(n) }
        }
        return out
    }

    public func removeName(_ n: String) -> Bool { unlink(root + "/names/" + Self.escape(n)) == 0 }
    public func removeImageRecord(_ id: Digest) { unlink(root + "/images/" + id.hex) }

    /// Names are file names: '/' and '%' escaped.
    static func escape(_ n: String) -> String { n.replacingAll("%", "%25").replacingAll("/", "%2F") }
    static func unescape(_ n: String) -> String { n.replacingAll("%2F", "/").replacingAll("%25", "%") }

    // ---- the documents of an image ------------------------------------------------------

    public func manifest(_ i: Image) throws -> OCI.Manifest {
        do { return try OCI.manifest(try blob(i.manifest)) } catch let e as ImageFormatError { throw RootlessError("image \(i.id): \(e)") }
    }

    public func config(_ i: Image) throws -> ImageConfig {
        do { return try OCI.config(try blob(i.id)) } catch let e as ImageFormatError { throw RootlessError("image \(i.id): \(e)") }
    }

    /// An exclusive flock on tmp/NAME.lock (blocks until the holder is done).
    public func lock(_ name: String) throws -> Int32 {
        let fd = open(root + "/tmp/" + name + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RootlessError("cannot open lock \(root)/tmp/\(name).lock", errno: errno) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { close(fd); throw RootlessError("cannot lock \(root)/tmp/\(name).lock", errno: errno) }
        }
        return fd
    }
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String {
        guard contains(a) else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func range(of s: String) -> Range<Index>? {
        guard !s.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(s) { return i..<index(i, offsetBy: s.count) }
            i = index(after: i)
        }
        return nil
    }
}
