// One TCP connection from the sandbox, terminated here: the sandbox talks TCP with us
// (as its peer at the address it dialled), and the bytes go to and from a host socket.
// Sandbox -> host: in-order data is handed to the driver at once and acknowledged; the
// window we advertise is our buffer less what the driver has not yet written to the host
// (backpressure).
// Host -> sandbox: bytes wait in `ring` until acknowledged (read into it from the host
// socket, and sent to the TAP from it: no copy of ours on the download path); sent within
// the sandbox's window and MSS; retransmitted from the oldest unacknowledged byte on
// timeout or on the third duplicate acknowledgment, then one lost segment per partial
// acknowledgment until all that was sent is acknowledged (NewReno's recovery, RFC 6582;
// no SACK); a zero window is probed. A FIN goes each way once its side is done.

@inline(__always) func seqDiff(_ a: UInt32, _ b: UInt32) -> Int32 { Int32(bitPattern: a &- b) }

/// A connection's stream from the sandbox: its handshake not done (nothing can have come),
/// open (more may come: a sandbox that has ended leaves its kernel sending what was written
/// before the end), or ended with its FIN.
public enum SandboxStream { case opening, open, ended }

final class TCPFlow {
    enum State { case connecting, synReceived, synSent, established, closed }
    let id: Int
    let key: FlowKey
    var state = State.connecting

    // The sandbox's stream (to the host).
    var rcvNxt: UInt32
    var pending = 0
    static let rcvCap = 1 << 20
    static let rcvScale: UInt8 = 5
    var scaling: Bool
    var sandboxFin = false
    var advertised: Int = 0

    // The host's stream (to the sandbox).
    let iss: UInt32
    var sndUna: UInt32
    /// The host's bytes not yet acknowledged: `buffered` bytes from `head` (sndUna's byte),
    /// wrapping at the ring's end. The ring grows (doubling) only when full, and shrinks only
    /// once all rings together pass the send budget (acknowledge).
    var ring: [UInt8] = []
    var head = 0
    var buffered = 0
    var sent = 0  // of the buffered bytes, sent and not yet acknowledged
    var peerWindow = 65535
    /// The sequence and acknowledgment numbers of the segment that last set peerWindow
    /// (SND.WL1, SND.WL2): only one no older sets it again (acknowledge).
    var wl1: UInt32 = 0
    var wl2: UInt32 = 0
    var peerScale: UInt8
    var mss: Int
    var hostEOF = false
    var finSent = false
    var finAcked = false
    var paused = false
    static let sendCap = 1 << 20

    var rto: UInt64 = 200
    var rtoAt: UInt64?
    var retries = 0
    static let maxRetries = 12
    /// Duplicate acknowledgments since bytes were last acknowledged (RFC 5681 3.2; a window
    /// update or a segment with data between them does not start the count again, as in
    /// Linux); while a loss is repaired, the sequence number that ends the repair (what had
    /// been sent when it began), and the one past the last bytes sent again.
    var dupAcks = 0
    var recover: UInt32?
    var resentTo: UInt32 = 0

    var deadline: UInt64? { rtoAt }
    var sandboxStream: SandboxStream {
        if sandboxFin { return .ended }
        return state == .synReceived || state == .established ? .open : .opening
    }
    /// The next sequence number: past what was sent, and past the FIN once it went (a bare
    /// ACK or a reset at the FIN's own number would be out of the peer's window; once the
    /// FIN is acknowledged, sndUna is past it already).
    var sndNxt: UInt32 { sndUna &+ UInt32(sent) &+ (finSent && !finAcked ? 1 : 0) }

    init(id: Int, key: FlowKey, syn: TCPSegment, iss: UInt32, mss ourMSS: Int, now: UInt64) {
        self.id = id
        self.key = key
        rcvNxt = syn.seq &+ 1
        self.iss = iss
        sndUna = iss
        scaling = syn.windowScale != nil
        peerScale = syn.windowScale ?? 0
        mss = max(64, min(Int(syn.mss ?? 536), ourMSS))
        peerWindow = Int(syn.window)
        wl1 = syn.seq
        wl2 = iss
    }

