import DocPages
import Foundation
import XCTest

/// Every command the README and docs/ show a user is run here as they would type it, in
/// the order the pages show them, in a prepared place: a home of its own (its store, its
/// registries.conf sending docker.io to a registry on loopback that holds a small
/// `library/alpine:3.20`), a project (~/src/myproject) with a Makefile, a downloaded tool,
/// a CI job and the files the import examples name. Each output's shape — the exit status
/// and the first lines of stdout and stderr, with numbers, times, digests, the port and
/// the test's own paths made generic — must be the one recorded in Fixtures/docs-shapes.txt.
/// A shown command with no record fails (the message carries the record to add), and so
/// does a record no page shows any more.
final class DocsRunTests: XCTestCase {
    var h: Harness!
    var registry: Process?
    var home: URL { h.scratch.appendingPathComponent("home") }
    var project: URL { home.appendingPathComponent("src/myproject") }
    var env: [String: String] { ProcessInfo.processInfo.environment }

    override func setUpWithError() throws {
        h = try Harness.withoutKeepers()
        guard env["ROOTLESS_DOCS"] != nil, FileManager.default.fileExists(atPath: (env["ROOTLESS_FIXTURES"] ?? "") + "/docs-shapes.txt") else {
            throw XCTSkip("SKIP: ROOTLESS_DOCS / the shapes file not staged (scripts/test stages README.md, docs/ and Fixtures/docs-shapes.txt)")
        }
        for tool in ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/zstd"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIP: \(tool) is not installed (scripts/setup installs it)")
        }
    }

    override func tearDown() {
        if let p = registry, p.isRunning { p.terminate(); p.waitUntilExit() }
        if let h {
            _ = try? run("rootless keeper stop")
            // The store holds files of subordinate ids: removed from inside its namespace.
            _ = try? run("rootless unshare -- rm -rf ~/.local/share/rootless")
            h.cleanup()
        }
    }

    /// sh -c CMD in the project, as the user with this home, `rootless` on PATH.
    func run(_ cmd: String) throws -> Harness.Result {
        try h.run(
            [], cwd: project, shell: "cd \(project.path) && " + cmd,
            env: ["HOME": home.path, "PATH": "\(h.scratch.path)/bin:/usr/local/bin:/usr/bin:/bin"])
    }

    /// The place the commands run in.
    func prepare() throws -> Int {
        let s = h.scratch.path, p = project.path
        let port = PullTests.freePort()
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(s)/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(s)/bin/rootless", withDestinationPath: h.bin)
        try FileManager.default.createDirectory(atPath: home.path + "/.config/containers", withIntermediateDirectories: true)
        try """
        [[registry]]
        prefix = "docker.io"
        location = "127.0.0.1:\(port)"
        """.write(toFile: home.path + "/.config/containers/registries.conf", atomically: true, encoding: .utf8)
        registry = try PullTests.startRegistry(in: s, port: port)
        // A busybox root: the image behind docker.io/library/alpine:3.20, the import
        // examples' tar, layout and archive; the project's Makefile, tool and CI job.
        let (status, err) = try h.shell(
            ImageTests.helpers + """

                mkdir -p \(s)/root/bin \(s)/root/etc
                cp /bin/busybox \(s)/root/bin/busybox; ln -s busybox \(s)/root/bin/sh
                echo docs > \(s)/root/etc/hostname
                layout \(s)/layout 3.20 \(s)/root
                skopeo --insecure-policy copy -q --dest-tls-verify=false oci:\(s)/layout:3.20 docker://127.0.0.1:\(port)/library/alpine:3.20
                cp -r \(s)/layout \(p)/oci-layout; sed -i 's/"3.20"/"v1"/' \(p)/oci-layout/index.json
                skopeo --insecure-policy copy -q oci:\(s)/layout:3.20 docker-archive:\(p)/saved.tar:saved:latest
                tar -C \(s)/root -cf - . | zstd -q -o \(p)/rootfs.tar.zst
                printf 'all:\\n\\t@echo built by make\\n' > \(p)/Makefile
                printf '#!/bin/sh\\necho the tool ran\\n' > \(p)/downloaded-tool
                printf '#!/bin/sh\\necho the job ran\\n' > \(p)/ci-job.sh
                chmod +x \(p)/downloaded-tool \(p)/ci-job.sh
                """)
        XCTAssertEqual(status, 0, "preparing: \(err)")
        return port
    }

    /// What a run's output must keep: its status and the first lines of each stream, with
    /// what differs from run to run or machine to machine made generic.
    func shape(_ r: Harness.Result, port: Int) -> [String] {
        func generic(_ line: Substring) -> String {
            var t = String(line).replacingOccurrences(of: project.path, with: ".").replacingOccurrences(of: home.path, with: "~")
            t = t.replacingOccurrences(of: h.scratch.path, with: "$SCRATCH").replacingOccurrences(of: String(port), with: "PORT")
            for (pattern, with) in [
                ("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z", "TIME"), ("[0-9a-f]{12,}", "H"), ("\\b[0-9]+(\\.[0-9]+)?\\b", "9"), ("[ \\t]+", " "), ("H-dirty", "H"),
            ] {
                t = t.replacingOccurrences(of: pattern, with: with, options: .regularExpression)
            }
            return t.trimmingCharacters(in: .whitespaces)
        }
        var out = ["exit \(r.status)"]
        for (tag, text) in [("out", r.out), ("err", r.err)] {
            let lines = text.split(separator: "\n")
            out += lines.prefix(DocsRunTests.linesKept).map { "\(tag) \(generic($0))" }
            if lines.count > DocsRunTests.linesKept { out.append("\(tag) (more lines)") }
        }
        return out
    }
    static let linesKept = 4

    /// docs-shapes.txt: "$ COMMAND" then its shape lines, or "covered by TEST" for a
    /// command another test runs in the place it needs; blank lines and "#" comments apart.
    static func records(_ text: String) -> [(cmd: String, shape: [String])] {
        var out: [(String, [String])] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("$ ") { out.append((String(line.dropFirst(2)), [])) } else if !out.isEmpty { out[out.count - 1].1.append(String(line)) }
        }
        return out
    }

    func testEveryDocumentedCommandRunsWithItsRecordedShape() throws {
        let root = URL(fileURLWithPath: env["ROOTLESS_DOCS"]!)
        var shown: [String] = []
        for (_, text) in try DocPages.pages(root: root) {
            for c in DocPages.commands(text) where DocPages.isRunnable(c) && !shown.contains(c) { shown.append(c) }
        }
        let recorded = Self.records(try String(contentsOfFile: env["ROOTLESS_FIXTURES"]! + "/docs-shapes.txt", encoding: .utf8))
        let byCommand = Dictionary(recorded.map { ($0.cmd, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for stale in recorded.map(\.cmd) where !shown.contains(stale) {
            XCTFail("docs-shapes.txt records `\(stale)`, which no page shows any more: remove it")
        }
        let port = try prepare()
        var ran = 0
        for cmd in shown {
            let want = byCommand[cmd]
            if let w = want, w.first?.hasPrefix("covered by ") == true { continue }
            let got = shape(try run(cmd), port: port)
            ran += 1
            guard let w = want else {
                XCTFail(
                    "`\(cmd)` is shown in the docs but has no record in Fixtures/docs-shapes.txt; its shape here:\n$ \(cmd)\n" + got.joined(separator: "\n"))
                continue
            }
            XCTAssertEqual(got, w, "`\(cmd)` changed shape; now:\n$ \(cmd)\n" + got.joined(separator: "\n"))
        }
        XCTAssertGreaterThan(ran, 20, "the docs show commands to run")
        // The control: a command that drifted from the binary (a flag it lost) has another shape.
        let drifted = shape(try run("rootless run --no-such-flag -- make"), port: port)
        XCTAssertNotEqual(drifted, byCommand["rootless run -- make"], "a drifted command must not pass for the documented one")
    }
}
