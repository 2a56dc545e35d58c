import RootlessOS
import RootlessCore
import CRootless
import Glibc
import IDMap

/// What a keeper hands a run: its user namespace, and a fresh network namespace from its
/// pool (nil when the pool was empty: the run then makes its own), for --net slirp maybe
/// with its TAP made: `tap`, the socket [tap, netns] wait in, as the engine takes them.
public struct KeeperHandle {
    public var userns: Int32
    public var netns: Int32?
    public var tap: Int32?
    /// The keeper's own pid, as it reported it (for status and stop).
    public var pid: Int32 = 0
    /// Where it listens (a run hands it its mount namespace there, see Launcher).
    public var socket = ""
    /// A sandbox it built ahead for a run like this one (then userns is -1): only the
    /// command is left to send (warm.c).
    public var warm: WarmSandbox?
    public init(userns: Int32, netns: Int32?, tap: Int32? = nil, pid: Int32 = 0, socket: String = "", warm: WarmSandbox? = nil) {
        self.userns = userns
        self.netns = netns
        self.tap = tap
        self.pid = pid
        self.socket = socket
        self.warm = warm
    }
}

/// A warm sandbox handed over by the keeper: its pid 1 (the keeper's child), the socket
/// its command goes in and its reports come out of, and for --net slirp its TAP's socket
/// and the keeper's user namespace (WarmNet).
public struct WarmSandbox {
    public var pid: Int32
    public var pidfd: Int32
    public var socket: Int32
    public var tap: WarmNet?
    public init(pid: Int32, pidfd: Int32, socket: Int32, tap: WarmNet? = nil) {
        self.pid = pid
        self.pidfd = pidfd
        self.socket = socket
        self.tap = tap
    }
}

/// Finds, starts and stops keepers (see Keeper.swift). Their sockets live in the
/// caller's RuntimeDir (no such directory: no keeper, nothing breaks).
public struct KeeperStore {
    public var dir: String
    public var proc = "/proc"

    public init?() {
        guard let d = RuntimeDir.path() else { return nil }
        dir = d
    }

