import CRootless
import Glibc
import RootlessOS
import SlirpNet

/// `--net slirp4netns` and `--net pasta`: the peers' user-mode networking, run as you
/// against the sandbox's network namespace. Started once the child is cloned and its maps
/// are written, before it is released, so the payload starts with its network up; told to
/// stop when the sandbox ends (slirp4netns: its exit fd closes; pasta: SIGTERM), and reaped.
/// Both lay the network out as SlirpNet does: 10.0.2.100/24 on tap0, gateway 10.0.2.2, DNS
/// 10.0.2.3, MTU 65520, IPv4 only, the host's loopback not reachable. Their own rules
/// apply otherwise: link-local (cloud metadata) and the host's other addresses stay
/// reachable through them.
public enum NetHelperTool: String, Sendable {
    case slirp4netns
    case pasta
    /// Where the planner looks for it (the first that exists).
    public static let dirs = ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"]
}

public struct NetHelperPlan: Equatable, Sendable {
    public var tool: NetHelperTool
    public var path: String
    /// -p: the tool's own forwarder listens on the host's ports.
    public var publish: [PortForward] = []
    /// Where slirp4netns's API socket goes (for -p), the runtime directory.
    public var apiDir = "/tmp"
    /// How long the run waits, once the sandbox has ended, for its connections to hand the
    /// tool what they still hold (`--net pasta:linger=SECONDS`, as SlirpNet's).
    public var lingerMS: UInt64 = 10_000
}

final class NetHelper {
    let plan: NetHelperPlan
    var pid: pid_t = -1
    var exitFD: Int32 = -1
    /// slirp4netns's API socket (for -p), removed at the end.
    var apiSocket: String?
    /// The sandbox's TCP tables (/proc/PID/net/tcp and tcp6), opened while its pid 1 lives:
    /// an open one goes on reading its namespace's sockets once every process there is
    /// gone (and keeps the namespace until it is closed, as the tool does).
    var tables: [Int32] = []
    /// The tool's own TCP tables (its namespace's, the host's), read for its sockets.
    var toolTables: [Int32] = []
    let proc: String

    init(_ p: NetHelperPlan, proc: String = "/proc") {
        plan = p
        self.proc = proc
    }

