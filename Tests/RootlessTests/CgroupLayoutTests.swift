@testable import RootlessOS
@testable import Cgroups
@testable import SeccompCompile
@testable import RootlessCore
@testable import FastStart
@testable import Images
@testable import Registry
@testable import RootlessCommands
import XCTest

final class CgroupLayoutTests: XCTestCase {
    // Trimmed from this VM's /proc/self/mountinfo (hybrid) and a pure-v2 Debian guest.
    let hybrid = """
        36 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        37 36 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        39 36 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
        40 36 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
        41 36 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
        42 36 0:34 / /sys/fs/cgroup/systemd rw shared:17 - cgroup cgroup rw,xattr,name=systemd
        """
    let unified = """
        25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    func testHybrid() {
        let l = CgroupLayout.detect(mountinfo: hybrid, selfCgroup: "12:pids:/\n1:name=systemd:/\n0::/init.scope\n")
        XCTAssertEqual(l.kind, .hybrid)
        XCTAssertEqual(l.v2Mount, "/sys/fs/cgroup/unified")
        XCTAssertEqual(l.v1Controllers, ["cpu", "cpuacct", "memory", "pids"])
        XCTAssertEqual(l.ownPath, "/init.scope")
    }

    func testUnifiedAndNone() {
        let l = CgroupLayout.detect(mountinfo: unified, selfCgroup: "0::/user.slice/user-1001.slice/user@1001.service/app.slice\n")
        XCTAssertEqual(l.kind, .unified)
        XCTAssertEqual(l.v2Mount, "/sys/fs/cgroup")
        XCTAssertEqual(l.ownPath, "/user.slice/user-1001.slice/user@1001.service/app.slice")
        XCTAssertEqual(CgroupLayout.detect(mountinfo: "", selfCgroup: "").kind, .none)
    }

    func testEscapedMountPointsAndGarbage() {
        XCTAssertEqual(CgroupLayout.unescape("/a\\040b"), "/a b")
        for _ in 0..<500 {
            let junk = String((0..<Int.random(in: 0..<120)).map { _ in " -\\0123cgroup2\n/".randomElement()! })
            _ = CgroupLayout.detect(mountinfo: junk, selfCgroup: junk)
        }
    }
}
