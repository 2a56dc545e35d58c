// TCP connections that ended with both FINs acknowledged, remembered for a while (the
// TIME-WAIT of RFC 9293 3.6, kept apart from live flows and bounded): when the sandbox
// sends its FIN again (our acknowledgment of it was lost), or bytes from before it, it
// gets the acknowledgment it missed, not a reset. Only the numbers are kept: the host
// socket is closed already. The engine's rules for the segments: tcpInput.

struct TimeWaitTable {
    /// How long an ended connection is answered (the sandbox's own retransmissions come
    /// within seconds; a FIN again starts the time over), and how many at once: past the
    /// cap the oldest is forgotten first (its late segments are then reset).
    static let ms: UInt64 = 10_000
    static let cap = 4096

    struct Entry {
        var snd: UInt32
        var rcv: UInt32
        var until: UInt64
    }
    private(set) var entries: [FlowKey: Entry] = [:]
    /// Each time a key's wait (re)starts, in that order, with its end: an occurrence whose
    /// end is no longer its entry's (the wait started again, or ended) is passed over.
    private var order: [(key: FlowKey, until: UInt64)] = []
    private var head = 0

    var count: Int { entries.count }

    /// A connection ended: snd is the sequence number past our FIN, rcv past the sandbox's.
    mutating func add(_ key: FlowKey, snd: UInt32, rcv: UInt32, now: UInt64) {
        expire(now: now)
        // Past the cap (of waits, or of the order, which holds a key again each time its
        // wait starts over), the oldest goes.
        while (entries.count >= TimeWaitTable.cap || order.count - head >= 2 * TimeWaitTable.cap) && head < order.count {
            pop()
        }
        entries[key] = Entry(snd: snd, rcv: rcv, until: now + TimeWaitTable.ms)
        order.append((key, now + TimeWaitTable.ms))
    }

    /// The ended connection on these ports, if it is still waited on.
    func lookup(_ key: FlowKey, now: UInt64) -> Entry? {
        guard let e = entries[key], now < e.until else { return nil }
        return e
    }

    /// Its FIN came again: the wait starts over (the same connection: it takes no other's
    /// place under the cap).
    mutating func restart(_ key: FlowKey, now: UInt64) {
        guard entries[key] != nil else { return }
        entries[key]?.until = now + TimeWaitTable.ms
        order.append((key, now + TimeWaitTable.ms))
        while order.count - head >= 2 * TimeWaitTable.cap { pop() }
    }

    mutating func remove(_ key: FlowKey) { entries[key] = nil }

    /// Forgets the connections whose wait is over, oldest first.
    mutating func expire(now: UInt64) {
        while head < order.count {
            let o = order[head]
            if entries[o.key]?.until == o.until && now < o.until { break }
            pop()
        }
    }

    /// The oldest occurrence goes, and its wait with it if it is still that one.
    private mutating func pop() {
        let o = order[head]
        if entries[o.key]?.until == o.until { entries[o.key] = nil }
        head += 1
        // The consumed front goes once it is most of the array (amortized: each
        // occurrence is moved at most once per compaction).
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
