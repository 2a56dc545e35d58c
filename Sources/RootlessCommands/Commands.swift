import IDMap
import RootlessOS
import RootlessCore
import Images
import Registry
import ImageFormat
import RegistryWire

/// Every command's table: `rootless help CMD`, `CMD --help`, the man pages and the shell
/// completions come from these (and `run`'s from RunArguments.command), and each command
/// parses its arguments with its own.
public enum Commands {
    /// In the order `rootless --help` lists them.
    public static var all: [CommandInfo] {
        [CommandInfo(RunArguments.command, blank: RunSpec())] + ImageCommand.tables.map { CommandInfo($0, blank: ImageCommand.Options()) } + [
            CommandInfo(Doctor.command, blank: false), CommandInfo(PolicyCommand.command), CommandInfo(KeeperCommand.command),
            CommandInfo(completion), CommandInfo(version),
        ]
    }

    public static func info(_ name: String) -> CommandInfo? { all.first { $0.name == name } }

    static let completion = CommandSpec<Void>(
        "completion", synopsis: ["rootless completion bash|zsh|fish"],
        summary: "Prints a shell completion script (e.g. rootless completion bash > ~/.local/share/bash-completion/completions/rootless).",
        options: [])

    static let version = CommandSpec<Void>(
        "version", synopsis: ["rootless version", "rootless --version"],
        summary: "Prints the version, the commit it was built from, libseccomp's version and the features built in.", options: [])
}

extension ImageCommand {
    typealias O = Opt<Options>
    static let root = O(["--root"], "DIR", "the image store (default: $XDG_DATA_HOME/rootless)") { o, v, c in o.root = try c.host(v) }
    static let map = O(["--map"], "MODE", "auto | self | keep-id: whose user namespace the store's files belong to", choices: ["auto", "self", "keep-id"]) {
        o, v, _ in
        guard let m = MapMode(rawValue: v) else { throw RootlessError("unknown --map \(v)", fix: "use auto, self or keep-id") }
        o.map = m
    }
    static let platform = O(["--platform"], "OS/ARCH[/VARIANT]", "which image of a multi-platform index (default: linux/amd64)") { o, v, _ in
        guard let p = Platform(parsing: v) else { throw RootlessError("bad --platform \(v)", fix: "write it as os/arch[/variant], e.g. linux/arm64") }
        o.platform = p
        o.pull.platform = p
    }
    static let quiet = O(["--quiet", "-q"], nil, "no progress on stderr") { o, _, _ in o.pull.quiet = true }
    static let format = O(["--format"], "table|json", "output format", choices: ["table", "json"]) { o, v, _ in
        guard v == "json" || v == "table" else { throw RootlessError("unknown --format \(v)", fix: "use table or json") }
        o.json = v == "json"
    }

    static let pull = CommandSpec<Options>(
        "pull", synopsis: ["rootless pull [OPTIONS] REF"], summary: "Pulls an image from a registry (OCI distribution) into the store.",
        options: [
            root, map, platform,
            O(["--creds"], "USER:PASSWORD", "registry credentials (default: the auth files, as podman's)") { o, v, _ in
                guard let c = Credentials(pair: v) else { throw RootlessError("--creds wants USER:PASSWORD", fix: "e.g. --creds alice:secret") }
                o.pull.creds = c
            },
            O(["--authfile"], "FILE", "an auth file to read (containers-auth.json)") { o, v, c in o.pull.authFile = try c.host(v) },
            O(["--cert-dir"], "DIR", "certificates for the registry (ca.crt, client cert and key)") { o, v, c in o.pull.tls.certDir = try c.host(v) },
            O(["--tls-verify"], "=true|false", "verify the registry's TLS certificate (default: true)", choices: ["true", "false"]) { o, v, _ in
                guard v.isEmpty || v == "true" || v == "false" else { throw RootlessError("--tls-verify=\(v): true or false", fix: "e.g. --tls-verify=false") }
                o.pull.tls.verify = v != "false"
            },
            O(["--jobs"], "N", "layers downloaded at once (1-16)") { o, v, _ in
                guard let n = Int(v), (1...16).contains(n) else { throw RootlessError("--jobs wants a number from 1 to 16", fix: "e.g. --jobs 4") }
                o.pull.jobs = n
            },
            quiet,
        ])

    static let importCommand = CommandSpec<Options>(
        "import", synopsis: ["rootless import [OPTIONS] SOURCE [NAME]"],
        summary:
            "Imports an OCI layout (directory or tar), a docker-archive or a rootfs tar into the store; named localhost/NAME unless NAME names a registry.",
        options: [root, map, platform, O(["--name", "-n"], "NAME", "the image's name (as the NAME operand)") { o, v, _ in o.name = v }])

    static let images = CommandSpec<Options>(
        "images", synopsis: ["rootless images [--format table|json]"], summary: "Lists the images in the store.", options: [root, map, format])
    static let inspect = CommandSpec<Options>(
        "inspect", synopsis: ["rootless inspect IMAGE"], summary: "Prints an image's id, names, manifest and config as JSON.", options: [root, map])
    static let rmi = CommandSpec<Options>(
        "rmi", synopsis: ["rootless rmi IMAGE..."], summary: "Removes names or images from the store (rootless gc frees their layers).", options: [root, map])
    static let unshare = CommandSpec<Options>(
        "unshare", synopsis: ["rootless unshare [OPTIONS] [--] [CMD [ARGS...]]"],
        summary: "Runs CMD (a shell by default) as root in the store's user namespace, as podman unshare.",
        options: [root, map, O(["--die-with-parent"], nil, "end CMD when rootless' parent dies") { o, _, _ in o.dieWithParent = true }])
    static let gc = CommandSpec<Options>(
        "gc", synopsis: ["rootless gc [--root DIR]"], summary: "Removes cgroups left by crashed runs, unused layers and leftovers.", options: [root, map])

    static let tables = [pull, importCommand, images, inspect, rmi, unshare, gc]
}
