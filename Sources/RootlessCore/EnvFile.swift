import Glibc
import RootlessOS

/// `--env-file FILE`: podman's format — one K=V (or K, copied from the caller) per line,
/// blank lines and lines starting with # skipped. Parsed from bytes; read at the edge.
public enum EnvFile {
    public static func parse(_ bytes: [UInt8], name: String) throws -> [String] {
        var out: [String] = []
        for (n, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = raw
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            let trimmed = text.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard !text.utf8.contains(0), trimmed.first != "=" else {
                throw RootlessError("--env-file \(name) line \(n + 1): \"\(text)\" has no variable name", fix: "write NAME=VALUE, or NAME to copy it")
            }
            out.append(String(trimmed))
        }
        return out
    }

    /// The file's entries (its lines come before -e's, which win).
    public static func read(_ path: String) throws -> [String] {
        guard let text = OS.readFile(path) else {
            throw RootlessError(
                "--env-file \(path): cannot read it", errno: errno, step: "args", fix: "check the path (relative paths are from your current directory)")
        }
        return try parse(Array(text.utf8), name: path)
    }
}
