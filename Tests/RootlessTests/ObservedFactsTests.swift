import Foundation
import XCTest

/// "Every host fact the planner reads goes through Observe, or cached starts go stale" is
/// a rule no compiler checks, so this test does: the planner's files make no host call at
/// all (they only see HostFacts), and SystemFacts reads the host only through Observe,
/// except on lines that say why a read is not a fact (`unobserved:`).
final class ObservedFactsTests: XCTestCase {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardized
    static let hostCall = try! NSRegularExpression(
        pattern: #"(?<![\w.])(OS\.[a-zA-Z]+|getenv|lstat|stat|fstat|access|open|openat|opendir|readlink|realpath|getuid|getgid|getcwd|uname)\("#)

    func calls(in file: String) throws -> [(Int, String)] {
        let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { i, line in
            let l = String(line)
            if l.trimmingCharacters(in: .whitespaces).hasPrefix("//") { return nil }
            let r = NSRange(l.startIndex..., in: l)
            return Self.hostCall.firstMatch(in: l, range: r) != nil ? (i + 1, l) : nil
        }
    }

    func testThePlannerReadsNothingButHostFacts() throws {
        for f in ["Planner.swift", "Plan.swift", "Spec.swift", "HostFacts.swift", "RunArguments.swift"].map({ "RootlessCore/" + $0 }) {
            XCTAssertEqual(try calls(in: f).map { "\(f):\($0.0): \($0.1)" }, [], "the planner must take host facts from HostFacts only")
        }
    }

    func testSystemFactsReadsTheHostOnlyThroughObserve() throws {
        for f in ["RootlessOS/SystemFacts.swift", "RootlessCore/SystemFacts+Gather.swift", "Cgroups/SystemFacts+Cgroup.swift"] {
            let direct = try calls(in: f).filter { !$0.1.contains("unobserved:") }
            XCTAssertEqual(direct.map { "\(f):\($0.0): \($0.1)" }, [], "read it through Observe (or say why it is not a fact)")
        }
    }

    /// The control: the scan does find a direct read.
    func testTheScanFindsADirectRead() throws {
        let line = "        let s = OS.readFile(\"/proc/self/status\")"
        XCTAssertNotNil(Self.hostCall.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)))
        let observed = "        let s = Observe.readFile(\"/proc/self/status\")"
        XCTAssertNil(Self.hostCall.firstMatch(in: observed, range: NSRange(observed.startIndex..., in: observed)))
    }
}
