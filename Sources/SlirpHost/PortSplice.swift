import CRootless
import Glibc
import RootlessOS
import SlirpNet

/// -p's fast path: a connection accepted on the host port is joined to a socket the engine
/// thread made inside the sandbox's network namespace (connected to the sandbox's address
/// and port, as a local program there would be), and the bytes are spliced between the two
/// through a pipe each way: the kernel moves them, no copy passes through this process and
/// no frame through the TAP. rootlesskit's builtin port driver and pasta's `-t` work so.
///
/// The socket is made by a thread that lives in the sandbox's namespace
/// (NamespaceSockets).
final class PortSplice {
    /// Side 0 is the host's connection, side 1 the sandbox's; pipes[d] carries direction d
    /// (from side d to side 1 - d).
    let fds: [Int32]
    var pipes: [[Int32]] = [[-1, -1], [-1, -1]]
    var inPipe = [0, 0]
    var eof = [false, false]
    var shut = [false, false]
    var watched = [false, false]
    var connecting = true
    var closed = false
    /// The host's side is set to be reset when closed (SlirpRunner.armAndCount).
    var armed = false

    init(host: Int32, sandbox: Int32) { fds = [host, sandbox] }

    /// Bytes moved per splice call (the pipe holds 64 KiB; the kernel moves what fits).
    static let chunk = 1 << 20

    /// Makes the pipes: false if it cannot (out of fds).
    func open() -> Bool { rl_pipe_nb(&pipes[0], PortSplice.pipeSize) == 0 && rl_pipe_nb(&pipes[1], PortSplice.pipeSize) == 0 }
    static var pipeSize: Int32 = 256 << 10

    /// Moves what it can in direction d. false: the connection failed (close it).
    func pump(_ d: Int) -> Bool {
        let from = fds[d], to = fds[1 - d]
        var read = false
        while true {
            if inPipe[d] > 0 {
                let n = rl_splice_nb(pipes[d][0], to, inPipe[d])
                if n > 0 {
                    inPipe[d] -= n
                    continue
                }
                return n == -Int(EAGAIN)
            }
            if eof[d] {
                if !shut[d] {
                    shut[d] = true
                    shutdown(to, Int32(SHUT_WR))
                }
                return true
            }
            var n = rl_splice_nb(from, pipes[d][1], PortSplice.chunk)
            if n == -Int(EAGAIN) && !read {
                // splice stops at TCP's urgent mark (and says EAGAIN while epoll says
                // readable: the loop would spin). A plain read takes the byte past it (it is
                // inline: SO_OOBINLINE) into the pipe, which is empty here.
                n = PortSplice.copy(from, pipes[d][1])
            }
            if n > 0 {
                inPipe[d] += n
                read = true
            } else if n == 0 {
                eof[d] = true
            } else {
                return n == -Int(EAGAIN)
            }
        }
    }

    /// Both directions ended and drained.
    var done: Bool { shut[0] && shut[1] }

    /// What side s must be watched for: readable while its direction may take more,
    /// writable while the other direction has bytes waiting for it.
    func interest(_ s: Int) -> UInt32 {
        if connecting { return s == 1 ? EPOLLOUT.rawValue : 0 }
        return (!eof[s] && inPipe[s] == 0 ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (inPipe[1 - s] > 0 ? EPOLLOUT.rawValue : 0)
    }

    /// Up to 4 KiB read from a socket and written into an empty pipe: bytes, 0 at EOF, or -errno.
    static func copy(_ from: Int32, _ pipe: Int32) -> Int {
        var b = [UInt8](repeating: 0, count: 4096)
        let n = b.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n <= 0 { return n == 0 ? 0 : -Int(errno) }
        let w = b.withUnsafeBytes { write(pipe, $0.baseAddress, n) }
        return w == n ? n : -Int(EIO)
    }

    /// Settings for both sockets: urgent bytes inline (never lost), and for the sandbox's
    /// fixed buffers — its namespace's tcp_rmem/tcp_wmem are the sandbox's to set, and the
    /// socket's memory is charged to us, outside the sandbox's limits. As large as the
    /// host's net.core.rmem_max and wmem_max allow (the kernel caps the request there):
    /// the host's bound, which no sandbox can raise, as pasta asks too. (1 MiB, below a
    /// host's 4 MiB cap, measured ~15% slower through -p.)
    static func configure(_ fd: Int32, sandboxSide: Bool) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, socklen_t(MemoryLayout<Int32>.size))
        if sandboxSide {
            var size = bufferSize
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }
    static let bufferSize = Int32.max

    func closeAll(reset: Bool) {
        guard !closed else { return }
        closed = true
        if reset {
            // Both ends see the connection reset (a truncated upload must not look whole
            // to the sandbox's server), as on the TAP path.
            var l = linger(l_onoff: 1, l_linger: 0)
            for fd in fds where fd >= 0 { setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size)) }
        }
        for fd in fds + pipes[0] + pipes[1] where fd >= 0 { close(fd) }
    }
}

/// A thread that lives in the sandbox's network namespace and makes sockets there on
/// request (a socket keeps the namespace it was made in; connect, splice and close work
/// from any thread). Entering is one-way: a thread cannot return to the host's namespace,
/// whose owner grants us nothing, so it is a thread of its own, and it makes nothing else.
/// It may enter when the run holds CAP_SYS_ADMIN over the sandbox's namespace (it joined
/// the keeper's user namespace, which owns it); otherwise init fails and -p's connections
/// go through the TAP.
final class NamespaceSockets {
    var req: [Int32] = [-1, -1]
    var rep: [Int32] = [-1, -1]
    var thread: pthread_t?

    /// Starts the thread in netns (the fd is the thread's to close); nil if it cannot enter.
    init?(netns: Int32) {
        guard rl_pipe_cloexec(&req) == 0, rl_pipe_cloexec(&rep) == 0 else {
            close(netns)
            for fd in req + rep where fd >= 0 { close(fd) }
            return nil
        }
        // The thread owns netns and its answer pipe's write end, and closes them when it
        // ends: a read of answers never waits on a thread that is gone.
        let (rd, wr) = (req[0], rep[1])
        thread = Threads.start {
            var r = rl_setns_net(netns)
            close(netns)
            _ = write(wr, &r, 4)
            var b: UInt8 = 0
            while r == 0 {
                let n = read(rd, &b, 1)
                if n < 0 && errno == EINTR { continue }
                if n != 1 { break }
                var fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd < 0 { fd = -errno }
                _ = write(wr, &fd, 4)
            }
            close(wr)
        }
        if thread == nil { close(netns) } else { rep[1] = -1 }
        var r: Int32 = -1
        guard thread != nil, read(rep[0], &r, 4) == 4, r == 0 else {
            stop()
            return nil
        }
    }

    /// A new TCP socket in the sandbox's namespace (non-blocking), or nil.
    func socket() -> Int32? {
        var b: UInt8 = 1
        var fd: Int32 = -1
        guard write(req[1], &b, 1) == 1, read(rep[0], &fd, 4) == 4, fd >= 0 else { return nil }
        return fd
    }

    /// Ends the thread (its request pipe closes) and closes the pipes.
    func stop() {
        if req[1] >= 0 { close(req[1]) }
        req[1] = -1
        if let t = thread { Threads.join(t) }
        thread = nil
        for fd in [req[0], rep[0], rep[1]] where fd >= 0 { close(fd) }
        req = [-1, -1]
        rep = [-1, -1]
    }
}
