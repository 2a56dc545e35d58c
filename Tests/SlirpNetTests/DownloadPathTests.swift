@testable import SlirpNet
import XCTest

/// The host -> sandbox path: the flow's ring (read into straight from the host socket,
/// sent from without a copy), the FIN on the last bytes, and the frames' VirtioNet headers
/// with partial TCP checksums.
extension EngineTests {
    /// Bytes that wrap around the ring's end reach the sandbox whole and in order, in
    /// segments that never span the wrap.
    func testTheRingWrapsAndKeepsTheBytesInOrder() {
        let e = engine()
        var sb = Sandbox()
        let (id, iss) = open(e, &sb)
        var acked = iss
        var got: [UInt8] = []
        var next: UInt8 = 0
        var wrapped = 0
        for round in 0..<40 {
            // 1500 bytes a round (the ring is 2048, then 4096): each round acknowledged only
            // up to its half, so what waits keeps moving round the ring.
            var chunk = [UInt8](repeating: 0, count: 1500)
            for i in chunk.indices {
                chunk[i] = next
                next &+= 1
            }
            e.tcpReceived(id, chunk[...], now: 10)
            if let f = e.tcpByID[id], f.head + f.buffered > f.ring.count { wrapped += 1 }
            for s in segments(e.drain()) where !s.payload.isEmpty {
                let offset = Int(seqDiff(s.seq, iss))
                if offset + s.payload.count > got.count {
                    got += s.payload.dropFirst(got.count - offset)
                }
            }
            acked = round == 39 ? iss &+ UInt32(got.count) : acked &+ 750
            e.input(sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: acked, flags: TCPFlag.ack, window: 65535), to: remote), now: 11)
            _ = e.drain()
        }
        XCTAssertGreaterThan(wrapped, 5, "what waited ran over the ring's end")
        XCTAssertEqual(got.count, 40 * 1500)
        XCTAssertTrue(got.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset) }, "the bytes in order")
        XCTAssertEqual(e.tcpByID[id]?.buffered, 0, "all acknowledged")
    }

    /// tcpRead: the driver reads into the ring's free run, once the ring has room; the
    /// bytes go out as read, the last ones with the FIN.
    func testTheHostReadsStraightIntoTheRing() {
        let e = engine()
        var sb = Sandbox()
        let (id, _) = open(e, &sb)
        XCTAssertNil(e.tcpRead(id, room: 1024, now: 3) { _ in (0, false) }, "no ring yet: the driver reads into its own buffer")
        e.tcpReceived(id, [1, 2, 3][...], now: 3)
        _ = e.drain()
        var offered = 0
        let n = e.tcpRead(id, room: 1024, now: 4) { b in
            offered = b.count
            b.copyBytes(from: [4, 5])
            return (2, true)
        }
        XCTAssertEqual(n, 2)
        XCTAssertGreaterThanOrEqual(offered, 1024)
        let s = segments(e.drain())
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(Array(s[0].payload), [4, 5])
        XCTAssertTrue(s[0].has(TCPFlag.fin), "the last bytes carry the FIN")
        XCTAssertNil(e.tcpRead(id, room: 1, now: 5) { _ in (1, false) }, "nothing read after the host's end")
    }

    /// The host's last bytes and its FIN in one frame; lost, it is sent again with both.
    func testTheLastBytesCarryTheFin() {
        let e = engine()
        var sb = Sandbox()
        let (id, iss) = open(e, &sb)
        e.tcpReceived(id, Array("bye".utf8)[...], eof: true, now: 3)
        let s = segments(e.drain())
        XCTAssertEqual(s.count, 1)
        XCTAssertTrue(s[0].has(TCPFlag.fin))
        XCTAssertEqual(Array(s[0].payload), Array("bye".utf8))
        e.tick(now: 3 + 200)
        let again = segments(e.drain())
        XCTAssertEqual(again.count, 1)
        XCTAssertTrue(again[0].has(TCPFlag.fin), "the retransmission carries the FIN too")
        XCTAssertEqual(Array(again[0].payload), Array("bye".utf8))
        // The sandbox acknowledges bytes and FIN, then closes: the flow is done.
        e.input(
            sb.tcp(TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: iss &+ 4, flags: TCPFlag.ack | TCPFlag.fin, window: 65535), to: remote), now: 300)
        XCTAssertTrue(e.drain().contains(.tcpClose(id)))
        XCTAssertEqual(e.flowCount, 0)
    }

    /// With partial checksums, a TCP frame carries the pseudo-header's sum, and its
    /// VirtioNet header asks for the rest (NEEDS_CSUM at the TCP header, field at 16):
    /// completed as the kernel would, the checksum is the one a whole frame carries.
    func testPartialChecksumsAndTheirVirtioNetHeader() {
        for (src, dst) in [(v4(198, 18, 0, 1), v4(10, 0, 2, 100)), (IP(hi: 0x2001_0db8_0000_0000, lo: 1), SlirpConfig.guest6)] {
            let seg = TCPSegment(
                srcPort: 80, dstPort: 40000, seq: 7, ack: 9, flags: TCPFlag.ack | TCPFlag.psh, window: 512, payload: Array("hello, world!".utf8)[...])
            var whole = FrameBuilder(ourMAC: SlirpConfig.gatewayMAC, peerMAC: .broadcast)
            var partial = whole
            partial.partialTCPChecksums = true
            let full = whole.tcp(seg, src: src, dst: dst)
            let headers = partial.tcpHeaders(seg, src: src, dst: dst)
            var h = [UInt8](repeating: 0xee, count: VirtioNet.headerLength)
            VirtioNet.header(for: headers, into: &h)
            let start = Int(UInt16(littleEndian: UInt16(h[6]) | UInt16(h[7]) << 8))
            XCTAssertEqual(h[0], 1, "NEEDS_CSUM")
            XCTAssertEqual(start, src.isV4 ? 34 : 54)
            XCTAssertEqual(Int(h[8]) | Int(h[9]) << 8, 16)
            XCTAssertEqual(Array(h[1..<6]), [0, 0, 0, 0, 0], "no GSO")
            // Complete it: the sum from csum_start to the end, the field included, folded.
            var frame = headers + seg.payload
            let c = Checksum.fold(Checksum.add(frame, start, frame.count))
            frame[start + 16] = UInt8(c >> 8)
            frame[start + 17] = UInt8(c & 0xff)
            XCTAssertEqual(frame, full)
        }
        // Any other frame: a header that asks nothing.
        var b = FrameBuilder(ourMAC: SlirpConfig.gatewayMAC, peerMAC: .broadcast)
        b.partialTCPChecksums = true
        let udp = b.udp(src: v4(10, 0, 2, 3), srcPort: 53, dst: v4(10, 0, 2, 100), dstPort: 5353, payload: [1, 2, 3][...])
        var h = [UInt8](repeating: 0xee, count: VirtioNet.headerLength)
        VirtioNet.header(for: udp, into: &h)
        XCTAssertEqual(h, [UInt8](repeating: 0, count: VirtioNet.headerLength))
        VirtioNet.header(for: [0x08, 0x00], into: &h)
        XCTAssertEqual(h, [UInt8](repeating: 0, count: VirtioNet.headerLength), "a short frame: no crash, no ask")
    }
}

