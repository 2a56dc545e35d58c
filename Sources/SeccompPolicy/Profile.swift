// OCI runtime-spec `linux.seccomp` plus the Docker/Podman profile superset
// (archMap, includes/excludes, comment, errno names), decoded strictly: an unknown
// field is an error naming the file, the JSON path and a hint — never ignored.

public enum Action: String, Equatable, Sendable, CaseIterable {
    case allow = "SCMP_ACT_ALLOW", errno = "SCMP_ACT_ERRNO", kill = "SCMP_ACT_KILL"
    case killProcess = "SCMP_ACT_KILL_PROCESS", killThread = "SCMP_ACT_KILL_THREAD", trap = "SCMP_ACT_TRAP"
    case trace = "SCMP_ACT_TRACE", log = "SCMP_ACT_LOG", notify = "SCMP_ACT_NOTIFY"
}

public enum CompareOp: String, Equatable, Sendable, CaseIterable {
    case ne = "SCMP_CMP_NE", lt = "SCMP_CMP_LT", le = "SCMP_CMP_LE", eq = "SCMP_CMP_EQ"
    case ge = "SCMP_CMP_GE", gt = "SCMP_CMP_GT", maskedEq = "SCMP_CMP_MASKED_EQ"
}

public struct ArgMatch: Equatable, Sendable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: CompareOp
}

public struct Condition: Equatable, Sendable {
    public var caps: [String] = []
    public var arches: [String] = []
    public var minKernel: String?
    public var isEmpty: Bool { caps.isEmpty && arches.isEmpty && minKernel == nil }
}

public struct SyscallRule: Equatable, Sendable {
    public var names: [String]
    public var action: Action
    public var errnoRet: UInt32?
    public var args: [ArgMatch]
    public var comment: String?
    public var includes: Condition
    public var excludes: Condition
    /// JSON path of this rule, for messages ("$.syscalls[3]").
    public var path: String
}

public struct Profile: Equatable, Sendable {
    public var defaultAction: Action
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]
    public var archMap: [(arch: String, subArchitectures: [String])]
    public var flags: [String]
    public var listenerPath: String?
    public var syscalls: [SyscallRule]

    public static func == (a: Profile, b: Profile) -> Bool {
        a.defaultAction == b.defaultAction && a.defaultErrnoRet == b.defaultErrnoRet && a.architectures == b.architectures
            && a.archMap.map(\.arch) == b.archMap.map(\.arch) && a.archMap.map(\.subArchitectures) == b.archMap.map(\.subArchitectures)
            && a.flags == b.flags && a.listenerPath == b.listenerPath && a.syscalls == b.syscalls
    }
}

public struct PolicyError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var path: String
    public var message: String
    public var hint: String
    public var description: String { "\(file): \(path): \(message) — \(hint)" }
}

/// errno names the Podman profiles use next to errnoRet (Linux x86_64 values).
public let errnoNames: [String: UInt32] = [
    "EPERM": 1, "ENOENT": 2, "EINTR": 4, "EIO": 5, "EBADF": 9, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13,
    "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "EINVAL": 22, "ENOTTY": 25, "ENOSPC": 28, "EROFS": 30,
    "ERANGE": 34, "ENOSYS": 38, "EOPNOTSUPP": 95,
]

public enum PolicyLoader {
    public static func parse(_ text: String, file: String) throws -> Profile {
        let root: JSONValue
        do { root = try JSONParser.parse(text) } catch let e as JSONError {
            throw PolicyError(file: file, path: "$", message: "not valid JSON at \(e)", hint: "check the syntax (a JSON linter shows the spot)")
        }
        var d = Decoder(file: file)
        return try d.profile(root)
    }

    struct Decoder {
        let file: String

        func err(_ path: String, _ m: String, _ hint: String) -> PolicyError { PolicyError(file: file, path: path, message: m, hint: hint) }

        func object(_ v: JSONValue, _ path: String, allowed: [String]) throws -> [String: JSONValue] {
            guard case let .object(members) = v else { throw err(path, "expected an object", "wrap it in { }") }
            var out: [String: JSONValue] = [:]
            for (k, val) in members {
                guard allowed.contains(k) else {
                    throw err(path + "." + k, "unknown field \"\(k)\"", "allowed here: \(allowed.joined(separator: ", "))")
                }
                out[k] = val
            }
            return out
        }

        func string(_ v: JSONValue?, _ path: String) throws -> String? {
            switch v {
            case nil, .null?: return nil
            case let .string(s)?: return s
            default: throw err(path, "expected a string", "quote it")
            }
        }

        func strings(_ v: JSONValue?, _ path: String) throws -> [String] {
            switch v {
            case nil, .null?: return []
            case let .array(items)?:
                return try items.enumerated().map { i, x in
                    guard let s = try string(x, "\(path)[\(i)]") else { throw err("\(path)[\(i)]", "expected a string", "remove the null") }
                    return s
                }
            default: throw err(path, "expected an array of strings", "e.g. [\"read\", \"write\"]")
            }
        }

        func uint(_ v: JSONValue?, _ path: String, max: UInt64) throws -> UInt64? {
            switch v {
            case nil, .null?: return nil
            case let .number(t)?:
                guard let n = UInt64(t), n <= max else { throw err(path, "\(t) is not an integer in 0...\(max)", "use a plain non-negative integer") }
                return n
            default: throw err(path, "expected a number", "remove the quotes")
            }
        }

