import RootlessOS
import RootlessCore
import FastStart
import Glibc
import IDMap
import ImageFormat

/// `rootless run IMAGE`: the stored image becomes the spec's root, command, environment,
/// working directory and user (Entrypoint + Cmd, Env, WorkingDir, User, as docker), and
/// the writable root is made per --storage-driver. Effects: reads the store, makes the
/// scratch or copy directory; `finish` removes it after the run.
public enum ImageRun {
    /// `expand`: registries.conf's short-name aliases (a pulled alias is stored under its
    /// target's name): the name as typed is looked up first, then its expansion.
    public static func resolve(_ s: inout RunSpec, expand: (String) throws -> String = { $0 }, warn: (String) -> Void) throws {
        guard let asked = s.image else { return }
        guard let root = s.storeRoot ?? Store.defaultRoot() else {
            throw RootlessError("no image store: neither XDG_DATA_HOME nor HOME is set", fix: "pass --root DIR")
        }
        let store = try Store(root: root, create: false)
        let name = asked
        let image = try store.named(asked) ?? store.named(expand(asked)) ?? store.resolve(asked)
        let config = try store.config(image)
        let layers = config.diffIDs.reversed().map(store.layerPath)
        for (l, d) in zip(layers, config.diffIDs.reversed()) where OS.lookup(l) != true {
            throw RootlessError("layer \(d) of image \(name) is missing from the store", fix: "import or pull the image again")
        }
        // docker semantics: the command replaces Cmd; Entrypoint stays in front, unless
        // --entrypoint replaces it (and then the image's Cmd is not used either).
        if let e = s.entrypoint {
            s.command = e + s.command
        } else if s.command.isEmpty {
            s.command = config.entrypoint + config.cmd
        } else {
            s.command = config.entrypoint + s.command
        }
        guard !s.command.isEmpty else { throw RootlessError("image \(name) has no Entrypoint or Cmd", fix: "give a command: rootless run \(name) -- CMD") }
        if s.workdir == nil && !config.workingDir.isEmpty { s.workdir = config.workingDir }
        if s.user == nil && !config.user.isEmpty { s.user = try user(config.user, layers: layers, image: name) }
        let unique = "\(getpid())-\(OS.startTime(pid: getpid()) ?? 0)"
        let dir = store.root + "/containers/" + unique
        guard mkdir(dir, 0o700) == 0 else { throw RootlessError("cannot create \(dir)", errno: errno) }
        let mount: ImageRoot.Mount
        let driver = s.storageDriver == .auto ? DriverChoice.auto(store, warn: warn) : s.storageDriver
        switch driver {
        case .overlay, .auto:
            // The tmpfs upper is mounted on `dir` inside the sandbox's mount namespace only:
            // the host sees an empty directory, removed after the run.
            mount = .overlay(layers: layers, scratch: dir)
        case .fuseOverlayfs:
            guard let bin = DriverChoice.fuseBinary() else {
                rmdir(dir)
                throw RootlessError(
                    "--storage-driver fuse-overlayfs: no fuse-overlayfs binary in /usr/bin, /usr/local/bin or /bin",
                    fix: "install it (apt install fuse-overlayfs) or use --storage-driver overlay or copy")
            }
            // The same tmpfs upper; fuse-overlayfs mounts on dir/merged, also in the
            // sandbox's mount namespace only.
            mount = .overlay(layers: layers, scratch: dir, fuse: bin)
        case .copy:
            let code = try Unpacker.inNamespace(["/proc/self/exe", "__compose", dir] + layers.reversed(), map: s.map)
            guard code == 0 else {
                finish(ImageRoot(mount: .copy(dir: dir), name: name, env: []), map: s.map)
                throw RootlessError("copying the layers of \(name) into \(dir) failed (exit \(code))")
            }
            mount = .copy(dir: dir)
        }
        s.imageRoot = ImageRoot(mount: mount, name: name, env: config.env)
    }

    /// After the run: the scratch dir (empty on the host) or the copy (in the store's
    /// namespace: the payload may have made files of any mapped id).
    public static func finish(_ r: ImageRoot, map: MapMode) {
        switch r.mount {
        case let .overlay(_, scratch, _): rmdir(scratch)
        case let .copy(dir): _ = try? Unpacker.removeInNamespace(dir, map: map)
        }
    }

    /// "uid[:gid]" or "name[:group]" looked up in the image's /etc/passwd and /etc/group
    /// (the topmost layer that has the file).
    static func user(_ u: String, layers: [String], image: String) throws -> (uid: UInt32, gid: UInt32?) {
        let parts = u.split(separator: ":", maxSplits: 1).map(String.init)
        func file(_ path: String) -> String? { layers.lazy.compactMap { OS.readFile($0 + path, limit: 1 << 20) }.first }
        func lookup(_ v: String, _ path: String, idField: Int) throws -> (UInt32, UInt32?) {
            if let n = UInt32(v) { return (n, nil) }
            for line in (file(path) ?? "").split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count > 3, f[0] == v, let id = UInt32(f[idField]) { return (id, path == "/etc/passwd" ? UInt32(f[3]) : nil) }
            }
            throw RootlessError("image \(image) runs as \(u), but \(v) is not in its \(path)", fix: "pass --user UID[:GID]")
        }
        let (uid, primary) = try lookup(parts[0], "/etc/passwd", idField: 2)
        let gid = parts.count > 1 ? try lookup(parts[1], "/etc/group", idField: 2).0 : primary
        return (uid, gid)
    }
}
