import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import RegistryWire
import CRootless
import Glibc
import IDMap

/// Subcommand dispatch (the executable only calls CLI.main).
public enum CLI {
    public static let version = "0.1.0"
    public static var usage: String {
        "rootless \(version): an unprivileged sandbox — fake root inside, nothing gained outside.\nusage:\n"
            + Commands.all.flatMap { c in c.synopsis.map { "  " + $0 } }.joined(separator: "\n")
            + "\n  rootless help CMD                 a command's options (also rootless CMD --help)\n"
    }

    /// The whole argv, argv[0] included: the keeper is exec'd under its own name.
    public static func entry(_ argv: [String]) -> Int32 {
        if argv.first == Keeper.processName { rl_keeper_loop() }
        return main(Array(argv.dropFirst()))
    }

    public static func main(_ args: [String]) -> Int32 {
        guard let cmd = args.first else {
            OS.writeStderr(usage)
            return 125
        }
        let rest = Array(args.dropFirst())
        switch cmd {
        case "run":
            if rest.first == "--help" || rest.first == "-h" {
                OS.writeStdout(RunArguments.usage)
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
            if rest.first == "--help" || rest.first == "-h" { return ImageCommand.main(cmd, rest) }
            let removed = CgroupTree.gc()
            for r in removed { OS.writeStdout("removed cgroup \(r)\n") }
            OS.writeStdout("gc: \(removed.count) cgroup\(removed.count == 1 ? "" : "s") of crashed runs removed\n")
            return ImageCommand.main("gc", rest)
        case "pull", "import", "images", "inspect", "rmi", "unshare", "__unpack", "__rmtree", "__compose":
            return ImageCommand.main(cmd, rest)
        case "version", "--version":
            OS.writeStdout(versionText)
            return 0
        case "help", "--help", "-h":
            guard let name = rest.first else {
                OS.writeStdout(usage)
                return 0
            }
            guard let c = Commands.info(name) else { return report(unknownCommand(name)) }
            OS.writeStdout(c.help)
            return 0
        case "completion":
            guard rest.count == 1, let script = Completion.script(rest[0]) else {
                return report(
                    RootlessError(
                        "completion takes one shell: bash, zsh or fish",
                        fix: "e.g. rootless completion bash > ~/.local/share/bash-completion/completions/rootless"))
            }
            OS.writeStdout(script)
            return 0
        case "__man":
            // scripts/build: the man pages, one per command, into a directory.
            guard rest.count == 1 else { return 125 }
            let top = CommandSpec<Void>(
                "", synopsis: Commands.all.flatMap(\.synopsis), summary: "an unprivileged sandbox: fake root inside, nothing gained outside", options: [],
                details: "Each command has its own page: " + Commands.all.map { "rootless-\($0.name)(1)" }.joined(separator: ", ") + ".")
            let pages = [("rootless", OptionText.man(top, version: version))] + Commands.all.map { ("rootless-" + $0.name, $0.man(version)) }
            for (name, text) in pages {
                let path = rest[0] + "/" + name + ".1"
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { return report(RootlessError("cannot write \(path)", errno: errno)) }
                OS.writeBytes(fd, Array(text.utf8))
                close(fd)
            }
            return 0
        default:
            return report(unknownCommand(cmd))
        }
    }

    /// `rootless version`: what this binary is.
    static var versionText: String {
        """
        rootless \(version)
        commit: \(String(cString: rl_build_info()))
        libseccomp: \(SeccompCompiler.libraryVersion)
        features: user namespaces (newuidmap/newgidmap), mounts, OCI images (overlay, fuse-overlayfs, copy), registry pull, \
        delegated cgroup v2, seccomp policy files, fake root, Landlock, SlirpNet (--net slirp), pasta and slirp4netns backends

        """
    }

    static func unknownCommand(_ cmd: String) -> RootlessError {
        let names = Commands.all.map(\.name) + ["help"]
        let near = names.map { ($0, OptionText.distance($0, cmd)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        return RootlessError("unknown command \"\(cmd)\"\(near.map { " (did you mean \($0.0)?)" } ?? "")", fix: "see rootless --help")
    }

    static func run(_ args: [String]) -> Int32 {
        do {
            PhaseTimer.mark("start")
            let cwd = OS.knownDirectory()
            // Pure in (args, cwd), which a cached start's entry matched: a run whose
            // constructor holds a sandbox parses as the run that left the entry did.
            var spec = try RunArguments.parse(args, cwd: cwd)
            // A --net slirp sandbox its cached start holds: the engine, and the command.
            if let code = StartCache.runHeld(spec) { return code }
            // In order, then -e's: a later entry wins (podman's order).
            spec.env = try spec.envFiles.flatMap(EnvFile.read) + spec.env
            // The no-userns rung only when the user allowed it and this host forbids user
            // namespaces (a throw-away clone answers; it costs ~1 ms, so only with the flag).
            if spec.allowNoUserns && spec.userns == .auto && rl_probe_userns() != 0 {
                OS.writeStderr("rootless: user namespaces are not allowed here (rootless doctor says why); --allow-no-userns: running with --userns none\n")
                spec.userns = .none
            }
            // That probe is not an observed fact: such a run leaves no cached start.
            if spec.allowNoUserns { StartCache.forgo() }
            // registries.conf is read only for an image run whose name, as typed, is not in
            // the store (its aliases).
            try ImageRun.resolve(&spec, expand: { try AuthLocations.registries().expand($0) }, warn: { OS.writeStderr("rootless: " + $0 + "\n") })
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
