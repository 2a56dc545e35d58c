import RootlessOS
import RootlessCore
import FastStart
import Glibc
import IDMap
import ImageFormat

/// `rootless import SOURCE`: an OCI image layout (directory or tar, as skopeo, umoci and
/// buildah write it), a docker-archive tar (docker/podman save), or a plain root
/// filesystem tar (.tar, .tar.gz, .tar.zst) or directory.
public struct Importer {
    public var store: Store
    public var map: MapMode
    public var platform: Platform = .linuxAmd64
    public var warn: (String) -> Void

    public init(store: Store, map: MapMode, platform: Platform = .linuxAmd64, warn: @escaping (String) -> Void) {
        self.store = store
        self.map = map
        self.platform = platform
        self.warn = warn
    }

    /// Imports and names the image; returns its id.
    public func importSource(_ source: String, name: String?) throws -> Digest {
        // "DIR:REF" picks a tagged image of an OCI layout, as skopeo's oci: transport.
        var path = source
        var ref: String?
        if OS.lookup(source) == nil, let c = source.lastIndex(of: ":"), OS.lookup(String(source[..<c])) != nil {
            path = String(source[..<c])
            ref = String(source[source.index(after: c)...])
        }
        guard let kind = OS.lookup(path) else {
            throw RootlessError("\(source) does not exist", fix: "give an OCI layout directory, an image archive or a root filesystem tar")
        }
        if kind {
            if OS.lookup(path + "/index.json") == false { return try ociLayout(path, ref: ref, name: name, origin: source) }
            return try rootfsDirectory(path, name: name)
        }
        switch try ArchiveScan.kind(path) {
        case .ociLayout, .dockerArchive:
            let dir = store.root + "/tmp/import-\(getpid())"
            defer { _ = OS.removeTree(dir) }
            try ArchiveScan.extract(path, into: dir)
            if OS.lookup(dir + "/index.json") == false { return try ociLayout(dir, ref: ref, name: name, origin: source) }
            return try dockerArchive(dir, name: name)
        case .rootfs:
            return try rootfs(path, name: name)
        }
    }

    func names(_ given: String?, fallback: [String]) throws -> [String] {
        // A name given here without a registry is a local image's: localhost/NAME, as podman.
        if let n = given { return [try ImageReference.parse(n, defaultRegistry: "localhost").description] }
        return fallback.compactMap { try? ImageReference.parse($0).description }
    }

    func rootfs(_ path: String, name: String?) throws -> Digest {
        guard let n = name else { throw RootlessError("a root filesystem tar has no name of its own", fix: "add --name NAME") }
        let diff = try Unpacker.run([Unpacker.Job(blob: path, digest: nil, diffID: nil)], store: store, map: map, warn: warn)[0]
        let config = try store.putBlob(OCI.synthesizedConfig(diffID: diff, created: Self.now(), platform: platform))
        let layer = Descriptor(mediaType: MediaType.ociLayer, digest: diff, size: OS.fileSize(path) ?? 0)
        let cfg = Descriptor(mediaType: MediaType.ociConfig, digest: config, size: Int64(try store.blob(config).count))
        let manifest = try store.putBlob(OCI.manifestJSON(config: cfg, layers: [layer]))
        try store.addImage(config: config, manifest: manifest, names: try names(n, fallback: []))
        return config
    }

    /// A plain directory: written as a tar (0:0 owners) into tmp/import-PID, then
    /// imported as a rootfs tar; the tar is not kept.
    func rootfsDirectory(_ path: String, name: String?) throws -> Digest {
        guard name != nil else { throw RootlessError("a root filesystem directory has no name of its own", fix: "add --name NAME") }
        let dir = store.root + "/tmp/import-\(getpid())"
        _ = OS.removeTree(dir)
        guard mkdir(dir, 0o700) == 0 else { throw RootlessError("cannot create \(dir)", errno: errno) }
        defer { _ = OS.removeTree(dir) }
        for n in try DirArchive.write(path, to: dir + "/layer.tar") { warn(n) }
        return try rootfs(dir + "/layer.tar", name: name)
    }

    func ociLayout(_ dir: String, ref: String?, name: String?, origin: String) throws -> Digest {
        guard let idx = OS.readBytes(dir + "/index.json", limit: 16 << 20) else { throw RootlessError("cannot read \(dir)/index.json") }
        var entries = try wrap { try OCI.index(idx) }
        if let r = ref {
            entries = entries.filter { $0.annotations["org.opencontainers.image.ref.name"] == r }
            guard !entries.isEmpty else { throw RootlessError("no image tagged \(r) in \(dir)/index.json") }
        }
        guard var d = entries.count == 1 ? entries[0] : nil else {
            let refs = entries.compactMap { $0.annotations["org.opencontainers.image.ref.name"] }
            throw RootlessError("\(dir) holds \(entries.count) images", fix: "pick one as \(dir):REF (it has: \(refs.joined(separator: ", ")))")
        }
        let refName = d.annotations["org.opencontainers.image.ref.name"]
        var manifestBytes = try layoutBlob(dir, d)
        // An index inside: one image per platform.
        if MediaType.indexes.contains(OCI.kind(try wrap { try JSONParser.parse(manifestBytes) }, declared: d.mediaType)) {
            d = try wrap { try OCI.select(try OCI.index(manifestBytes), platform: platform) }
            manifestBytes = try layoutBlob(dir, d)
        }
        let m = try wrap { try OCI.manifest(manifestBytes) }
        let configBytes = try layoutBlob(dir, m.config)
        let config = try wrap { try OCI.config(configBytes) }
        guard config.diffIDs.count == m.layers.count else {
            throw RootlessError("image config has \(config.diffIDs.count) diff-ids for \(m.layers.count) layers", fix: "the image is corrupt")
        }
        let jobs = zip(m.layers, config.diffIDs).map { Unpacker.Job(blob: dir + "/blobs/sha256/" + $0.0.digest.hex, digest: $0.0.digest, diffID: $0.1) }
        _ = try Unpacker.run(jobs, store: store, map: map, warn: warn)
        let id = try store.putBlob(configBytes)
        let manifest = try store.putBlob(manifestBytes)
        let base = origin.split(separator: "/").last.map { String($0.split(separator: ":").first ?? $0) }?.lowercased() ?? "image"
        let fallback = refName.map { $0.contains("/") ? $0 : "localhost/\(base):\($0)" }.map { [$0] } ?? []
        try store.addImage(config: id, manifest: manifest, names: try names(name, fallback: fallback))
        return id
    }

