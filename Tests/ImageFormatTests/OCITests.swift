@testable import ImageFormat
import XCTest

final class OCITests: XCTestCase {
    let d1 = "sha256:" + String(repeating: "a", count: 64), d2 = "sha256:" + String(repeating: "b", count: 64)

    func testReferences() throws {
        XCTAssertEqual(try ImageReference.parse("busybox").description, "docker.io/library/busybox:latest")
        XCTAssertEqual(try ImageReference.parse("localhost:5000/a/b:1.0").description, "localhost:5000/a/b:1.0")
        let r = try ImageReference.parse("quay.io/x/y@" + d1)
        XCTAssertEqual(r.registry, "quay.io")
        XCTAssertNil(r.tag)
        XCTAssertEqual(r.reference, d1)
        for bad in ["", "Upper/case", "a//b", "x:", "x@sha256:12", "a/-b", "x:-tag"] {
            XCTAssertThrowsError(try ImageReference.parse(bad), bad)
        }
    }

    func testManifestIndexAndPlatformSelection() throws {
        let m = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(d1)","size":7},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"\(d2)","size":9}],"future":{"x":1}}
            """
        let man = try OCI.manifest(Array(m.utf8))
        XCTAssertEqual(man.layers.first?.compression, .zstd)
        XCTAssertEqual(man.config.size, 7)
        let idx = """
            {"schemaVersion":2,"manifests":[
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d1)","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
             {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d2)","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}
            """
        let entries = try OCI.index(Array(idx.utf8))
        XCTAssertEqual(try OCI.select(entries, platform: .linuxAmd64).digest.description, d2)
        XCTAssertEqual(try OCI.select(entries, platform: Platform(parsing: "linux/arm64")!).digest.description, d1)
        XCTAssertThrowsError(try OCI.select(entries, platform: Platform(parsing: "linux/s390x")!)) {
            XCTAssertTrue("\($0)".contains("it has: linux/arm64/v8, linux/amd64"), "\($0)")
        }
        XCTAssertThrowsError(try OCI.manifest(Array(m.replacingOccurrences(of: "tar+zstd", with: "foo").utf8))) {
            XCTAssertTrue("\($0)".contains("not a tar layer"), "\($0)")
        }
        XCTAssertThrowsError(try OCI.manifest(Array(m.replacingOccurrences(of: d2, with: "sha256:xyz").utf8)))
    }

    func testConfigAndDockerArchiveManifest() throws {
        let c = try OCI.config(
            Array(
                """
                {"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Entrypoint":null,"Cmd":["sh"],"WorkingDir":"/w","User":"1000:1000"},
                 "rootfs":{"type":"layers","diff_ids":["\(d1)"]}}
                """.utf8))
        XCTAssertEqual(c.env, ["A=1"])
        XCTAssertEqual(c.entrypoint, [])
        XCTAssertEqual(c.cmd, ["sh"])
        XCTAssertEqual(c.user, "1000:1000")
        XCTAssertEqual(c.diffIDs.map(\.description), [d1])
        let a = try OCI.dockerArchive(Array(#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#.utf8))
        XCTAssertEqual(a, [OCI.ArchiveImage(config: "c.json", repoTags: ["x:1"], layers: ["l/layer.tar"])])
        // What we write parses back.
        let synth = try OCI.config(OCI.synthesizedConfig(diffID: Digest(d1)!, created: "2026-01-01T00:00:00Z"))
        XCTAssertEqual(synth.diffIDs.map(\.description), [d1])
        XCTAssertEqual(jsonString("a\"b\\\n\u{1}"), #""a\"b\\\n\u0001""#)
    }

    func testFuzzedDocumentsNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let seed = Array(
            #"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":1},"layers":[],"manifests":[{"digest":"x","size":-1,"platform":{"os":1}}]}"#.utf8)
        for _ in 0..<5000 {
            var b = seed
            for _ in 0..<Int.random(in: 1...5, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0x20...0x7e, using: &rng) }
            _ = try? OCI.manifest(b)
            _ = try? OCI.index(b)
            _ = try? OCI.config(b)
            _ = try? OCI.dockerArchive(b)
            _ = try? ImageReference.parse(String(decoding: b.prefix(60), as: UTF8.self))
        }
    }
}
