import RootlessOS
import Images
import Glibc

/// What a pull shows per blob: on a terminal, one bar per layer redrawn in place (at most
/// ten times a second); otherwise one plain line when a blob starts and one when it ends,
/// so CI logs stay readable. Called from the download threads; all under one lock.
final class PullProgress {
    enum State { case waiting, downloading, done, skipped, unpacking, unpacked, failed }
    struct Line { var name: String; var total: Int64; var done: Int64 = 0; var state = State.waiting; var started = 0.0 }

    let tty: Bool
    let quiet: Bool
    private let monitor = Monitor()
    private var lines: [Line] = []
    private var drawn = 0
    private var lastDraw = 0.0

    init(quiet: Bool) {
        self.quiet = quiet
        tty = !quiet && OS.isTerminal(2) && OS.env("TERM", in: OS.environment()) != "dumb"
    }

    func add(_ name: String, total: Int64) -> Int {
        monitor.locked {
            lines.append(Line(name: name, total: total)); return lines.count - 1
        }
    }

    func set(_ i: Int, _ s: State, note: String? = nil) {
        monitor.locked {
            let was = lines[i].state
            lines[i].state = s
            if s == .downloading && was != .downloading { lines[i].started = OS.monotonicSeconds() }
            if quiet { return }
            if tty { draw(force: true); return }
            let l = lines[i]
            switch s {
            case .downloading where was != .downloading: say("Copying blob \(l.name) (\(Text.human(l.total)))\(note.map { ", " + $0 } ?? "")")
            case .done: say("Copied blob \(l.name) in \(elapsed(l))")
            case .skipped: say("Skipping blob \(l.name): \(note ?? "already present")")
            case .unpacked: say("Unpacked layer \(l.name)")
            case .failed: say("Failed blob \(l.name)\(note.map { ": " + $0 } ?? "")")
            default: break
            }
        }
    }

    func advance(_ i: Int, by n: Int) {
        monitor.locked {
            lines[i].done += Int64(n)
            if tty { draw(force: false) }
        }
    }

    func restart(_ i: Int, at n: Int64) { monitor.locked { lines[i].done = n } }

    func say(_ s: String) { OS.writeStderr(s + "\n") }

    func elapsed(_ l: Line) -> String {
        let t = OS.monotonicSeconds() - l.started
        return t < 1 ? "\(Int(t * 1000)) ms" : "\((t * 10).rounded() / 10) s"
    }

    /// Redraws all lines: cursor up over the previous drawing, each line cleared.
    private func draw(force: Bool) {
        let now = OS.monotonicSeconds()
        guard force || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        for l in lines {
            let width = 30
            let frac = l.total > 0 ? min(1, Double(l.done) / Double(l.total)) : 1
            let filled = Int(frac * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
            let status: String
            switch l.state {
            case .waiting: status = "waiting"
            case .downloading: status = "[\(bar)] \(Text.human(l.done)) / \(Text.human(l.total))"
            case .done: status = "downloaded \(Text.human(l.total))"
            case .skipped: status = "already present"
            case .unpacking: status = "unpacking"
            case .unpacked: status = "done"
            case .failed: status = "failed"
            }
            out += "\u{1B}[2K\(l.name)  \(status)\n"
        }
        drawn = lines.count
        OS.writeStderr(out)
    }
}
