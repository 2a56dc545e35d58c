import IDMap
import XCTest

final class MapPlanTests: XCTestCase {
    let sub = SubIDTable(parsing: "alice:100000:65536\n")
    let helper = HelperStatus.usable(path: "/usr/bin/newuidmap")
    let ghelper = HelperStatus.usable(path: "/usr/bin/newgidmap")

    func inputs(_ mode: MapMode, subuid: SubIDTable? = nil, helper h: HelperStatus? = nil) -> MapInputs {
        MapInputs(
            mode: mode, uid: 1000, gid: 1000, userName: "alice", subuid: subuid ?? sub, subgid: sub,
            uidHelper: h ?? helper, gidHelper: ghelper)
    }

    func testAutoMapsCallerToRootAndRangeFromOne() throws {
        let p = try IDMapPlanner.plan(inputs(.auto))
        XCTAssertEqual(p.method, .helpers)
        XCTAssertEqual(p.uidLines, [MapLine(0, 1000, 1), MapLine(1, 100000, 65536)])
        XCTAssertNil(p.note)
        XCTAssertEqual(
            IDMapPlan.helperArgv("/usr/bin/newuidmap", pid: 42, p.uidLines),
            ["/usr/bin/newuidmap", "42", "0", "1000", "1", "1", "100000", "65536"])
    }

    func testKeepIDPutsCallerAtOwnUIDAndSplitsRange() throws {
        let p = try IDMapPlanner.plan(inputs(.keepID))
        XCTAssertEqual(p.uidLines, [MapLine(0, 100000, 1000), MapLine(1000, 1000, 1), MapLine(1001, 101000, 64536)])
        XCTAssertEqual(p.defaultUID, 1000)
        XCTAssertTrue(p.mapsUID(0) && p.mapsUID(1000) && p.mapsUID(65536) && !p.mapsUID(65537))
    }

    func testSelfWritesOneLineDirectly() throws {
        let p = try IDMapPlanner.plan(inputs(.selfOnly))
        XCTAssertEqual(p.method, .direct)
        XCTAssertEqual(IDMapPlan.render(p.uidLines), "0 1000 1\n")
    }

    func testAutoFallsBackWithReasonAndFix() throws {
        let none = try IDMapPlanner.plan(inputs(.auto, subuid: SubIDTable(parsing: "bob:1:2\n")))
        XCTAssertEqual(none.method, .direct)
        XCTAssertTrue(none.note?.contains("usermod --add-subuids") == true, none.note ?? "")
        let missing = try IDMapPlanner.plan(inputs(.auto, helper: .missing(name: "newuidmap")))
        XCTAssertTrue(missing.note?.contains("apt-get install uidmap") == true)
        let notSuid = try IDMapPlanner.plan(inputs(.auto, helper: .notPrivileged(path: "/usr/bin/newuidmap")))
        XCTAssertTrue(notSuid.note?.contains("chmod u+s /usr/bin/newuidmap") == true)
        let nnp = try IDMapPlanner.plan(inputs(.auto, helper: .blockedByNoNewPrivs(path: "/usr/bin/newuidmap")))
        XCTAssertTrue(nnp.note?.contains("no_new_privs") == true)
    }

    func testSubidsNeverFallsBackAndMalformedIsAnError() {
        XCTAssertThrowsError(try IDMapPlanner.plan(inputs(.subids, subuid: SubIDTable(parsing: "")))) { e in
            XCTAssertEqual(e as? IDMapError, .noSubIDs(file: "/etc/subuid", user: "alice"))
        }
        XCTAssertThrowsError(try IDMapPlanner.plan(inputs(.auto, subuid: SubIDTable(parsing: "alice:100000:65536\nbad\n")))) { e in
            XCTAssertTrue("\(e)".contains("/etc/subuid:2: malformed entry \"bad\""), "\(e)")
        }
    }
}
