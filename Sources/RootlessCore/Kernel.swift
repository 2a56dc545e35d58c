import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc
import IDMap

/// The launcher's only way to act on the system. LiveKernel does it for real; tests
/// record the calls to check their order (spawn -> maps -> release -> supervise).
public protocol Kernel {
    /// Compiled (or cached) seccomp programs for the plan's filters, in load order.
    func loadFilters(_ plan: Plan) throws -> LoadedFilters
    /// Landlock ABI version (0 or negative: unavailable).
    func landlockABI() -> Int32
    /// The sandbox's cgroup, limits written, its leaf open for CLONE_INTO_CGROUP.
    func makeCgroup(_ c: CgroupPlan) throws -> CgroupHandle
    /// Kills what is left in it, reads the usage, removes it.
    func finishCgroup(_ h: CgroupHandle, wallSeconds: Double, usage: Bool) -> SandboxStats
    /// CPU of the reaped children (stats without a cgroup).
    func childrenUsage(wallSeconds: Double) -> SandboxStats
    /// true the first time `key` is asked in this boot (per user): notes said once.
    func firstTime(_ key: String) -> Bool
    func writeFile(atomically path: String, _ contents: String) -> Bool
    /// With cfg.join_userns set, joins cfg.userns_fd first (and closes it).
    func spawn(_ cfg: UnsafePointer<rl_config>) throws -> rl_child
    func writeFile(_ path: String, _ contents: String) throws
    /// Runs the programs concurrently (newuidmap and newgidmap) and waits for all.
    func runHelpers(_ argvs: [[String]]) throws
    func release(_ child: inout rl_child) throws
    func abort(_ child: inout rl_child)
    func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result
}

/// The seccomp programs of one sandbox, in load order; `log` when the first one notifies.
public struct LoadedFilters {
    public var programs: [[UInt8]] = []
    public var log: SeccompLogFilter?
    public init(programs: [[UInt8]] = [], log: SeccompLogFilter? = nil) {
        self.programs = programs
        self.log = log
    }
}

public struct LiveKernel: Kernel {
    public init() {}

    public func loadFilters(_ plan: Plan) throws -> LoadedFilters {
        guard !plan.seccomp.isEmpty else { return LoadedFilters() }
        let ctx = SeccompContext.host(caps: plan.idmap == nil ? [] : plan.capabilities)
        var loader = SeccompLoader(context: ctx, cacheDir: SeccompLoader.defaultCacheDir())
        var out = LoadedFilters()
        guard plan.seccompLog else {
            out.programs = try loader.loadStack(plan.seccomp)
            return out
        }
        // --seccomp-log: the first policy as its notifying variant, the rest stacked apart.
        for (i, c) in plan.seccomp.enumerated() {
            if i == 0 {
                // The log variant is not cached: an audit run pays the compile (~20 ms).
                let src = try SeccompLoader.source(c)
                out.log = try SeccompLogFilter.build(src.text ?? "", name: src.name, ctx)
                out.programs.append(out.log!.bpf)
            } else if let b = try loader.load(c) {
                out.programs.append(b)
            }
        }
        return out
    }

    public func landlockABI() -> Int32 { rl_landlock_abi() }

    public func makeCgroup(_ c: CgroupPlan) throws -> CgroupHandle { try c.scopeBus.map { try CgroupTree.createInScope(c, bus: $0) } ?? CgroupTree.create(c) }

    public func finishCgroup(_ h: CgroupHandle, wallSeconds: Double, usage: Bool) -> SandboxStats {
        CgroupTree.finish(h, wallSeconds: wallSeconds, usage: usage)
    }

