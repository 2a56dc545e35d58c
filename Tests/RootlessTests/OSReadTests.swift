import Foundation
import XCTest
@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands

/// OS.readBytes reads into a buffer it grows (4 KiB first): sizes around the growth steps,
/// the limit, an empty and a missing file.
final class OSReadTests: XCTestCase {
    func testReadsWholeFilesAcrossGrowthStepsAndStopsAtTheLimit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rl-read-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for size in [0, 1, 4095, 4096, 4097, 8192, 70_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let f = dir.appendingPathComponent("f\(size)")
            try Data(bytes).write(to: f)
            XCTAssertEqual(OS.readBytes(f.path), bytes, "size \(size)")
            XCTAssertEqual(OS.readBytes(f.path, limit: 5000), Array(bytes.prefix(5000)), "size \(size), limit 5000")
        }
        XCTAssertNil(OS.readBytes(dir.appendingPathComponent("missing").path))
        // /proc files report size 0: read until EOF all the same.
        XCTAssertEqual(OS.readFile("/proc/self/stat").map { $0.hasPrefix("\(getpid()) ") }, true)
    }
}
