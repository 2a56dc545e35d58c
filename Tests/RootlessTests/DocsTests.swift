@testable import RootlessCommands
@testable import RootlessCore
import DocPages
import Foundation
import XCTest

/// The README and docs/ against the binary's own tables: every `rootless ...` command they
/// show (in code blocks and inline code) names a command that exists, and its flags are
/// ones that command takes; `run` lines parse whole. A flag renamed or removed fails here
/// until the docs say the new thing.
final class DocsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testEveryDocumentedCommandIsOneTheBinaryTakes() throws {
        var checked = 0
        for (page, text) in try DocPages.pages(root: Self.root) {
            for cmd in DocPages.commands(text) {
                // Synopses and placeholders (CMD, NAME|FILE, [..], …) show a form, not a line to run.
                if !DocPages.isRunnable(cmd) { continue }
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
        let cmds = DocPages.commands(
            "Try `rootless run --no-such-flag -- true` and\n```sh\nrootless images --colour # comment\n```\n```\nrootless run (a diagram)\n```\n")
        XCTAssertEqual(cmds, ["rootless run --no-such-flag -- true", "rootless images --colour"], "a block without a language is output, not commands")
        XCTAssertFalse(DocPages.isRunnable("rootless policy time NAME 200"))
        XCTAssertTrue(DocPages.isRunnable("rootless run --memory 2g -- ./ci-job.sh"))
        XCTAssertThrowsError(try RunArguments.parse(["--no-such-flag", "--", "true"]))
        XCTAssertFalse(Commands.info("images")!.options.flatMap(\.names).contains("--colour"))
    }
}
