/// String helpers for the start path, written as plain loops.
///
/// Why: `split`, `joined` and friends are generic library code. A fresh process pays for
/// their first use with runtime type-metadata lookups (by mangled name) and, for
/// `joined`, a scan of every protocol conformance in the binary. perf over 300 warm
/// starts put those at ~15% of the client's CPU; these loops use only String and
/// [String], whose metadata the runtime already has.
package enum Text {
    /// Fields separated by spaces or newlines, empty ones dropped.
    package static func words(_ s: String) -> [String] {
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
    package static func line(in s: String, after prefix: String) -> String? {
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
    package static func join(_ parts: [String], _ sep: String) -> String {
        var out = ""
        for (i, p) in parts.enumerated() {
            if i > 0 { out += sep }
            out += p
        }
        return out
    }
}

extension String {
    package func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    package var trimmingNewline: String { var s = self; while s.last == "\n" || s.last == " " { s.removeLast() }; return s }
}
extension Substring {
    package var trimmingNewline: String { String(self).trimmingNewline }
}

extension Text {
    package static func human(_ n: Int64) -> String {
        let u = ["B", "kB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1000 && i < u.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : "\((v * 10).rounded() / 10) \(u[i])"
    }
}
