import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import Glibc

/// `rootless keeper status|stop`: the long-lived holders of mapped user namespaces.
enum KeeperCommand {
    static let usage = "usage: rootless keeper status | stop"

    static let command = CommandSpec<Void>(
        "keeper", synopsis: ["rootless keeper status", "rootless keeper stop"],
        summary: """
            The keeper is rootless's one long-lived process, one per user and ID map: it holds the user namespace runs share \
            (as podman's pause process), a pool of network namespaces and the sandboxes it builds ahead. It serves only runs \
            of its own build and leaves by itself once its binary is replaced and none of its sandboxes runs. status lists \
            the keepers; stop ends them.
            """, options: [])

    static func main(_ args: [String]) -> Int32 {
        if args.first == "--help" || args.first == "-h" {
            OS.writeStdout(command.help)
            return 0
        }
        guard let store = KeeperStore() else {
            OS.writeStderr(
                "rootless: no private runtime directory ($XDG_RUNTIME_DIR/rootless or /tmp/rootless-\(getuid()) is missing, not ours, or open to others); no keeper can run\n"
            )
            return args.first == "stop" ? 0 : 125
        }
        switch args.first {
        case "status":
            let live = store.list()
            if live.isEmpty { OS.writeStdout("no keeper running (\(store.dir))\n") }
            for k in live {
                let uid = OS.readFile(store.proc + "/\(k.pid)/uid_map").map(oneLine) ?? "?"
                OS.writeStdout(
                    "keeper \(k.key) pid \(k.pid) uid_map \(uid) warm \(k.ready) ready \(k.building) building \(k.failed) failed\(k.ours ? "" : " (another build: not used by this one; it leaves when its binary is replaced)")\n"
                )
            }
            return 0
        case "stop":
            let n = store.stopAll()
            OS.writeStdout("stopped \(n) keeper\(n == 1 ? "" : "s")\n")
            return 0
        default:
            OS.writeStderr("rootless: \(usage)\n")
            return 125
        }
    }

    static func oneLine(_ s: String) -> String {
        s.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }.joined(separator: ", ")
    }
}
