@testable import SlirpNet
import XCTest

/// The upload path: a TCP or UDP checksum the sandbox's kernel left to the link (its
/// VirtioNet header says NEEDS_CSUM, or DATA_VALID) is not checked; any other is.
extension EngineTests {
    func testALinkSummedChecksumIsNotChecked() {
        XCTAssertTrue(VirtioNet.summed([1, 0, 0, 0, 0, 0, 34, 0, 16, 0]), "NEEDS_CSUM")
        XCTAssertTrue(VirtioNet.summed([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "DATA_VALID")
        XCTAssertFalse(VirtioNet.summed([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
        var sb = Sandbox()
        let syn = { (port: UInt16) in TCPSegment(srcPort: port, dstPort: 80, seq: 5, ack: 0, flags: TCPFlag.syn, window: 100) }
        var partial = sb.tcp(syn(1), to: remote)
        partial[Ethernet.headerLength + 20 + 16] ^= 0xff  // the checksum as a link would leave it: not the sum
        let e = engine()
        e.input(partial, now: 0)
        XCTAssertEqual(e.drain(), [], "control: a bad checksum is dropped")
        e.input(partial, summed: true, now: 0)
        guard case .tcpConnect? = e.drain().first else { return XCTFail("summed by the link: taken") }
        // The IP header's own checksum is checked whatever the link says.
        var badHeader = sb.tcp(syn(2), to: remote)
        badHeader[Ethernet.headerLength + 10] ^= 0xff
        e.input(badHeader, summed: true, now: 0)
        XCTAssertEqual(e.drain(), [], "a bad IPv4 header checksum is dropped")
        var datagram = sb.udp(5353, to: remote, 9999, [1, 2, 3])
        datagram[Ethernet.headerLength + 20 + 6] ^= 0xff
        e.input(datagram, now: 0)
        XCTAssertEqual(e.drain().filter { if case .udpSend = $0 { return true } else { return false } }.count, 0, "control")
        e.input(datagram, summed: true, now: 0)
        XCTAssertEqual(e.drain().filter { if case .udpSend = $0 { return true } else { return false } }.count, 1)
    }
}
