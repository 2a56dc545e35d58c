import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import CRootless
import Glibc
import IDMap

/// Subcommand dispatch (the executable only calls CLI.main).
public enum CLI {
    public static let version = "0.1.0"
    public static let usage = """
        rootless \(version): an unprivileged sandbox — fake root inside, nothing gained outside.
        usage:
          rootless run [OPTIONS] [--] CMD [ARGS...]   run CMD in a new sandbox (rootless run --help)
          rootless doctor [--format text|json]        what this host allows, and how to fix what it does not
          rootless policy check FILE | show NAME|FILE | list   seccomp policies
          rootless keeper status | stop               the process holding the shared --map auto user namespace
          rootless pull [--platform OS/ARCH] [--creds U:P] [--tls-verify=false] REF   from a registry (OCI distribution)
          rootless import [--name NAME] SOURCE       an OCI layout (dir or tar), docker-archive, or rootfs tar
          rootless images [--format json] | inspect IMAGE | rmi IMAGE...   the image store
          rootless unshare [-- CMD]                   CMD (a shell) as root in the store's user namespace
          rootless gc [--root DIR]                    remove cgroups left by crashed runs, unused layers and leftovers
          rootless version
        """

    /// The whole argv, argv[0] included: the keeper is exec'd under its own name.
    public static func entry(_ argv: [String]) -> Int32 {
        if argv.first == Keeper.processName { rl_keeper_loop() }
        return main(Array(argv.dropFirst()))
    }

    public static func main(_ args: [String]) -> Int32 {
        guard let cmd = args.first else {
            OS.writeStderr(usage + "\n")
            return 125
        }
        let rest = Array(args.dropFirst())
        switch cmd {
        case "run":
            if rest.first == "--help" || rest.first == "-h" {
                OS.writeStdout(RunArguments.usage + "\n")
                return 0
            }
            return run(rest)
        case "doctor":
            return Doctor.main(rest)
        case "policy":
            return PolicyCommand.main(rest)
        case "keeper":
            return KeeperCommand.main(rest)
        case "gc":
            let removed = CgroupTree.gc()
            for r in removed { OS.writeStdout("removed cgroup \(r)\n") }
            OS.writeStdout("gc: \(removed.count) cgroup\(removed.count == 1 ? "" : "s") of crashed runs removed\n")
            return ImageCommand.main("gc", rest)
        case "pull", "import", "images", "inspect", "rmi", "unshare", "__unpack", "__rmtree", "__compose":
            return ImageCommand.main(cmd, rest)
        case "version", "--version":
            OS.writeStdout("rootless \(version)\n")
            return 0
        case "help", "--help", "-h":
            OS.writeStdout(usage + "\n")
            return 0
        default:
            OS.writeStderr("rootless: unknown command \"\(cmd)\" — see rootless --help\n")
            return 125
        }
    }

    static func run(_ args: [String]) -> Int32 {
        do {
            PhaseTimer.mark("start")
            let cwd = OS.knownDirectory()
            var spec = try RunArguments.parse(args, cwd: cwd)
            // The no-userns rung only when the user allowed it and this host forbids user
            // namespaces (a throw-away clone answers; it costs ~1 ms, so only with the flag).
            if spec.allowNoUserns && spec.userns == .auto && rl_probe_userns() != 0 {
                OS.writeStderr("rootless: user namespaces are not allowed here (rootless doctor says why); --allow-no-userns: running with --userns none\n")
                spec.userns = .none
            }
            // That probe is not an observed fact: such a run leaves no cached start.
            if spec.allowNoUserns { StartCache.forgo() }
            try ImageRun.resolve(&spec, warn: { OS.writeStderr("rootless: " + $0 + "\n") })
            defer { if let r = spec.imageRoot { ImageRun.finish(r, map: spec.map) } }
            StateDirs.ensure(storeRoot: spec.storeRoot)
            let facts = SystemFacts.gather(subIDs: spec.map != .selfOnly, cgroups: spec.cgroup != .none, cwd: cwd)
            PhaseTimer.mark("args+facts")
            let plan = try Planner.plan(spec, facts)
            PhaseTimer.mark("plan")
            if spec.dryRun {
                OS.writeStdout(plan.render())
                return 0
            }
            if let r = StartCache.finished { return Launcher().status(r, plan) }
            let recipe = cwd.map { StartCache.Recipe(cwd: $0, clearEnv: spec.clearEnv, sets: spec.env) }
            return Launcher(fast: KeeperStarts(ops: LiveKeeperOps(recipe: recipe))).run(plan)
        } catch {
            return report(error)
        }
    }

    /// The one-line error and the exit status: a RootlessError's own (125 by default).
    static func report(_ error: Error) -> Int32 {
        OS.writeStderr("rootless: \((error as? RootlessError)?.description ?? "\(error)")\n")
        return (error as? RootlessError)?.exitCode ?? 125
    }
}
