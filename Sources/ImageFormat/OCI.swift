// OCI image-spec and Docker schema-2 documents: descriptors, manifests, indexes /
// manifest lists, image configs, and docker-archive's manifest.json. Pure: JSON bytes in,
// validated values out; unknown fields are ignored (the specs require it), missing or
// mistyped required ones are errors that name the field.
@_exported import PureJSON

public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    public static let manifests: Set<String> = [ociManifest, dockerManifest]
    public static let indexes: Set<String> = [ociIndex, dockerList]
}

public struct ImageFormatError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// "sha256:<64 lowercase hex>" (the only algorithm we verify).
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hex: String
    public init?(_ s: String) {
        guard s.hasPrefix("sha256:") else { return nil }
        let h = s.dropFirst(7)
        guard h.utf8.count == 64, h.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        hex = String(h)
    }
    public init?(hex: String) { self.init("sha256:" + hex) }
    public var description: String { "sha256:" + hex }
    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}

public enum Compression: String, Equatable, Sendable { case none, gzip, zstd }

public struct Platform: Equatable, Sendable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?
    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }
    /// "linux/amd64", "linux/arm64/v8".
    public init?(parsing s: String) {
        let p = s.split(separator: "/").map(String.init)
        guard (2...3).contains(p.count), p.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(os: p[0], architecture: p[1], variant: p.count == 3 ? p[2] : nil)
    }
    public var description: String { "\(os)/\(architecture)" + (variant.map { "/" + $0 } ?? "") }
    public static let linuxAmd64 = Platform(os: "linux", architecture: "amd64")
}

public struct Descriptor: Equatable, Sendable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]
    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String] = [:]) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }

    /// A layer's compression, from its media type.
    public var compression: Compression? {
        switch mediaType {
        case MediaType.ociLayer, "application/vnd.oci.image.layer.nondistributable.v1.tar": return Compression.none
        case MediaType.ociLayerGzip, MediaType.dockerLayerGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
            return .gzip
        case MediaType.ociLayerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": return .zstd
        default: return nil
        }
    }
}

/// The image config fields a run uses.
public struct ImageConfig: Equatable, Sendable {
    public var architecture: String
    public var os: String
    public var env: [String]
    public var entrypoint: [String]
    public var cmd: [String]
    public var workingDir: String
    public var user: String
    public var diffIDs: [Digest]
}

extension JSONValue {
    public subscript(_ key: String) -> JSONValue? {
        guard case .object(let o) = self else { return nil }
        return o.last { $0.0 == key }?.1
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var int64Value: Int64? { if case .number(let n) = self { return Int64(n) } else { return nil } }
}

public enum OCI {
    static func req<T>(_ v: T?, _ what: String) throws -> T {
        guard let v else { throw ImageFormatError("\(what) is missing or has the wrong type") }
        return v
    }

    public static func descriptor(_ v: JSONValue, _ what: String) throws -> Descriptor {
        let ds = try req(v["digest"]?.stringValue, "\(what).digest")
        guard let d = Digest(ds) else { throw ImageFormatError("\(what).digest \"\(ds.prefix(80))\" is not a sha256 digest") }
        let size = try req(v["size"]?.int64Value, "\(what).size")
        guard size >= 0 else { throw ImageFormatError("\(what).size is negative") }
        var platform: Platform?
        if let p = v["platform"] {
            platform = Platform(
                os: try req(p["os"]?.stringValue, "\(what).platform.os"),
                architecture: try req(p["architecture"]?.stringValue, "\(what).platform.architecture"),
                variant: p["variant"]?.stringValue)
        }
        var ann: [String: String] = [:]
        if case .object(let o)? = v["annotations"] { for (k, x) in o { if let s = x.stringValue { ann[k] = s } } }
        return Descriptor(mediaType: v["mediaType"]?.stringValue ?? "", digest: d, size: size, platform: platform, annotations: ann)
    }

    /// What a manifest or index document is: its own mediaType field, else the one it was
    /// served or referenced with, else by shape (manifests have "config").
    public static func kind(_ doc: JSONValue, declared: String?) -> String {
        if let m = doc["mediaType"]?.stringValue, !m.isEmpty { return m }
        if let d = declared, MediaType.manifests.contains(d) || MediaType.indexes.contains(d) { return d }
        return doc["manifests"] != nil ? MediaType.ociIndex : MediaType.ociManifest
    }

    public struct Manifest: Equatable, Sendable {
        public var config: Descriptor
        public var layers: [Descriptor]
    }

