import ImageFormat

// podman's registries.conf (containers-registries.conf(5), version 2), the parts a pull
// needs: `[aliases]` (a short name -> a full one), and `[[registry]]` tables with
// `prefix`, `location`, `insecure`, `blocked` and `[[registry.mirror]]` (`location`,
// `insecure`): where an image is fetched from, mirrors first. Pure: the file's bytes in.
// The TOML it reads is the subset those files use — tables, arrays of tables, strings,
// booleans, arrays of strings, comments; anything else is an error naming the line.

public struct RegistriesConf: Equatable, Sendable {
    public struct Endpoint: Equatable, Sendable {
        public var location: String
        public var insecure = false
        /// `pull-from-mirror`: "all" (default), "digest-only" or "tag-only".
        public var pullFrom = "all"
        public init(location: String, insecure: Bool = false) {
            self.location = location
            self.insecure = insecure
        }
    }
    public struct Registry: Equatable, Sendable {
        public var prefix: String
        public var location: String
        public var insecure = false
        public var blocked = false
        /// `mirror-by-digest-only`: its mirrors serve pulls by digest only.
        public var mirrorByDigestOnly = false
        public var mirrors: [Endpoint] = []
    }

    public var aliases: [String: String] = [:]
    public var registries: [Registry] = []

    public init() {}

    /// Later files win (the user's over the system's): their aliases over these, their
    /// registries (by prefix) over these.
    public mutating func merge(_ o: RegistriesConf) {
        aliases.merge(o.aliases) { $1 }
        for r in o.registries {
            registries.removeAll { $0.prefix == r.prefix }
            registries.append(r)
        }
    }

    /// Where to fetch `ref` from: each mirror, then the registry's own location (the
    /// repository rewritten when the matching prefix says so), with whether plain HTTP is
    /// allowed there. Throws when a `blocked` entry matches.
    /// A mirror serves a pull by tag only where nothing restricts it to digests
    /// (`pull-from-mirror = "digest-only"`, `mirror-by-digest-only`): a tag is the mirror's
    /// word, a digest is checked.
    public func sources(_ ref: ImageReference) throws -> [(ImageReference, insecure: Bool)] {
        let name = ref.registry + "/" + ref.repository
        guard let r = registries.filter({ Self.matches($0.prefix, name) }).max(by: { $0.prefix.count < $1.prefix.count }) else { return [(ref, false)] }
        if r.blocked { throw WireError("\(ref) is blocked by registries.conf (prefix \(r.prefix))") }
        let byDigest = ref.digest != nil
        let mirrors = r.mirrors.filter { m in
            byDigest ? m.pullFrom != "tag-only" : (m.pullFrom != "digest-only" && !r.mirrorByDigestOnly)
        }
        // A wildcard prefix (*.example.com) has no location of its own: the host as asked.
        if r.prefix.hasPrefix("*.") {
            return mirrors.map { (ImageReference(registry: $0.location, repository: ref.repository, tag: ref.tag, digest: ref.digest), $0.insecure) } + [
                (ref, r.insecure)
            ]
        }
        func at(_ location: String) throws -> ImageReference {
            let rest = name.dropFirst(r.prefix.count)
            let full = location + rest
            guard let slash = full.firstIndex(of: "/") else { throw WireError("registries.conf: location \(location) has no repository for \(ref)") }
            return ImageReference(registry: String(full[..<slash]), repository: String(full[full.index(after: slash)...]), tag: ref.tag, digest: ref.digest)
        }
        // A mirror serves pulls by tag only where the file lets it; by digest always
        // (the digest is checked either way). This reader takes mirrors for both.
        return try mirrors.map { (try at($0.location), $0.insecure) } + [(try at(r.location.isEmpty ? r.prefix : r.location), r.insecure)]
    }

    /// A prefix covers a name when it is the name, or a parent of it at a "/" boundary.
    public static func matches(_ prefix: String, _ name: String) -> Bool {
        if prefix.hasPrefix("*.") {
            // *.example.com: any registry host under example.com.
            let host = name.prefix { $0 != "/" }
            return host.hasSuffix(prefix.dropFirst())
        }
        let p = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return name == p || name.hasPrefix(p + "/")
    }

    /// A short name's alias, if the files give one (the name as typed, without tag).
    public func alias(_ shortName: String) -> String? { aliases[shortName] }

    /// The reference as a pull or a run means it: a short name with an alias is the
    /// alias, its tag or digest kept (`bb:v1` with "bb" = "example.test/team/bb" is
    /// example.test/team/bb:v1); anything else as given.
    public func expand(_ text: String) -> String {
        guard !ImageReference.namesRegistry(text) else { return text }
        let bare = String(text.prefix { $0 != ":" && $0 != "@" })
        return alias(bare).map { $0 + text.dropFirst(bare.count) } ?? text
    }

