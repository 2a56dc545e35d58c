/// How long the engine polls before it sleeps — KVM's halt polling, for the same reason
/// (on by default there too, up to 200 µs, as here: --net slirp:poll=US). An engine that sleeps in epoll_wait between
/// the frames of a short exchange pays a sleep and a wake-up for each one (on a VM, an
/// inter-processor interrupt each time): most of a short connection's time. So the loop
/// first polls (epoll_wait without waiting) for up to `ns`, then sleeps. The window follows
/// how long the sleeps turn out to be: a sleep shorter than the cap says a longer poll
/// would have caught its event (the window doubles, from 10 µs); a longer one says the link
/// went quiet (no polling, so a sandbox idle or slow-paced costs no CPU for it). With one
/// CPU, polling would keep the very process it waits for from running: never.
struct PollWindow {
    static let start: UInt64 = 10_000
    /// The longest poll (--net slirp:poll=US; 0: never).
    let cap: UInt64
    /// Nanoseconds to poll before the next sleep (0: sleep at once).
    private(set) var ns: UInt64 = 0

    init(capMicros: Int, cpus: Int) { cap = cpus > 1 ? UInt64(max(capMicros, 0)) * 1000 : 0 }

    /// After a sleep of `slept` ns (one that polling did not avoid).
    mutating func slept(_ slept: UInt64) {
        if slept > cap {
            ns = 0
        } else if ns < cap {
            ns = min(cap, max(PollWindow.start, ns * 2))
        }
    }
}