    /// A connection to the sandbox (port forwarding): we open it, as the gateway.
    init(id: Int, key: FlowKey, iss: UInt32, mss ourMSS: Int, now: UInt64) {
        self.id = id
        self.key = key
        rcvNxt = 0
        self.iss = iss
        sndUna = iss
        scaling = true
        peerScale = 0
        mss = ourMSS
        state = .synSent
    }

    func syn(now: UInt64, _ e: SlirpEngine) {
        var s = TCPSegment(srcPort: key.remote.port, dstPort: key.local.port, seq: iss, ack: 0, flags: TCPFlag.syn, window: UInt16(min(65535, window)))
        s.mss = UInt16(min(mss, 65495))
        s.windowScale = TCPFlow.rcvScale
        e.send(self, s)
        if rtoAt == nil { rtoAt = now + rto }
    }

    var window: Int { max(0, TCPFlow.rcvCap - pending) }
    /// Within the engine's budget too: the window it advertises, as the data it will take.
    func window(_ e: SlirpEngine) -> Int { max(0, min(window, SlirpEngine.rcvBudget - e.rcvPending)) }
    var windowField: UInt16 { UInt16(min(65535, window >> (scaling ? Int(TCPFlow.rcvScale) : 0))) }

    func segment(_ flags: UInt8, seq: UInt32, payload: ArraySlice<UInt8> = []) -> TCPSegment {
        advertised = window
        return TCPSegment(srcPort: key.remote.port, dstPort: key.local.port, seq: seq, ack: rcvNxt, flags: flags, window: windowField, payload: payload)
    }

    func synAck(_ e: SlirpEngine) {
        var s = segment(TCPFlag.syn | TCPFlag.ack, seq: iss)
        s.window = UInt16(min(65535, window))
        s.mss = UInt16(min(mss, 65495))
        s.windowScale = scaling ? TCPFlow.rcvScale : nil
        e.send(self, s)
    }

    func connected(now: UInt64, _ e: SlirpEngine) {
        guard state == .connecting else { return }
        state = .synReceived
        synAck(e)
        rtoAt = now + rto
    }

    func input(_ s: TCPSegment, now: UInt64, _ e: SlirpEngine) {
        if s.has(TCPFlag.rst) {
            state = .closed
            e.effects.append(.tcpAbort(id))
            return
        }
        switch state {
        case .connecting, .closed: return  // a repeated SYN while the host connects
        case .synSent:
            guard s.has(TCPFlag.syn), s.has(TCPFlag.ack), s.ack == iss &+ 1 else { return }
            rcvNxt = s.seq &+ 1
            sndUna = iss &+ 1
            scaling = s.windowScale != nil
            peerScale = s.windowScale ?? 0
            mss = max(64, min(Int(s.mss ?? 536), mss))
            peerWindow = Int(s.window)
            (wl1, wl2) = (s.seq, s.ack)
            state = .established
            rtoAt = nil
            retries = 0
            rto = 200
            e.send(self, segment(TCPFlag.ack, seq: sndUna))
            trySend(now: now, e)
            return
        case .synReceived:
            if s.has(TCPFlag.syn) {
                synAck(e)
                return
            }
            guard s.has(TCPFlag.ack), s.ack == iss &+ 1 else { return }
            state = .established
            sndUna = iss &+ 1
            rtoAt = nil
            retries = 0
            rto = 200
        case .established:
            // A SYN on a synchronized connection is answered with an acknowledgment and
            // otherwise ignored (RFC 9293 3.10.7.4, the challenge ACK): its bytes are not
            // the stream's.
            if s.has(TCPFlag.syn) {
                e.send(self, segment(TCPFlag.ack, seq: sndNxt))
                return
            }
        }
        guard s.has(TCPFlag.ack) else { return }
        acknowledge(s, now: now, e)
        var needAck = false
        let len = s.payload.count
        if len > 0 || s.has(TCPFlag.fin) {
            needAck = true
            // A segment that starts before what we took (resent, and joined with what
            // followed, when our acknowledgment was lost) gives its new bytes; one that
            // starts past them waits for the sandbox to resend (nothing out of order is kept).
            let seen = Int(seqDiff(rcvNxt, s.seq))
            if seen >= 0 && seen <= len && !sandboxFin {
                let fresh = s.payload.dropFirst(seen)
                let n = min(fresh.count, window(e))
                if n > 0 {
                    e.effects.append(.tcpSend(id, fresh.prefix(n)))
                    rcvNxt &+= UInt32(n)
                    pending += n
                    e.rcvPending += n
                }
                if n == fresh.count && s.has(TCPFlag.fin) {
                    sandboxFin = true
                    rcvNxt &+= 1
                    e.effects.append(.tcpShutdown(id))
                }
            }
        }
        let before = e.effects.count
        trySend(now: now, e)
        if needAck && e.effects.count == before { e.send(self, segment(TCPFlag.ack, seq: sndNxt)) }
        finishIfDone(now: now, e)
    }

