import RootlessOS
import Glibc

/// Asks the systemd user manager, over the session bus, for a transient scope with
/// Delegate=yes holding this process (as podman and crun do), and returns once systemd
/// has moved us into it. Blocking socket I/O on this thread only: this runs before clone,
/// where no other thread may exist.
public enum SystemdScope {
    public static func start(socket path: String, name: String, timeout: Double = 10) throws {
        let fix = "start a systemd user session (loginctl enable-linger $USER), or run inside a delegated cgroup; --cgroup optional runs without limits"
        let fd = try connect(path, fix: fix)
        defer { close(fd) }
        // One write, as sd-bus pipelines: the NUL byte and EXTERNAL auth (our uid, hex),
        // BEGIN, then Hello (the bus requires it first), AddMatch for JobRemoved (the bus
        // routes a broadcast signal only through a match) and the request itself.
        let uid = Array(String(getuid()).utf8).map { String($0, radix: 16) }.joined()
        var out: [UInt8] = [0] + Array("AUTH EXTERNAL \(uid)\r\nBEGIN\r\n".utf8)
        let bus = (path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", destination: "org.freedesktop.DBus")
        out += DBusMessage(call: "Hello", path: bus.path, interface: bus.interface, destination: bus.destination, serial: 1).encode()
        let rule =
            "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'"
        out += DBusMessage(call: "AddMatch", path: bus.path, interface: bus.interface, destination: bus.destination, serial: 2, args: [.string(rule)]).encode()
        out += startTransientScope(name: name, pids: [UInt32(getpid())], description: "rootless sandbox", serial: 3).encode()
        guard sendAll(fd, out) else { throw RootlessError("cannot talk to the D-Bus session bus at \(path)", errno: errno, fix: fix) }

        var conn = Incoming(fd: fd, deadline: OS.monotonicSeconds() + timeout, path: path)
        let auth = try conn.line()
        guard auth.hasPrefix("OK ") else { throw RootlessError("the D-Bus session bus at \(path) refused us: \(auth)", fix: fix) }
        var job: String?
        while true {
            let m = try conn.message()
            if m.kind == .error, let s = m.replySerial {
                let text = m.arguments()?.first.flatMap { if case .string(let t) = $0 { return t } else { return nil } } ?? ""
                let what = s == 3 ? "systemd could not create scope \(name)" : "the D-Bus session bus refused \(s == 1 ? "Hello" : "AddMatch")"
                throw RootlessError("\(what): \(m.errorName ?? "error")\(text.isEmpty ? "" : ": " + text)", fix: fix)
            }
            if m.kind == .reply, m.replySerial == 3, case .objectPath(let p)? = m.arguments()?.first { job = p }
            // JobRemoved(u id, o job, s unit, s result): ours when it names our unit.
            if m.kind == .signal, m.member == "JobRemoved", let a = m.arguments(), a.count == 4,
                case .string(let unit) = a[2], unit == name, case .string(let result) = a[3]
            {
                guard result == "done" else {
                    throw RootlessError(
                        "systemd could not start scope \(name): job \(job ?? "?") ended \"\(result)\"", fix: "journalctl --user -u \(name) says why; " + fix)
                }
                return
            }
        }
    }

    static func connect(_ path: String, fix: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RootlessError("cannot make a unix socket", errno: errno) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        // "@name": an abstract socket (a leading NUL, no terminator counted).
        let abstract = path.hasPrefix("@")
        let bytes = abstract ? [0] + Array(path.utf8.dropFirst()) : Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else {
            close(fd)
            throw RootlessError("D-Bus socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw RootlessError("cannot reach the D-Bus session bus at \(path)", errno: e, fix: fix)
        }
        return fd
    }

    static func sendAll(_ fd: Int32, _ b: [UInt8]) -> Bool {
        var off = 0
        while off < b.count {
            let n = b.withUnsafeBytes { send(fd, $0.baseAddress! + off, b.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }

    /// Buffered reads with one deadline for the whole exchange.
    struct Incoming {
        let fd: Int32
        let deadline: Double
        let path: String
        var buf: [UInt8] = []

        mutating func fill() throws {
            let left = deadline - OS.monotonicSeconds()
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, Int32(left * 1000) + 1) > 0 else {
                throw RootlessError(
                    "the systemd user manager did not answer on \(path) in time", fix: "check it: systemctl --user status; or use --cgroup optional")
            }
            var chunk = [UInt8](repeating: 0, count: 8192)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { return }
            guard n > 0 else { throw RootlessError("the D-Bus session bus at \(path) closed the connection\(n < 0 ? ": " + OS.errorText(errno) : "")") }
            buf += chunk[0..<n]
        }

        mutating func line() throws -> String {
            while true {
                if let i = buf.firstIndex(of: UInt8(ascii: "\n")) {
                    let l = String(decoding: buf[..<i], as: UTF8.self)
                    buf.removeFirst(i + 1)
                    return l.hasSuffix("\r") ? String(l.dropLast()) : l
                }
                guard buf.count < 4096 else { throw RootlessError("the D-Bus session bus at \(path) sent a malformed auth line") }
                try fill()
            }
        }

        mutating func message() throws -> DBusMessage {
            do {
                while buf.count < 16 { try fill() }
                let n = try DBusMessage.length(head: buf[...])
                while buf.count < n { try fill() }
                let m = try DBusMessage(decoding: buf[..<n])
                buf.removeFirst(n)
                return m
            } catch let e as DBusError {
                throw RootlessError("bad message from the D-Bus session bus at \(path): \(e)")
            }
        }
    }
}
