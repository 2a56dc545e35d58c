import Glibc
@testable import SlirpHost
import SlirpNet
import XCTest

/// The engine's driver around its thread: what makes it read the host, and its stop.
final class SlirpRunnerTests: XCTestCase {
    /// An Ethernet frame of `type` whose payload has `dst` at the destination address's
    /// place (IPv4: offset 16; IPv6: 24), to a broadcast link address.
    func frame(_ type: UInt16, dst: [UInt8]) -> [UInt8] {
        var f = [UInt8](repeating: 0xff, count: 6) + [2, 0, 0, 0, 0, 1] + [UInt8(type >> 8), UInt8(type & 0xff)]
        var ip = [UInt8](repeating: 0, count: type == 0x86DD ? 40 : 20)
        ip.replaceSubrange((type == 0x86DD ? 24 : 16)..<(type == 0x86DD ? 24 : 16) + dst.count, with: dst)
        f += ip
        return f
    }

    /// The host is read before the first packet to a unicast address, whatever the link
    /// address (a sandbox may put a group one on a unicast packet), and not for ARP or
    /// packets to group addresses (what a link sends by itself as it comes up).
    func testWhatMayOpenAFlow() {
        let v6Unicast: [UInt8] = [0xfd, 0] + [UInt8](repeating: 0, count: 13) + [2]
        let v6Group: [UInt8] = [0xff, 2] + [UInt8](repeating: 0, count: 13) + [0x16]
        XCTAssertTrue(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [10, 0, 2, 2]), 34), "IPv4 unicast, broadcast link address")
        XCTAssertTrue(SlirpRunner.mayOpenFlow(frame(0x86DD, dst: v6Unicast), 54), "IPv6 unicast")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [224, 0, 0, 22]), 34), "IGMP report")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [255, 255, 255, 255]), 34), "IPv4 broadcast")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x86DD, dst: v6Group), 54), "MLD report")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0806, dst: [10, 0, 2, 2]), 42), "ARP")
        XCTAssertFalse(SlirpRunner.mayOpenFlow([0, 1, 2], 3), "a runt")
    }

    /// A loop that ended by itself (the child failed before sending the TAP: its socket
    /// hangs up) and then a stop: the run goes on to say why, not killed by SIGPIPE.
    func testStopAfterTheLoopEndedByItself() {
        for wait in [true, false] {
            var sp: [Int32] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &sp), 0)
            close(sp[1])  // the child is gone
            let r = SlirpRunner(config: SlirpConfig(), policy: EgressPolicy(), tapSock: sp[0])
            XCTAssertTrue(r.start())
            // The loop ends on the hang-up and closes what it holds (the TAP's socket too).
            var st = stat()
            for _ in 0..<500 where fstat(sp[0], &st) == 0 {
                var p = pollfd(fd: -1, events: 0, revents: 0)
                _ = poll(&p, 0, 2)
            }
            XCTAssertEqual(r.stop(wait: wait), [:], "wait \(wait)")
        }
    }
}
