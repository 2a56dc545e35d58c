import RootlessOS
import Cgroups
import SeccompCompile
import CRootless
import Glibc

/// Turns a (step, errno, index) report from the child into what the user reads.
enum ChildStep {
    static func error(_ r: rl_report, _ plan: Plan) -> RootlessError {
        var err = describe(r, plan)
        err.step = "child." + name(r.step)
        return err
    }

    static func describe(_ r: rl_report, _ plan: Plan) -> RootlessError {
        let e = r.err
        let step = "child." + name(r.step)
        // A failed call of the child's: the errno is kept as data, its text made at the edge.
        func failed(_ message: String, fix: String? = nil) -> RootlessError { RootlessError(message, errno: e, step: step, fix: fix) }
        let m: MountOp? = r.index >= 0 && Int(r.index) < plan.mounts.count ? plan.mounts[Int(r.index)] : nil
        switch UInt32(bitPattern: r.step) {
        case RL_STEP_HOSTNAME.rawValue:
            return failed("cannot set hostname \(plan.hostname ?? "")", fix: "use a name of at most 64 characters")
        case RL_STEP_LOOPBACK.rawValue:
            return failed("cannot bring up lo in the new network namespace")
        case RL_STEP_NETNS.rawValue:
            return failed(
                "cannot join the network namespace the keeper handed out",
                fix: "run `rootless keeper stop` and try again, or use --no-keeper")
        case RL_STEP_PRIVATE.rawValue:
            return failed("cannot make the sandbox's mount tree private", fix: "run `rootless doctor`")
        case RL_STEP_OPEN_ROOT.rawValue:
            if case let .directory(d, _) = plan.root {
                return failed("cannot open rootfs \(d)", fix: "check that it exists and that you can read it")
            }
            return failed("cannot clone the host's / for the read-only view", fix: "run `rootless doctor` (kernel >= 5.12 needed)")
        case RL_STEP_OPEN_SOURCE.rawValue:
            guard let m else { break }
            if e == ENODEV {
                return RootlessError(
                    "host \(m.kind == .mask ? "/dev/null" : m.source ?? "") is not the expected character device",
                    fix: "refusing to mask or bind with a fake device node (CVE-2025-31133 class); fix the host's /dev")
            }
            return failed("cannot open bind source \(m.source ?? "/dev/null")", fix: "check that it exists and that you can read it")
        case RL_STEP_ATTACH_ROOT.rawValue:
            return failed("cannot attach the sandbox root", fix: "run `rootless doctor`")
        case RL_STEP_TARGET.rawValue:
            guard let m else { break }
            let fix: String
            switch e {
            case EROFS: fix = "the root is read-only there; mount onto a path that exists, or onto a --tmpfs you create first"
            case ELOOP: fix = "\(m.target) is (or runs through) a symlink in the root; refusing to mount \(m.kind.rawValue) there"
            case ENOENT: fix = "\(m.target) must exist in the root"
            default: fix = "check the path inside the root"
            }
            return failed("cannot prepare mount target \(m.target) inside the sandbox", fix: fix)
        case RL_STEP_MOUNT.rawValue:
            guard let m else { break }
            return RootlessError(
                "cannot mount \(m.kind.rawValue) on \(m.target)\(m.data.map { " (\($0))" } ?? "")", errno: e, step: step,
                fix: m.kind == .tmpfs ? "check the tmpfs options (size=, mode=)" : "run `rootless doctor`")
        case RL_STEP_ROOT_RDONLY.rawValue:
            return failed("cannot make the root read-only")
        case RL_STEP_PIVOT.rawValue:
            return failed("pivot_root into the sandbox root failed", fix: "run `rootless doctor`")
        case RL_STEP_CHDIR.rawValue:
            return failed(
                "cannot change to working directory \(plan.cwd) inside the sandbox",
                fix: "it must exist inside the sandbox; pick another with -w")
        case RL_STEP_CWD_ESCAPE.rawValue:
            return RootlessError(
                "working directory \(plan.cwd) resolves outside the sandbox root\(e == ELOOP ? " (through a /proc magic link)" : "")",
                fix: "refusing to start there (CVE-2024-21626 class); use a real directory inside")
        case RL_STEP_FORK_PAYLOAD.rawValue:
            return failed("pid 1 cannot fork the command")
        case RL_STEP_SETSID.rawValue:
            return failed("setsid failed")
        case RL_STEP_TTY.rawValue:
            return failed("cannot make the pseudo-terminal the controlling tty")
        case RL_STEP_FDS.rawValue:
            if r.index >= 3 {
                return RootlessError("--preserve-fds: fd \(r.index) is not open", fix: "open it before calling rootless, or lower --preserve-fds")
            }
            return failed("cannot close inherited fds", fix: "kernel >= 5.11 needed for close_range")
        case RL_STEP_SETGROUPS.rawValue, RL_STEP_SETGID.rawValue:
            return failed("cannot switch to gid \(plan.gid) inside", fix: "choose a mapped gid")
        case RL_STEP_SETUID.rawValue:
            return failed("cannot switch to uid \(plan.uid) inside", fix: "choose a mapped uid")
        case RL_STEP_CAPS.rawValue:
            return failed("cannot set capabilities")
        case RL_STEP_NNP.rawValue:
            return failed("cannot set no_new_privs")
        case RL_STEP_SECCOMP.rawValue:
            return failed("cannot load the seccomp filter", fix: "try --seccomp unconfined to confirm, then check the policy")
        case RL_STEP_RLIMIT.rawValue:
            guard r.index >= 0 && Int(r.index) < plan.rlimits.count else { break }
            let u = plan.rlimits[Int(r.index)]
            return failed(
                "cannot set --ulimit \(u.name)",
                fix: e == EPERM
                    ? "an unprivileged user cannot raise a hard limit above its own (ulimit -H\(u.name == "nofile" ? "n" : "")); ask for less"
                    : "check the values")
        case RL_STEP_CGROUPNS.rawValue:
            return failed(
                "cannot create the cgroup namespace inside the sandbox's cgroup", fix: "run `rootless doctor`; --cgroup none runs without a cgroup")
        case RL_STEP_OVERLAY.rawValue where r.index == -2:
            return RootlessError(
                "fuse-overlayfs could not mount the image's root (exit status \(e)\(e == 127 ? ": it could not be executed" : ""))",
                fix: "check that /dev/fuse is usable (mode 0666) and fuse-overlayfs works; or use --storage-driver overlay or copy")
        case RL_STEP_OVERLAY.rawValue:
            let layer = r.index >= 0 ? " (layer \(r.index))" : ""
            return failed(
                "cannot mount the image's overlayfs root\(layer)",
                fix: "overlayfs in a user namespace needs kernel >= 5.11 (lowerdir+: 6.8); use --storage-driver copy")
        case RL_STEP_WARM.rawValue:
            return failed("the warm sandbox could not take the command", fix: "run with --no-warm, or `rootless keeper stop` and try again")
        case RL_STEP_TAP.rawValue:
            return failed(
                "cannot make the sandbox's TAP device for --net slirp", fix: "check that /dev/net/tun exists and is usable (mode 0666); or use --net none")
        case RL_STEP_TAP_CONFIG.rawValue:
            return failed("cannot configure the sandbox's TAP device (rtnetlink request \(r.index))", fix: "check --net slirp's mtu and cidr")
        case RL_STEP_PDEATHSIG.rawValue:
            return failed("cannot set the parent-death signal")
        case RL_STEP_EXEC.rawValue:
            let cmd = plan.argv.first ?? ""
            switch e {
            case ENOENT:
                if let home = plan.hiddenHome, let found = hostCommand(cmd, plan.searchPath), Paths.isBeneath(found, home) {
                    return RootlessError(
                        "command not found inside the sandbox: \(cmd) (on the host it is \(found), under your home, which a sandbox sees empty by default)",
                        fix: "add --home ro to show your home read-only, or --ro-bind the directory that holds it")
                }
                return RootlessError(
                    "command not found inside the sandbox: \(cmd)",
                    fix: cmd.contains("/")
                        ? "check the path inside the root" : "searched PATH=\(plan.searchPath); give a full path or bind the directory that holds it")
            case EACCES:
                return RootlessError("permission denied executing \(cmd) inside the sandbox", fix: "check that it is executable and not on a noexec mount")
            case ENOEXEC:
                return RootlessError("\(cmd) is not an executable format the kernel knows", fix: "add a #! line or run it through its interpreter")
            default:
                return failed("cannot execute \(cmd) inside the sandbox")
            }
        default: break
        }
        return failed("sandbox setup failed at step \(r.step) (index \(r.index))")
    }

    /// The child's steps by name (enum rl_step), for RootlessError.step.
    static func name(_ step: Int32) -> String {
        let names = [
            "none", "sync", "hostname", "loopback", "private", "open-root", "open-source", "attach-root", "target", "mount", "root-rdonly",
            "pivot", "chdir", "fork-payload", "setsid", "tty", "fds", "setgroups", "setgid", "setuid", "caps", "nnp", "seccomp", "exec",
            "pdeathsig", "cwd-escape", "landlock", "rlimit", "cgroupns", "overlay", "netns", "warm", "tap", "tap-config",
        ]
        return step >= 0 && Int(step) < names.count ? names[Int(step)] : "step-\(step)"
    }

    /// Where cmd is on the host: itself if it has a '/', else the first executable in PATH.
    static func hostCommand(_ cmd: String, _ path: String) -> String? {
        if cmd.contains("/") { return access(cmd, X_OK) == 0 ? cmd : nil }
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            let p = dir + "/" + cmd
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }
}