    /// A blob of the layout, read whole (manifests, configs) and checked against its digest.
    func layoutBlob(_ dir: String, _ d: Descriptor) throws -> [UInt8] {
        guard d.size <= 16 << 20, let b = OS.readBytes(dir + "/blobs/sha256/" + d.digest.hex, limit: 16 << 20) else {
            throw RootlessError("\(dir) lacks blob \(d.digest) (or it is over 16 MiB)", fix: "the layout is incomplete; copy it again")
        }
        guard SHA256Stream.digest(b) == d.digest else {
            throw RootlessError("blob \(d.digest) in \(dir) does not match its digest", fix: "the layout is corrupt; copy it again")
        }
        return b
    }

    func dockerArchive(_ dir: String, name: String?) throws -> Digest {
        guard let mb = OS.readBytes(dir + "/manifest.json", limit: 16 << 20) else { throw RootlessError("the archive has no manifest.json") }
        let all = try wrap { try OCI.dockerArchive(mb) }
        guard all.count == 1, let img = all.first else {
            throw RootlessError("the archive holds \(all.count) images; import them one at a time", fix: "save one image per archive")
        }
        for p in [img.config] + img.layers { _ = try LayerWriter.components(p) }  // names inside the archive: no escapes
        guard let configBytes = OS.readBytes(dir + "/" + img.config, limit: 16 << 20) else { throw RootlessError("the archive lacks its config \(img.config)") }
        let config = try wrap { try OCI.config(configBytes) }
        guard config.diffIDs.count == img.layers.count else {
            throw RootlessError("the archive's config has \(config.diffIDs.count) diff-ids for \(img.layers.count) layers")
        }
        let jobs = zip(img.layers, config.diffIDs).map { Unpacker.Job(blob: dir + "/" + $0.0, digest: nil, diffID: $0.1) }
        let diffs = try Unpacker.run(jobs, store: store, map: map, warn: warn)
        let id = try store.putBlob(configBytes)
        let layers = diffs.map { Descriptor(mediaType: MediaType.ociLayer, digest: $0, size: 0) }
        let manifest = try store.putBlob(
            OCI.manifestJSON(config: Descriptor(mediaType: MediaType.ociConfig, digest: id, size: Int64(configBytes.count)), layers: layers))
        try store.addImage(config: id, manifest: manifest, names: try names(name, fallback: img.repoTags))
        return id
    }

    func wrap<T>(_ f: () throws -> T) throws -> T {
        do { return try f() } catch let e as ImageFormatError { throw RootlessError(e.description) } catch let e as JSONError {
            throw RootlessError("bad JSON: \(e)")
        }
    }

    static func now() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func d2(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
        return "\(tmv.tm_year + 1900)-\(d2(tmv.tm_mon + 1))-\(d2(tmv.tm_mday))T\(d2(tmv.tm_hour)):\(d2(tmv.tm_min)):\(d2(tmv.tm_sec))Z"
    }
}

/// What an archive file is, and its plain files out (image archives hold only blobs and
/// small JSON documents, so ownership does not matter and no namespace is needed).
enum ArchiveScan {
    enum Kind { case ociLayout, dockerArchive, rootfs }

    static func kind(_ path: String) throws -> Kind {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RootlessError("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        let src = BlobSource(fd: fd)
        var r = TarReader(src)
        var sawLayout = false, sawManifest = false
        do {
            while let e = try r.next() {
                let p = e.path.hasPrefix("./") ? String(e.path.dropFirst(2)) : e.path
                if p == "oci-layout" || p == "index.json" { sawLayout = true }
                if p == "manifest.json" { sawManifest = true }
                // A root filesystem shows itself early; an image archive has no etc/ or bin/.
                if p.hasPrefix("etc/") || p.hasPrefix("bin/") || p.hasPrefix("usr/") { return .rootfs }
            }
        } catch let e as TarError {
            throw RootlessError(
                "\(path) is not a tar archive we can read: \(e)", fix: "give an OCI layout, a docker-archive, or a root filesystem .tar/.tar.gz/.tar.zst")
        }
        if src.compression != .none { return .rootfs }
        return sawLayout ? .ociLayout : sawManifest ? .dockerArchive : .rootfs
    }

    static func extract(_ path: String, into dir: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RootlessError("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        _ = OS.removeTree(dir)
        guard mkdir(dir, 0o700) == 0 else { throw RootlessError("cannot create \(dir)", errno: errno) }
        let root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(root) }
        var r = TarReader(BlobSource(fd: fd))
        var w = LayerWriter(root: root)
        do {
            while var e = try r.next() {
                guard e.kind == .file || e.kind == .directory else { continue }
                e.uid = getuid()
                e.gid = getgid()
                e.mode = e.kind == .directory ? 0o700 : 0o600
                e.xattrs = [:]
                try w.apply(e, from: &r)
            }
        } catch let e as TarError {
            throw RootlessError("\(path) is damaged: \(e)")
        }
    }
}