    /// The namespaces of a live keeper with exactly these maps, starting one when there
    /// is none (its maps written by `writeMaps(pid)`). nil when none can be had; the caller
    /// then maps a fresh namespace itself (and reports any helper failure as usual).
    /// `net`: also take a pooled network namespace (a run with its own, --net none).
    /// `warm`: a warm request (rl_warm_pack): take the sandbox built for it if there is one.
    /// `tapKey`: a TAP's key (rl_tap_key): the network namespace may come with it made.
    public func join(_ m: IDMapPlan, net: Bool, warm: [UInt8]? = nil, tapKey tap: [UInt8]? = nil, writeMaps: (Int32) throws -> Void) -> KeeperHandle? {
        let key = Keeper.key(m) + "-" + KeeperStore.build
        var e: Int32 = 0
        if let h = connect(key, net: net, warm: warm, tapKey: tap, error: &e) { return h }
        // Only a missing or dead keeper is replaced. One that is there but did not answer
        // (busy, stopped) keeps its socket: replacing it would orphan it, alive and
        // unreachable by `keeper stop`. This run then maps its own namespace.
        guard e == ENOENT || e == ECONNREFUSED else { return nil }
        // Slow path, once per map layout: serialise starters so two first runs make one keeper.
        let lock = open(dir + "/" + key + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { return nil }
        defer { close(lock) }
        guard rl_flock(lock, LOCK_EX) == 0 else { return nil }
        if let h = connect(key, net: net, warm: warm, tapKey: tap, error: &e) { return h }
        guard e == ENOENT || e == ECONNREFUSED else { return nil }
        return start(key, net: net, warm: warm, tapKey: tap, writeMaps: writeMaps)
    }

    /// The keeper's socket is named by the hash of its maps and lives in our 0700 runtime
    /// directory: whoever answers there is a keeper we started with exactly these maps
    /// (the C side checks the namespace kinds and that the user namespace owns the network
    /// one). A dead keeper's socket refuses the connection. `error`: the errno on nil.
    func connect(_ key: String, net: Bool, warm: [UInt8]? = nil, tapKey: [UInt8]? = nil, error: UnsafeMutablePointer<Int32>? = nil) -> KeeperHandle? {
        var u: Int32 = -1, n: Int32 = -1, pid: Int32 = -1
        var zpid: Int32 = -1, pidfd: Int32 = -1, sock: Int32 = -1, tap: Int32 = -1
        let path = socketPath(key)
        let rc =
            warm.map { w in w.withUnsafeBytes { rl_keeper_warm(path, $0.baseAddress, $0.count, net ? 1 : 0, &u, &n, &pid, &zpid, &pidfd, &sock, &tap) } }
            ?? (tapKey ?? []).withUnsafeBytes { rl_keeper_connect(path, net ? 1 : 0, $0.baseAddress, $0.count, &u, &n, &tap, &pid) }
        guard rc >= 0 else {
            error?.pointee = -rc
            return nil
        }
        if rc == 1 {
            return KeeperHandle(
                userns: -1, netns: nil, pid: pid, socket: path,
                warm: WarmSandbox(pid: zpid, pidfd: pidfd, socket: sock, tap: tap >= 0 ? WarmNet(tapSocket: tap, userns: u >= 0 ? u : nil) : nil))
        }
        return KeeperHandle(userns: u, netns: n >= 0 ? n : nil, tap: tap >= 0 ? tap : nil, pid: pid, socket: path)
    }

    func socketPath(_ key: String) -> String { dir + "/" + key + ".sock" }

    /// This binary's build (the first 6 bytes of its GNU build id, in hex): one keeper per
    /// map layout *and build*, so a run never talks to a keeper another build started (the
    /// keeper's answer carries the whole id, checked too).
    static let build: String = {
        var id = [UInt8](repeating: 0, count: 20)
        _ = rl_build_id(&id)
        return id.prefix(6).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }()

    /// listen -> clone the keeper (the socket as its fd 3) -> write its maps -> release
    /// it -> ask it like any later run. The socket exists before the keeper does, so a run
    /// that connects early waits in the backlog instead of failing.
    func start(_ key: String, net: Bool, warm: [UInt8]?, tapKey tap: [UInt8]?, writeMaps: (Int32) throws -> Void) -> KeeperHandle? {
        let listener = rl_keeper_listen(socketPath(key))
        guard listener >= 0 else { return nil }
        var child = rl_child()
        let rc = rl_keeper_spawn(listener, &child)
        close(listener)
        guard rc == 0 else { return nil }
        do { try writeMaps(child.pid) } catch {
            rl_abort(&child)
            return nil
        }
        guard rl_release(&child) == 0, let h = connect(key, net: net, warm: warm, tapKey: tap) else {
            rl_abort(&child)
            return nil
        }
        close(child.pidfd)
        return h
    }

    /// Live keepers as (key, pid, warm sandboxes ready, being built, builds failed):
    /// whoever answers on a socket here.
    /// Every build's: `ours` says whether runs of this binary use it.
    public func list() -> [(key: String, pid: Int32, ready: Int32, building: Int32, failed: Int32, ours: Bool)] {
        var out: [(key: String, pid: Int32, ready: Int32, building: Int32, failed: Int32, ours: Bool)] = []
        for e in OS.listDirectory(dir) ?? [] where e.name.hasSuffix(".sock") {
            let key = String(e.name.dropLast(5))
            var pid: Int32 = 0, ready: Int32 = 0, building: Int32 = 0, failed: Int32 = 0, same: Int32 = 0
            guard rl_keeper_status(socketPath(key), &pid, &ready, &building, &failed, &same) == 0 else { continue }
            out.append((key, pid, ready, building, failed, same == 1))
        }
        return out.sorted { $0.key < $1.key }
    }

    /// Kills every live keeper (SIGKILL through a pidfd, only a process named
    /// rootless-keeper) and waits until each is gone. Returns how many were stopped.
    public func stopAll() -> Int {
        var n = 0
        for (key, pid, _, _, _, _) in list() {
            let pidfd = rl_pidfd_open(pid)
            guard pidfd >= 0 else { continue }
            if OS.readFile(proc + "/\(pid)/comm", limit: 64) == Keeper.processName + "\n", rl_pidfd_kill(pidfd, SIGKILL) == 0 {
                var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 5000)
                n += 1
            }
            close(pidfd)
            unlink(socketPath(key))
        }
        return n
    }
}
