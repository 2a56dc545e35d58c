// The kernel's table of a network namespace's TCP sockets (/proc/PID/net/tcp and tcp6),
// read for what a sandbox's sockets still owe after its processes are gone: its kernel
// goes on sending what they wrote before they exited, and their ends (FIN). A peer tool
// (pasta, slirp4netns) carries it out of the namespace, and shuts its host socket once it
// has passed all of it on; the run waits for both before it stops the tool (NetHelper). The text is the kernel's, but how many lines it holds is the
// sandbox's doing: every line is read within bounds and a line that is not the kernel's
// format counts for nothing.

public enum TCPTable {
    /// Whose sockets a table is read for.
    public enum Side: Sendable {
        /// The sandbox's kernel: a socket owes its peer (the tool) the bytes written and not
        /// yet acknowledged (tx_queue), or its FIN (FIN_WAIT1, LAST_ACK, CLOSING).
        case sandbox
        /// A peer tool's host sockets, the inodes its fds hold: one still open for writing
        /// (ESTABLISHED, CLOSE_WAIT) may have bytes waiting in the tool itself, which shuts
        /// it once it has passed on everything and the sandbox's end (slirp4netns takes
        /// bytes from the sandbox before the host socket takes them).
        case tool(inodes: Set<UInt64>)
    }

    /// The states whose FIN is not yet acknowledged: FIN_WAIT1, LAST_ACK, CLOSING
    /// (include/net/tcp_states.h).
    static let finOwed: Set<UInt64> = [0x04, 0x09, 0x0B]
    /// The states of a socket not yet shut for writing: ESTABLISHED, CLOSE_WAIT.
    static let open: Set<UInt64> = [0x01, 0x08]

    /// How many sockets of the table (its header line first) still owe something, as
    /// `side` says. Read in place: a sandbox's table may hold 100,000 lines, read again
    /// every few milliseconds.
    public static func owing(_ text: [UInt8], _ side: Side = .sandbox) -> Int {
        var n = 0
        var i = 0
        var first = true
        while i < text.count {
            var j = i
            while j < text.count && text[j] != 0x0A { j += 1 }
            if first {
                first = false
            } else if owes(text, i..<j, side) {
                n += 1
            }
            i = j + 1
        }
        return n
    }

    /// A socket's line: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
    static func owes(_ t: [UInt8], _ line: Range<Int>, _ side: Side) -> Bool {
        var i = line.lowerBound
        var k = 0
        var st: UInt64?
        var queues: Range<Int>?
        var inode: Range<Int>?
        while i < line.upperBound && k < 10 {
            while i < line.upperBound && t[i] == 0x20 { i += 1 }
            let s = i
            while i < line.upperBound && t[i] != 0x20 { i += 1 }
            if s == i { break }
            if k == 3 { st = hex(t, s..<i) }
            if k == 4 { queues = s..<i }
            if k == 9 { inode = s..<i }
            k += 1
        }
        guard k >= 5, let st, let q = queues, let colon = t[q].firstIndex(of: 0x3A),  // ':'
            let tx = hex(t, q.lowerBound..<colon), hex(t, (colon + 1)..<q.upperBound) != nil
        else { return false }
        switch side {
        case .sandbox: return tx > 0 || finOwed.contains(st)
        case let .tool(inodes):
            guard let r = inode, let ino = decimal(t, r) else { return false }
            return open.contains(st) && inodes.contains(ino)
        }
    }

    /// 1 to 16 hex digits, nothing else.
    static func hex(_ t: [UInt8], _ r: Range<Int>) -> UInt64? {
        guard !r.isEmpty, r.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in t[r] {
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// 1 to 19 decimal digits, nothing else.
    static func decimal(_ t: [UInt8], _ r: Range<Int>) -> UInt64? {
        guard !r.isEmpty, r.count <= 19 else { return nil }
        var v: UInt64 = 0
        for c in t[r] {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + UInt64(c - 0x30)
        }
        return v
    }

    /// The socket inodes among a process's fd links ("socket:[12911494]").
    public static func socketInode(_ link: [UInt8]) -> UInt64? {
        let prefix = Array("socket:[".utf8)
        guard link.count > prefix.count + 1, link.starts(with: prefix), link.last == 0x5D else { return nil }  // ']'
        return decimal(link, prefix.count..<(link.count - 1))
    }
}
