// Which ids the sandbox gets, and how they are written. Pure: every host fact arrives as
// a value (MapInputs), so the whole ladder is unit-tested.
//
// The ladder for --map auto: caller's subuid/subgid ranges via the setuid helpers
// (caller = root inside, ranges from 1 up) -> fallback to --map self (one id, written
// directly, setgroups=deny) with one note saying why and how to fix it.

public enum MapMode: String, Sendable, CaseIterable {
    case auto
    case subids
    case selfOnly = "self"
    case keepID = "keep-id"

    /// Written out: the synthesized one looks the raw values up through runtime metadata,
    /// which a fresh process pays for on every start (perf).
    public init?(rawValue: String) {
        switch rawValue {
        case "auto": self = .auto
        case "subids": self = .subids
        case "self": self = .selfOnly
        case "keep-id": self = .keepID
        default: return nil
        }
    }
}

public struct MapLine: Equatable, Sendable, CustomStringConvertible {
    public var inside: UInt32
    public var outside: UInt32
    public var count: UInt32
    public init(_ inside: UInt32, _ outside: UInt32, _ count: UInt32) {
        self.inside = inside
        self.outside = outside
        self.count = count
    }
    public var description: String { String(inside) + " " + String(outside) + " " + String(count) }
}

public enum MapMethod: String, Equatable, Sendable {
    /// newuidmap/newgidmap write the maps (ranges need privilege).
    case helpers
    /// We write uid_map/gid_map ourselves: only our own id, after setgroups=deny.
    case direct
}

public enum HelperStatus: Equatable, Sendable {
    case usable(path: String)
    case missing(name: String)
    case notPrivileged(path: String)
    case blockedByNoNewPrivs(path: String)
}

public struct MapInputs: Equatable, Sendable {
    public var mode: MapMode
    public var uid: UInt32
    public var gid: UInt32
    public var userName: String?
    public var subuid: SubIDTable?  // nil: file missing
    public var subgid: SubIDTable?
    public var uidHelper: HelperStatus
    public var gidHelper: HelperStatus
    public var subuidPath = "/etc/subuid"
    public var subgidPath = "/etc/subgid"

    public init(
        mode: MapMode, uid: UInt32, gid: UInt32, userName: String?, subuid: SubIDTable?, subgid: SubIDTable?,
        uidHelper: HelperStatus, gidHelper: HelperStatus
    ) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.subuid = subuid
        self.subgid = subgid
        self.uidHelper = uidHelper
        self.gidHelper = gidHelper
    }
}

public struct IDMapPlan: Equatable, Sendable {
    public var method: MapMethod
    public var uidLines: [MapLine]
    public var gidLines: [MapLine]
    /// Identity the payload gets unless --user says otherwise.
    public var defaultUID: UInt32
    public var defaultGID: UInt32
    /// Said once on stderr when auto fell back.
    public var note: String?
    /// newuidmap/newgidmap paths (method == .helpers).
    public var uidHelper: String?
    public var gidHelper: String?

    public func mapsUID(_ id: UInt32) -> Bool { uidLines.contains { id >= $0.inside && UInt64(id) < UInt64($0.inside) + UInt64($0.count) } }
    public func mapsGID(_ id: UInt32) -> Bool { gidLines.contains { id >= $0.inside && UInt64(id) < UInt64($0.inside) + UInt64($0.count) } }

    /// Contents for /proc/PID/uid_map (direct method).
    /// A loop, not map/joined over interpolations: on the start path (the keeper's key)
    /// their first use costs a fresh process runtime metadata and conformance lookups.
    public static func render(_ lines: [MapLine]) -> String {
        var s = ""
        for l in lines { s += l.description + "\n" }
        return s
    }

    /// argv for newuidmap/newgidmap: HELPER PID INSIDE OUTSIDE COUNT ...
    public static func helperArgv(_ helper: String, pid: Int32, _ lines: [MapLine]) -> [String] {
        [helper, String(pid)] + lines.flatMap { [String($0.inside), String($0.outside), String($0.count)] }
    }
}

public enum IDMapError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(file: String, problem: SubIDProblem)
    case noSubIDs(file: String, user: String)
    case helper(HelperStatus)

    public var description: String {
        switch self {
        case let .malformed(file, p):
            return "\(file):\(p.line): malformed entry \"\(p.text)\" (\(p.reason)) — fix or remove that line (it must read USER:START:COUNT)"
        case let .noSubIDs(file, user):
            return "no subordinate ids for user \(user) in \(file) — add some with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(user)"
        case let .helper(s):
            return helperProblem(s)
        }
    }
}

