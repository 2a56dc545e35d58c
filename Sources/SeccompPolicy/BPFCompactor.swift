/// Makes libseccomp's program smaller without changing what it returns for any input.
///
/// Why: libseccomp tests an allowed syscall with one `jeq` per number, per arch: the
/// Docker-style default profile is ~1000 instructions on x86_64 (+ the i386 table). The
/// kernel converts and JIT-compiles every instruction when a sandbox loads the filter
/// (~0.5 ms here, every start), and walks the number tree on every syscall it does not
/// cache. But the allowed numbers come in long runs (0x1b3...0x1c0), so a tree over runs
/// decides the same in a third of the size.
///
/// How (in this order):
///   1. The program may compare the arch and the syscall number only with jeq/jgt/jge
///      against constants (else: nil, use the original). So every input whose arch and
///      number lie in the same cell between those constants (each K and K+1) takes the same
///      path until it first loads an argument or the instruction pointer.
///   2. One run per cell (arches, then numbers for each arch whose path reads the number)
///      gives either the value returned, or the pc where the path first loads an argument
///      (an "entry": from there on the path depends on the arguments).
///   3. The new program: a tree over arch cells, then per arch a tree over merged number
///      runs; leaves return or `ja` to an entry. Then every instruction reachable from an
///      entry, copied in order with its jumps re-aimed (distances only shrink). The copy
///      never reads the scratch memory or X (checked), so arriving there by another path
///      changes nothing: the entry's own load sets A.
///   4. Checked against the original on every cell and on argument values made from the
///      program's own constants; any difference, or no gain: nil.
public enum BPFCompactor {
    enum Outcome: Equatable { case ret(UInt32), entry(Int) }

    /// The path of one input up to its first argument load. `readsNr`: the number was loaded.
    /// nil if the path does something step 1 does not allow.
    static func trace(_ p: [BPFInsn], arch: UInt32, nr: UInt32) -> (outcome: Outcome, readsNr: Bool)? {
        var a: UInt32 = 0
        var fromInput = false // A holds the arch or the number
        var readsNr = false
        var pc = 0
        while pc < p.count {
            let x = p[pc]
            var next = pc + 1
            switch x.code {
            case BPFOp.ldAbs:
                if x.k >= 8 { return (.entry(pc), readsNr) }
                guard x.k == 0 || x.k == 4 else { return nil }
                if x.k == 0 { readsNr = true }
                a = x.k == 0 ? nr : arch
                fromInput = true
            case BPFOp.ldImm: a = x.k; fromInput = false
            case BPFOp.ja: next = pc + 1 + Int(x.k)
            case BPFOp.jeq: next = pc + 1 + Int(a == x.k ? x.jt : x.jf)
            case BPFOp.jgt: next = pc + 1 + Int(a > x.k ? x.jt : x.jf)
            case BPFOp.jge: next = pc + 1 + Int(a >= x.k ? x.jt : x.jf)
            case BPFOp.retK: return (.ret(x.k), readsNr)
            case BPFOp.andK, BPFOp.orK, BPFOp.jset:
                guard !fromInput else { return nil }
                if x.code == BPFOp.andK { a &= x.k } else if x.code == BPFOp.orK { a |= x.k } else { next = pc + 1 + Int(a & x.k != 0 ? x.jt : x.jf) }
            default: return nil
            }
            guard next < p.count else { return nil }
            pc = next
        }
        return nil
    }

    /// Cell starts: 0, and every constant K compared with, and K+1.
    static func cellStarts(_ p: [BPFInsn]) -> [UInt32] {
        var s: Set<UInt32> = [0]
        for x in p where x.code == BPFOp.jeq || x.code == BPFOp.jgt || x.code == BPFOp.jge {
            s.insert(x.k)
            if x.k < UInt32.max { s.insert(x.k + 1) }
        }
        return s.sorted()
    }

    /// Adjacent cells with the same outcome become one run: (start, outcome), ascending.
    static func runs(_ cells: [(UInt32, Outcome)]) -> [(UInt32, Outcome)] {
        var out: [(UInt32, Outcome)] = []
        for c in cells where out.last?.1 != c.1 { out.append(c) }
        return out
    }

    /// What the new program is made of before the entries' addresses are known.
    enum Item { case insn(BPFInsn), toEntry(Int) }

