@testable import RootlessCommands
@testable import RootlessCore
import Foundation
import XCTest

/// The README and docs/ against the binary's own tables: every `rootless ...` command they
/// show (in code blocks and inline code) names a command that exists, and its flags are
/// ones that command takes; `run` lines parse whole. A flag renamed or removed fails here
/// until the docs say the new thing.
final class DocsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every `rootless ...` command line in a page: code-block lines and inline code spans,
    /// split at && and ; (a shell's comment dropped).
    static func commands(_ text: String) -> [String] {
        var out: [String] = []
        var inBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inBlock.toggle()
                continue
            }
            var spans: [Substring] = []
            if inBlock {
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

    func testEveryDocumentedCommandIsOneTheBinaryTakes() throws {
        let pages =
            ["README.md"]
            + (try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path)).filter { $0.hasSuffix(".md") }.map {
                "docs/" + $0
            }
        var checked = 0
        for page in pages {
            let text = try String(contentsOf: Self.root.appendingPathComponent(page), encoding: .utf8)
            for cmd in Self.commands(text) {
                // Synopses and placeholders (CMD, NAME|FILE, [..], …) show a form, not a line to run.
                if cmd.contains("[") || cmd.contains("CMD") || cmd.contains("…") || cmd.contains("|") || cmd.contains("...") { continue }
                let words = cmd.split(separator: " ").map(String.init).dropFirst()
                guard let sub = words.first else { continue }
                let args = Array(words.dropFirst())
                // A mention of a command (`rootless run`), its help, the store's hidden helpers.
                if sub == "--version" || sub == "--help" || sub == "help" || sub.hasPrefix("__") || args.isEmpty || args == ["--help"] { continue }
                guard let info = Commands.info(sub) else {
                    XCTFail("\(page): `\(cmd)`: rootless has no command \(sub)")
                    continue
                }
                checked += 1
                if sub == "run" {
                    XCTAssertNoThrow(try RunArguments.parse(args, cwd: "/home/u"), "\(page): `\(cmd)`")
                    continue
                }
                let known = Set(info.options.flatMap(\.names) + ["-h", "--help"])
                for a in args.prefix(while: { $0 != "--" }) where a.hasPrefix("-") && a != "-" {
                    XCTAssertTrue(known.contains(String(a.prefix { $0 != "=" })), "\(page): `\(cmd)`: rootless \(sub) takes no \(a)")
                }
            }
        }
        XCTAssertGreaterThan(checked, 15, "the docs show commands")
    }

    /// The control: a page naming a flag the binary does not have is caught.
    func testADriftedFlagIsCaught() throws {
        let cmds = Self.commands("Try `rootless run --no-such-flag -- true` and\n```sh\nrootless images --colour # comment\n```\n")
        XCTAssertEqual(cmds, ["rootless run --no-such-flag -- true", "rootless images --colour"])
        XCTAssertThrowsError(try RunArguments.parse(["--no-such-flag", "--", "true"]))
        XCTAssertFalse(Commands.info("images")!.options.flatMap(\.names).contains("--colour"))
    }
}
