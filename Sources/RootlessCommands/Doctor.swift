import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import CRootless
import Glibc
import PureJSON
import IDMap

/// `rootless doctor`: what this host allows, and the exact fix for what it does not.
public enum Doctor {
    public enum Status: String { case ok, warn, fail, info }
    public struct Check {
        public var name: String
        public var status: Status
        public var detail: String
        public var fix: String?
    }

    static let command = CommandSpec<Bool>(
        "doctor", synopsis: ["rootless doctor [--format text|json]"],
        summary: "What this host allows (user namespaces, ID ranges, cgroups, seccomp, Landlock, networking), and how to fix what it does not.",
        options: [
            Opt(["--format"], "text|json", "output format (default: text)", choices: ["text", "json"]) { json, v, _ in
                guard v == "text" || v == "json" else { throw RootlessError("--format needs text or json", fix: "e.g. rootless doctor --format json") }
                json = v == "json"
            }
        ])

    /// Ping beyond the gateway needs unprivileged ICMP sockets for one of our groups.
    static func pingCheck(_ p: HostPaths) -> Check {
        let range = OS.readFile(p.proc + "/sys/net/ipv4/ping_group_range").map {
            $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int64($0) }
        }
        guard let r = range, r.count == 2 else { return Check(name: "--net slirp ping", status: .info, detail: "ping_group_range unreadable") }
        var list = [gid_t](repeating: 0, count: 256)
        let n = max(getgroups(Int32(list.count), &list), 0)
        let groups = [Int64(getgid())] + list.prefix(Int(n)).map(Int64.init)
        if groups.contains(where: { $0 >= r[0] && $0 <= r[1] }) {
            return Check(
                name: "--net slirp ping", status: .ok, detail: "echo requests beyond the gateway go out through ICMP sockets (ping_group_range \(r[0]) \(r[1]))"
            )
        }
        return Check(
            name: "--net slirp ping", status: .info, detail: "only the gateway answers ping: ping_group_range \(r[0]) \(r[1]) leaves out your groups",
            fix: "as root: sysctl net.ipv4.ping_group_range='0 2147483647' (Debian's systemd default)")
    }

    public static func main(_ args: [String]) -> Int32 {
        if args.first == "--help" || args.first == "-h" {
            OS.writeStdout(command.help)
            return 0
        }
        var json = false
        do {
            let rest = try command.parse(args, into: &json, firstOperandEnds: false)
            guard rest.isEmpty else { throw RootlessError("doctor takes no operands (\"\(rest[0])\")", fix: "usage: \(command.synopsis[0])") }
        } catch {
            return CLI.report(error)
        }
        let checks = run(HostPaths())
        OS.writeStdout(json ? renderJSON(checks) : renderText(checks))
        return checks.contains { $0.status == .fail } ? 1 : 0
    }

    public static func run(_ p: HostPaths) -> [Check] {
        var c: [Check] = []
        let facts = SystemFacts.gather(p)
        let user = facts.userName ?? String(facts.uid)

        // user namespaces
        let e = rl_probe_userns()
        if e == 0 {
            c.append(Check(name: "user namespaces", status: .ok, detail: "an unprivileged user namespace can be created"))
        } else {
            var fix = "check kernel.unprivileged_userns_clone, user.max_user_namespaces and AppArmor"
            if OS.readFile(p.proc + "/sys/kernel/unprivileged_userns_clone")?.hasPrefix("0") == true {
                fix = "sysctl -w kernel.unprivileged_userns_clone=1"
            } else if OS.readFile(p.proc + "/sys/user/max_user_namespaces")?.hasPrefix("0") == true {
                fix = "sysctl -w user.max_user_namespaces=15000"
            } else if OS.readFile(p.proc + "/sys/kernel/apparmor_restrict_unprivileged_userns")?.hasPrefix("1") == true {
                fix =
                    "AppArmor restricts user namespaces: add a profile for rootless with `userns,` or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
            } else if SystemFacts.noNewPrivs(p) || e == EPERM {
                fix =
                    "a seccomp filter (e.g. Docker's default) forbids it here; run rootless outside that container, or --userns=none (Landlock + seccomp only)"
            }
            c.append(Check(name: "user namespaces", status: .fail, detail: "clone3 with CLONE_NEWUSER failed: \(OS.errorText(e))", fix: fix))
        }

        // subordinate ids
        for (label, table, path) in [("subuid", facts.subuid, facts.subuidPath), ("subgid", facts.subgid, facts.subgidPath)] {
            guard let t = table else {
                c.append(
                    Check(
                        name: label, status: .warn, detail: "\(path) is missing; --map auto will map only your own id",
                        fix: "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)"))
                continue
            }
            if let prob = t.problems.first {
                c.append(
                    Check(
                        name: label, status: .fail, detail: "\(path):\(prob.line): malformed entry \"\(prob.text)\" (\(prob.reason))",
                        fix: "fix or remove that line (USER:START:COUNT)"))
                continue
            }
            let r = t.ranges(user: facts.userName, uid: facts.uid)
            if r.isEmpty {
                c.append(
                    Check(
                        name: label, status: .warn, detail: "no entry for \(user) in \(path); --map auto will map only your own id",
                        fix: "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)"))
            } else {
                c.append(Check(name: label, status: .ok, detail: r.map { "\($0.start)+\($0.count)" }.joined(separator: ", ")))
            }
        }

        // helpers
        for h in [facts.uidHelper, facts.gidHelper] {
            switch h {
            case .usable(let path):
                c.append(Check(name: path.lastComponent, status: .ok, detail: "\(path) is setuid root or has file capabilities"))
            default:
                c.append(
                    Check(
                        name: "id-map helper", status: .warn, detail: "ranges unavailable; --map auto falls back to self",
                        fix: IDMapError.helper(h).description))
            }
        }
        c.append(
            SystemFacts.noNewPrivs(p)
                ? Check(
                    name: "no_new_privs", status: .warn, detail: "set on this process: setuid newuidmap cannot work",
                    fix: "run rootless outside the sandbox that set it")
                : Check(name: "no_new_privs", status: .ok, detail: "not set on the caller"))

        // overlay, devices, external tools
        let ov = rl_probe_overlay()
        c.append(
            ov == 0
                ? Check(name: "overlayfs in userns", status: .ok, detail: "native overlay with userxattr mounts in a user namespace")
                : Check(
                    name: "overlayfs in userns", status: .warn, detail: "mount failed: \(OS.errorText(ov))",
                    fix: "kernel >= 5.11 needed; fuse-overlayfs or copied layers will be used"))
        for dev in ["/dev/fuse", "/dev/net/tun"] {
            let fd = open(dev, O_RDWR | O_CLOEXEC)
            if fd >= 0 {
                close(fd)
                c.append(Check(name: dev, status: .ok, detail: "opens read-write"))
                if dev == "/dev/net/tun" {
                    c.append(Check(name: "--net slirp", status: .ok, detail: "usable: SlirpNet makes the sandbox's TAP from /dev/net/tun"))
                    c.append(pingCheck(p))
                }
            } else {
                let err = errno
                c.append(
                    Check(
                        name: dev, status: .warn, detail: "cannot open: \(OS.errorText(err))",
                        fix: err == ENOENT ? "modprobe \(dev == "/dev/fuse" ? "fuse" : "tun")" : "chmod 0666 \(dev) (as distros ship it)"))
                if dev == "/dev/net/tun" {
                    c.append(
                        Check(
                            name: "--net slirp", status: .warn, detail: "not usable: SlirpNet needs /dev/net/tun",
                            fix: "modprobe tun; use --net none or host meanwhile"))
                }
            }
        }
        for tool in ["fuse-overlayfs", "pasta", "slirp4netns"] {
            let found = ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"].map { $0 + "/" + tool }.first { access($0, X_OK) == 0 }
            c.append(
                found.map {
                    Check(
                        name: tool, status: .ok,
                        detail: tool == "fuse-overlayfs"
                            ? $0
                            : "\($0) (--net \(tool) uses it; --net slirp is rootless's own)"
                    )
                }
                    ?? Check(name: tool, status: .info, detail: "not installed", fix: "apt-get install \(tool == "pasta" ? "passt" : tool)"))
        }

        // cgroups: the same facts and decision `rootless run` uses.
        let cg = SystemFacts.cgroup(p)
        // The run's facts take the statfs shortcut; the v1 controller list needs mountinfo.
        let layout = CgroupLayout.detect(mountinfo: OS.readFile(p.proc + "/self/mountinfo") ?? "", selfCgroup: OS.readFile(p.proc + "/self/cgroup") ?? "")
        let rootControllers = layout.v2Mount.flatMap { OS.readFile($0 + "/cgroup.controllers") }?.split(separator: " ").map { $0.trimmingNewline } ?? []
        switch layout.kind {
        case .unified:
            let needed = ["cpu", "io", "memory", "pids"].filter { !cg.available.contains($0) }
            if !cg.delegated, let bus = cg.userBus {
                c.append(
                    Check(
                        name: "cgroups", status: .ok,
                        detail:
                            "cgroup v2 at \(layout.v2Mount!); your cgroup \(cg.base ?? "?") is not delegated, so runs with limits, --stats or --cgroup-delegate ask the systemd user manager (session bus \(bus)) for a transient scope with Delegate=yes"
                    ))
            } else {
                c.append(
                    Check(
                        name: "cgroups", status: cg.delegated && needed.isEmpty ? .ok : .warn,
                        detail:
                            "cgroup v2 at \(layout.v2Mount!); sandboxes go under \(cg.base ?? "?"), which \(cg.delegated ? "is delegated to you" : "is not delegated to you (not yours, or cgroup.procs/subtree_control not writable)") and offers \(cg.available.isEmpty ? "no controllers" : cg.available.joined(separator: " "))\(needed.isEmpty ? "" : " (missing: " + needed.joined(separator: " ") + ")")",
                        fix: cg.delegated
                            ? (needed.isEmpty ? nil : "delegate them: systemd-run --user --scope -p Delegate=\(needed.joined(separator: " ")) ...")
                            : "run under a delegated scope: systemd-run --user --scope -p Delegate=yes rootless run ..."))
            }
        case .hybrid:
            c.append(
                Check(
                    name: "cgroups", status: .warn,
                    detail:
                        "hybrid, no controllers for limits: v1 (\(layout.v1Controllers.joined(separator: ","))) under /sys/fs/cgroup, cgroup2 at \(layout.v2Mount!) has \(rootControllers.filter { ["memory", "cpu", "pids", "io"].contains($0) }.isEmpty ? "none of memory/cpu/pids/io" : rootControllers.joined(separator: " "))\(rootControllers.isEmpty ? "" : " (only: " + rootControllers.joined(separator: " ") + ")"); sandboxes run without a cgroup, and limits fail with this fix",
                    fix:
                        "--memory/--pids-limit/--cpus need a cgroup v2 host with delegation (boot with systemd.unified_cgroup_hierarchy=1), or --cgroup optional to run without them"
                ))
        case .legacy, .none:
            c.append(
                Check(
                    name: "cgroups", status: .warn, detail: "no cgroup v2 mounted; sandboxes run without a cgroup, and limits fail",
                    fix: "boot with systemd.unified_cgroup_hierarchy=1"))
        }

        c += defaultView(facts)

        // seccomp, landlock, tty
        let actions = OS.readFile(p.proc + "/sys/kernel/seccomp/actions_avail")?.trimmingNewline
        c.append(
            actions != nil
                ? Check(name: "seccomp", status: .ok, detail: "filter actions: \(actions!)")
                : Check(name: "seccomp", status: .warn, detail: "no seccomp filter support reported", fix: "kernel built without CONFIG_SECCOMP_FILTER"))
        let abi = rl_landlock_abi()
        c.append(
            abi > 0
                ? Check(name: "landlock", status: .ok, detail: "ABI \(abi)\(abi >= 6 ? " (abstract unix socket and signal scoping)" : "")")
                : Check(
                    name: "landlock", status: .info, detail: "unavailable: \(OS.errorText(-abi))",
                    fix: "add lsm=landlock to the kernel command line (kernel >= 5.13)"))
        if OS.readFile(p.proc + "/sys/dev/tty/legacy_tiocsti")?.hasPrefix("1") == true {
            c.append(
                Check(
                    name: "TIOCSTI", status: .info,
                    detail: "dev.tty.legacy_tiocsti=1: keystroke injection is possible on this host; payloads run in a new session, so it is refused inside"))
        }
        return c
    }

    /// What `rootless run -- CMD` from the current directory would see, read off the plan
    /// it would get (so it cannot drift from what runs), beside bwrap's and podman's defaults.
    static func defaultView(_ facts: HostFacts) -> [Check] {
        guard let spec = try? RunArguments.parse(["true"], cwd: facts.cwd), let plan = try? Planner.plan(spec, facts) else { return [] }
        let inside = ["/proc", "/sys", "/dev"]
        func isSystem(_ t: String) -> Bool { inside.contains { t == $0 || Paths.isBeneath(t, $0) } }
        let writable = plan.mounts.filter {
            ($0.kind == .tmpfs || $0.kind == .bind) && !$0.flags.contains(.readOnly) && !isSystem($0.target) && $0.target != "/home"
        }
        .map { m in
            m.kind == .bind
                ? "\(m.target) (yours, read-write)"
                : "\(m.target) (empty, \(m.data?.split(separator: ",").first { $0.hasPrefix("size=") }.map { String($0.dropFirst(5)) } ?? "no size"))"
        }
        let hidden = plan.mounts.filter { ($0.kind == .mask && !isSystem($0.target)) || ($0.kind == .tmpfs && $0.target == "/home") }.map(\.target)
        var out = [
            Check(
                name: "default sandbox: reads", status: .info,
                detail:
                    "the host's / read-only (nosuid, nodev); its own /proc, /sys, /dev (6 devices); \(plan.notes.isEmpty ? "" : "here: " + plan.notes.joined(separator: "; "))"
            ),
            Check(name: "default sandbox: writes", status: .info, detail: writable.joined(separator: ", ") + "; nothing else"),
            Check(
                name: "default sandbox: hidden", status: .info,
                detail: "\(hidden.joined(separator: ", ")) (other homes, /root, /run/user, rootless's own state; a home shown only with --home ro|rw)"),
            Check(
                name: "default sandbox: network", status: .info,
                detail: plan.namespaces.contains(.net) ? "none: its own network namespace with lo only" : "the host's"),
            Check(
                name: "compared", status: .info,
                detail: "bwrap shows only what is bound (--ro-bind / / shows all of it, your home included); podman shows nothing of the host but its volumes"),
        ]
        if plan.notes.isEmpty { out[0].detail = String(out[0].detail.dropLast(2)) }
        return out
    }

    public static func renderText(_ checks: [Check]) -> String {
        checks.map { c in
            "[\(c.status.rawValue)]".padding(7) + c.name + ": " + c.detail + (c.fix.map { "\n       fix: " + $0 } ?? "")
        }.joined(separator: "\n") + "\n"
    }

    public static func renderJSON(_ checks: [Check]) -> String {
        "[\n"
            + checks.map { c in
                "  {\"name\": \(quote(c.name)), \"status\": \(quote(c.status.rawValue)), \"detail\": \(quote(c.detail)), \"fix\": \(c.fix.map(quote) ?? "null")}"
            }.joined(separator: ",\n") + "\n]\n"
    }

    static func quote(_ s: String) -> String { jsonString(s) }
}