    /// A binary tree over runs (A holds the value they split): `jge` at the middle start.
    /// Up to 200 runs whose leaves are one instruction each (a return, a `ja` to an entry)
    /// are one block: the leaves are emitted once per distinct outcome, after the tree, and
    /// the jumps aim at them directly (at most ~200 ahead: within jt/jf's 255).
    static func tree(_ r: ArraySlice<(UInt32, Outcome)>, leaf: (Outcome) -> [Item]) -> [Item] {
        if r.count <= 200, let b = block(r) { return b }
        if r.count == 1 { return leaf(r[r.startIndex].1) }
        let m = r.startIndex + r.count / 2
        let left = tree(r[r.startIndex..<m], leaf: leaf), right = tree(r[m...], leaf: leaf)
        if left.count <= 255 { return [.insn(BPFInsn(BPFOp.jge, UInt8(left.count), 0, r[m].0))] + left + right }
        // Too far for jt: true falls into a `ja` over the left tree, false skips it.
        return [.insn(BPFInsn(BPFOp.jge, 0, 1, r[m].0)), .insn(BPFInsn(BPFOp.ja, 0, 0, UInt32(left.count)))] + left + right
    }

    /// See tree: nodes in pre-order (children after their parent), then the shared leaves.
    static func block(_ r: ArraySlice<(UInt32, Outcome)>) -> [Item]? {
        var pool: [Outcome] = []
        for x in r where !pool.contains(x.1) {
            if case let .entry(pc) = x.1, pc < 0 { return nil } // an arch's whole section
            pool.append(x.1)
        }
        enum Ref { case node(Int), leaf(Int) }
        var nodes: [(v: UInt32, left: Ref, right: Ref)] = []
        let runs = Array(r)
        func build(_ lo: Int, _ hi: Int) -> Ref {
            if hi - lo == 1 { return .leaf(pool.firstIndex(of: runs[lo].1)!) }
            let me = nodes.count
            nodes.append((0, .leaf(0), .leaf(0)))
            let m = (lo + hi) / 2
            let l = build(lo, m), rr = build(m, hi)
            nodes[me] = (runs[m].0, l, rr)
            return .node(me)
        }
        _ = build(0, runs.count)
        func at(_ x: Ref) -> Int { switch x { case let .node(i): return i; case let .leaf(i): return nodes.count + i } }
        var out: [Item] = []
        for (i, n) in nodes.enumerated() {
            out.append(.insn(BPFInsn(BPFOp.jge, UInt8(at(n.right) - i - 1), UInt8(at(n.left) - i - 1), n.v)))
        }
        for o in pool {
            switch o {
            case let .ret(k): out.append(.insn(BPFInsn(BPFOp.retK, 0, 0, k)))
            case let .entry(pc): out.append(.toEntry(pc))
            }
        }
        return out
    }

