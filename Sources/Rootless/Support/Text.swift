/// String helpers for the start path, written as plain loops.
///
/// Why: `split`, `joined` and friends are generic library code. A fresh process pays for
/// their first use with runtime type-metadata lookups (by mangled name) and, for
/// `joined`, a scan of every protocol conformance in the binary. perf over 300 warm
/// starts put those at ~15% of the client's CPU; these loops use only String and
/// [String], whose metadata the runtime already has.
enum Text {
    /// Fields separated by spaces or newlines, empty ones dropped.
    static func words(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        for c in s.unicodeScalars {
            if c == " " || c == "\n" {
                if !cur.isEmpty { out.append(cur); cur = "" }
            } else {
                cur.unicodeScalars.append(c)
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// The rest of the first line that starts with `prefix`, or nil.
    static func line(in s: String, after prefix: String) -> String? {
        var start = s.startIndex
        while start < s.endIndex {
            let end = s[start...].firstIndex(of: "\n") ?? s.endIndex
            let line = s[start..<end]
            if line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)) }
            start = end < s.endIndex ? s.index(after: end) : end
        }
        return nil
    }

    /// `parts` joined by `sep`.
    static func join(_ parts: [String], _ sep: String) -> String {
        var out = ""
        for (i, p) in parts.enumerated() {
            if i > 0 { out += sep }
            out += p
        }
        return out
    }
}
