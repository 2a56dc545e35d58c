import RootlessOS
// The D-Bus wire format, only as much as asking systemd for a scope needs: method calls
// with string / object-path / bool / u32-array arguments out, replies, errors and
// signals in. Pure: bytes in, bytes out (no Glibc, no Foundation), fuzzed in the tests.
// Alignment is from the start of the header or the body; both start 8-aligned.

public enum DBusValue: Equatable, Sendable {
    case string(String), objectPath(String), signature(String), bool(Bool), uint32(UInt32), uint32Array([UInt32])

    var signature: String {
        switch self {
        case .string: return "s"
        case .objectPath: return "o"
        case .signature: return "g"
        case .bool: return "b"
        case .uint32: return "u"
        case .uint32Array: return "au"
        }
    }
}

public struct DBusError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

struct DBusWriter {
    var bytes: [UInt8] = []

    mutating func pad(_ n: Int) { while bytes.count % n != 0 { bytes.append(0) } }
    mutating func byte(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) {
        pad(4)
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }
    mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes += s.utf8
        bytes.append(0)
    }
    mutating func signature(_ s: String) {
        byte(UInt8(s.utf8.count))
        bytes += s.utf8
        bytes.append(0)
    }
    /// An array: its byte length (without the padding to the first element) first.
    mutating func array(align: Int, _ elements: (inout DBusWriter) -> Void) {
        u32(0)
        let lengthAt = bytes.count - 4
        pad(align)
        let start = bytes.count
        elements(&self)
        let n = UInt32(bytes.count - start)
        for i in 0..<4 { bytes[lengthAt + i] = UInt8(truncatingIfNeeded: n >> (8 * UInt32(i))) }
    }
    mutating func value(_ v: DBusValue) {
        switch v {
        case .string(let s), .objectPath(let s): string(s)
        case .signature(let s): signature(s)
        case .bool(let b): u32(b ? 1 : 0)
        case .uint32(let n): u32(n)
        case .uint32Array(let a): array(align: 4) { w in a.forEach { w.u32($0) } }
        }
    }
    mutating func variant(_ v: DBusValue) {
        signature(v.signature)
        value(v)
    }
}

struct DBusReader {
    let bytes: ArraySlice<UInt8>
    var offset = 0
    let little: Bool

    init(_ b: ArraySlice<UInt8>, little: Bool) {
        bytes = b
        self.little = little
    }

    mutating func align(_ n: Int) throws {
        let to = (offset + n - 1) / n * n
        guard to <= bytes.count else { throw DBusError("truncated message (padding at \(offset))") }
        offset = to
    }
    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw DBusError("truncated message (byte at \(offset))") }
        defer { offset += 1 }
        return bytes[bytes.startIndex + offset]
    }
    mutating func u32() throws -> UInt32 {
        try align(4)
        guard offset + 4 <= bytes.count else { throw DBusError("truncated message (u32 at \(offset))") }
        var v: UInt32 = 0
        for i in 0..<4 {
            let b = UInt32(bytes[bytes.startIndex + offset + (little ? i : 3 - i)])
            v |= b << (8 * UInt32(i))
        }
        offset += 4
        return v
    }
    mutating func text(count: Int) throws -> String {
        guard count >= 0, offset + count + 1 <= bytes.count else { throw DBusError("truncated message (string of \(count) bytes at \(offset))") }
        let s = String(decoding: bytes[(bytes.startIndex + offset)..<(bytes.startIndex + offset + count)], as: UTF8.self)
        offset += count + 1
        return s
    }
    mutating func string() throws -> String { try text(count: Int(try u32())) }
    mutating func signature() throws -> String { try text(count: Int(try byte())) }

    /// Skips one value of a basic type (header fields of kinds we do not use).
    mutating func skip(_ sig: String) throws {
        switch sig {
        case "y": _ = try byte()
        case "b", "u", "i": _ = try u32()
        case "n", "q":
            try align(2)
            offset += 2
        case "x", "t", "d":
            try align(8)
            offset += 8
        case "s", "o": _ = try string()
        case "g": _ = try signature()
        default: throw DBusError("unsupported header field type \(sig)")
        }
        guard offset <= bytes.count else { throw DBusError("truncated message") }
    }
}

