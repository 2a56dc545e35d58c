import CRootless
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

    /// The poll before a sleep doubles from 10 us while waits run past it within the cap,
    /// and stops after a longer one; it never costs more than the work it serves (the two
    /// halved every 10 ms); with one CPU, or a cap of 0, there is none.
    func testThePollWindowFollowsTheWaitsWithinTheWork() {
        var w = PollWindow(capMicros: 200, cpus: 2)
        XCTAssertEqual(w.pollFor, 0)
        var seen: [UInt64] = []
        for i in 0..<7 {
            w.waited(min(w.ns + 1000, 200_000), polling: 0, worked: 1_000_000, at: UInt64(i))
            seen.append(w.ns)
        }
        XCTAssertEqual(seen, [10_000, 20_000, 40_000, 80_000, 160_000, 200_000, 200_000])
        XCTAssertEqual(w.pollFor, 200_000)
        w.waited(150_000, polling: 150_000, worked: 0, at: 10)
        XCTAssertEqual(w.ns, 200_000, "a wait the poll caught (within the window) leaves it")
        w.waited(200_001, polling: 200_000, worked: 0, at: 11)
        XCTAssertEqual(w.ns, 0, "the link went quiet: sleep at once")
        XCTAssertEqual(w.pollFor, 0)
        // The budget: polling spends what the work left, no more.
        var b = PollWindow(capMicros: 200, cpus: 2)
        for i in 0..<5 { b.waited(b.ns + 1000, polling: 0, worked: 0, at: UInt64(i)) }
        XCTAssertEqual(b.ns, 160_000)
        XCTAssertEqual(b.pollFor, 0, "no work yet: nothing to poll for")
        b.waited(170_000, polling: 0, worked: 50_000, at: 6)
        XCTAssertEqual(b.pollFor, 50_000, "the window, within the work's 50 us")
        b.waited(100, polling: 50_000, worked: 0, at: 7)
        XCTAssertEqual(b.pollFor, 0, "polled as long as it worked")
        b.waited(100, polling: 0, worked: 100_000, at: PollWindow.period + 7)
        XCTAssertEqual(b.working, 75_000, "a new period halves both")
        XCTAssertEqual(b.polled, 25_000)
        XCTAssertEqual(b.pollFor, 50_000)
        b.waited(100, polling: 0, worked: 0, at: 5 * PollWindow.period + 7)
        XCTAssertEqual(b.working, 75_000 >> 4, "halved once for each period gone by")
        XCTAssertEqual(b.polled, 25_000 >> 4)
        for cpus in [1, 0] {
            var one = PollWindow(capMicros: 200, cpus: cpus)
            one.waited(1000, polling: 0, worked: 1_000_000, at: 0)
            XCTAssertEqual(one.pollFor, 0)
        }
        var off = PollWindow(capMicros: 0, cpus: 8)
        off.waited(1000, polling: 0, worked: 1_000_000, at: 0)
        XCTAssertEqual(off.pollFor, 0)
    }

    /// The host is read before the first packet to a unicast address, whatever the link
    /// address (a sandbox may put a group one on a unicast packet), and not for ARP or
    /// packets to group addresses (what a link sends by itself as it comes up).
    func testWhatMayOpenAFlow() {
        let v6Unicast: [UInt8] = [0xfd, 0] + [UInt8](repeating: 0, count: 13) + [2]
        let v6Group: [UInt8] = [0xff, 2] + [UInt8](repeating: 0, count: 13) + [0x16]
        XCTAssertTrue(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [10, 0, 2, 2])[0..<34]), "IPv4 unicast, broadcast link address")
        XCTAssertTrue(SlirpRunner.mayOpenFlow(frame(0x86DD, dst: v6Unicast)[0..<54]), "IPv6 unicast")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [224, 0, 0, 22])[0..<34]), "IGMP report")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0800, dst: [255, 255, 255, 255])[0..<34]), "IPv4 broadcast")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x86DD, dst: v6Group)[0..<54]), "MLD report")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(frame(0x0806, dst: [10, 0, 2, 2])[...]), "ARP")
        XCTAssertFalse(SlirpRunner.mayOpenFlow([0, 1, 2][...]), "a runt")
        XCTAssertTrue(SlirpRunner.mayOpenFlow(([7, 7] + frame(0x0800, dst: [10, 0, 2, 2]))[2..<36]), "read from a slice that starts past 0")
        XCTAssertFalse(SlirpRunner.mayOpenFlow(([7, 7] + frame(0x0800, dst: [224, 0, 0, 22]))[2..<36]), "a group address, from such a slice")
    }

    /// A loop that ended by itself (the child failed before sending the TAP: its socket
    /// hangs up) and then a stop: the run goes on to say why, not killed by SIGPIPE.
    func testStopAfterTheLoopEndedByItself() {
        do {
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
            XCTAssertEqual(r.stop(), [:])
        }
    }

    /// A host connection over loopback: (the engine's end, the server's end).
    func tcpPair() -> (Int32, Int32) {
        let l = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(l) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                XCTAssertEqual(bind(l, $0, len), 0)
                XCTAssertEqual(getsockname(l, $0, &len), 0)
            }
        }
        XCTAssertEqual(listen(l, 1), 0)
        let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { XCTAssertEqual(Glibc.connect(c, $0, len), 0) } }
        return (c, accept(l, nil, nil))
    }

    /// The host's bytes then its FIN, as epoll reports them and the reads take them
    /// (peerDone: as the runner says from the events, unless given).
    func readAll(_ fd: Int32, peerDone forced: Bool? = nil) -> (events: UInt32, reads: [(n: Int, last: Bool)]) {
        let ep = epoll_create1(0)
        defer { close(ep) }
        var e = epoll_event()
        e.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLPRI.rawValue
        e.data.fd = fd
        XCTAssertEqual(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e), 0)
        var got = epoll_event()
        XCTAssertEqual(epoll_wait(ep, &got, 1, 5000), 1)
        var b = [UInt8](repeating: 0, count: 65536)
        var reads: [(n: Int, last: Bool)] = []
        while true {
            let r = b.withUnsafeMutableBytes { SlirpRunner.recvHost(fd, $0, peerDone: forced ?? SlirpRunner.peerDone(got.events)) }
            reads.append((r.n, r.last))
            if r.n <= 0 || r.last { break }
        }
        return (got.events, reads)
    }

    /// A connection whose host sent "before", an urgent byte, "after", then its FIN.
    func urgentPair() -> (Int32, Int32) {
        let (b, sb) = tcpPair()
        XCTAssertEqual(write(sb, "before", 6), 6)
        XCTAssertEqual(send(sb, "!", 1, Int32(MSG_OOB)), 1)
        XCTAssertEqual(write(sb, "after", 5), 5)
        shutdown(sb, Int32(SHUT_WR))
        var p = pollfd(fd: b, events: Int16(0x2000 /* POLLRDHUP */), revents: 0)
        XCTAssertEqual(poll(&p, 1, 5000), 1)
        return (b, sb)
    }

    /// A short read after the peer's FIN is its last (no read for the EOF), unless urgent
    /// data stopped it short at its mark: then the reads go on and lose nothing. The
    /// control: the same reads taking the FIN's word alone stop at the mark, bytes unread.
    func testTheLastReadAfterTheFin() {
        let (a, sa) = tcpPair()
        XCTAssertEqual(write(sa, "hello", 5), 5)
        shutdown(sa, Int32(SHUT_WR))
        var p = pollfd(fd: a, events: Int16(0x2000 /* POLLRDHUP */), revents: 0)
        XCTAssertEqual(poll(&p, 1, 5000), 1)
        let plain = readAll(a)
        XCTAssertEqual(plain.reads.map(\.n), [5])
        XCTAssertEqual(plain.reads.map(\.last), [true], "one read: the bytes and the end")
        close(a)
        close(sa)

        let (b, sb) = urgentPair()
        let urgent = readAll(b)
        XCTAssertNotEqual(urgent.events & EPOLLPRI.rawValue, 0, "the urgent byte is reported")
        XCTAssertFalse(SlirpRunner.peerDone(urgent.events))
        XCTAssertEqual(urgent.reads.first?.n, 6, "the first read stopped at the mark")
        XCTAssertEqual(urgent.reads.filter { $0.n > 0 }.map(\.n).reduce(0, +), 11, "every byte in line read (the urgent byte itself is out of band)")
        close(b)
        close(sb)

        let (c, sc) = urgentPair()
        let trusting = readAll(c, peerDone: true)
        XCTAssertEqual(trusting.reads.count, 1)
        XCTAssertEqual(trusting.reads.first?.n, 6)
        XCTAssertEqual(trusting.reads.first?.last, true, "control: taken as the last, with 5 bytes behind it")
        close(c)
        close(sc)
    }
}