        func action(_ v: JSONValue?, _ path: String) throws -> Action {
            guard let s = try string(v, path) else { throw err(path, "missing action", "e.g. \"SCMP_ACT_ALLOW\"") }
            guard let a = Action(rawValue: s) else {
                throw err(path, "unknown action \"\(s)\"", "one of \(Action.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return a
        }

        func errnoValue(_ ret: JSONValue?, _ name: JSONValue?, _ path: String, _ retKey: String, _ nameKey: String) throws -> UInt32? {
            let n = try uint(ret, path + "." + retKey, max: 4095).map(UInt32.init)
            if let s = try string(name, path + "." + nameKey) {
                guard let v = errnoNames[s] else { throw err(path + "." + nameKey, "unknown errno name \"\(s)\"", "use \(retKey) with the number") }
                if let n, n != v { throw err(path + "." + nameKey, "\(s) is \(v) but \(retKey) says \(n)", "make them agree or drop \(nameKey)") }
                return n ?? v
            }
            return n
        }

        func condition(_ v: JSONValue?, _ path: String) throws -> Condition {
            guard let v, v != .null else { return Condition() }
            let o = try object(v, path, allowed: ["caps", "arches", "minKernel"])
            let mk = try string(o["minKernel"], path + ".minKernel")
            if let mk, kernelVersion(mk) == nil { throw err(path + ".minKernel", "\"\(mk)\" is not a kernel version", "e.g. \"5.8\"") }
            return Condition(caps: try strings(o["caps"], path + ".caps"), arches: try strings(o["arches"], path + ".arches"), minKernel: mk)
        }

        mutating func profile(_ v: JSONValue) throws -> Profile {
            let o = try object(
                v, "$",
                allowed: [
                    "defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap", "flags",
                    "listenerPath", "listenerMetadata", "syscalls",
                ])
            var archMap: [(String, [String])] = []
            if case let .array(items)? = o["archMap"] {
                for (i, item) in items.enumerated() {
                    let p = "$.archMap[\(i)]"
                    let m = try object(item, p, allowed: ["architecture", "subArchitectures"])
                    guard let a = try string(m["architecture"], p + ".architecture") else { throw err(p, "missing architecture", "e.g. \"SCMP_ARCH_X86_64\"") }
                    archMap.append((a, try strings(m["subArchitectures"], p + ".subArchitectures")))
                }
            } else if let a = o["archMap"], a != .null {
                throw err("$.archMap", "expected an array", "[{\"architecture\": ..., \"subArchitectures\": [...]}]")
            }
            var rules: [SyscallRule] = []
            if case let .array(items)? = o["syscalls"] {
                for (i, item) in items.enumerated() {
                    let p = "$.syscalls[\(i)]"
                    let r = try object(item, p, allowed: ["names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes"])
                    var names = try strings(r["names"], p + ".names")
                    if let n = try string(r["name"], p + ".name") { names.append(n) }
                    guard !names.isEmpty else { throw err(p, "rule has no syscall names", "add \"names\": [...]") }
                    var args: [ArgMatch] = []
                    if case let .array(av)? = r["args"] {
                        for (j, a) in av.enumerated() {
                            let ap = "\(p).args[\(j)]"
                            let m = try object(a, ap, allowed: ["index", "value", "valueTwo", "op"])
                            guard let idx = try uint(m["index"], ap + ".index", max: 5) else { throw err(ap, "missing index", "0...5") }
                            guard let opName = try string(m["op"], ap + ".op"), let op = CompareOp(rawValue: opName) else {
                                throw err(ap + ".op", "missing or unknown op", "one of \(CompareOp.allCases.map(\.rawValue).joined(separator: ", "))")
                            }
                            args.append(
                                ArgMatch(
                                    index: UInt32(idx), value: try uint(m["value"], ap + ".value", max: .max) ?? 0,
                                    valueTwo: try uint(m["valueTwo"], ap + ".valueTwo", max: .max) ?? 0, op: op))
                        }
                    } else if let a = r["args"], a != .null {
                        throw err(p + ".args", "expected an array", "[{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]")
                    }
                    rules.append(
                        SyscallRule(
                            names: names, action: try action(r["action"], p + ".action"),
                            errnoRet: try errnoValue(r["errnoRet"], r["errno"], p, "errnoRet", "errno"),
                            args: args, comment: try string(r["comment"], p + ".comment"),
                            includes: try condition(r["includes"], p + ".includes"),
                            excludes: try condition(r["excludes"], p + ".excludes"), path: p))
                }
            } else if let s = o["syscalls"], s != .null {
                throw err("$.syscalls", "expected an array", "[{\"names\": [...], \"action\": ...}]")
            }
            let flags = try strings(o["flags"], "$.flags")
            let knownFlags = [
                "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ]
            for (i, f) in flags.enumerated() where !knownFlags.contains(f) {
                throw err("$.flags[\(i)]", "unknown flag \"\(f)\"", "one of \(knownFlags.joined(separator: ", "))")
            }
            return Profile(
                defaultAction: try action(o["defaultAction"], "$.defaultAction"),
                defaultErrnoRet: try errnoValue(o["defaultErrnoRet"], o["defaultErrno"], "$", "defaultErrnoRet", "defaultErrno"),
                architectures: try strings(o["architectures"], "$.architectures"), archMap: archMap, flags: flags,
                listenerPath: try string(o["listenerPath"], "$.listenerPath"), syscalls: rules)
        }
    }
}

/// "5.8" / "6.1.0-rc1" -> (5, 8). nil when not a version.
public func kernelVersion(_ s: String) -> (Int, Int)? {
    let parts = s.split(separator: ".", maxSplits: 2)
    guard parts.count >= 2, let a = Int(parts[0]), let b = Int(parts[1].prefix { $0.isNumber }), a >= 0, b >= 0 else { return nil }
    return (a, b)
}
