// The commands the README and docs/ show a user, read one way for both doc tests (the
// parse check in RootlessTests, the run in IntegrationTests): the lines of ```sh blocks and
// the inline code spans that start with `rootless `, split at && and ;, a shell comment
// dropped. Blocks fenced without a language hold output and diagrams, not commands.
import Foundation

public enum DocPages {
    /// README.md, then docs/*.md by name: (name as the repository has it, text).
    public static func pages(root: URL) throws -> [(name: String, text: String)] {
        let docs = root.appendingPathComponent("docs")
        let names =
            ["README.md"] + (try FileManager.default.contentsOfDirectory(atPath: docs.path)).filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        return try names.map { ($0, try String(contentsOf: root.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// Every `rootless ...` command in a page, in order.
    public static func commands(_ text: String) -> [String] {
        var out: [String] = []
        var fence: Substring?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                fence = fence == nil ? line.dropFirst(3) : nil
                continue
            }
            var spans: [Substring] = []
            if let lang = fence {
                guard lang == "sh" else { continue }
                spans = [line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]]
            } else {
                let parts = line.split(separator: "`", omittingEmptySubsequences: false)
                spans = stride(from: 1, to: parts.count, by: 2).map { parts[$0] }
            }
            for span in spans {
                for piece in span.replacingOccurrences(of: "&&", with: ";").split(separator: ";") {
                    let cmd = piece.trimmingCharacters(in: .whitespaces)
                    if cmd.hasPrefix("rootless ") { out.append(cmd) }
                }
            }
        }
        return out
    }

    /// A line to type as it stands, not a form: no placeholder word (CMD, NAME, FILE: upper
    /// case), no [optional] part, a|b choice or elision, and not one of the store's hidden
    /// helpers (`rootless __unpack`, named where the docs explain them).
    public static func isRunnable(_ cmd: String) -> Bool {
        if cmd.contains("[") || cmd.contains("|") || cmd.contains("…") || cmd.contains("...") || cmd.hasPrefix("rootless __") { return false }
        return !cmd.split(separator: " ").contains { w in w.count >= 3 && w.allSatisfy { $0.isUppercase && $0.isLetter } }
    }
}