    /// The sandbox's acknowledgment and window.
    func acknowledge(_ s: TCPSegment, now: UInt64, _ e: SlirpEngine) {
        let window = Int(s.window) << Int(peerScale)
        let nxt = sndNxt
        // The window is taken from a segment that acknowledges nothing unsent, starts
        // within any window we gave, and is no older than the last that set it (RFC 9293
        // 3.10.7.4: SND.WL1, SND.WL2): one that a link delayed or sent twice carries a
        // window the sandbox has moved past, and would shut one it has opened since; one
        // from far ahead would stop every later update.
        let update =
            seqDiff(s.ack, sndUna) >= 0 && seqDiff(s.ack, nxt) <= 0 && seqDiff(s.seq, rcvNxt) <= Int32(TCPFlow.rcvCap)
            && (seqDiff(s.seq, wl1) > 0 || (s.seq == wl1 && seqDiff(s.ack, wl2) >= 0))
        // A duplicate: nothing new acknowledged while our data is out, no data or FIN of
        // its own, the window as it was (an update is none). The sandbox sends one for each
        // segment that arrives past a hole, so the third says a segment was lost and later
        // ones came: it goes again now, not after the timer's 200 ms.
        let duplicate = s.ack == sndUna && sent > 0 && s.payload.isEmpty && !s.has(TCPFlag.fin) && window == peerWindow && window > 0
        let opens = update && peerWindow == 0 && window > 0
        if update { (peerWindow, wl1, wl2) = (window, s.seq, s.ack) }
        let acked = seqDiff(s.ack, sndUna)
        // Any acknowledgment within what we sent shows the peer alive (a zero-window probe
        // answered with the window still shut too): retries count only silence.
        if acked >= 0, seqDiff(s.ack, nxt) <= 0 { retries = 0 }
        // A shut window opening at the same acknowledgment: what was sent past its edge
        // meanwhile (a probe's byte, and a FIN after it) the sandbox dropped. It goes again
        // now (trySend, next), not when the probe timer (backed off to seconds) runs out.
        // (A FIN alone is taken into a shut window: it is not sent again.)
        if opens && acked == 0 && sent > 0 {
            sent = 0
            finSent = false
            rto = 200
            rtoAt = nil
        }
        if duplicate {
            dupAcks += 1
            if dupAcks == 3 && recover == nil {
                recover = nxt
                resendFirst(now: now, e)
            }
        }
        guard acked > 0, seqDiff(s.ack, nxt) <= 0 else { return }
        dupAcks = 0
        let data = min(Int(acked), sent)
        if finSent && Int(acked) == sent + 1 { finAcked = true }
        head = buffered == data ? 0 : (head + data) % ring.count
        buffered -= data
        sent -= data
        // A ring keeps its size for the flow's next bytes while all rings together stay
        // within the send budget; past it, a ring mostly empty shrinks to twice what it
        // holds (an emptied one goes), so idle flows do not keep what their busiest moment
        // took (2 MiB each at most), nor flows that leave a byte unacknowledged.
        if e.ringBytes > SlirpEngine.sendBudget && buffered * 4 <= ring.count && ring.count > 2048 {
            resize(buffered == 0 ? 0 : max(2048, buffered * 2), e)
        }
        e.sendBuffered -= data
        sndUna = s.ack
        retries = 0
        rto = 200
        rtoAt = sent > 0 || (finSent && !finAcked) ? now + rto : nil
        // Repairing a loss: an acknowledgment short of `recover` that covers what was sent
        // again stops at the next hole (the sandbox keeps no segment past one, or lost more
        // than one): resent at once. One that covers less (the sandbox acknowledging a byte
        // at a time) sends nothing: each resent byte must be acknowledged before the next
        // segment goes again, so a sandbox's acknowledgments never draw more than its own
        // stream's worth of bytes.
        if let r = recover {
            if seqDiff(s.ack, r) >= 0 {
                recover = nil
            } else if seqDiff(s.ack, resentTo) >= 0 {
                resendFirst(now: now, e)
            }
        }
        if paused && buffered < TCPFlow.sendCap / 2 && e.sendBuffered < SlirpEngine.sendBudget / 2 {
            paused = false
            e.effects.append(.tcpPause(id, false))
        }
    }

