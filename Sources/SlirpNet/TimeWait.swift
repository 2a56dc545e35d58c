// TCP connections that ended with both FINs acknowledged, remembered for a while (the
// TIME-WAIT of RFC 9293 3.6, kept apart from live flows and bounded): when the sandbox
// sends a segment of such a connection again — its FIN, or bytes whose acknowledgment was
// lost — it gets the acknowledgment it missed, not a reset. A new SYN on the same ports
// ends the wait. Only the numbers are kept: the host socket is closed already.

struct TimeWaitTable {
    /// How long an ended connection is answered (the sandbox's own retransmissions come
    /// within seconds), and how many at once: past the cap the oldest is forgotten first
    /// (its late segments are then reset, as before there was a wait).
    static let ms: UInt64 = 10_000
    static let cap = 4096

    struct Entry {
        var snd: UInt32
        var rcv: UInt32
        var until: UInt64
    }
    private(set) var entries: [FlowKey: Entry] = [:]
    /// Keys in the order they entered (a key may appear more than once, or no longer be
    /// in entries): the oldest goes first, expired or past the cap.
    private var order: [FlowKey] = []
    private var head = 0

    var count: Int { entries.count }

    /// A connection ended: snd is the sequence number past our FIN, rcv past the sandbox's.
    mutating func add(_ key: FlowKey, snd: UInt32, rcv: UInt32, now: UInt64) {
        expire(now: now)
        // Past the cap (of connections, or of the order, which holds a key again each time
        // it ends), the oldest goes.
        while (entries.count >= TimeWaitTable.cap || order.count - head >= 2 * TimeWaitTable.cap) && head < order.count {
            entries[order[head]] = nil
            head += 1
        }
        entries[key] = Entry(snd: snd, rcv: rcv, until: now + TimeWaitTable.ms)
        order.append(key)
        compact()
    }

    /// The ended connection on these ports, if it is still waited on.
    func lookup(_ key: FlowKey, now: UInt64) -> Entry? {
        guard let e = entries[key], now < e.until else { return nil }
        return e
    }

    mutating func remove(_ key: FlowKey) { entries[key] = nil }

    /// Forgets the connections whose wait is over, oldest first.
    mutating func expire(now: UInt64) {
        while head < order.count {
            let k = order[head]
            if let e = entries[k] {
                if now < e.until { break }
                entries[k] = nil
            }
            head += 1
        }
        compact()
    }

    /// The order's consumed front goes once it is most of the array.
    private mutating func compact() {
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