public struct DBusMessage: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case call = 1, reply = 2, error = 3, signal = 4 }
    public var kind: Kind
    public var serial: UInt32
    public var path: String?
    public var interface: String?
    public var member: String?
    public var errorName: String?
    public var replySerial: UInt32?
    public var destination: String?
    public var sender: String?
    public var signature: String
    public var body: [UInt8]
    /// The byte order of `body` (messages from the bus keep their sender's order).
    public var littleEndian = true

    public init(call member: String, path: String, interface: String, destination: String, serial: UInt32, args: [DBusValue] = []) {
        kind = .call
        self.serial = serial
        self.path = path
        self.interface = interface
        self.member = member
        self.destination = destination
        signature = args.map(\.signature).joined()
        var w = DBusWriter()
        args.forEach { w.value($0) }
        body = w.bytes
    }

    init(kind: Kind, serial: UInt32, signature: String, body: [UInt8]) {
        self.kind = kind
        self.serial = serial
        self.signature = signature
        self.body = body
    }

    /// The header (fixed part, then the a(yv) fields, padded to 8) and the body.
    public func encode() -> [UInt8] {
        var w = DBusWriter()
        w.byte(UInt8(ascii: "l"))
        w.byte(kind.rawValue)
        w.byte(0)
        w.byte(1)
        w.u32(UInt32(body.count))
        w.u32(serial)
        w.array(align: 8) { w in
            func field(_ code: UInt8, _ v: DBusValue?) {
                guard let v else { return }
                w.pad(8)
                w.byte(code)
                w.signature(v.signature)
                w.value(v)
            }
            field(1, path.map(DBusValue.objectPath))
            field(2, interface.map(DBusValue.string))
            field(3, member.map(DBusValue.string))
            field(4, errorName.map(DBusValue.string))
            field(5, replySerial.map(DBusValue.uint32))
            field(6, destination.map(DBusValue.string))
            field(7, sender.map(DBusValue.string))
            if !signature.isEmpty { field(8, .signature(signature)) }
        }
        w.pad(8)
        return w.bytes + body
    }

    /// How many bytes the message starting `head` (its first 16 bytes) takes, or an
    /// error for a bad or oversized one.
    public static func length(head: ArraySlice<UInt8>, max: Int = 1 << 20) throws -> Int {
        guard head.count >= 16 else { throw DBusError("short message header") }
        let e = head[head.startIndex]
        guard e == UInt8(ascii: "l") || e == UInt8(ascii: "B") else { throw DBusError("bad byte-order mark \(e)") }
        var r = DBusReader(head, little: e == UInt8(ascii: "l"))
        r.offset = 4
        let body = Int(try r.u32())
        r.offset = 12
        let fields = Int(try r.u32())
        guard body <= max, fields <= max else { throw DBusError("message of \(body + fields) bytes is over the \(max)-byte limit") }
        return (16 + fields + 7) / 8 * 8 + body
    }

    /// Parses one whole message (as sized by `length(head:)`).
    public init(decoding bytes: ArraySlice<UInt8>) throws {
        let total = try DBusMessage.length(head: bytes)
        guard bytes.count >= total else { throw DBusError("truncated message: \(bytes.count) of \(total) bytes") }
        let little = bytes[bytes.startIndex] == UInt8(ascii: "l")
        var r = DBusReader(bytes.prefix(total), little: little)
        r.offset = 1
        guard let kind = Kind(rawValue: try r.byte()) else { throw DBusError("unknown message type") }
        _ = try r.byte()
        guard try r.byte() == 1 else { throw DBusError("unsupported protocol version") }
        let bodyLength = Int(try r.u32())
        let serial = try r.u32()
        let fieldsLength = Int(try r.u32())
        let fieldsEnd = r.offset + fieldsLength
        self.init(kind: kind, serial: serial, signature: "", body: [])
        littleEndian = little
        while r.offset < fieldsEnd {
            try r.align(8)
            let code = try r.byte()
            let sig = try r.signature()
            switch (code, sig) {
            case (1, "o"): path = try r.string()
            case (2, "s"): interface = try r.string()
            case (3, "s"): member = try r.string()
            case (4, "s"): errorName = try r.string()
            case (5, "u"): replySerial = try r.u32()
            case (6, "s"): destination = try r.string()
            case (7, "s"): sender = try r.string()
            case (8, "g"): signature = try r.signature()
            default: try r.skip(sig)
            }
        }
        guard r.offset == fieldsEnd else { throw DBusError("header fields overrun their array") }
        try r.align(8)
        guard r.offset + bodyLength == total else { throw DBusError("body length does not match") }
        body = Array(bytes[(bytes.startIndex + r.offset)..<(bytes.startIndex + total)])
    }

    /// The body's leading basic values, for signatures made of s, o, g, u, b (what the
    /// replies and signals we read carry); nil when the body does not match.
    public func arguments() -> [DBusValue]? {
        var r = DBusReader(body[...], little: littleEndian)
        var out: [DBusValue] = []
        for c in signature {
            switch c {
            case "s": guard let s = try? r.string() else { return nil }; out.append(.string(s))
            case "o": guard let s = try? r.string() else { return nil }; out.append(.objectPath(s))
            case "g": guard let s = try? r.signature() else { return nil }; out.append(.signature(s))
            case "u": guard let n = try? r.u32() else { return nil }; out.append(.uint32(n))
            case "b": guard let n = try? r.u32() else { return nil }; out.append(.bool(n != 0))
            default: return out
            }
        }
        return out
    }
}