extension EngineTests {
    /// Once the FIN went with the host's last bytes, a bare ACK (for the sandbox's own
    /// data) and a reset carry the number after it: at the FIN's own number the sandbox,
    /// which has taken the FIN, would drop them as out of its window.
    func testAfterTheFinTheNextNumberIsPastIt() {
        let e = engine()
        var sb = Sandbox()
        let (id, iss) = open(e, &sb)
        e.tcpReceived(id, Array("bye".utf8)[...], eof: true, now: 3)
        XCTAssertTrue(segments(e.drain())[0].has(TCPFlag.fin))
        e.input(
            sb.tcp(
                TCPSegment(srcPort: 40000, dstPort: 80, seq: 1001, ack: iss, flags: TCPFlag.ack | TCPFlag.psh, window: 65535, payload: [1, 2][...]),
                to: remote), now: 4)
        let ack = segments(e.drain())
        XCTAssertEqual(ack.last?.seq, iss &+ 4, "3 bytes and the FIN")
        // The FIN acknowledged: the next number stays where it is (sndUna is past the FIN).
        e.input(
            sb.tcp(
                TCPSegment(srcPort: 40000, dstPort: 80, seq: 1003, ack: iss &+ 4, flags: TCPFlag.ack | TCPFlag.psh, window: 65535, payload: [3][...]),
                to: remote), now: 5)
        XCTAssertEqual(segments(e.drain()).last?.seq, iss &+ 4, "after the FIN's acknowledgment")
        e.tcpHostError(id)
        XCTAssertEqual(segments(e.drain()).first?.seq, iss &+ 4)
    }

