import Foundation
import XCTest

/// The image store as the unprivileged user: imports of every format (layouts built here
/// with tar and gzip, converted by the real skopeo), runs with each storage driver,
/// ownership and whiteouts, the hostile-archive corpus, concurrency and a killed import.
final class ImageTests: XCTestCase {
    var h: Harness!
    var store: String { h.scratch.appendingPathComponent("store").path }
    override func setUpWithError() throws { h = try Harness.make(role: "subids") }
    override func tearDown() {
        // The store holds files of subordinate ids: removed from inside the namespace.
        if let h { _ = try? h.run(["unshare", "--root", store, "--", "rm", "-rf", store]) }
        h?.cleanup()
    }

    /// sh with helpers: `layout OUT REF DIR...` (an OCI image layout of those layers as
    /// gzip blobs, or zstd with COMP=zstd; a config with Env/Cmd/WorkingDir for $ARCH, default amd64; it leaves
    /// the manifest's digest and size in MD and MS), and `multi OUT REF AMD64DIR ARM64DIR`
    /// (a layout whose REF is an image index of two platforms).
    static let helpers = #"""
        set -e
        blob() { d=$(sha256sum < "$1" | cut -c1-64); mv "$1" "$out/blobs/sha256/$d"; echo "$d"; }
        layout() {
          out=$1; ref=$2; shift 2
          mkdir -p "$out/blobs/sha256"; echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
          layers=""; diffs=""
          for d in "$@"; do
            tar --sort=name --owner=0 --group=0 --numeric-owner -C "$d" -cf "$out/l.tar" .
            diffs="$diffs${diffs:+,}\"sha256:$(sha256sum < "$out/l.tar" | cut -c1-64)\""
            if [ "${COMP:-gzip}" = zstd ]; then zstd -q --rm "$out/l.tar" -o "$out/l.tar.z"; else gzip -n -c "$out/l.tar" > "$out/l.tar.z"; rm "$out/l.tar"; fi
            size=$(stat -c %s "$out/l.tar.z"); dg=$(blob "$out/l.tar.z")
            layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+${COMP:-gzip}\",\"digest\":\"sha256:$dg\",\"size\":$size}"
          done
          printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin","FOO=bar"],"Cmd":["/bin/sh","-c","echo default-cmd"],"WorkingDir":"/work"},"rootfs":{"type":"layers","diff_ids":[%s]}}' "${ARCH:-amd64}" "$diffs" > "$out/c.json"
          cs=$(stat -c %s "$out/c.json"); cd_=$(blob "$out/c.json")
          printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$cd_" "$cs" "$layers" > "$out/m.json"
          ms=$(stat -c %s "$out/m.json"); md=$(blob "$out/m.json"); MD=$md; MS=$ms
          printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$md" "$ms" "$ref" > "$out/index.json"
        }
        multi() {
          ARCH=amd64 layout "$1" a "$3"; a="\"digest\":\"sha256:$MD\",\"size\":$MS"
          ARCH=arm64 layout "$1" b "$4"; b="\"digest\":\"sha256:$MD\",\"size\":$MS"
          m='"mediaType":"application/vnd.oci.image.manifest.v1+json"'
          printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{%s,%s,"platform":{"os":"linux","architecture":"amd64"}},{%s,%s,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}' "$m" "$a" "$m" "$b" > "$1/i.json"
          is=$(stat -c %s "$1/i.json"); id=$(blob "$1/i.json")
          printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$id" "$is" "$2" > "$1/index.json"
        }
        """#

    /// A busybox base layer (with a file owned by 1000 and a setuid file) and a second
    /// layer that deletes /etc/victim, makes /opt opaque and adds /work/new.
    func makeLayout() throws -> String {
        let s = h.scratch.path
        try sh(
            """
            mkdir -p \(s)/l1/bin \(s)/l1/etc \(s)/l1/home/u \(s)/l1/opt/old \(s)/l1/work \(s)/l2/etc \(s)/l2/opt \(s)/l2/work
            cp /bin/busybox \(s)/l1/bin/busybox; ln -s busybox \(s)/l1/bin/sh
            echo gone > \(s)/l1/etc/victim; echo kept > \(s)/l1/opt/old/file; echo base > \(s)/l1/etc/base
            cp /bin/busybox \(s)/l1/bin/suid; chmod 4755 \(s)/l1/bin/suid
            : > \(s)/l2/etc/.wh.victim; : > \(s)/l2/opt/.wh..wh..opq; echo new > \(s)/l2/opt/fresh; echo top > \(s)/l2/work/new
            layout \(s)/oci v1 \(s)/l1 \(s)/l2
            """)
        return s + "/oci"
    }

    /// The image helpers (layout, multi) then script, in the scratch dir; it must succeed.
    func sh(_ script: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, err) = try h.shell(ImageTests.helpers + "\n" + script)
        XCTAssertEqual(status, 0, "helper script failed: \(err)", file: file, line: line)
    }

    func rl(_ args: [String]) throws -> Harness.Result {
        let first = args[0]
        let rest = Array(args.dropFirst())
        return try h.run([first, "--root", store] + rest)
    }

    func testOCILayoutImportRunsWithBothDriversAndAppliesWhiteouts() throws {
        let oci = try makeLayout()
        let i = try rl(["import", "--name", "test/multi:v1", oci + ":v1"])
        XCTAssertEqual(i.status, 0, i.err)
        XCTAssertTrue(i.out.hasPrefix("sha256:"), i.out)
        let images = try rl(["images", "--format", "json"])
        XCTAssertTrue(images.out.contains("\"localhost/test/multi:v1\""), images.out)
        // podman's spelling, `import SOURCE NAME`: a local image, localhost/NAME.
        let pod = try rl(["import", oci + ":v1", "podman/spelling"])
        XCTAssertEqual(pod.status, 0, pod.err)
        XCTAssertTrue(try rl(["images"]).out.contains("localhost/podman/spelling:latest"))
        for driver in ["overlay", "fuse-overlayfs", "copy"] {
            let r = try h.run([
                "run", "--root", store, "--storage-driver", driver, "test/multi:v1", "--", "/bin/sh", "-c",
                "pwd; echo FOO=$FOO; ls /etc; ls /opt; cat /work/new; test -e /etc/victim || echo victim=gone; echo x > /written && echo write=ok; stat -c mode=%a /bin/suid",
            ])
            XCTAssertEqual(r.status, 0, "\(driver): \(r.err)")
            XCTAssertTrue(r.out.hasPrefix("/work\n"), "WorkingDir from the config (\(driver)): \(r.out)")
            XCTAssertEqual(r["FOO"], "bar", "Env from the config (\(driver))")
            XCTAssertEqual(r["victim"], "gone", "whiteout applied (\(driver)): \(r.out)")
            XCTAssertTrue(r.out.contains("fresh\n") && !r.out.contains("old\n"), "opaque /opt hides the lower one (\(driver)): \(r.out)")
            XCTAssertEqual(r["write"], "ok")
            XCTAssertEqual(r["mode"], "4755", "the setuid bit survives unpacking (\(driver))")
            // The default command is the image's Cmd; the writable layer is gone afterwards.
            let d = try h.run(["run", "--root", store, "--storage-driver", driver, "test/multi:v1", "--"])
            XCTAssertEqual(d.out, "default-cmd\n", d.err)
            let again = try h.run([
                "run", "--root", store, "--storage-driver", driver, "test/multi:v1", "--", "/bin/sh", "-c", "test -e /written && echo leaked || echo clean",
            ])
            XCTAssertEqual(again.out, "clean\n", "each run starts from the image (\(driver))")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/containers"), [], "no scratch left")
    }

    func testOwnershipIsKeptUnderMapAuto() throws {
        let s = h.scratch.path
        try sh(
            """
            mkdir -p \(s)/r/bin \(s)/r/home/u; cp /bin/busybox \(s)/r/bin/busybox; ln -s busybox \(s)/r/bin/sh
            tar -C \(s)/r --owner=0 --group=0 -cf \(s)/a.tar bin
            tar -C \(s)/r --owner=1000 --group=1001 -rf \(s)/a.tar home
            zstd -q \(s)/a.tar -o \(s)/rootfs.tar.zst
            """)
        let i = try rl(["import", "--name", "own", s + "/rootfs.tar.zst"])
        XCTAssertEqual(i.status, 0, i.err)
        let r = try h.run(["run", "--root", store, "own", "--", "/bin/sh", "-c", "stat -c owner=%u:%g /home/u; stat -c bin=%u:%g /bin/busybox"])
        XCTAssertEqual(r["owner"], "1000:1001", "the image's ids, through the subuid range: \(r.out) \(r.err)")
        XCTAssertEqual(r["bin"], "0:0")
    }

    /// A plain directory of the user's becomes a one-layer image owned by root inside,
    /// modes, symlinks and hardlinks kept; a fifo is skipped with a note.
    func testDirectoryImport() throws {
        let s = h.scratch.path
        try sh(
            """
            mkdir -p \(s)/tree/bin \(s)/tree/etc/deep/er \(s)/tree/\(String(repeating: "x", count: 120))
            cp /bin/busybox \(s)/tree/bin/busybox; ln -s busybox \(s)/tree/bin/sh; ln \(s)/tree/bin/busybox \(s)/tree/bin/hard
            echo conf > \(s)/tree/etc/deep/er/c; chmod 4711 \(s)/tree/etc/deep/er/c; mkfifo \(s)/tree/fifo
            """)
        let i = try rl(["import", "--name", "dir", s + "/tree"])
        XCTAssertEqual(i.status, 0, i.err)
        XCTAssertTrue(i.err.contains("fifo skipped"), i.err)
        let r = try h.run([
            "run", "--root", store, "dir", "--", "/bin/sh", "-c",
            "stat -c 'own=%u:%g' /etc/deep/er/c; stat -c 'mode=%a' /etc/deep/er/c; stat -c 'links=%h' /bin/hard; ls -d /xxx* | wc -c; cat /etc/deep/er/c",
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r["own"], "0:0", "the user's files are root's inside")
        XCTAssertEqual(r["mode"], "4711")
        XCTAssertEqual(r["links"], "2", "the hardlink stayed one")
        XCTAssertTrue(r.out.hasSuffix("122\nconf\n"), r.out)
        let again = try rl(["import", "--name", "dir2", s + "/tree"])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers").count, 1, "the same tree gives the same layer (diff-id)")
        // A user's own tar of it (no --owner=0): "./" belongs to a subordinate id inside, so
        // only root in the store's namespace may move the unpacked layer into place.
        try sh("rm \(s)/tree/fifo; tar -C \(s)/tree -cf \(s)/user.tar .")
        let own = try rl(["import", "--name", "usertar", s + "/user.tar"])
        XCTAssertEqual(own.status, 0, own.err)
        XCTAssertEqual(
            try h.run(["run", "--root", store, "usertar", "--", "/bin/busybox", "stat", "-c", "etc=%u", "/etc"])["etc"], String(getuid()),
            "the files keep the tar's owner: your uid, mapped through the subordinate range")
    }

    func testDockerArchiveAndOCIArchiveFromSkopeo() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/skopeo") else {
            throw XCTSkip("SKIP: skopeo is not installed (scripts/setup installs it)")
        }
        let oci = try makeLayout()
        let s = h.scratch.path
        try sh(
            """
            skopeo --insecure-policy copy -q oci:\(oci):v1 docker-archive:\(s)/d.tar:example.com/saved:v2
            skopeo --insecure-policy copy -q oci:\(oci):v1 oci-archive:\(s)/o.tar:v3
            """)
        let d = try rl(["import", s + "/d.tar"])
        XCTAssertEqual(d.status, 0, d.err)
        let o = try rl(["import", "--name", "from-oci-archive", s + "/o.tar"])
        XCTAssertEqual(o.status, 0, o.err)
        XCTAssertEqual(d.out, o.out, "the same config, so the same image id")
        let r = try h.run(["run", "--root", store, "example.com/saved:v2", "--", "/bin/busybox", "cat", "/work/new", "/etc/base"])
        XCTAssertEqual(r.out, "top\nbase\n", r.err)
        let list = try rl(["images"])
        XCTAssertTrue(list.out.contains("example.com/saved:v2") && list.out.contains("localhost/from-oci-archive:latest"), list.out)
        XCTAssertEqual(try rl(["rmi", "example.com/saved:v2"]).out, "untagged example.com/saved:v2\n")
        XCTAssertTrue(try rl(["rmi", "from-oci-archive"]).out.hasPrefix("removed sha256:"))
        XCTAssertEqual(try rl(["images", "--format", "json"]).out, "[]\n")
        // gc frees what no image uses: the layers (subordinate-owned files among them) and blobs.
        let gc = try rl(["gc"])
        XCTAssertEqual(gc.status, 0, gc.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers"), [], gc.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/blobs/sha256"), [], gc.out)
    }

    /// Each hostile archive is refused with a clear error, and nothing appears outside.
    func testHostileArchivesAreRefused() throws {
        let s = h.scratch.path
        let outside = s + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let py = """
            import io, sys, tarfile
            def mk(name, entries):
                with tarfile.open(name, "w") as t:
                    for kind, path, extra in entries:
                        i = tarfile.TarInfo(path)
                        if kind == "file":
                            data = b"pwned\\n"; i.size = len(data); t.addfile(i, io.BytesIO(data))
                        elif kind == "dir":
                            i.type = tarfile.DIRTYPE; t.addfile(i)
                        elif kind == "sym":
                            i.type = tarfile.SYMTYPE; i.linkname = extra; t.addfile(i)
                        elif kind == "hard":
                            i.type = tarfile.LNKTYPE; i.linkname = extra; t.addfile(i)
            o = sys.argv[1]
            mk("dotdot.tar", [("file", "../../outside/dotdot", None)])
            mk("absolute.tar", [("file", o + "/absolute", None)])
            mk("symlink-then-file.tar", [("sym", "link", o), ("file", "link/through-symlink", None)])
            mk("symlink-chain.tar", [("sym", "a", "b"), ("sym", "b", o), ("file", "a/through-chain", None)])
            mk("hardlink-outside.tar", [("hard", "h", "/etc/passwd")])
            mk("hardlink-dotdot.tar", [("hard", "h", "../../outside/x")])
            mk("hardlink-missing.tar", [("hard", "h", "not/in/layer")])
            mk("fine.tar", [("file", "fine", None)])
            open("truncated.tar", "wb").write(open("fine.tar", "rb").read()[:700])
            """
        try sh("cd \(s) && python3 - \(outside) <<'PY'\n\(py)\nPY")
        // A huge declared GNU long name, written by hand (checksum made right).
        var hdr = [UInt8](repeating: 0, count: 512)
        for (i, c) in "././@LongLink".utf8.enumerated() { hdr[i] = c }
        for (i, c) in "0000644\0".utf8.enumerated() { hdr[100 + i] = c }
        for (i, c) in "77777777777\0".utf8.enumerated() { hdr[124 + i] = c }
        hdr[156] = UInt8(ascii: "L")
        for (i, c) in "ustar  \0".utf8.enumerated() { hdr[257 + i] = c }
        for i in 148..<156 { hdr[i] = 0x20 }
        let sum = String(hdr.reduce(0) { $0 + Int($1) }, radix: 8)
        for (i, c) in (String(repeating: "0", count: 6 - sum.count) + sum + "\0").utf8.enumerated() { hdr[148 + i] = c }
        try Data(hdr + [UInt8](repeating: 0, count: 4096)).write(to: URL(fileURLWithPath: s + "/huge-header.tar"))

        let cases: [(String, String)] = [
            ("dotdot.tar", "climbs out with .."), ("absolute.tar", "is an absolute path"),
            ("symlink-then-file.tar", "goes through the symlink link"), ("symlink-chain.tar", "goes through the symlink a"),
            ("hardlink-outside.tar", "is an absolute path"), ("hardlink-dotdot.tar", "climbs out with .."),
            ("hardlink-missing.tar", "which is not in this layer"), ("truncated.tar", "truncated"),
            ("huge-header.tar", "over the 1048576-byte limit"),
        ]
        for (file, why) in cases {
            let r = try rl(["import", "--name", "hostile", s + "/" + file])
            XCTAssertEqual(r.status, 125, "\(file): \(r.out) \(r.err)")
            XCTAssertTrue(r.err.contains(why), "\(file): \(r.err)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [], "nothing was written outside")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers"), [], "no half layer entered the store")
        XCTAssertEqual(try rl(["images", "--format", "json"]).out, "[]\n")
    }

    func testConcurrentImportsAndAKilledImport() throws {
        let oci = try makeLayout()
        // Two imports at once: both succeed, the layers are unpacked once each.
        let both = try h.together(["import", "--root", store, "--name", "c1", oci + ":v1"], ["import", "--root", store, "--name", "c2", oci + ":v1"])
        XCTAssertEqual(both[0].status, 0)
        XCTAssertEqual(both[1].status, 0)
        XCTAssertEqual(both[0].out, both[1].out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/layers").count, 2)
        // An import SIGKILLed while it unpacks (its helper dies with it), then completed.
        let s = h.scratch.path
        try sh(
            "mkdir -p \(s)/big/data \(s)/big/bin \(s)/big/work && cp /bin/busybox \(s)/big/bin/ && head -c 300000000 /dev/zero > \(s)/big/data/zero && layout \(s)/big-oci v1 \(s)/big"
        )
        let k = try h.start(["import", "--root", store, "--name", "big", s + "/big-oci:v1"])
        // Killed once the unpack has begun: its tmp directory exists.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).contains(where: { $0.hasPrefix("layer-") }) {
            poll(nil, 0, 5)
        }
        XCTAssertTrue(
            ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).contains { $0.hasPrefix("layer-") },
            "the kill lands while the layer is being unpacked")
        kill(k.process.processIdentifier, SIGKILL)
        k.process.waitUntilExit()
        XCTAssertEqual(try rl(["images", "--format", "json"]).out.contains("big"), false, "a killed import names nothing")
        let again = try rl(["import", "--name", "big", s + "/big-oci:v1"])
        XCTAssertEqual(again.status, 0, again.err)
        let r = try h.run(["run", "--root", store, "big", "--", "/bin/busybox", "stat", "-c", "size=%s", "/data/zero"])
        XCTAssertEqual(r["size"], "300000000", r.err)
        XCTAssertFalse(
            ((try? FileManager.default.contentsOfDirectory(atPath: store + "/tmp")) ?? []).contains { $0.hasPrefix("layer-") }, "the leftover was cleared")
    }

    /// The fuse-overlayfs daemon lives in the payload's pid namespace with every
    /// capability of the sandbox: it cannot be traced (nor its environment read), even
    /// with --cap-add SYS_PTRACE or ALL — such a payload runs in a nested user namespace.
    /// The control: the same payload traces its own child.
    func testTheFuseOverlayfsDaemonIsOutOfThePayloadsReach() throws {
        let s = h.scratch.path
        try sh(
            """
            mkdir -p \(s)/p/bin; cp /bin/busybox \(s)/p/bin/busybox; ln -s busybox \(s)/p/bin/sh; cp \(h.probe) \(s)/p/probe
            layout \(s)/poci v1 \(s)/p
            """)
        XCTAssertEqual(try rl(["import", "--name", "test/probe:v1", s + "/poci:v1"]).status, 0)
        for caps in [[], ["--cap-add", "SYS_PTRACE"], ["--cap-add", "ALL"]] {
            let r = try h.run(
                ["run", "--root", store, "--storage-driver", "fuse-overlayfs"] + caps + ["test/probe:v1", "--", "/probe", "ptrace-comm", "fuse-overlayfs"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertEqual(r["helpers"], "1", "the daemon is in the payload's pid namespace: \(r.out)")
            XCTAssertEqual(r["ptrace_helper"], "EPERM", "\(caps): \(r.out)")
            XCTAssertNotEqual(r["read_helper_environ"], "ok", "\(caps): \(r.out)")
        }
        let control = try h.run([
            "run", "--root", store, "--storage-driver", "fuse-overlayfs", "--cap-add", "SYS_PTRACE", "test/probe:v1", "--", "/probe", "ptrace-child",
        ])
        XCTAssertEqual(control["ptrace_attach"], "ok", "the control: \(control.out)")
    }
}