    /// Starts it for the sandbox whose pid 1 is child and waits until it is ready (10 s at most).
    func start(child: Int32) throws {
        // Opened as the tool opens the namespace: the child is in it already (cloned with
        // CLONE_NEWNET; never one it joins later). Not if it were still in ours: the wait
        // would be for the host's own sockets.
        var theirs = stat(), ours = stat()
        if stat("\(proc)/\(child)/ns/net", &theirs) == 0, stat("\(proc)/self/ns/net", &ours) == 0, theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev
        {
            tables = ["tcp", "tcp6"].map { open("\(proc)/\(child)/net/\($0)", O_RDONLY | O_CLOEXEC) }.filter { $0 >= 0 }
        }
        var ready: [Int32] = [-1, -1], exit: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard rl_pipe_cloexec(&ready) == 0, rl_pipe_cloexec(&exit) == 0, rl_pipe_cloexec(&err) == 0 else {
            throw RootlessError("cannot make pipes for \(plan.tool.rawValue)", errno: errno, step: "net")
        }
        defer { [ready[1], exit[0], err[1], ready[0], err[0]].forEach { if $0 >= 0 { close($0) } } }
        if plan.tool == .slirp4netns && !plan.publish.isEmpty {
            let api = plan.apiDir + "/slirp4netns-\(getpid()).sock"
            unlink(api)
            apiSocket = api
        }
        let argv = arguments(child: child)
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&fa, err[1], 2)
        posix_spawn_file_actions_adddup2(&fa, ready[1], 3)
        posix_spawn_file_actions_adddup2(&fa, exit[0], 4)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        // A process group of its own: a terminal's Ctrl-C reaches the run (which passes it
        // to the sandbox), not the tool, which must outlive the sandbox to carry what its
        // connections still hold (finish).
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawn(&pid, plan.path, &fa, &attr, cargs, environ)
        guard rc == 0 else {
            throw RootlessError("cannot run \(plan.path)", errno: rc, step: "net", fix: "check the \(plan.tool.rawValue) install, or use --net slirp")
        }
        toolTables = ["tcp", "tcp6"].map { open("\(proc)/\(pid)/net/\($0)", O_RDONLY | O_CLOEXEC) }.filter { $0 >= 0 }
        close(ready[1]); ready[1] = -1
        close(exit[0]); exit[0] = -1
        close(err[1]); err[1] = -1
        exitFD = exit[1]
        // It writes on the ready fd once the namespace is configured (slirp4netns "1", pasta
        // its pid); it exits (an empty read) if it cannot.
        var p = pollfd(fd: ready[0], events: Int16(POLLIN), revents: 0)
        var b: UInt8 = 0
        let ok = poll(&p, 1, 10_000) == 1 && read(ready[0], &b, 1) == 1
        guard ok else {
            // Stopped first (a tool that hangs without a word must not hold the read), and
            // its stderr then read without waiting: what it said before it went.
            stop()
            _ = fcntl(err[0], F_SETFL, O_NONBLOCK)
            var buf = [UInt8](repeating: 0, count: 2048)
            let n = buf.withUnsafeMutableBytes { read(err[0], $0.baseAddress, $0.count) }
            // pasta also says on stderr that it has no syslog to write to: not the failure.
            let lines = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").filter { !$0.hasSuffix("to syslog") } : []
            let text = lines.isEmpty ? "it did not become ready in 10 s" : lines.joined(separator: "; ")
            throw RootlessError(
                "\(plan.tool.rawValue) failed to set up the sandbox's network: \(text)", step: "net",
                fix: "use --net slirp (rootless's own), or check \(plan.tool.rawValue) by hand")
        }
        if let api = apiSocket {
            for f in plan.publish {
                if let why = NetHelper.addForward(f, api: api) {
                    stop()
                    throw RootlessError(
                        "\(f.named): slirp4netns cannot forward it: \(why)", step: "net",
                        fix: "the host port may be in use or the address not this host's; choose another")
                }
            }
        }
        // What it writes on stderr from now on is read and dropped, until it exits: a write
        // to a pipe nobody reads any more would kill it (SIGPIPE), and the sandbox's network
        // with it. (A thread after the clone: no namespace is made after it.)
        let drain = err[0]
        err[0] = -1
        if let t = Threads.start({
            var b = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = b.withUnsafeMutableBytes { read(drain, $0.baseAddress, $0.count) }
                if n > 0 || (n < 0 && errno == EINTR) { continue }
                break
            }
            close(drain)
        }) {
            Threads.detach(t)
        } else {
            close(drain)
        }
    }

    /// Asks slirp4netns (its API socket) to forward f; nil, or its error.
    static func addForward(_ f: PortForward, api: String) -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return OS.errorText(errno) }
        defer { close(fd) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let path = Array(api.utf8)
        guard path.count < MemoryLayout.size(ofValue: sa.sun_path) else { return "the socket path \(api) is too long" }
        withUnsafeMutableBytes(of: &sa.sun_path) { b in for (i, c) in path.enumerated() { b[i] = c } }
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { return "its API socket: \(OS.errorText(errno))" }
        let req = Array(
            "{\"execute\": \"add_hostfwd\", \"arguments\": {\"proto\": \"\(f.udp ? "udp" : "tcp")\", \"host_addr\": \"\(f.hostIP)\", \"host_port\": \(f.hostPort), \"guest_port\": \(f.guestPort)}}"
                .utf8)
        guard req.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == req.count else { return OS.errorText(errno) }
        shutdown(fd, Int32(SHUT_WR))
        var answer: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        while answer.count < 16384 {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            answer += buf[0..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        if text.contains("\"return\"") { return nil }
        // {"error": {"desc": "..."}}: its description, else the answer as it came.
        let key = Array("\"desc\":".utf8)
        if let at = (0..<max(answer.count - key.count, 0)).first(where: { answer[$0..<($0 + key.count)].elementsEqual(key) }) {
            let rest = answer[(at + key.count)...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") }
            return String(decoding: rest.prefix { $0 != UInt8(ascii: "\"") }, as: UTF8.self)
        }
        return text.isEmpty ? "no answer" : String(text.prefix(200))
    }

    /// Its command line for the sandbox whose pid 1 is child.
    func arguments(child: Int32) -> [String] {
        switch plan.tool {
        case .slirp4netns:
            // Its own sandbox and seccomp filter: it parses the sandbox's packets as you.
            // -p goes through its API socket once it is ready.
            return [
                plan.path, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4",
            ] + (apiSocket.map { ["--api-socket", $0] } ?? []) + [String(child), "tap0"]
        case .pasta:
            // Foreground, so it stays our child; the pid file (our pipe) is written once the
            // namespace is configured, which is the ready signal. Only -p's ports are forwarded
            // (its default, "auto", would publish every port the sandbox listens on). It quits
            // when told (stop), not on its own once the sandbox's pid 1 is gone (newer
            // releases would, within a second: before what the sandbox sent is carried).
            return
                [
                    plan.path, "--config-net", "--foreground", "--quiet", "--ipv4-only", "--pid", "/proc/self/fd/3", "--ns-ifname", "tap0", "--address",
                    "10.0.2.100",
                    "--netmask", "24", "--gateway", "10.0.2.2", "--mtu", "65520", "--dns-forward", "10.0.2.3", "--no-map-gw", "--no-netns-quit", "--tcp-ns",
                    "none", "--udp-ns",
                    "none",
                ] + forwards(udp: false) + forwards(udp: true) + [String(child)]
        }
    }

    /// pasta's forwarding options for -p's TCP or UDP ports ("none" if there are none).
    func forwards(udp: Bool) -> [String] {
        let flag = udp ? "--udp-ports" : "--tcp-ports"
        let specs = plan.publish.filter { $0.udp == udp }.map { "\($0.hostIP)/\($0.hostPort):\($0.guestPort)" }
        return specs.isEmpty ? [flag, "none"] : specs.flatMap { [flag, $0] }
    }

    /// The helper's exit status, or -1 if it did not exit within timeoutMS.
    func waitExit(timeoutMS: Int) -> Int32 {
        let fd = rl_pidfd_open(pid)
        if fd >= 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32(timeoutMS))
            close(fd)
        }
        var st: Int32 = 0
        guard pid > 0, waitpid(pid, &st, WNOHANG) == pid else { return -1 }
        pid = -1  // reaped: its number may be another process's from now on
        return (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
    }

    /// The sandbox has ended, but not its kernel: a socket a program closed before it
    /// exited still sends what it holds, and its FIN, to the tool, which passes them on.
    /// Stopping the tool first would cut those streams short, and their far ends would see
    /// a FIN as if they were whole. So this waits until no socket of the sandbox owes the
    /// tool a byte or its FIN, and the tool has shut each of its host sockets for writing
    /// (it does once it has passed on everything and the end: TCPTable), lingerMS at
    /// most, not at all without `linger` (a
    /// sandbox killed at its --timeout); a forwarded signal (Ctrl-C) ends the wait, and so
    /// does the tool's exit (nothing is carried then). Then the tool is stopped. Returns
    /// how many sockets still owed, and why the wait ended ("" when none did).
    func finish(linger: Bool) -> (owing: Int, when: String) {
        defer { stop() }
        guard linger, plan.lingerMS > 0, !tables.isEmpty else { return (0, "") }
        let signals = rl_forwarded_signalfd()
        let tool = pid > 0 ? rl_pidfd_open(pid) : -1
        defer { [signals, tool].forEach { if $0 >= 0 { close($0) } } }
        let end = OS.monotonicSeconds() + Double(plan.lingerMS) / 1000
        // The tables are read again after 1 ms, then twice as long each time, 64 ms at most:
        // the kernel tells no one when a socket's queue empties. Never sooner than ten
        // times what the last reading took (a sandbox may leave 100,000 sockets in them),
        // so the wait costs the run a tenth of a CPU at most.
        var pause = 1.0
        while true {
            let began = OS.monotonicSeconds()
            func owed(_ fds: [Int32], _ side: TCPTable.Side) -> Int {
                fds.reduce(0) { sum, fd in
                    guard lseek(fd, 0, SEEK_SET) == 0, let text = OS.readBytes(fd: fd, limit: 32 << 20) else { return sum }
                    return sum + TCPTable.owing(text, side)
                }
            }
            var owing = owed(tables, .sandbox)
            // (pasta makes itself non-dumpable: its fds are not ours to read, and it takes no
            // byte before its host socket has.)
            if owing == 0, case let inodes = toolSockets(), !inodes.isEmpty { owing = owed(toolTables, .tool(inodes: inodes)) }
            let now = OS.monotonicSeconds()
            let left = end - now
            if owing == 0 { return (0, "") }
            if left <= 0 { return (owing, "\(plan.lingerMS / 1000) s after it ended") }
            var p = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0), pollfd(fd: tool, events: Int16(POLLIN), revents: 0)]
            if poll(&p, 2, Int32(min(pause, left * 1000).rounded(.up))) > 0 {
                if p[1].revents != 0 { return (owing, "when \(plan.tool.rawValue) exited") }
                if p[0].revents != 0 && rl_signalfd_stops(signals) != 0 { return (owing, "when the wait for them was interrupted") }
            }
            pause = max(min(pause * 2, 64), (now - began) * 10_000)
        }
    }

    /// The inodes of the sockets the tool holds (its fds' links, "socket:[N]").
    func toolSockets() -> Set<UInt64> {
        let dir = "\(proc)/\(pid)/fd"
        var out = Set<UInt64>()
        var link = [UInt8](repeating: 0, count: 64)
        for e in OS.listDirectory(dir) ?? [] {
            let n = link.withUnsafeMutableBytes { readlink(dir + "/" + e.name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            if n > 0, let inode = TCPTable.socketInode(Array(link[0..<n])) { out.insert(inode) }
        }
        return out
    }

    /// Ends it (its exit fd closes; pasta, which has none, is sent SIGTERM), and reaps it.
    func stop() {
        (tables + toolTables).forEach { close($0) }
        (tables, toolTables) = ([], [])
        if exitFD >= 0 { close(exitFD); exitFD = -1 }
        if let api = apiSocket { unlink(api) }
        apiSocket = nil
        if pid > 0 {
            let p = pid
            if plan.tool == .pasta { kill(p, SIGTERM) }
            if waitExit(timeoutMS: 2000) < 0 {
                kill(p, SIGKILL)
                var st: Int32 = 0
                while waitpid(p, &st, 0) < 0 && errno == EINTR {}
            }
            pid = -1
        }
    }
}