func helperProblem(_ s: HelperStatus) -> String {
    switch s {
    case .usable(let p): return "\(p) is usable"
    case .missing(let n): return "\(n) is not installed — install it with: apt-get install uidmap (Debian/Ubuntu) or dnf install shadow-utils"
    case .notPrivileged(let p): return "\(p) is neither setuid root nor has file capabilities — fix with: chmod u+s \(p) (or setcap cap_setuid+ep \(p))"
    case .blockedByNoNewPrivs(let p):
        return "no_new_privs is set on this process (are we inside another sandbox?), so setuid \(p) cannot help — run rootless outside it, or use --map self"
    }
}

public enum IDMapPlanner {
    public static func plan(_ i: MapInputs) throws -> IDMapPlan {
        switch i.mode {
        case .selfOnly:
            return selfPlan(i, keepID: false, note: nil)
        case .keepID, .auto, .subids:
            do {
                return try rangePlan(i)
            } catch let e as IDMapError {
                // Only auto (and keep-id, which podman also degrades) fall back; malformed
                // files are never papered over.
                if case .malformed = e { throw e }
                if i.mode == .subids { throw e }
                let why: String
                switch e {
                case .noSubIDs, .malformed: why = e.description
                case .helper(let s): why = helperProblem(s)
                }
                return selfPlan(
                    i, keepID: i.mode == .keepID,
                    note: "mapping only your own id (--map self): \(why)")
            }
        }
    }

    static func selfPlan(_ i: MapInputs, keepID: Bool, note: String?) -> IDMapPlan {
        let inUID = keepID ? i.uid : 0
        let inGID = keepID ? i.gid : 0
        return IDMapPlan(
            method: .direct, uidLines: [MapLine(inUID, i.uid, 1)], gidLines: [MapLine(inGID, i.gid, 1)],
            defaultUID: inUID, defaultGID: inGID, note: note)
    }

    static func rangePlan(_ i: MapInputs) throws -> IDMapPlan {
        let user = i.userName ?? String(i.uid)
        guard let subuid = i.subuid else { throw IDMapError.noSubIDs(file: i.subuidPath, user: user) }
        guard let subgid = i.subgid else { throw IDMapError.noSubIDs(file: i.subgidPath, user: user) }
        if let p = subuid.problems.first { throw IDMapError.malformed(file: i.subuidPath, problem: p) }
        if let p = subgid.problems.first { throw IDMapError.malformed(file: i.subgidPath, problem: p) }
        let uidRanges = subuid.ranges(user: i.userName, uid: i.uid)
        let gidRanges = subgid.ranges(user: i.userName, uid: i.uid)
        guard !uidRanges.isEmpty else { throw IDMapError.noSubIDs(file: i.subuidPath, user: user) }
        guard !gidRanges.isEmpty else { throw IDMapError.noSubIDs(file: i.subgidPath, user: user) }
        guard case let .usable(uidHelper) = i.uidHelper else { throw IDMapError.helper(i.uidHelper) }
        guard case let .usable(gidHelper) = i.gidHelper else { throw IDMapError.helper(i.gidHelper) }
        let keep = i.mode == .keepID
        return IDMapPlan(
            method: .helpers,
            uidLines: lines(own: i.uid, insideOwn: keep ? i.uid : 0, ranges: uidRanges),
            gidLines: lines(own: i.gid, insideOwn: keep ? i.gid : 0, ranges: gidRanges),
            defaultUID: keep ? i.uid : 0, defaultGID: keep ? i.gid : 0, note: nil,
            uidHelper: uidHelper, gidHelper: gidHelper)
    }

    /// Own id at `insideOwn`; the subordinate ranges fill inside ids from 0 upwards,
    /// skipping `insideOwn` (keep-id puts the caller at its own uid, like podman).
    static func lines(own: UInt32, insideOwn: UInt32, ranges: [IDRange]) -> [MapLine] {
        var out = [MapLine(insideOwn, own, 1)]
        var inside: UInt64 = 0
        for r in ranges {
            var start = UInt64(r.start)
            var left = UInt64(r.count)
            while left > 0 && inside <= UInt64(UInt32.max) {
                if inside == UInt64(insideOwn) { inside += 1; continue }
                let room = inside < UInt64(insideOwn) ? UInt64(insideOwn) - inside : UInt64(UInt32.max) - inside + 1
                let n = min(left, room)
                out.append(MapLine(UInt32(inside), UInt32(start), UInt32(n)))
                inside += n
                start += n
                left -= n
            }
        }
        return out.sorted { $0.inside < $1.inside }
    }
}
