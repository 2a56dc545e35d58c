import IDMap
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

final class RunArgumentsTests: XCTestCase {
    func testParsesFlagsInOrderAndCommand() throws {
        let s = try RunArguments.parse([
            "--bind", "/a:/b:ro", "--tmpfs=/t:size=1m", "-e", "X=1", "--map", "keep-id",
            "--user", "5:6", "--timeout", "2.5", "-t", "--preserve-fds", "2", "ls", "-l",
        ])
        XCTAssertEqual(s.mounts, [.bind(source: "/a", target: "/b", readOnly: true), .tmpfs(target: "/t", options: "size=1m")])
        XCTAssertEqual(s.env, ["X=1"])
        XCTAssertEqual(s.map, .keepID)
        XCTAssertEqual(s.user?.uid, 5)
        XCTAssertEqual(s.user?.gid, 6)
        XCTAssertEqual(s.timeoutSeconds, 2.5)
        XCTAssertTrue(s.tty)
        XCTAssertEqual(s.preserveFDs, 2)
        XCTAssertEqual(s.command, ["ls", "-l"])
    }

    func testPathsAreNormalisedLexicallyAndDotDotRefused() throws {
        for (input, want) in [("//a/./b/", "/a/b"), ("/", "/"), ("", "/"), ("a/b", "/a/b"), ("/a/..b/.c", "/a/..b/.c"), ("/./.", "/"), ("/é/ü", "/é/ü")] {
            XCTAssertEqual(try Paths.normalize(input, "--bind"), want, input)
        }
        for bad in ["/a/../b", "..", "/x/.."] {
            XCTAssertThrowsError(try Paths.normalize(bad, "--bind")) { XCTAssertTrue("\($0)".contains("\"..\" is not allowed"), "\($0)") }
        }
    }

    func testDoubleDashMakesEverythingAfterItTheCommand() throws {
        XCTAssertEqual(try RunArguments.parse(["--", "--bind", "/", "/x"]).command, ["--bind", "/", "/x"])
        XCTAssertEqual(try RunArguments.parse(["--bind", "/src", "--", "true"]).mounts, [.bind(source: "/src", target: "/src", readOnly: false)])
    }

    /// Host paths (the rootfs, the store root, bind sources) may be relative to the caller's
    /// cwd, as with bwrap and podman; paths inside the sandbox may not.
    func testRelativeHostPathsResolveAgainstTheCallersDirectory() throws {
        XCTAssertEqual(try RunArguments.parse(["--rootfs", "r", "true"], cwd: "/home/u").rootfs, "/home/u/r")
        XCTAssertEqual(try RunArguments.parse(["--rootfs", "./a/./b/", "true"], cwd: "/w").rootfs, "/w/a/b")
        XCTAssertEqual(try RunArguments.parse(["--root", "store", "true"], cwd: "/w").storeRoot, "/w/store")
        XCTAssertEqual(
            try RunArguments.parse(["--bind", "src:/x", "--ro-bind", "o", "true"], cwd: "/w").mounts,
            [.bind(source: "/w/src", target: "/x", readOnly: false), .bind(source: "/w/o", target: "/w/o", readOnly: true)])
        XCTAssertEqual(try RunArguments.parse(["--bind", "/abs", "true"], cwd: "/w").mounts, [.bind(source: "/abs", target: "/abs", readOnly: false)])
        let bad: [([String], String)] = [
            (["--rootfs", "../r", "true"], "--rootfs /w/../r: \"..\" is not allowed"),
            (["--bind", "s:rel", "true"], "--bind rel: path must be absolute"),
            (["-w", "rel", "true"], "-w rel: path must be absolute"),
            (["--tmpfs", "rel", "true"], "path must be absolute"),
        ]
        for (args, want) in bad {
            XCTAssertThrowsError(try RunArguments.parse(args, cwd: "/w"), "\(args)") { e in
                XCTAssertTrue("\(e)".contains(want), "\(args): \(e)")
            }
        }
        // No known cwd (deleted): a relative host path stays an error.
        XCTAssertThrowsError(try RunArguments.parse(["--rootfs", "r", "true"])) { XCTAssertTrue("\($0)".contains("path must be absolute")) }
    }

    func testRejectionsNameTheFlagAndTheFix() {
        let bad: [([String], String)] = [
            (["--nope", "x"], "unknown option --nope"),
            (["--bind"], "--bind needs a value"),
            (["--bind", "rel:/x", "true"], "path must be absolute"),
            (["--bind", "/a/../etc:/x", "true"], "\"..\" is not allowed"),
            (["--user", "bob", "true"], "expected numeric UID[:GID]"),
            (["--timeout", "-1", "true"], "not a positive number"),
            (["--net", "pasta:mtu=1500", "true"], "--net pasta takes one option, linger (not \"mtu=1500\")"),
            (["--net", "slirp4netns:linger=5,poll=0", "true"], "--net slirp4netns takes one option, linger (not \"poll=0\")"),
            (["--net", "slirp4netns:linger=x", "true"], "--net slirp4netns linger \"x\" is not a number of seconds from 0 to 3600"),
            (["--net", "none:linger=5", "true"], "--net none takes no options"),
            (["--net", "slirp:mtu=9", "true"], "mtu \"9\" is not a number from 576 to 65520"),
            (["--net", "host:mtu=1500", "true"], "takes no options"),
            (["--allow-net", "py_pi", "true"], "\"py_pi\" is not an IPv4 or IPv6 address or network or a host name"),
            (["--preserve-fds", "x", "true"], "not a count of fds"),
            ([], "no command given"),
        ]
        for (args, text) in bad {
            XCTAssertThrowsError(try RunArguments.parse(args), "\(args)") { e in
                let e = e as! RootlessError
                XCTAssertTrue(e.description.contains(text), "\(args): \(e)")
                XCTAssertNotNil(e.fix, "\(args) names a fix")
                XCTAssertEqual(e.exitCode, 125)
            }
        }
    }

    func testFuzzedArgumentsNeverCrash() {
        let words = ["--bind", "--tmpfs", "/a", ":", "/b:ro", "--user", "1:2", "--", "-e", "x", "--timeout", "0", "--map", "self", "--rootfs", "=", ""]
        for _ in 0..<2000 {
            let args = (0..<Int.random(in: 0..<8)).map { _ in words.randomElement()! }
            _ = try? RunArguments.parse(args)
        }
    }
}