    /// The smaller equivalent of libseccomp's program `bytes`, or nil (keep the original).
    public static func compact(_ bytes: [UInt8]) -> [UInt8]? {
        guard let p = BPF.decode(bytes) else { return nil }
        // Nothing reads X or the scratch memory, and nothing returns A: see step 3.
        let allowed: Set<UInt16> = [BPFOp.ldAbs, BPFOp.ldImm, BPFOp.ja, BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset, BPFOp.andK, BPFOp.orK, BPFOp.retK]
        guard p.allSatisfy({ allowed.contains($0.code) }) else { return nil }
        let starts = cellStarts(p)

        // 2. Arch cells; an arch whose path reads the number gets its own number runs.
        var archCells: [(UInt32, Outcome)] = []
        var sections: [UInt32: [(UInt32, Outcome)]] = [:]
        for a in starts {
            guard let t = trace(p, arch: a, nr: 0) else { return nil }
            if !t.readsNr { archCells.append((a, t.outcome)); continue }
            var cells: [(UInt32, Outcome)] = []
            for n in starts {
                guard let u = trace(p, arch: a, nr: n) else { return nil }
                cells.append((n, u.outcome))
            }
            sections[a] = runs(cells)
            archCells.append((a, .entry(-1 - archCells.count))) // unique: never merged
        }

        // 3. The trees, then the code reachable from the entries.
        let archRuns = runs(archCells)
        let head: [Item] = [.insn(BPFInsn(BPFOp.ldAbs, 0, 0, 4))] + tree(archRuns[...]) { o -> [Item] in
            switch o {
            case let .ret(k): return [.insn(BPFInsn(BPFOp.retK, 0, 0, k))]
            case let .entry(pc) where pc >= 0: return [.toEntry(pc)]
            case .entry:
                let a = archRuns.first { $0.1 == o }!.0
                return [.insn(BPFInsn(BPFOp.ldAbs, 0, 0, 0))] + tree(sections[a]![...]) { n -> [Item] in
                    if case let .ret(k) = n { return [.insn(BPFInsn(BPFOp.retK, 0, 0, k))] }
                    if case let .entry(pc) = n { return [.toEntry(pc)] }
                    return []
                }
            }
        }
        var entries: [Int] = []
        for r in sections.values { for c in r { if case let .entry(pc) = c.1 { entries.append(pc) } } }
        for c in archRuns { if case let .entry(pc) = c.1, pc >= 0 { entries.append(pc) } }
        var reach = [Bool](repeating: false, count: p.count)
        var stack = entries
        while let pc = stack.popLast() {
            guard pc >= 0, pc < p.count else { return nil }
            if reach[pc] { continue }
            reach[pc] = true
            let x = p[pc]
            switch x.code {
            case BPFOp.retK: break
            case BPFOp.ja: stack.append(pc + 1 + Int(x.k))
            case BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset: stack.append(pc + 1 + Int(x.jt)); stack.append(pc + 1 + Int(x.jf))
            default: stack.append(pc + 1)
            }
        }
        var newIndex = [Int](repeating: -1, count: p.count)
        var n = head.count
        for pc in 0..<p.count where reach[pc] { newIndex[pc] = n; n += 1 }
        guard n <= 4096, n < p.count else { return nil }

        var out: [BPFInsn] = []
        out.reserveCapacity(n)
        for item in head {
            switch item {
            case let .insn(x): out.append(x)
            case let .toEntry(pc): out.append(BPFInsn(BPFOp.ja, 0, 0, UInt32(newIndex[pc] - out.count - 1)))
            }
        }
        for pc in 0..<p.count where reach[pc] {
            var x = p[pc]
            let here = out.count
            switch x.code {
            case BPFOp.ja: x.k = UInt32(newIndex[pc + 1 + Int(x.k)] - here - 1)
            case BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset:
                x.jt = UInt8(newIndex[pc + 1 + Int(x.jt)] - here - 1)
                x.jf = UInt8(newIndex[pc + 1 + Int(x.jf)] - here - 1)
            default: break
            }
            out.append(x)
        }

        // 4. Argument values from the constants the copied code compares with.
        var values: Set<UInt32> = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]
        for pc in 0..<p.count where reach[pc] && p[pc].code != BPFOp.retK && p[pc].code != BPFOp.ja && p[pc].code != BPFOp.ldAbs {
            let k = p[pc].k
            values.formUnion([k, k &+ 1, k &- 1, ~k])
        }
        guard equivalent(p, out, starts: starts, sections: sections, values: values) else { return nil }
        return BPF.encode(out)
    }

    /// Both programs return the same on every arch and number cell (arguments zero), and on
    /// argument values made of the programs' constants for every arch and number whose path
    /// reads arguments, one argument word at a time.
    static func equivalent(_ a: [BPFInsn], _ b: [BPFInsn], starts: [UInt32], sections: [UInt32: [(UInt32, Outcome)]], values: Set<UInt32>) -> Bool {
        func same(_ i: SeccompInput) -> Bool {
            guard let x = BPF.run(a, i), let y = BPF.run(b, i) else { return false }
            return x.ret == y.ret
        }
        for arch in starts {
            let nrs = sections[arch].map { _ in starts } ?? [0]
            for nr in nrs {
                guard same(SeccompInput(nr: nr, arch: arch)) else { return false }
                guard case .entry? = trace(a, arch: arch, nr: nr)?.outcome else { continue }
                for word in 0..<12 {
                    for v in values {
                        var args: [UInt64] = [0, 0, 0, 0, 0, 0]
                        args[word / 2] = word % 2 == 0 ? UInt64(v) : UInt64(v) << 32
                        guard same(SeccompInput(nr: nr, arch: arch, args: args)) else { return false }
                    }
                }
                guard same(SeccompInput(nr: nr, arch: arch, ip: 0xffff_ffff_ffff_ffff)) else { return false }
            }
        }
        return true
    }
}
