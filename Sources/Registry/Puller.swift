import RootlessOS
import Images
import Glibc
import IDMap
import ImageFormat
import RegistryWire

/// `rootless pull REF`: manifest (or index, then the platform's manifest), config, then
/// the layers — downloaded by a few threads in manifest order while this thread unpacks
/// each one as soon as it has arrived (so download and unpack overlap). Blobs land in
/// tmp/blob-HEX.partial under the blob's lock, are verified, then renamed into blobs/;
/// a pull killed at any point leaves a partial that the next pull resumes with a Range
/// request (or `rootless gc` removes).
public struct Puller {
    public struct Options {
        public var platform = Platform.linuxAmd64
        public var creds: Credentials?
        public var authFile: String?
        public var tls = TLSPolicy()
        public var quiet = false
        public var jobs = 3
        /// registries.conf: short-name aliases, mirrors, relocations, blocks.
        public var registries = RegistriesConf()
        public init() {}
    }

    public var store: Store
    public var map: MapMode
    public var options: Options
    public var warn: (String) -> Void

    public init(store: Store, map: MapMode, options: Options, warn: @escaping (String) -> Void) {
        self.store = store
        self.map = map
        self.options = options
        self.warn = warn
    }

    static let accept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerList, MediaType.dockerManifest].joined(separator: ", ")

    /// Pulls and names the image; returns its id (the config digest). A short name with
    /// an alias in registries.conf is the alias; the image is fetched from the first of
    /// its sources (mirrors, then its registry) that has it, and named as asked.
    public func pull(_ refText: String) throws -> Digest {
        let text = options.registries.expand(refText)
        let ref: ImageReference
        do { ref = try ImageReference.parse(text) } catch {
            throw RootlessError("\(refText) is not an image reference: \(error)", fix: "write it as [REGISTRY/]NAME[:TAG|@sha256:DIGEST]")
        }
        let sources: [(ImageReference, insecure: Bool)]
        do { sources = try options.registries.sources(ref) } catch {
            throw RootlessError("\(error)", step: "pull", fix: "pull it from another registry, or change registries.conf")
        }
        for (i, (src, insecure)) in sources.enumerated() {
            do { return try pull(ref, from: src, insecure: insecure) } catch  where i + 1 < sources.count {
                warn("\(src.registry): \((error as? RootlessError)?.message ?? "\(error)"); trying \(sources[i + 1].0.registry)")
            }
        }
        throw RootlessError("\(ref): no source to pull from")
    }

    /// Pulls ref's image from src (ref itself, or a mirror's name for it) and names it ref.
    func pull(_ ref: ImageReference, from src: ImageReference, insecure: Bool) throws -> Digest {
        var tls = options.tls
        if insecure { tls.verify = false }
        // --creds are for the registry asked for; a mirror or a relocation gets its own.
        let creds = try (src.registry == ref.registry ? options.creds : nil) ?? AuthLocations.credentials(for: src, file: options.authFile)
        let registry = RegistryClient(ref: src, creds: creds, tls: tls)
        let client = HTTPClient(tls: tls)
        let progress = PullProgress(quiet: options.quiet)
        do {
            // 1. The manifest: by tag or digest; an index selects the platform's.
            var (bytes, kind) = try fetchManifest(registry, ref.reference, want: ref.digest, client: client)
            if MediaType.indexes.contains(kind) {
                let entry = try wrap { try OCI.select(try OCI.index(bytes), platform: options.platform) }
                (bytes, kind) = try fetchManifest(registry, entry.digest.description, want: entry.digest, client: client)
                guard MediaType.manifests.contains(kind) else {
                    throw RootlessError("\(ref): the index's entry for \(options.platform) is a \(kind), not an image manifest")
                }
            }
            let manifest = try wrap { try OCI.manifest(bytes) }
            // 2. The config: small, fetched whole and verified.
            let configBytes: [UInt8]
            if let b = try? store.blob(manifest.config.digest) {
                configBytes = b
            } else {
                guard manifest.config.size <= 16 << 20 else { throw RootlessError("\(ref): config of \(manifest.config.size) bytes is over 16 MiB") }
                let r = try registry.get("/blobs/\(manifest.config.digest)", client: client)
                configBytes = try client.readAll(r, limit: manifest.config.size)
                guard SHA256Stream.digest(configBytes) == manifest.config.digest else {
                    throw RootlessError(
                        "\(ref): the config does not match its digest \(manifest.config.digest)", fix: "the registry served corrupt data; pull again")
                }
            }
            let config = try wrap { try OCI.config(configBytes) }
            guard config.diffIDs.count == manifest.layers.count else {
                throw RootlessError("\(ref): config has \(config.diffIDs.count) diff-ids for \(manifest.layers.count) layers", fix: "the image is corrupt")
            }
            // 3. Layers: what is unpacked already is skipped; the rest overlap download and unpack.
            try layers(manifest.layers, config.diffIDs, registry: registry, progress: progress)
            let id = try store.putBlob(configBytes)
            let m = try store.putBlob(bytes)
            try store.addImage(config: id, manifest: m, names: [ref.description])
            return id
        } catch let e as HTTPError {
            throw RootlessError("pulling \(ref) from \(registry.host): \(e)", fix: Self.fix(for: e, registry.host))
        }
    }

    static func fix(for e: HTTPError, _ host: String) -> String {
        switch e {
        case .tls: return "the server does not speak TLS as expected; if it is a plain-HTTP registry elsewhere than on loopback, pass --tls-verify=false"
        case .untrusted: return "if \(host) uses a private CA, put it in ~/.config/containers/certs.d/\(host)/ca.crt; --tls-verify=false skips the check"
        case .connect: return "check the registry's address and that it is running (and the network)"
        case .closed: return "pull again: what has arrived is kept and resumed"
        case .protocolError: return "the registry (or a proxy) answered something that is not HTTP/1.1"
        }
    }

    func fetchManifest(_ r: RegistryClient, _ reference: String, want: Digest?, client: HTTPClient) throws -> ([UInt8], String) {
        let resp = try r.get("/manifests/\(reference)", headers: [("Accept", Self.accept)], client: client)
        let bytes = try client.readAll(resp, limit: 4 << 20)
        let digest = SHA256Stream.digest(bytes)
        if let w = want, w != digest {
            throw RootlessError("\(r.ref): the manifest served for \(w) has digest \(digest)", fix: "the registry served corrupt or substituted data")
        }
        let doc = try wrap { try JSONParser.parse(bytes) }
        let declared = resp.head.header("content-type").map { String($0.split(separator: ";")[0]) }
        let kind = OCI.kind(doc, declared: declared)
        guard MediaType.manifests.contains(kind) || MediaType.indexes.contains(kind) else {
            throw RootlessError(
                "\(r.ref): unsupported manifest type \(kind)",
                fix: "schema 1 and other manifest kinds are not supported; push the image as OCI or Docker schema 2")
        }
        return (bytes, kind)
    }

    /// Downloads the missing blobs on `options.jobs` threads, in manifest order, and
    /// unpacks each layer on this thread as soon as its blob is complete.
    func layers(_ descs: [Descriptor], _ diffIDs: [Digest], registry: RegistryClient, progress: PullProgress) throws {
        enum Slot { case pending, ready, failed(Error) }
        let monitor = Monitor()
        var slots = [Slot](repeating: .pending, count: descs.count)
        var next = 0
        var stop = false
        let lines = descs.map { progress.add(String($0.digest.hex.prefix(12)), total: $0.size) }
        // Already unpacked, or blob present: nothing to fetch.
        for i in descs.indices where store.hasLayer(diffIDs[i]) || OS.lookup(store.blobPath(descs[i].digest)) == false {
            slots[i] = .ready
        }
        let store = self.store
        let worker: () -> Void = {
            let client = HTTPClient(tls: registry.tls)
            while true {
                let i: Int? = monitor.locked {
                    while next < descs.count, case .ready = slots[next] { next += 1 }
                    guard !stop, next < descs.count else { return nil }
                    next += 1
                    return next - 1
                }
                guard let i else { return }
                var result = Slot.ready
                do {
                    try Self.download(descs[i], store: store, registry: registry, client: client, progress: progress, line: lines[i])
                } catch {
                    result = .failed(error)
                    progress.set(lines[i], .failed, note: "\(error)")
                }
                monitor.locked {
                    slots[i] = result; monitor.notifyAll()
                }
            }
        }
        let missing = slots.filter { if case .pending = $0 { return true } else { return false } }.count
        var threads: [pthread_t] = []
        for _ in 0..<min(max(1, options.jobs), missing) { if let t = Threads.start(worker) { threads.append(t) } }
        if threads.isEmpty && missing > 0 { worker() }  // could not start threads: do it here
        defer {
            monitor.locked { stop = true }
            threads.forEach(Threads.join)
        }
        for i in descs.indices {
            let s: Slot = monitor.locked {
                while case .pending = slots[i] { monitor.wait() }
                return slots[i]
            }
            if case .failed(let e) = s { throw e }
            if store.hasLayer(diffIDs[i]) { progress.set(lines[i], .skipped, note: "layer already unpacked"); continue }
            progress.set(lines[i], .unpacking)
            _ = try Unpacker.run(
                [Unpacker.Job(blob: store.blobPath(descs[i].digest), digest: descs[i].digest, diffID: diffIDs[i])], store: store, map: map, warn: warn)
            progress.set(lines[i], .unpacked)
        }
    }

    /// One blob into the store: resumed from its partial file when one is left, retried
    /// (resuming) when the connection drops, verified, renamed into place.
    static func download(_ d: Descriptor, store: Store, registry: RegistryClient, client: HTTPClient, progress: PullProgress, line: Int) throws {
        let lock = try store.lock("blob-" + d.digest.hex)
        defer { close(lock) }
        if OS.lookup(store.blobPath(d.digest)) == false { progress.set(line, .skipped); return }  // another pull finished it
        let part = store.root + "/tmp/blob-" + d.digest.hex + ".partial"
        let fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RootlessError("cannot create \(part)", errno: errno) }
        defer { close(fd) }
        func truncate() throws {
            guard ftruncate(fd, 0) == 0 else { throw RootlessError("cannot truncate \(part)", errno: errno) }
        }
        // What a killed pull left is hashed again rather than trusted; from then on the
        // hash follows every byte written, so the end needs no second pass.
        var hash = SHA256Stream()
        var have = try rehash(fd, into: hash, limit: d.size, path: part)
        if have > d.size { try truncate(); hash = SHA256Stream(); have = 0 }
        var attempt = 0
        while true {
            if have == d.size {
                if hash.finish() == d.digest { break }
                try truncate(); hash = SHA256Stream(); have = 0
                guard attempt < 4 else {
                    throw RootlessError(
                        "blob \(d.digest) from \(registry.ref.registry) does not match its digest", fix: "the registry serves corrupt data; tell its operator")
                }
            }
            attempt += 1
            progress.restart(line, at: have)
            progress.set(line, .downloading, note: have > 0 ? "resuming at \(Text.human(have))" : nil)
            do {
                let r = try registry.get("/blobs/\(d.digest)", headers: have > 0 ? [("Range", "bytes=\(have)-")] : [], client: client)
                if r.head.status != 206 && have > 0 {  // the whole blob after all: start over
                    try truncate(); hash = SHA256Stream(); have = 0
                    progress.restart(line, at: 0)
                }
                try client.readBody(r, limit: d.size - have) { p in
                    var off = 0
                    while off < p.count {
                        let n = pwrite(fd, p.baseAddress! + off, p.count - off, off_t(have))
                        guard n > 0 else {
                            throw RootlessError(
                                "cannot write \(part)", errno: errno, fix: "free some disk space and pull again (the download resumes)")
                        }
                        hash.update(UnsafeRawBufferPointer(rebasing: p[off..<(off + n)]))
                        off += n
                        have += Int64(n)
                    }
                    progress.advance(line, by: p.count)
                }
                guard have == d.size else {
                    throw RootlessError(
                        "blob \(d.digest): the registry sent \(have) bytes, the manifest says \(d.size)", fix: "the image is corrupt in the registry")
                }
            } catch let e as HTTPError {
                if case .closed = e, attempt < 4 { continue }  // resume from what arrived
                throw e
            }
        }
        guard rename(part, store.blobPath(d.digest)) == 0 else { throw RootlessError("cannot move \(part) into the store", errno: errno) }
        progress.set(line, .done)
    }

    /// Feeds the file's first bytes (at most limit) to hash; returns how many.
    static func rehash(_ fd: Int32, into h: SHA256Stream, limit: Int64, path: String) throws -> Int64 {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var off: Int64 = 0
        while off < limit {
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, Int(min(Int64($0.count), limit - off)), off_t(off)) }
            guard n >= 0 else { throw RootlessError("cannot read \(path)", errno: errno) }
            if n == 0 { break }
            buf.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            off += Int64(n)
        }
        var st = stat()
        if fstat(fd, &st) == 0, Int64(st.st_size) > limit { return Int64(st.st_size) }  // longer than declared: start over
        return off
    }

    func wrap<T>(_ f: () throws -> T) throws -> T {
        do { return try f() } catch let e as ImageFormatError { throw RootlessError(e.description) } catch let e as JSONError {
            throw RootlessError("bad JSON from the registry: \(e)")
        }
    }
}
