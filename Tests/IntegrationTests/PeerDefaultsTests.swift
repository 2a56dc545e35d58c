import Foundation
import XCTest

/// docs/security.md's table puts rootless's defaults beside bwrap's and podman's. Each
/// column is checked here from inside, as the same user, with the table's own command
/// lines: what the home shows, whose processes /proc shows, which network interfaces,
/// the capabilities, seccomp, and whether /etc is writable.
final class PeerDefaultsTests: XCTestCase {
    var h: Harness!
    override func setUpWithError() throws { h = try Harness.make() }
    override func tearDown() { h?.stopKeepersAndClean() }

    /// What each sandbox reports, one fact per line.
    static let probe = """
        cat "$SECRET" 2>/dev/null || echo home=hidden
        echo pid1=$(cat /proc/1/comm)
        echo net=$(ls /sys/class/net | tr '\\n' ' ')
        echo caps=$(awk '/^CapEff/ {print $2}' /proc/self/status)
        echo seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/self/status)
        touch /etc/rlit-peer 2>/dev/null && echo etc=writable || echo etc=read-only
        """

    func testTheTableMatchesBwrapPodmanAndRootless() throws {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        let dir = URL(fileURLWithPath: home).appendingPathComponent(".rlit-peer-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secret = dir.appendingPathComponent("id_test").path
        try "home=readable\n".write(toFile: secret, atomically: true, encoding: .utf8)
        func facts(_ cmd: String) throws -> [String: String] {
            let r = try h.run([], shell: "SECRET=\(secret); export SECRET; " + cmd)
            var out: [String: String] = [:]
            for line in r.out.split(separator: "\n") {
                let kv = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                if kv.count == 2 { out[kv[0]] = kv[1] }
            }
            XCTAssertEqual(out.count, 6, "\(cmd): \(r.out) \(r.err)")
            return out
        }
        let quoted = "'" + Self.probe.replacingOccurrences(of: "'", with: "'\\''") + "'"

        // rootless run -- CMD: an empty home, its own init, lo only, podman's set, seccomp, / read-only.
        let ours = try facts("\"$0\" run -- sh -c \(quoted)")
        XCTAssertEqual(ours["home"], "hidden")
        XCTAssertEqual(ours["pid1"], "rootless")
        XCTAssertEqual(ours["net"], "lo")
        XCTAssertEqual(ours["caps"], "00000000800405fb", "podman's default bounding set")
        XCTAssertEqual(ours["seccomp"], "2")
        XCTAssertEqual(ours["etc"], "read-only")

        // bwrap --ro-bind / / --dev /dev --proc /proc CMD: the home readable, the host's
        // processes and network, no capabilities, no seccomp, / read-only.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/bwrap") {
            let b = try facts("/usr/bin/bwrap --ro-bind / / --dev /dev --proc /proc sh -c \(quoted)")
            XCTAssertEqual(b["home"], "readable", "bwrap shows the whole home (~/.ssh/id_* readable)")
            let hostInit = (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(b["pid1"], hostInit, "bwrap shares the host's processes: its pid 1 is the host's")
            XCTAssertNotEqual(b["net"], "lo", "bwrap shares the host's network")
            XCTAssertEqual(b["caps"], "0000000000000000")
            XCTAssertEqual(b["seccomp"], "0")
            XCTAssertEqual(b["etc"], "read-only")
        } else {
            print("SKIP: bwrap's column: /usr/bin/bwrap is not installed (scripts/setup installs it)")
        }

        // podman run IMAGE CMD (a busybox image, its own store): the image, its own
        // processes, a user-mode network (tap0), podman's set, seccomp, its layer writable.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/podman") else {
            return print("SKIP: podman's column: /usr/bin/podman is not installed (scripts/setup installs it)")
        }
        let s = h.scratch.path
        let podman = "podman --root \(s)/podman --runroot \(s)/podman-run --storage-driver vfs"
        // Its store (files of subordinate ids) removed from inside its namespace, then the
        // pause process rootless podman keeps for that namespace (its pid file is under
        // this XDG_RUNTIME_DIR, which the cleanup removes).
        defer {
            _ = try? h.run(
                [], shell: "export XDG_RUNTIME_DIR=\(s)/xdg; \(podman) unshare rm -rf \(s)/podman; kill $(cat \(s)/xdg/libpod/tmp/pause.pid) 2>/dev/null")
        }
        let p = try facts(
            """
            mkdir -p \(s)/img/bin \(s)/img/etc \(s)/xdg && cp /bin/busybox \(s)/img/bin/ && ln -s busybox \(s)/img/bin/sh \
            && for t in cat ls tr awk touch; do ln -s busybox \(s)/img/bin/$t; done \
            && tar -C \(s)/img -cf \(s)/img.tar . && export XDG_RUNTIME_DIR=\(s)/xdg \
            && \(podman) import -q \(s)/img.tar rlit-peer >/dev/null && \(podman) run --rm -e SECRET="$SECRET" rlit-peer sh -c \(quoted) 2>/dev/null
            """)
        XCTAssertEqual(p["home"], "hidden", "podman shows the image, not the home")
        XCTAssertEqual(p["pid1"], "sh", "podman: the command is its own pid 1")
        XCTAssertTrue(p["net"]?.contains("tap0") == true, "podman: slirp4netns or pasta")
        XCTAssertEqual(p["caps"], "00000000800405fb")
        XCTAssertEqual(p["seccomp"], "2")
        XCTAssertEqual(p["etc"], "writable", "podman: the container's own layer")
    }
}