    /// Sends what the sandbox's window takes, then the FIN once the host is done.
    func trySend(now: UInt64, _ e: SlirpEngine) {
        guard state == .established else { return }
        while true {
            let unsent = buffered - sent
            let room = peerWindow - sent
            guard unsent > 0, room > 0 else { break }
            let n = min(unsent, room, mss, run(from: sent))
            // The host's last bytes carry the FIN (one frame less each way: the sandbox
            // acknowledges both at once).
            let fin = n == unsent && hostEOF && !finSent ? TCPFlag.fin : 0
            e.send(self, segment(TCPFlag.ack | TCPFlag.psh | fin, seq: sndUna &+ UInt32(sent), payload: bytes(from: sent, n)))
            sent += n
            if fin != 0 { finSent = true }
            if rtoAt == nil { rtoAt = now + rto }
        }
        if buffered == sent && hostEOF && !finSent {
            e.send(self, segment(TCPFlag.fin | TCPFlag.ack, seq: sndUna &+ UInt32(sent)))
            finSent = true
            if rtoAt == nil { rtoAt = now + rto }
        }
        // A zero window with data waiting: probe it on the timer.
        if buffered > sent && rtoAt == nil { rtoAt = now + rto }
    }

    /// Bytes from the host; eof: they are its last (its EOF came with them).
    func hostData(_ d: ArraySlice<UInt8>, eof: Bool = false, now: UInt64, _ e: SlirpEngine) {
        guard state != .closed, !hostEOF else { return }
        reserve(d.count, e)
        d.withUnsafeBytes { src in
            ring.withUnsafeMutableBytes { r in
                guard let to = r.baseAddress, let from = src.baseAddress else { return }
                var done = 0
                while done < src.count {
                    let tail = (head + buffered) % r.count
                    let n = min(src.count - done, r.count - tail)
                    (to + tail).copyMemory(from: from + done, byteCount: n)
                    buffered += n
                    done += n
                }
            }
        }
        took(d.count, eof: eof, now: now, e)
    }

    /// Reads host bytes straight into the ring: read is given the free run at its tail
    /// (at least `room` bytes when the ring holds that many free, else nil: the driver
    /// reads elsewhere and hands them to hostData) and says how many it put there (≤ 0:
    /// none) and whether they are the host's last.
    func hostRead(room: Int, now: UInt64, _ e: SlirpEngine, _ read: (UnsafeMutableRawBufferPointer) -> (count: Int, last: Bool)) -> Int? {
        guard state != .closed, !hostEOF, !ring.isEmpty, ring.count - buffered >= room else { return nil }
        let tail = (head + buffered) % ring.count
        let free = min(ring.count - tail, ring.count - buffered)
        guard free >= room else { return nil }
        let (n, last) = ring.withUnsafeMutableBytes { read(UnsafeMutableRawBufferPointer(rebasing: $0[tail..<(tail + free)])) }
        guard n > 0 else { return n }
        buffered += n
        took(n, eof: last, now: now, e)
        return n
    }

    /// n more bytes came from the host (in the ring now); eof: they were its last.
    func took(_ n: Int, eof: Bool, now: UInt64, _ e: SlirpEngine) {
        hostEOF = eof
        e.sendBuffered += n
        if !paused && (buffered >= TCPFlow.sendCap || e.sendBuffered >= SlirpEngine.sendBudget) {
            paused = true
            e.effects.append(.tcpPause(id, true))
        }
        trySend(now: now, e)
        finishIfDone(now: now, e)
    }

