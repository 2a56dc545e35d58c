/// Classic BPF as seccomp takes it: decoding, encoding and an interpreter (pure: bytes in,
/// values out). The interpreter is what the compactor and the tests use to compare two
/// programs on the same input; it knows only the opcodes seccomp accepts.
public struct BPFInsn: Equatable, Sendable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32
    public init(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }
}

/// The opcodes (BPF_CLASS | size/mode | op | src) seccomp programs use.
public enum BPFOp {
    public static let ldAbs: UInt16 = 0x20  // A = data[k] (32-bit word)
    public static let ldImm: UInt16 = 0x00  // A = k
    public static let ja: UInt16 = 0x05  // pc += k
    public static let jeq: UInt16 = 0x15  // jump if A == k
    public static let jgt: UInt16 = 0x25  // jump if A > k
    public static let jge: UInt16 = 0x35  // jump if A >= k
    public static let jset: UInt16 = 0x45  // jump if A & k
    public static let andK: UInt16 = 0x54  // A &= k
    public static let orK: UInt16 = 0x44  // A |= k
    public static let retK: UInt16 = 0x06  // return k
    public static let retA: UInt16 = 0x16  // return A
}

/// struct seccomp_data, as the filter sees it: nr at 0, arch at 4, the instruction pointer
/// at 8, six 64-bit arguments from 16 (little-endian words: low half first).
public struct SeccompInput: Equatable, Sendable {
    public var nr: UInt32
    public var arch: UInt32
    public var ip: UInt64 = 0
    public var args: [UInt64] = [0, 0, 0, 0, 0, 0]
    public init(nr: UInt32, arch: UInt32, ip: UInt64 = 0, args: [UInt64] = [0, 0, 0, 0, 0, 0]) {
        self.nr = nr
        self.arch = arch
        self.ip = ip
        self.args = args
    }

    /// The 32-bit word at byte offset k (4-aligned, below 64), as seccomp loads it.
    public func word(_ k: UInt32) -> UInt32? {
        guard k % 4 == 0, k < 64 else { return nil }
        switch k {
        case 0: return nr
        case 4: return arch
        case 8: return UInt32(truncatingIfNeeded: ip)
        case 12: return UInt32(truncatingIfNeeded: ip >> 32)
        default:
            let i = Int((k - 16) / 8)
            let v = i < args.count ? args[i] : 0
            return (k - 16) % 8 == 0 ? UInt32(truncatingIfNeeded: v) : UInt32(truncatingIfNeeded: v >> 32)
        }
    }
}

public enum BPF {
    /// Host-order (little-endian: x86_64, aarch64) sock_filter records. nil unless the
    /// length is a whole number of instructions, 1...4096 of them (the kernel's limit).
    public static func decode(_ b: [UInt8]) -> [BPFInsn]? {
        guard !b.isEmpty, b.count % 8 == 0, b.count / 8 <= 4096 else { return nil }
        var out: [BPFInsn] = []
        out.reserveCapacity(b.count / 8)
        var i = 0
        while i < b.count {
            let code = UInt16(b[i]) | UInt16(b[i + 1]) << 8
            let k = UInt32(b[i + 4]) | UInt32(b[i + 5]) << 8 | UInt32(b[i + 6]) << 16 | UInt32(b[i + 7]) << 24
            out.append(BPFInsn(code, b[i + 2], b[i + 3], k))
            i += 8
        }
        return out
    }

    public static func encode(_ p: [BPFInsn]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(p.count * 8)
        for x in p {
            out.append(UInt8(x.code & 0xff)); out.append(UInt8(x.code >> 8)); out.append(x.jt); out.append(x.jf)
            out.append(UInt8(x.k & 0xff)); out.append(UInt8(x.k >> 8 & 0xff)); out.append(UInt8(x.k >> 16 & 0xff)); out.append(UInt8(x.k >> 24))
        }
        return out
    }

    /// One run of program p on input: the value it returns, and the pc of the first load
    /// of anything past arch (the instruction pointer or an argument), or nil if none was
    /// loaded. nil for a program that leaves its end, jumps past it, or uses an opcode
    /// outside the set seccomp programs from libseccomp use (BPFOp).
    public static func run(_ p: [BPFInsn], _ input: SeccompInput) -> (ret: UInt32, firstArgLoad: Int?)? {
        var a: UInt32 = 0
        var pc = 0
        var firstArg: Int?
        while pc < p.count {
            let x = p[pc]
            var next = pc + 1
            switch x.code {
            case BPFOp.ldAbs:
                guard let w = input.word(x.k) else { return nil }
                if x.k >= 8 && firstArg == nil { firstArg = pc }
                a = w
            case BPFOp.ldImm: a = x.k
            case BPFOp.andK: a &= x.k
            case BPFOp.orK: a |= x.k
            case BPFOp.ja: next = pc + 1 + Int(x.k)
            case BPFOp.jeq: next = pc + 1 + Int(a == x.k ? x.jt : x.jf)
            case BPFOp.jgt: next = pc + 1 + Int(a > x.k ? x.jt : x.jf)
            case BPFOp.jge: next = pc + 1 + Int(a >= x.k ? x.jt : x.jf)
            case BPFOp.jset: next = pc + 1 + Int(a & x.k != 0 ? x.jt : x.jf)
            case BPFOp.retK: return (x.k, firstArg)
            case BPFOp.retA: return (a, firstArg)
            default: return nil
            }
            guard next < p.count else { return nil }
            pc = next
        }
        return nil
    }
}
