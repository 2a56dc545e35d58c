/// An image reference as the distribution spec and docker write them:
/// `[DOMAIN/]PATH[:TAG][@DIGEST]`. A first component with a dot or a colon, or
/// `localhost`, is a registry; else docker.io, where a one-component path gets `library/`.
public struct ImageReference: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var registry: String
    public var repository: String
    public var tag: String?
    public var digest: Digest?

    public init(registry: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// `defaultRegistry`: where a name without a registry lives (docker.io, where a
    /// one-component path gets `library/`; podman's `localhost` for images made here).
    public static func parse(_ s: String, defaultRegistry: String = "docker.io") throws -> ImageReference {
        func bad(_ why: String) -> ImageFormatError { ImageFormatError("invalid image reference \"\(s.prefix(200))\": \(why)") }
        guard !s.isEmpty, s.utf8.count <= 512 else { throw bad("empty or too long") }
        var rest = Substring(s)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            guard let d = Digest(String(rest[rest.index(after: at)...])) else { throw bad("the digest is not sha256:<64 hex>") }
            digest = d
            rest = rest[..<at]
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { throw bad("empty path component") }
        var registry = defaultRegistry
        if parts.count > 1, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            registry = parts.removeFirst()
        }
        var tag: String?
        if let c = parts[parts.count - 1].lastIndex(of: ":") {
            let last = parts[parts.count - 1]
            tag = String(last[last.index(after: c)...])
            parts[parts.count - 1] = String(last[..<c])
            guard let t = tag, !t.isEmpty, t.utf8.count <= 128,
                t.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }),
                t.utf8.first != UInt8(ascii: "."), t.utf8.first != UInt8(ascii: "-")
            else { throw bad("bad tag") }
        }
        for p in parts {
            guard
                p.utf8.allSatisfy({
                    ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
                }),
                let f = p.utf8.first, isAlnum(f), let l = p.utf8.last, isAlnum(l)
            else {
                throw bad("repository names are lowercase letters, digits and . _ - separators")
            }
        }
        if registry == "docker.io" && parts.count == 1 { parts.insert("library", at: 0) }
        if tag == nil && digest == nil { tag = "latest" }
        return ImageReference(registry: registry, repository: parts.joined(separator: "/"), tag: tag, digest: digest)
    }

    /// Whether the text names its registry (a first component with a dot or a colon, or
    /// `localhost`): otherwise it is a short name.
    public static func namesRegistry(_ s: String) -> Bool {
        let parts = s.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return false }
        return parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost"
    }

    static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) }

    public var description: String {
        "\(registry)/\(repository)" + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "")
    }

    /// What the registry's manifest endpoint is asked for: the digest, else the tag.
    public var reference: String { digest?.description ?? tag ?? "latest" }
}
