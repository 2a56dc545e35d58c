import RootlessOS
/// Which cgroup hierarchy this host has, from /proc/self/mountinfo and /proc/self/cgroup
/// text. Pure: the effects (reading files, checking ownership) are the caller's.
public struct CgroupLayout: Equatable, Sendable {
    public enum Kind: String, Sendable { case unified, hybrid, legacy, none }
    public var kind: Kind
    /// cgroup2 mount point (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts).
    public var v2Mount: String?
    /// v1 controllers that are mounted ("memory", "cpu", ...).
    public var v1Controllers: [String]
    /// The caller's cgroup2 path ("0::/user.slice/..."), relative to the v2 root.
    public var ownPath: String?

    public static func detect(mountinfo: String, selfCgroup: String) -> CgroupLayout {
        var v2: String?
        var v1: [String] = []
        for line in mountinfo.split(separator: "\n") {
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 1 else { continue }
            let mountPoint = unescape(left[4])
            if right[0] == "cgroup2" {
                if v2 == nil || mountPoint.count < v2!.count { v2 = mountPoint }
            } else if right[0] == "cgroup", right.count >= 3 {
                for opt in right[2].split(separator: ",") where knownV1.contains(String(opt)) { v1.append(String(opt)) }
            }
        }
        let own = selfCgroup.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        let kind: Kind = v2 != nil ? (v1.isEmpty ? .unified : .hybrid) : (v1.isEmpty ? .none : .legacy)
        return CgroupLayout(kind: kind, v2Mount: v2, v1Controllers: v1.sorted(), ownPath: own)
    }

    static let knownV1: Set<String> = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
        "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
    ]

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var out: [UInt8] = []
        var b = Array(s.utf8)[...]
        while let c = b.first {
            b = b.dropFirst()
            if c == UInt8(ascii: "\\"), b.count >= 3, let v = UInt8(String(decoding: b.prefix(3), as: UTF8.self), radix: 8) {
                out.append(v)
                b = b.dropFirst(3)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