    /// Room for n more bytes: a full ring is copied into one twice its size (or more),
    /// its bytes from the start. (Zeroed: a byte of it is never sent unwritten, and stale
    /// heap bytes could not be either.)
    func reserve(_ n: Int, _ e: SlirpEngine) {
        guard ring.count - buffered < n else { return }
        var size = max(ring.count * 2, 2048)
        while size - buffered < n { size *= 2 }
        resize(size, e)
    }

    /// A ring of `size` bytes (at least what is buffered) with the buffered bytes from its
    /// start; the engine's count of all rings follows.
    func resize(_ size: Int, _ e: SlirpEngine) {
        e.ringBytes += size - ring.count
        var new = [UInt8](repeating: 0, count: size)
        if buffered > 0 {
            let first = min(buffered, ring.count - head)
            new.replaceSubrange(0..<first, with: ring[head..<(head + first)])
            new.replaceSubrange(first..<buffered, with: ring[0..<(buffered - first)])
        }
        ring = new
        head = 0
    }

    /// How many buffered bytes from offset (counted from head) lie before the ring wraps.
    func run(from offset: Int) -> Int { ring.isEmpty ? 0 : ring.count - (head + offset) % ring.count }
    /// n buffered bytes from offset, within one run.
    func bytes(from offset: Int, _ n: Int) -> ArraySlice<UInt8> {
        let from = (head + offset) % ring.count
        return ring[from..<(from + n)]
    }

    func hostEOF(now: UInt64, _ e: SlirpEngine) {
        hostEOF = true
        trySend(now: now, e)
        finishIfDone(now: now, e)
    }

    /// The driver wrote this many of the bytes handed to it: a window that opens again is
    /// told. Counted as a difference, so the window's right edge never moves back (the
    /// driver may report between two of our own hand-overs).
    func written(_ bytes: Int, now: UInt64, _ e: SlirpEngine) {
        let done = min(pending, bytes)
        pending -= done
        e.rcvPending -= done
        if state == .established && advertised < mss && window >= mss { e.send(self, segment(TCPFlag.ack, seq: sndNxt)) }
    }

    func finishIfDone(now: UInt64, _ e: SlirpEngine) {
        if sandboxFin && finAcked && state != .closed {
            e.timeWait.add(key, snd: sndNxt, rcv: rcvNxt, now: now)
            state = .closed
            e.effects.append(.tcpClose(id))
        }
    }

    /// The oldest unacknowledged segment again (with the FIN when it is the last; the FIN
    /// alone when only it is out), and the timer from now.
    func resendFirst(now: UInt64, _ e: SlirpEngine) {
        if sent > 0 {
            let n = min(sent, mss, run(from: 0))
            let fin = n == sent && finSent ? TCPFlag.fin : 0
            e.send(self, segment(TCPFlag.ack | TCPFlag.psh | fin, seq: sndUna, payload: bytes(from: 0, n)))
            resentTo = sndUna &+ UInt32(n) &+ (fin != 0 ? 1 : 0)
        } else if finSent && !finAcked {
            e.send(self, segment(TCPFlag.fin | TCPFlag.ack, seq: sndUna))
            resentTo = sndUna &+ 1
        } else {
            return
        }
        rtoAt = now + rto
    }

    func tick(now: UInt64, _ e: SlirpEngine) {
        guard let at = rtoAt, now >= at else { return }
        retries += 1
        if retries > TCPFlow.maxRetries {
            e.reset(key, seq: sndNxt, ack: rcvNxt)
            state = .closed
            e.effects.append(.tcpAbort(id))
            return
        }
        rto = min(rto * 2, 10_000)
        rtoAt = now + rto
        switch state {
        case .synReceived: synAck(e)
        case .synSent: syn(now: now, e)
        case .established:
            if sent > 0 || (finSent && !finAcked) {
                // The holes after this one follow on partial acknowledgments, not each on
                // a timer of its own. (A probe of a shut window repairs nothing: the
                // sandbox drops it, and it goes again when the window opens.)
                if peerWindow > 0 { recover = sndNxt }
                dupAcks = 0
                resendFirst(now: now, e)
            } else if buffered > 0 {
                // The window is shut: one byte past it, which the sandbox acknowledges when it opens.
                e.send(self, segment(TCPFlag.ack, seq: sndUna, payload: bytes(from: 0, 1)))
                sent = 1
            } else {
                rtoAt = nil
            }
        default: rtoAt = nil
        }
    }
}
