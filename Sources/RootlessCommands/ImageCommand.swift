import RootlessOS
import Cgroups
import SeccompCompile
import RootlessCore
import FastStart
import Images
import Registry
import Glibc
import IDMap
import ImageFormat
import RegistryWire

/// `rootless pull|import|images|inspect|rmi|unshare` and the hidden helpers the store runs
/// in its user namespace (`__unpack`, `__rmtree`).
public enum ImageCommand {
    struct Options {
        var root: String?
        var map: MapMode = .auto
        var name: String?
        var platform = Platform.linuxAmd64
        var json = false
        var dieWithParent = false
        var pull = Puller.Options()
        var rest: [String] = []
    }

    /// cmd's options, parsed with its table (Commands.swift); the operands in `rest`.
    /// unshare's first plain word starts its command (rootless unshare ls -l).
    static func options(_ cmd: String, _ args: [String]) throws -> Options {
        guard let table = tables.first(where: { $0.name == cmd }) else { throw RootlessError("unknown command \(cmd)", fix: "see rootless --help") }
        var o = Options()
        o.rest = try table.parse(args, into: &o, cwd: OS.knownDirectory(), firstOperandEnds: cmd == "unshare")
        return o
    }

    static func store(_ o: Options) throws -> Store {
        guard let r = o.root ?? Store.defaultRoot() else {
            throw RootlessError("no place for the image store: neither XDG_DATA_HOME nor HOME is set", fix: "pass --root DIR")
        }
        return try Store(root: r)
    }

    static let warn: (String) -> Void = { OS.writeStderr("rootless: " + $0 + "\n") }

    public static func main(_ cmd: String, _ args: [String]) -> Int32 {
        do {
            switch cmd {
            case "__unpack": return Unpacker.child(args)
            case "__compose": return Compose.child(args)
            case "__rmtree":
                for p in args { try Unpacker.removeTree(p) }
                return 0
            default: break
            }
            if let t = tables.first(where: { $0.name == cmd }), args.first == "--help" || args.first == "-h" {
                OS.writeStdout(t.help)
                return 0
            }
            let o = try options(cmd, args)
            if cmd == "gc" {
                guard let r = o.root ?? Store.defaultRoot(), let store = try? Store(root: r, create: false) else { return 0 }
                let removed = try store.collect(map: o.map)
                OS.writeStdout("gc: \(removed.count) unused store entr\(removed.count == 1 ? "y" : "ies") removed\n")
                return 0
            }
            // unshare works on no store (the store's namespace is the keeper's).
            if cmd == "unshare" { return try Unpacker.launch(o.rest.isEmpty ? ["/bin/sh"] : o.rest, map: o.map, dieWithParent: o.dieWithParent) }
            let s = try store(o)
            switch cmd {
            case "pull":
                guard o.rest.count == 1 else {
                    throw RootlessError("pull takes one image reference", fix: "usage: \(pull.synopsis[0]); see rootless pull --help")
                }
                var po = o.pull
                po.tls.certDirs = AuthLocations.certDirs()
                po.registries = try AuthLocations.registries()
                do { po.tls.proxy = try ProxySettings(env: OS.environment()) } catch let e as WireError {
                    throw RootlessError(e.description, step: "args", fix: "set it to http://[USER:PASSWORD@]HOST:PORT, or unset it")
                }
                let id = try Puller(store: s, map: o.map, options: po, warn: warn).pull(o.rest[0])
                OS.writeStdout("\(id)\n")
            case "import":
                // podman's `import SOURCE [NAME]` (or --name).
                guard o.rest.count == 1 || (o.rest.count == 2 && o.name == nil) else {
                    throw RootlessError("import takes a SOURCE and at most one NAME", fix: "usage: \(importCommand.synopsis[0])")
                }
                let id = try Importer(store: s, map: o.map, platform: o.platform, warn: warn).importSource(o.rest[0], name: o.name ?? o.rest.dropFirst().first)
                OS.writeStdout("\(id)\n")
            case "images":
                let all = s.images()
                if o.json {
                    OS.writeStdout(
                        "["
                            + all.map { i in
                                "{\"id\":\(jsonString(i.id.description)),\"names\":[\(i.names.map(jsonString).joined(separator: ","))],\"manifest\":\(jsonString(i.manifest.description)),\"size\":\(size(s, i))}"
                            }.joined(separator: ",") + "]\n")
                } else {
                    OS.writeStdout("NAME".padding(48) + "ID".padding(14) + "SIZE\n")
                    for i in all {
                        for n in i.names.isEmpty ? ["<none>"] : i.names {
                            OS.writeStdout(n.padding(47) + " " + String(i.id.hex.prefix(12)).padding(13) + " " + Text.human(size(s, i)) + "\n")
                        }
                    }
                }
            case "inspect":
                guard o.rest.count == 1 else { throw RootlessError("inspect takes one image", fix: "usage: \(inspect.synopsis[0])") }
                let i = try s.resolve(o.rest[0])
                OS.writeStdout(
                    "{\"id\":\(jsonString(i.id.description)),\"names\":[\(i.names.map(jsonString).joined(separator: ","))],"
                        + "\"manifest\":\(String(decoding: try s.blob(i.manifest), as: UTF8.self)),\"config\":\(String(decoding: try s.blob(i.id), as: UTF8.self))}\n"
                )
            case "rmi":
                guard !o.rest.isEmpty else { throw RootlessError("rmi needs an image", fix: "usage: \(rmi.synopsis[0])") }
                for n in o.rest {
                    let i = try s.resolve(n)
                    // A name drops only that name; an id (or the last name) drops the image.
                    let name = Store.candidates(n).first { i.names.contains($0) }
                    if let nm = name, i.names.count > 1 { _ = s.removeName(nm); OS.writeStdout("untagged \(nm)\n"); continue }
                    for nm in i.names { _ = s.removeName(nm) }
                    s.removeImageRecord(i.id)
                    OS.writeStdout("removed \(i.id) (rootless gc frees its layers)\n")
                }
            default:
                throw RootlessError("unknown command \(cmd)")
            }
            return 0
        } catch {
            return CLI.report(error)
        }
    }

    /// Bytes of the image's layers on disk (apparent size, as `du --apparent-size`).
    static func size(_ s: Store, _ i: Store.Image) -> Int64 {
        guard let c = try? s.config(i) else { return 0 }
        return c.diffIDs.reduce(0) { $0 + treeSize(s.layerPath($1)) }
    }

    static func treeSize(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return Int64(st.st_size) }
        return (OS.listDirectory(path) ?? []).reduce(0) { $0 + treeSize(path + "/" + $1.name) }
    }

}
