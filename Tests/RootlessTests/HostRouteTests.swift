@testable import SlirpHost
import SlirpNet
import XCTest

/// SlirpNet's "is this the host itself" check asks the kernel how it routes (RTM_GETROUTE),
/// so an address is the host's whatever the family or how it got there: its interfaces'
/// addresses, loopback, broadcast; a remote address is not.
final class HostRouteTests: XCTestCase {
    func testTheHostsOwnAddressesAreLocalAndOthersNot() throws {
        let own = SlirpRunner.hostAddresses()
        guard !own.isEmpty else { throw XCTSkip("SKIP: no interface addresses here") }
        for a in own { XCTAssertTrue(SlirpRunner.isLocal(Endpoint(a, 80)), "\(a) is the host's own") }
        XCTAssertTrue(SlirpRunner.isLocal(Endpoint(IPv4(127, 9, 9, 9), 80)))
        XCTAssertTrue(SlirpRunner.isLocal(Endpoint(IP(hi: 0, lo: 1), 80)))
        XCTAssertTrue(SlirpRunner.isLocal(Endpoint(IPv4(255, 255, 255, 255), 80)), "the limited broadcast reaches the host's own listeners")
        // The control: TEST-NET-2 and IPv6's documentation prefix are not this host (routed away, or unroutable).
        XCTAssertFalse(SlirpRunner.isLocal(Endpoint(IPv4(198, 51, 100, 7), 80)))
        XCTAssertFalse(SlirpRunner.isLocal(Endpoint(IP("2001:db8::7")!, 80)))
    }

    func testRouteRequestAndAnswerBytes() {
        XCTAssertEqual(
            Netlink.getRoute(to: IP(IPv4(10, 0, 2, 2)), seq: 1),
            [36, 0, 0, 0, 26, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 0, 2, 2])
        XCTAssertEqual(Netlink.replySeq(Netlink.getRoute(to: IP(IPv4(10, 0, 2, 2)), seq: 0x0102_0304)), 0x0102_0304, "answers are matched to questions")
        var answer = [UInt8](repeating: 0, count: 28)
        answer[0] = 28
        answer[4] = 24  // RTM_NEWROUTE
        answer[23] = 2  // RTN_LOCAL
        XCTAssertEqual(Netlink.routeType(answer), 2)
        answer[4] = 2  // NLMSG_ERROR
        XCTAssertEqual(Netlink.routeType(answer), 0)
        XCTAssertNil(Netlink.routeType(Array(answer.prefix(10))))
        answer[4] = 77
        XCTAssertNil(Netlink.routeType(answer), "an answer not understood")
        answer[0] = 200
        XCTAssertNil(Netlink.routeType(answer), "a length past the bytes")
    }
}