    public static func parse(_ bytes: [UInt8], name: String) throws -> RegistriesConf {
        var c = RegistriesConf()
        enum Section { case top, aliases, registry, mirror, other }
        var section = Section.top
        var pending: (line: String, at: Int)?  // an array still open over several lines
        for (n, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            func bad(_ why: String) -> WireError { WireError("\(name) line \((pending?.at ?? n) + 1): \(why)") }
            var line = Self.stripComment(String(decoding: raw, as: UTF8.self)).trimmed
            if let p = pending {
                line = p.line + " " + line
                guard line.hasSuffix("]") else {
                    pending = (line, p.at)
                    continue
                }
                pending = nil
            } else if line.contains("= ["), !line.hasSuffix("]") {
                pending = (line, n)
                continue
            }
            if line.isEmpty { continue }
            if line.hasPrefix("[[") {
                guard line.hasSuffix("]]") else { throw bad("an unclosed [[table]]") }
                switch line.dropFirst(2).dropLast(2).trimmed {
                case "registry":
                    c.registries.append(Registry(prefix: "", location: ""))
                    section = .registry
                case "registry.mirror":
                    guard !c.registries.isEmpty else { throw bad("[[registry.mirror]] before any [[registry]]") }
                    c.registries[c.registries.count - 1].mirrors.append(Endpoint(location: ""))
                    section = .mirror
                default: section = .other
                }
                continue
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw bad("an unclosed [table]") }
                section = line.dropFirst().dropLast().trimmed == "aliases" ? .aliases : .other
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { throw bad("not KEY = VALUE") }
            let key = Self.unquote(String(line[..<eq]).trimmed)
            // A value this reader cannot read fails the file only for a key it uses
            // (numbers, inline tables and the like elsewhere are no concern of ours).
            let used = section == .aliases || ["prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "pull-from-mirror"].contains(key)
            guard
                let value = used
                    ? try Self.value(String(line[line.index(after: eq)...]).trimmed, bad) : try? Self.value(String(line[line.index(after: eq)...]).trimmed, bad)
            else { continue }
            switch (section, key, value) {
            case (.aliases, _, .string(let v)): c.aliases[key] = v
            case (.registry, "prefix", .string(let v)): c.registries[c.registries.count - 1].prefix = v
            case (.registry, "location", .string(let v)): c.registries[c.registries.count - 1].location = v
            case (.registry, "insecure", .bool(let v)): c.registries[c.registries.count - 1].insecure = v
            case (.registry, "blocked", .bool(let v)): c.registries[c.registries.count - 1].blocked = v
            case (.registry, "mirror-by-digest-only", .bool(let v)): c.registries[c.registries.count - 1].mirrorByDigestOnly = v
            case (.mirror, "pull-from-mirror", .string(let v)):
                guard ["all", "digest-only", "tag-only"].contains(v) else { throw bad("pull-from-mirror is all, digest-only or tag-only") }
                let r = c.registries.count - 1
                c.registries[r].mirrors[c.registries[r].mirrors.count - 1].pullFrom = v
            case (.mirror, "location", .string(let v)):
                let r = c.registries.count - 1
                c.registries[r].mirrors[c.registries[r].mirrors.count - 1].location = v
            case (.mirror, "insecure", .bool(let v)):
                let r = c.registries.count - 1
                c.registries[r].mirrors[c.registries[r].mirrors.count - 1].insecure = v
            default: break  // keys this reader has no use for (unqualified-search-registries, ...)
            }
        }
        if pending != nil { throw WireError("\(name) line \((pending?.at ?? 0) + 1): an array that is never closed") }
        for i in c.registries.indices where c.registries[i].prefix.isEmpty { c.registries[i].prefix = c.registries[i].location }
        c.registries.removeAll { $0.prefix.isEmpty }
        for r in c.registries where r.mirrors.contains(where: { $0.location.isEmpty }) {
            throw WireError("\(name): a [[registry.mirror]] of \(r.prefix) has no location")
        }
        return c
    }

    enum Value { case string(String), bool(Bool), array([String]) }

    static func value(_ t: String, _ bad: (String) -> WireError) throws -> Value {
        if t == "true" { return .bool(true) }
        if t == "false" { return .bool(false) }
        if t.hasPrefix("\"") || t.hasPrefix("'") {
            guard t.count >= 2, t.last == t.first else { throw bad("an unclosed string") }
            return .string(unquote(t))
        }
        if t.hasPrefix("[") {
            guard t.hasSuffix("]") else { throw bad("an array on more than one line is not read here") }
            let items = t.dropFirst().dropLast().split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
            return .array(items.map(unquote))
        }
        throw bad("a value this reader does not take: \(t.prefix(40))")
    }

    static func unquote(_ s: String) -> String {
        guard s.count >= 2, let f = s.first, f == "\"" || f == "'", s.last == f else { return s }
        return String(s.dropFirst().dropLast())
    }

    /// The line without its # comment (a # inside quotes stays).
    static func stripComment(_ s: String) -> String {
        var quote: Character?
        var out = ""
        for ch in s {
            if let q = quote {
                if ch == q { quote = nil }
            } else if ch == "\"" || ch == "'" {
                quote = ch
            } else if ch == "#" {
                break
            }
            out.append(ch)
        }
        return out
    }
}

extension StringProtocol {
    /// Without blanks at either end. By index: reversing the string twice built it one
    /// character at a time and made reading /etc/containers' files ~8 ms of an image run.
    var trimmed: String {
        func blank(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