    public func childrenUsage(wallSeconds: Double) -> SandboxStats {
        var u = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &u)
        var s = SandboxStats(wallSeconds: wallSeconds, source: "rusage")
        s.cpuUserUsec = UInt64(u.ru_utime.tv_sec) * 1_000_000 + UInt64(u.ru_utime.tv_usec)
        s.cpuSystemUsec = UInt64(u.ru_stime.tv_sec) * 1_000_000 + UInt64(u.ru_stime.tv_usec)
        return s
    }

    public func firstTime(_ key: String) -> Bool {
        guard let d = RuntimeDir.path() else { return true }
        let fd = open(d + "/said-" + key, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    public func writeFile(atomically path: String, _ contents: String) -> Bool { OS.replaceFile(path, Array(contents.utf8), mode: 0o644) }

    public func spawn(_ cfg: UnsafePointer<rl_config>) throws -> rl_child {
        if cfg.pointee.join_userns != 0 {
            // Joined by the process itself, right before clone3: the new namespaces are then
            // owned by the keeper's user namespace, where we hold every capability. setns
            // refuses a multi-threaded caller (EINVAL); rootless has one thread here.
            let rc = rl_setns_user(cfg.pointee.userns_fd)
            close(cfg.pointee.userns_fd)
            guard rc == 0 else {
                throw RootlessError(
                    "cannot join the keeper's user namespace", errno: -rc, step: "keeper.join",
                    fix: "run `rootless keeper stop` and try again, or use --no-keeper")
            }
        }
        var child = rl_child()
        let rc = rl_spawn(cfg, &child)
        guard rc == 0 else {
            let e = -rc
            let fix =
                e == EPERM || e == ENOSPC || e == EINVAL
                ? "user namespaces look disabled or exhausted here; run `rootless doctor` for the cause and the fix"
                : "run `rootless doctor`"
            throw RootlessError("cannot create the sandbox namespaces (clone3)", errno: e, step: "clone", fix: fix)
        }
        return child
    }

    public func writeFile(_ path: String, _ contents: String) throws {
        let e = OS.writeExisting(path, contents)
        guard e == 0 else {
            throw RootlessError("cannot write \"\(contents.split(separator: "\n").joined(separator: "\\n"))\" to \(path)", errno: e, step: "idmap.write")
        }
    }

    public func runHelpers(_ argvs: [[String]]) throws {
        var running: [(pid_t, Int32, [String])] = []
        for argv in argvs {
            var fds: [Int32] = [0, 0]
            guard rl_pipe_cloexec(&fds) == 0 else { throw RootlessError("cannot create a pipe for \(argv[0])", errno: errno, step: "idmap.helpers") }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            // The caller blocks the forwarded signals around the sandbox; helpers get a clean mask.
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attr, &empty)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
            var pid: pid_t = 0
            let cargs = argv.map { strdup($0) } + [nil]
            let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nil]
            let rc = posix_spawn(&pid, argv[0], &actions, &attr, cargs, env)
            cargs.forEach { free($0) }
            env.forEach { free($0) }
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attr)
            close(fds[1])
            guard rc == 0 else {
                close(fds[0])
                throw RootlessError("cannot run \(argv[0])", errno: rc, step: "idmap.helpers", fix: "install uidmap, or use --map self")
            }
            running.append((pid, fds[0], argv))
        }
        var failure: RootlessError?
        for (pid, fd, argv) in running {
            var err: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                err.append(contentsOf: buf[0..<n])
            }
            close(fd)
            var st: Int32 = 0
            while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
            let ok = (st & 0x7f) == 0 && ((st >> 8) & 0xff) == 0
            if !ok && failure == nil {
                let text = String(decoding: err, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
                failure = RootlessError(
                    "\(argv[0].lastComponent) failed for pid \(argv[1]) (\(argv.dropFirst(2).joined(separator: " "))): \(text.isEmpty ? "exit status \((st >> 8) & 0xff)" : text)",
                    step: "idmap.helpers", fix: "check your entries in /etc/subuid and /etc/subgid (rootless doctor), or use --map self")
            }
        }
        if let failure { throw failure }
    }

    public func release(_ child: inout rl_child) throws {
        let rc = rl_release(&child)
        guard rc == 0 else { throw RootlessError("cannot release the sandbox child", errno: -rc, step: "release") }
    }

    public func abort(_ child: inout rl_child) { rl_abort(&child) }

    public func supervise(_ cfg: UnsafePointer<rl_config>, _ child: inout rl_child) -> rl_result {
        var r = rl_result()
        _ = rl_supervise(cfg, &child, &r)
        return r
    }
}

extension String {
    package var lastComponent: String { split(separator: "/").last.map(String.init) ?? self }
}
