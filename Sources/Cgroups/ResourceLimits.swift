import RootlessOS
/// --memory, --memory-swap, --pids-limit, --cpus, --cpu-weight, --io-weight as values, and
/// the cgroup v2 files they become. Pure.
public struct ResourceLimits: Equatable, Sendable {
    public var memory: UInt64?
    /// Docker's meaning: memory + swap together; -1: unlimited swap.
    public var memorySwap: Int64?
    public var pids: Int64?
    public var cpus: Double?
    public var cpuWeight: Int?
    public var ioWeight: Int?
    public init() {}

    public var isEmpty: Bool { self == ResourceLimits() }

    /// The controllers these limits need in the parent's cgroup.subtree_control.
    public var controllers: [String] {
        var c: [String] = []
        if cpus != nil || cpuWeight != nil { c.append("cpu") }
        if ioWeight != nil { c.append("io") }
        if memory != nil || memorySwap != nil { c.append("memory") }
        if pids != nil { c.append("pids") }
        return c
    }

    /// (file, value) in the order they are written. memory.swap.max is swap alone in
    /// cgroup v2: --memory-swap minus --memory. cpu.max is "QUOTA PERIOD" per 100 ms.
    public func files() -> [(String, String)] {
        var f: [(String, String)] = []
        if let m = memory { f.append(("memory.max", String(m))) }
        if let s = memorySwap { f.append(("memory.swap.max", s < 0 ? "max" : String(UInt64(s) - (memory ?? 0)))) }
        if let p = pids { f.append(("pids.max", String(p))) }
        if let c = cpus { f.append(("cpu.max", "\(Int64((c * 100_000).rounded())) 100000")) }
        if let w = cpuWeight { f.append(("cpu.weight", String(w))) }
        if let w = ioWeight { f.append(("io.weight", "default \(w)")) }
        return f
    }

    /// Checks what the flags cannot check alone (--memory-swap against --memory).
    public func validate() throws {
        if let s = memorySwap, s >= 0 {
            guard let m = memory else {
                throw RootlessError("--memory-swap needs --memory", fix: "give --memory too (--memory-swap is memory + swap), or -1 for unlimited swap")
            }
            guard UInt64(s) >= m else {
                throw RootlessError("--memory-swap \(s) is less than --memory \(m)", fix: "--memory-swap counts memory + swap: make it at least --memory")
            }
        }
    }

    /// "512m", "1g", "1.5G", "4096", "64k" -> bytes (binary units, as docker).
    public static func parseSize(_ s: String, flag: String) throws -> UInt64 {
        let units: [Character: Double] = ["b": 1, "k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776]
        var text = s.lowercased()
        if text.hasSuffix("ib") {
            text.removeLast(2)
        } else if text.hasSuffix("b") && text.count > 1 && units[text[text.index(text.endIndex, offsetBy: -2)]] != nil {
            text.removeLast()
        }
        var mult = 1.0
        if let last = text.last, let u = units[last] { mult = u; text.removeLast() }
        guard let v = Double(text), v > 0, v * mult < 1.8e19, (v * mult).rounded(.down) >= 4096 else {
            throw RootlessError("\(flag) \"\(s)\" is not a size of at least 4k", fix: "e.g. \(flag) 512m (k, m, g, t: binary units)")
        }
        return UInt64((v * mult).rounded(.down))
    }
}

/// --ulimit NAME=SOFT[:HARD] (setrlimit in the payload, before exec; works without cgroups).
public struct Ulimit: Equatable, Sendable {
    public var name: String
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64

    /// RLIMIT_* numbers (asm-generic, x86_64 and aarch64 alike).
    static let resources: [String: Int32] = [
        "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7, "memlock": 8,
        "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15,
    ]
    public static let infinity = UInt64.max

    public static func parse(_ v: String) throws -> Ulimit {
        let kv = v.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, let r = resources[kv[0].lowercased()] else {
            throw RootlessError(
                "--ulimit \(v): expected NAME=SOFT[:HARD] with NAME one of \(resources.keys.sorted().joined(separator: ", "))",
                fix: "e.g. --ulimit nofile=1024:4096")
        }
        let parts = kv[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func num(_ s: String) -> UInt64? { s == "unlimited" || s == "-1" ? infinity : UInt64(s) }
        guard parts.count <= 2, let soft = num(parts[0]), let hard = parts.count == 2 ? num(parts[1]) : soft, soft <= hard else {
            throw RootlessError("--ulimit \(v): SOFT and HARD must be numbers (or unlimited) with SOFT <= HARD", fix: "e.g. --ulimit nofile=1024:4096")
        }
        return Ulimit(name: kv[0].lowercased(), resource: r, soft: soft, hard: hard)
    }
}
