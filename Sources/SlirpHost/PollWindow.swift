/// How long the engine polls before it sleeps — KVM's halt polling, for the same reason
/// (on by default there too, up to 200 µs, as here: --net slirp:poll=US). An engine that
/// sleeps in epoll_wait between the frames of a short exchange pays a sleep and a wake-up
/// for each one (on a VM, an inter-processor interrupt each time): most of a short
/// connection's time. So the loop first polls (epoll_wait without waiting) for up to `ns`,
/// then sleeps.
///
/// The window follows how long each wait (poll and sleep together) turns out to be, as
/// KVM's does: one longer than the window but within the cap says a longer poll would have
/// caught its event (the window doubles, from 10 µs); one past the cap says the link went
/// quiet (no polling, so an idle or slow-paced sandbox costs nothing). And polling is held
/// to the work it serves: the time spent polling stays within the time spent on events
/// (both halved every 10 ms; a poll may overrun its share by one epoll_wait), so a sandbox
/// sending a trickle of cheap frames cannot make the thread poll for a core (about as long
/// again as the frames' own handling, at most). With one CPU, polling would keep the very
/// process it waits for from running: none.
struct PollWindow {
    static let start: UInt64 = 10_000
    static let period: UInt64 = 10_000_000
    /// The longest poll (--net slirp:poll=US; 0: never).
    let cap: UInt64
    /// The window: nanoseconds to poll before the next sleep (0: sleep at once).
    private(set) var ns: UInt64 = 0
    /// Time spent on events and time spent polling, this period and (halved) before.
    private(set) var working: UInt64 = 0
    private(set) var polled: UInt64 = 0
    private var periodEnds: UInt64 = 0

    init(capMicros: Int, cpus: Int) { cap = cpus > 1 ? UInt64(max(capMicros, 0)) * 1000 : 0 }

    /// How long to poll before this sleep: the window, within what the work left unspent.
    var pollFor: UInt64 { polled < working ? min(ns, working - polled) : 0 }

    /// After a wait of `waited` ns (`polling` of them spent polling) that followed
    /// `worked` ns of work on events; `at` is the time, for the periods.
    mutating func waited(_ waited: UInt64, polling: UInt64, worked: UInt64, at: UInt64) {
        working &+= worked
        polled &+= polling
        if at >= periodEnds {
            // Halved once for each period gone by (a long sleep leaves no old credit).
            let k = min((at - periodEnds) / PollWindow.period + 1, 63)
            working >>= k
            polled >>= k
            periodEnds = at &+ PollWindow.period
        }
        if waited > cap {
            ns = 0
        } else if waited > ns {
            ns = min(cap, max(PollWindow.start, ns * 2))
        }
    }
}
