import SlirpNet
import XCTest

/// TCPTable: what a namespace's TCP sockets still owe, from the kernel's /proc/net/tcp and
/// tcp6 text (the lines as the kernel prints them: net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c).
final class TCPTableTests: XCTestCase {
    static let header4 =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
    static let header6 =
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

    static func line4(_ sl: Int, st: String, tx: String, rx: String = "00000000", inode: Int = 0) -> String {
        "  \(sl): 6402000A:A2B4 0232A8C6:1F90 \(st) \(tx):\(rx) 01:00000014 00000000  1001        0 \(inode) 2 0000000000000000 20 4 30 10 -1                     \n"
    }
    static func line6(_ sl: Int, st: String, tx: String) -> String {
        "  \(sl): 000000000000000000000000640200FD:B0A2 00000000000000000000000002000000:0050 \(st) \(tx):00000000 01:00000014 00000000  1001        0 0 2 0000000000000000 20 4 30 10 -1\n"
    }

    func testSocketsThatOweBytesOrTheirFinAreCounted() {
        // Listening, established and idle, FIN_WAIT2 (its FIN acknowledged), TIME_WAIT: owe nothing.
        let done =
            TCPTableTests.header4 + TCPTableTests.line4(0, st: "0A", tx: "00000000") + TCPTableTests.line4(1, st: "01", tx: "00000000")
            + TCPTableTests.line4(2, st: "05", tx: "00000000") + TCPTableTests.line4(3, st: "06", tx: "00000000")
        XCTAssertEqual(TCPTable.owing(Array(done.utf8)), 0)
        // Bytes unacknowledged (any state), and FIN_WAIT1, LAST_ACK and CLOSING: their FIN.
        let owing =
            done + TCPTableTests.line4(4, st: "01", tx: "0001A000") + TCPTableTests.line4(5, st: "04", tx: "00000000")
            + TCPTableTests.line4(6, st: "09", tx: "00000000") + TCPTableTests.line4(7, st: "0B", tx: "00000000")
            + TCPTableTests.line4(8, st: "04", tx: "00F00000")
        XCTAssertEqual(TCPTable.owing(Array(owing.utf8)), 5)
        // tcp6's longer addresses; a last line without its newline counts too.
        var six = TCPTableTests.header6 + TCPTableTests.line6(0, st: "01", tx: "00000000") + TCPTableTests.line6(1, st: "04", tx: "00000010")
        six.removeLast()
        XCTAssertEqual(TCPTable.owing(Array(six.utf8)), 1)
        // The header alone, or nothing: no socket.
        XCTAssertEqual(TCPTable.owing(Array(TCPTableTests.header4.utf8)), 0)
        XCTAssertEqual(TCPTable.owing([UInt8]()), 0)
        // The header is never read as a socket, even where a socket's line would be.
        XCTAssertEqual(TCPTable.owing(Array(TCPTableTests.line4(0, st: "04", tx: "00000001").utf8)), 0)
    }

    /// A peer tool's host sockets: those of its own (their inodes) still open for writing
    /// (ESTABLISHED, CLOSE_WAIT) may hold bytes in the tool; shut ones (FIN_WAIT1, FIN_WAIT2,
    /// LAST_ACK...), listeners and other processes' sockets do not count, nor queued bytes
    /// (the host's kernel delivers them after the tool exits).
    func testAToolsSocketsStillOpenForWritingAreCounted() {
        let ours: Set<UInt64> = [7001, 7002, 7003, 7004, 7005, 7006]
        let table =
            TCPTableTests.header4 + TCPTableTests.line4(0, st: "01", tx: "00000000", inode: 7001)
            + TCPTableTests.line4(1, st: "08", tx: "00000000", inode: 7002)
            + TCPTableTests.line4(2, st: "04", tx: "00001000", inode: 7003) + TCPTableTests.line4(3, st: "05", tx: "00000000", inode: 7004)
            + TCPTableTests.line4(4, st: "0A", tx: "00000000", inode: 7005) + TCPTableTests.line4(5, st: "09", tx: "00000000", inode: 7006)
            + TCPTableTests.line4(6, st: "01", tx: "00000000", inode: 9999) + TCPTableTests.line4(7, st: "06", tx: "00000000", inode: 0)
        XCTAssertEqual(TCPTable.owing(Array(table.utf8), .tool(inodes: ours)), 2)
        XCTAssertEqual(TCPTable.owing(Array(table.utf8), .tool(inodes: [])), 0, "no socket of the tool's: none")
        // The same table read for the sandbox's side: its bytes and FINs.
        XCTAssertEqual(TCPTable.owing(Array(table.utf8)), 2)
        XCTAssertEqual(TCPTable.socketInode(Array("socket:[12911494]".utf8)), 12_911_494)
        for bad in ["pipe:[12911866]", "socket:[]", "socket:[12a]", "socket:[1", "/dev/null", "socket:[99999999999999999999]"] {
            XCTAssertNil(TCPTable.socketInode(Array(bad.utf8)), bad)
        }
    }

    /// A line not in the kernel's format counts for nothing: a state or queue that is not
    /// hex, a queue without its rx half, a field missing, a line cut short.
    func testLinesNotInTheKernelsFormatCountForNothing() {
        let bad = [
            TCPTableTests.line4(0, st: "0G", tx: "00000001"), TCPTableTests.line4(0, st: "04", tx: "0000 0001"),
            "   0: 6402000A:A2B4 0232A8C6:1F90 04 00000001\n", "   0: 6402000A:A2B4 0232A8C6:1F90 04\n",
            "   0: 6402000A:A2B4 0232A8C6:1F90 01 :00000000\n", "   0: 6402000A:A2B4 0232A8C6:1F90 01 00000001:\n",
            "   0: 6402000A:A2B4 0232A8C6:1F90 01 00000000000000001:00000000\n", "\n",
        ]
        for b in bad { XCTAssertEqual(TCPTable.owing(Array((TCPTableTests.header4 + b).utf8)), 0, b) }
        // The control: the same line in the kernel's format counts.
        XCTAssertEqual(TCPTable.owing(Array((TCPTableTests.header4 + TCPTableTests.line4(0, st: "01", tx: "00000001")).utf8)), 1)
    }

    /// Fuzzed tables: never a trap; a count never beyond the lines there are.
    func testFuzzedTables() {
        var rng = SystemRandomNumberGenerator()
        let seed = Array(
            (TCPTableTests.header4 + TCPTableTests.line4(0, st: "04", tx: "00000001") + TCPTableTests.line4(1, st: "01", tx: "00010000")
                + TCPTableTests.line6(2, st: "09", tx: "00000000")).utf8)
        XCTAssertEqual(TCPTable.owing(seed), 3)
        for i in 0..<20_000 {
            let b = FuzzInputs.make(i, seed: seed, changes: 1...8, randomUpTo: 1200, using: &rng)
            for side in [TCPTable.Side.sandbox, .tool(inodes: [0, 7001])] {
                let n = TCPTable.owing(b, side)
                XCTAssertTrue(n >= 0 && n <= b.filter { $0 == 0x0A }.count + 1, "\(n)")
            }
            _ = TCPTable.socketInode(Array(b.prefix(40)))
        }
        // A table of 100,000 sockets (what a sandbox may leave) is read whole.
        var big = TCPTableTests.header4
        for i in 0..<100_000 { big += TCPTableTests.line4(i, st: i % 10 == 0 ? "04" : "01", tx: "00000000") }
        XCTAssertEqual(TCPTable.owing(Array(big.utf8)), 10_000)
    }
}