    /// Before its acknowledgment, a reset too carries the number past the FIN.
    func testAResetBeforeTheFinsAcknowledgmentIsPastIt() {
        let e = engine()
        var sb = Sandbox()
        let (id, iss) = open(e, &sb)
        e.tcpReceived(id, Array("bye".utf8)[...], eof: true, now: 3)
        _ = e.drain()
        e.tcpHostError(id)
        XCTAssertEqual(segments(e.drain()).first?.seq, iss &+ 4)
    }

    /// The flows' rings are bounded together: past the send budget, a ring mostly empty
    /// shrinks when acknowledged (an emptied one goes), whether its flow acknowledged all
    /// or left a byte out. The control: the rings at their fullest, before the acknowledgments.
    func testRingsShrinkPastTheSendBudget() {
        for leave in [0, 1] {
            let e = engine()
            var sb = Sandbox()
            let chunk = [UInt8](repeating: 7, count: 1 << 20)
            let flows = SlirpEngine.sendBudget / chunk.count + 16
            var fullest = 0
            var ids: [(Int, UInt32)] = []
            for i in 0..<flows {
                let (id, iss) = open(e, &sb, port: UInt16(20000 + i))
                e.tcpReceived(id, chunk[...], now: 3)
                _ = e.drain()
                fullest += e.tcpByID[id]?.ring.count ?? 0
                ids.append((id, iss))
            }
            XCTAssertEqual(e.ringBytes, fullest)
            XCTAssertGreaterThan(fullest, SlirpEngine.sendBudget + 2 * chunk.count + flows * 2048, "control: the rings at their fullest")
            for (i, (id, iss)) in ids.enumerated() {
                let acked = iss &+ UInt32(chunk.count - leave)
                e.input(
                    sb.tcp(TCPSegment(srcPort: UInt16(20000 + i), dstPort: 80, seq: 1001, ack: acked, flags: TCPFlag.ack, window: 65535), to: remote), now: 4)
                _ = e.drain()
                XCTAssertEqual(e.tcpByID[id]?.buffered, leave)
            }
            XCTAssertEqual(e.flowCount, flows)
            XCTAssertLessThanOrEqual(e.ringBytes, SlirpEngine.sendBudget + 2 * chunk.count + flows * 2048, "leave \(leave)")
            XCTAssertEqual(e.ringBytes, e.tcpByID.values.reduce(0) { $0 + $1.ring.count }, "the count is the rings'")
            // The byte left out is still there to be sent again.
            if leave == 1, let (id, _) = ids.last, let f = e.tcpByID[id] { XCTAssertEqual(Array(f.bytes(from: 0, 1)), [7]) }
            for (id, _) in ids { e.tcpHostError(id) }
            _ = e.drain()
            XCTAssertEqual(e.ringBytes, 0, "removed flows take their rings out of the count")
        }
    }
}