    public static func manifest(_ bytes: [UInt8]) throws -> Manifest {
        let v = try parse(bytes, "manifest")
        guard v["schemaVersion"]?.int64Value == 2 else { throw ImageFormatError("manifest schemaVersion is not 2 (schema 1 images are not supported)") }
        let config = try descriptor(try req(v["config"], "manifest.config"), "manifest.config")
        let layers = try req(v["layers"]?.arrayValue, "manifest.layers").enumerated().map { try descriptor($0.element, "manifest.layers[\($0.offset)]") }
        for (i, l) in layers.enumerated() where l.compression == nil {
            throw ImageFormatError("manifest.layers[\(i)] has media type \"\(l.mediaType)\", which is not a tar layer we can unpack")
        }
        return Manifest(config: config, layers: layers)
    }

    public static func index(_ bytes: [UInt8]) throws -> [Descriptor] {
        let v = try parse(bytes, "index")
        return try req(v["manifests"]?.arrayValue, "index.manifests").enumerated().map { try descriptor($0.element, "index.manifests[\($0.offset)]") }
    }

    /// The entry of an index for `platform` (a variant, when asked, must match too).
    public static func select(_ entries: [Descriptor], platform: Platform) throws -> Descriptor {
        let fits = entries.filter {
            guard let p = $0.platform else { return false }
            return p.os == platform.os && p.architecture == platform.architecture && (platform.variant == nil || p.variant == platform.variant)
        }
        guard let first = fits.first else {
            let have = entries.compactMap { $0.platform?.description }
            throw ImageFormatError("no image for \(platform) in the index (it has: \(have.isEmpty ? "no platforms" : have.joined(separator: ", ")))")
        }
        return first
    }

    public static func config(_ bytes: [UInt8]) throws -> ImageConfig {
        let v = try parse(bytes, "image config")
        func strings(_ x: JSONValue?, _ what: String) throws -> [String] {
            guard let x, x != .null else { return [] }
            return try req(x.arrayValue, what).map { try req($0.stringValue, what) }
        }
        let c = v["config"] ?? .null
        let ids = try strings(v["rootfs"]?["diff_ids"], "config.rootfs.diff_ids")
        let diffIDs = try ids.map { s -> Digest in
            guard let d = Digest(s) else { throw ImageFormatError("config.rootfs.diff_ids has \"\(s.prefix(80))\", not a sha256 digest") }
            return d
        }
        return ImageConfig(
            architecture: v["architecture"]?.stringValue ?? "", os: v["os"]?.stringValue ?? "",
            env: try strings(c["Env"], "config.config.Env"), entrypoint: try strings(c["Entrypoint"], "config.config.Entrypoint"),
            cmd: try strings(c["Cmd"], "config.config.Cmd"), workingDir: c["WorkingDir"]?.stringValue ?? "",
            user: c["User"]?.stringValue ?? "", diffIDs: diffIDs)
    }

    /// docker-archive (`docker save`): manifest.json = [{Config, RepoTags, Layers}].
    public struct ArchiveImage: Equatable, Sendable {
        public var config: String
        public var repoTags: [String]
        public var layers: [String]
    }

    public static func dockerArchive(_ bytes: [UInt8]) throws -> [ArchiveImage] {
        let v = try parse(bytes, "manifest.json")
        return try req(v.arrayValue, "manifest.json (an array)").enumerated().map { i, e in
            ArchiveImage(
                config: try req(e["Config"]?.stringValue, "manifest.json[\(i)].Config"),
                repoTags: (e["RepoTags"]?.arrayValue ?? []).compactMap(\.stringValue),
                layers: try req(e["Layers"]?.arrayValue, "manifest.json[\(i)].Layers").map { try req($0.stringValue, "manifest.json[\(i)].Layers") })
        }
    }

    static func parse(_ b: [UInt8], _ what: String) throws -> JSONValue {
        do { return try JSONParser.parse(b) } catch let e as JSONError { throw ImageFormatError("\(what): \(e)") }
    }

    /// The config and manifest we write for an image imported from a plain root
    /// filesystem (one uncompressed layer).
    public static func synthesizedConfig(diffID: Digest, created: String, platform: Platform = .linuxAmd64, cmd: [String] = ["/bin/sh"]) -> [UInt8] {
        let cmdJSON = "[" + cmd.map(jsonString).joined(separator: ",") + "]"
        return Array(
            """
            {"architecture":\(jsonString(platform.architecture)),"os":\(jsonString(platform.os)),"created":\(jsonString(created)),\
            "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":\(cmdJSON)},\
            "rootfs":{"type":"layers","diff_ids":[\(jsonString(diffID.description))]}}
            """.utf8)
    }

    public static func manifestJSON(config: Descriptor, layers: [Descriptor]) -> [UInt8] {
        func d(_ x: Descriptor) -> String { "{\"mediaType\":\(jsonString(x.mediaType)),\"digest\":\(jsonString(x.digest.description)),\"size\":\(x.size)}" }
        return Array(
            "{\"schemaVersion\":2,\"mediaType\":\(jsonString(MediaType.ociManifest)),\"config\":\(d(config)),\"layers\":[\(layers.map(d).joined(separator: ","))]}"
                .utf8)
    }
}
