import RootlessOS
import RootlessCore
import FastStart
import CRootless
import Glibc

/// `--storage-driver auto`: native overlayfs if it mounts in a user namespace over this
/// store's filesystem, else fuse-overlayfs if it is installed and /dev/fuse is usable,
/// else copied layers. The answer is probed once per store and kernel and kept in
/// STORE/driver ("RELEASE DRIVER"), so a run pays one small read; the probe says what
/// it chose and why.
enum DriverChoice {
    /// The pure decision from what was observed.
    static func choose(overlayError: Int32, fuse: String?, fuseDevice: Bool) -> (StorageDriver, String) {
        if overlayError == 0 { return (.overlay, "native overlayfs mounts in a user namespace here") }
        let why = "native overlayfs failed (\(OS.errorText(overlayError)))"
        if let f = fuse, fuseDevice { return (.fuseOverlayfs, "\(why); \(f) and /dev/fuse are usable") }
        if fuse == nil { return (.copy, "\(why) and fuse-overlayfs is not installed: layers are copied for each run") }
        return (.copy, "\(why) and /dev/fuse is not usable: layers are copied for each run")
    }

    static func fuseBinary() -> String? {
        ["/usr/bin/fuse-overlayfs", "/usr/local/bin/fuse-overlayfs", "/bin/fuse-overlayfs"].first { access($0, X_OK) == 0 }
    }

    static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func auto(_ store: Store, warn: (String) -> Void) -> StorageDriver {
        let release = kernelRelease()
        let cache = store.root + "/driver"
        if let text = OS.readFile(cache, limit: 512) {
            let f = text.trimmingNewline.split(separator: " ").map(String.init)
            if f.count == 2, f[0] == release, let d = StorageDriver(rawValue: f[1]), d != .auto { return d }
        }
        let probe = store.root + "/tmp/probe-\(getpid())"
        mkdir(probe, 0o700)
        mkdir(probe + "/lower", 0o755)
        mkdir(probe + "/scratch", 0o755)
        let err = rl_probe_overlay_at(probe + "/lower", probe + "/scratch")
        _ = OS.removeTree(probe)
        let (d, why) = choose(overlayError: err, fuse: fuseBinary(), fuseDevice: access("/dev/fuse", R_OK | W_OK) == 0)
        warn("storage driver: auto chose \(d.rawValue) for \(store.root): \(why) (once per kernel; --storage-driver picks another)")
        _ = OS.replaceFile(cache, Array("\(release) \(d.rawValue)\n".utf8))
        return d
    }
}
