import RootlessOS
import RootlessCore
import FastStart
import Glibc
import IDMap
import ImageFormat

extension Store {
    /// What `rootless gc` removes from the store, and how: layers no image names, blobs
    /// no image uses, tmp/ leftovers of killed imports and pulls (only those whose lock is free:
    /// a running import holds its own), scratch dirs of runs that are gone. Trees that
    /// may hold files of subordinate ids are removed in the store's namespace.
    public func collect(map: MapMode) throws -> [String] {
        let gate = try lock("gc")
        defer { close(gate) }
        var removed: [String] = []
        var usedLayers = Set<String>(), usedBlobs = Set<String>()
        for i in images() {
            usedBlobs.insert(i.id.hex)
            usedBlobs.insert(i.manifest.hex)
            if let c = try? config(i) { c.diffIDs.forEach { usedLayers.insert($0.hex) } } else { return [] }  // unreadable: keep everything
        }
        var trees: [String] = []
        for e in OS.listDirectory(root + "/layers") ?? [] where !usedLayers.contains(e.name) { trees.append(root + "/layers/" + e.name) }
        for e in OS.listDirectory(root + "/tmp") ?? [] where e.isDir {
            if e.name.hasPrefix("layer-") {
                if unlocked(String(e.name.dropFirst(6))) { trees.append(root + "/tmp/" + e.name) }
            } else if e.name.hasPrefix("import-"), let pid = Int32(e.name.dropFirst(7)), OS.startTime(pid: pid) == nil {
                if OS.removeTree(root + "/tmp/" + e.name) { removed.append(root + "/tmp/" + e.name) }
            }
        }
        // A killed pull's partial blob (plain bytes, ours): gone when no pull holds its lock.
        for e in OS.listDirectory(root + "/tmp") ?? [] where !e.isDir && e.name.hasPrefix("blob-") && e.name.hasSuffix(".partial") {
            if unlocked(String(e.name.dropLast(8))), unlink(root + "/tmp/" + e.name) == 0 { removed.append(root + "/tmp/" + e.name) }
        }
        for e in OS.listDirectory(root + "/containers") ?? [] {
            guard let pid = e.name.split(separator: "-").first.flatMap({ Int32($0) }),
                let start = e.name.split(separator: "-").last.flatMap({ UInt64($0) }), OS.startTime(pid: pid) != start
            else { continue }
            if rmdir(root + "/containers/" + e.name) == 0 {
                removed.append(root + "/containers/" + e.name)
            } else {
                trees.append(root + "/containers/" + e.name)
            }
        }
        if !trees.isEmpty {
            let code = try Unpacker.inNamespace(["/proc/self/exe", "__rmtree"] + trees, map: map)
            guard code == 0 else { throw RootlessError("removing \(trees.count) unused store trees failed (exit \(code))") }
            removed += trees
        }
        for e in OS.listDirectory(root + "/blobs/sha256") ?? [] where !usedBlobs.contains(e.name) {
            if unlink(root + "/blobs/sha256/" + e.name) == 0 { removed.append(root + "/blobs/sha256/" + e.name) }
        }
        return removed
    }

    /// Whether no import or pull holds tmp/KEY.lock (gc holds its own "gc" lock meanwhile).
    func unlocked(_ key: String) -> Bool {
        let fd = open(root + "/tmp/" + key + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }
}