/// `StartTransientUnit(s name, s mode, a(sv) properties, a(sa(sv)) aux)` for a scope
/// holding `pids`, delegated, gone as soon as it is empty (or failed).
public func startTransientScope(name: String, pids: [UInt32], description: String, serial: UInt32) -> DBusMessage {
    var m = DBusMessage(
        call: "StartTransientUnit", path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
        destination: "org.freedesktop.systemd1", serial: serial, args: [.string(name), .string("fail")])
    let properties: [(String, DBusValue)] = [
        ("Description", .string(description)),
        ("Delegate", .bool(true)),
        ("PIDs", .uint32Array(pids)),
        ("CollectMode", .string("inactive-or-failed")),
    ]
    var w = DBusWriter()
    w.bytes = m.body
    w.array(align: 8) { w in
        for (k, v) in properties {
            w.pad(8)
            w.string(k)
            w.variant(v)
        }
    }
    w.array(align: 8) { _ in }
    m.body = w.bytes
    m.signature = "ssa(sv)a(sa(sv))"
    return m
}

/// The first unix socket of a D-Bus address list (`unix:path=/run/user/1000/bus,guid=..;
/// ...`): a path, or "@name" for an abstract one. Values are %-escaped per the spec.
public func dbusUnixSocket(address: String) -> String? {
    for entry in address.split(separator: ";") {
        guard entry.hasPrefix("unix:") else { continue }
        for kv in entry.dropFirst(5).split(separator: ",") {
            let parts = kv.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let v = unescapeDBus(parts[1]), !v.isEmpty else { continue }
            if parts[0] == "path" { return v }
            if parts[0] == "abstract" { return "@" + v }
        }
    }
    return nil
}

func unescapeDBus(_ s: Substring) -> String? {
    var out: [UInt8] = []
    var it = Array(s.utf8)[...]
    while let c = it.popFirst() {
        if c != UInt8(ascii: "%") { out.append(c); continue }
        guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
        out.append(v)
        it = it.dropFirst(2)
    }
    return String(decoding: out, as: UTF8.self)
}
