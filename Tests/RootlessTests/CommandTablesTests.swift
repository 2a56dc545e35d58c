@testable import RootlessCommands
@testable import RootlessCore
import XCTest

/// Help, man pages and completions come from the parsers' own tables: every flag is in
/// each of them, and every value a help line names is one the parser takes.
final class CommandTablesTests: XCTestCase {
    func testEveryFlagIsInHelpManAndCompletions() throws {
        let bash = try XCTUnwrap(Completion.script("bash")), zsh = try XCTUnwrap(Completion.script("zsh")), fish = try XCTUnwrap(Completion.script("fish"))
        XCTAssertGreaterThan(Commands.all.count, 10)
        for c in Commands.all {
            XCTAssertTrue(CLI.usage.contains("rootless " + c.name), c.name)
            let man = c.man(CLI.version)
            for o in c.options {
                for n in o.names {
                    XCTAssertTrue(c.help.contains(n), "\(c.name) \(n): not in --help")
                    XCTAssertTrue(man.contains(n.replacingOccurrences(of: "-", with: "\\-")), "\(c.name) \(n): not in the man page")
                    XCTAssertTrue(bash.contains(n), "\(c.name) \(n): not in the bash completion")
                    XCTAssertTrue(zsh.contains("'\(n)[") || zsh.contains("'\(n)=-["), "\(c.name) \(n): not in the zsh completion")
                    if n.hasPrefix("--") { XCTAssertTrue(fish.contains("-l " + n.dropFirst(2)), "\(c.name) \(n): not in the fish completion") }
                }
                for v in o.choices {
                    XCTAssertTrue(o.help.contains(v) || (o.value ?? "").contains(v), "\(c.name) \(o.names[0]): value \(v) named nowhere in its help")
                    if let accepts = c.accepts, let long = o.names.first(where: { $0.hasPrefix("--") }) {
                        XCTAssertTrue(accepts(long, v), "\(c.name) \(long) \(v): named in help, refused by the parser")
                    }
                }
            }
        }
    }

    /// What users bring from podman and bwrap, and the nearest spelling for a typo.
    func testPodmanAndBwrapSpellings() throws {
        let v = try RunArguments.parse(["-v", "/src:/w:ro", "--volume=/a", "--rm", "--workdir", "/w", "--network", "none", "true"], cwd: "/")
        XCTAssertEqual(v.mounts, [.bind(source: "/src", target: "/w", readOnly: true), .bind(source: "/a", target: "/a", readOnly: false)])
        XCTAssertEqual(v.workdir, "/w")
        // bwrap's two-word form where -- follows DST.
        let pair = try RunArguments.parse(["--ro-bind", "/usr", "/usr2", "--", "ls"], cwd: "/")
        XCTAssertEqual(pair.mounts, [.bind(source: "/usr", target: "/usr2", readOnly: true)])
        XCTAssertEqual(pair.command, ["ls"])
        // Otherwise the second word is the command, and what follows it is its own, even
        // when it looks like ours: a wrapper's "$@" must never loosen the sandbox.
        let cmd = try RunArguments.parse(["--ro-bind", "/usr", "/bin/ls", "-l"], cwd: "/")
        XCTAssertEqual(cmd.command, ["/bin/ls", "-l"])
        let env = try RunArguments.parse(["--bind", "/tmp", "/usr/bin/env", "--home=rw", "--net", "sh"], cwd: "/")
        XCTAssertEqual(env.command, ["/usr/bin/env", "--home=rw", "--net", "sh"])
        XCTAssertEqual(env.home, RunSpec().home)
        XCTAssertEqual(env.mounts, [.bind(source: "/tmp", target: "/tmp", readOnly: false)])
        XCTAssertEqual(try RunArguments.parse(["--entrypoint", "/bin/echo", "hi"]).command, ["/bin/echo", "hi"])
        XCTAssertEqual(try RunArguments.parse(["--entrypoint", "", "alpine", "--", "sh"]).entrypoint, [], "podman's way to clear it")
        XCTAssertEqual(try RunArguments.parse(["--env-file", "e.env", "true"], cwd: "/w").envFiles, ["/w/e.env"])
        XCTAssertThrowsError(try RunArguments.parse(["--storage-drvier", "copy", "true"])) {
            XCTAssertTrue("\($0)".contains("unknown option --storage-drvier (did you mean --storage-driver?)"), "\($0)")
        }
        XCTAssertEqual(CLI.unknownCommand("imgaes").message, "unknown command \"imgaes\" (did you mean images?)")
        XCTAssertThrowsError(try RunArguments.parse(["--read-only=yes", "true"]))
    }

    func testEnvFilesAreReadAsPodmanDoes() throws {
        let text = "# comment\n\nA=1\r\n  B=two words\nC\n"
        XCTAssertEqual(try EnvFile.parse(Array(text.utf8), name: "f"), ["A=1", "B=two words", "C"])
        XCTAssertThrowsError(try EnvFile.parse(Array("=x\n".utf8), name: "f"))
        XCTAssertThrowsError(try EnvFile.parse(Array("  =x\n".utf8), name: "f"))
    }

    func testVersionSaysWhatIsBuiltIn() {
        let v = CLI.versionText
        XCTAssertTrue(v.hasPrefix("rootless \(CLI.version)\ncommit: "), v)
        XCTAssertTrue(v.contains("libseccomp: 2."), v)
        XCTAssertTrue(v.contains("SlirpNet"), v)
    }
}
