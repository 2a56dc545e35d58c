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
    /// Where one program's path goes: a value returned, or the pc of its first argument load.
    enum Step: Equatable { case ret(UInt32), entry(Int) }
    /// Where the new program's path goes for a cell: a value, an arch's number tree
    /// (section), or copy `copy` of the code reachable from `pc` in program `prog`.
    enum Outcome: Equatable { case ret(UInt32), section(Int), entry(copy: Int, pc: Int) }

    /// The path of one input up to its first argument load. `readsNr`: the number was loaded.
    /// nil if the path does something step 1 does not allow.
    static func trace(_ p: [BPFInsn], arch: UInt32, nr: UInt32) -> (step: Step, readsNr: Bool)? {
        var a: UInt32 = 0
        var fromInput = false  // A holds the arch or the number
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
    enum Item { case insn(BPFInsn), toEntry(Int, Int) }

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
        // The distinct outcomes, and for each run its outcome's place among them.
        var pool: [Outcome] = []
        var leafOf: [Int] = []
        for x in r {
            if case .section = x.1 { return nil }  // an arch's whole number tree
            if let i = pool.firstIndex(of: x.1) { leafOf.append(i) } else { leafOf.append(pool.count); pool.append(x.1) }
        }
        enum Ref { case node(Int), leaf(Int) }
        var nodes: [(v: UInt32, left: Ref, right: Ref)] = []
        let runs = Array(r)
        func build(_ lo: Int, _ hi: Int) -> Ref {
            if hi - lo == 1 { return .leaf(leafOf[lo]) }
            let me = nodes.count
            nodes.append((0, .leaf(0), .leaf(0)))
            let m = (lo + hi) / 2
            let l = build(lo, m), rr = build(m, hi)
            nodes[me] = (runs[m].0, l, rr)
            return .node(me)
        }
        _ = build(0, runs.count)
        func at(_ x: Ref) -> Int {
            switch x {
            case let .node(i): return i;
            case let .leaf(i): return nodes.count + i
            }
        }
        var out: [Item] = []
        for (i, n) in nodes.enumerated() {
            out.append(.insn(BPFInsn(BPFOp.jge, UInt8(at(n.right) - i - 1), UInt8(at(n.left) - i - 1), n.v)))
        }
        for o in pool {
            switch o {
            case let .ret(k): out.append(.insn(BPFInsn(BPFOp.retK, 0, 0, k)))
            case let .entry(copy, pc): out.append(.toEntry(copy, pc))
            case .section: return nil
            }
        }
        return out
    }

    /// What the kernel returns for filters stacked in `load` order: each runs, and the most
    /// restrictive action (lowest as a signed 32-bit action) wins; of equals, the one
    /// installed last (the kernel walks from the newest and replaces only on "<").
    public static func stacked(_ rets: [UInt32]) -> UInt32 {
        var best = rets[rets.count - 1]
        for r in rets.dropLast().reversed() where Int32(bitPattern: r & 0xffff_0000) < Int32(bitPattern: best & 0xffff_0000) { best = r }
        return best
    }

    /// The smaller equivalent of libseccomp's program `bytes`, or nil (keep the original).
    public static func compact(_ bytes: [UInt8]) -> [UInt8]? { merge([bytes]) }

    /// One program that returns what `stack` (programs in load order) returns stacked, made
    /// as compact() makes one; nil where it cannot be shown equal (then load them as they
    /// are), or where it gains nothing. Per cell: every program's path is traced; all
    /// returns combine into one value (`stacked`); if one program reads arguments there,
    /// its code from that entry is copied with each return r replaced by the stacked value
    /// of r and the others' returns (one copy per distinct set of those); two that both
    /// read arguments for the same cell: nil.
    public static func merge(_ stack: [[UInt8]]) -> [UInt8]? {
        var progs: [[BPFInsn]] = []
        for b in stack {
            guard let p = BPF.decode(b) else { return nil }
            progs.append(p)
        }
        guard !progs.isEmpty else { return nil }
        // Nothing reads X or the scratch memory, and nothing returns A: see step 3.
        let allowed: Set<UInt16> = [BPFOp.ldAbs, BPFOp.ldImm, BPFOp.ja, BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset, BPFOp.andK, BPFOp.orK, BPFOp.retK]
        guard progs.allSatisfy({ $0.allSatisfy { allowed.contains($0.code) } }) else { return nil }
        let starts = Array(Set(progs.flatMap(cellStarts))).sorted()

        // Copies of argument-reading code: (program, the others' returns with 0 at its own place).
        var copies: [(prog: Int, rets: [UInt32])] = []
        func outcome(_ steps: [Step]) -> Outcome? {
            var rets: [UInt32] = []
            var reader: (Int, Int)?
            for (i, s) in steps.enumerated() {
                switch s {
                case let .ret(k): rets.append(k)
                case let .entry(pc):
                    guard reader == nil else { return nil }
                    reader = (i, pc)
                    rets.append(0)
                }
            }
            guard let (prog, pc) = reader else { return .ret(stacked(rets)) }
            if let c = copies.firstIndex(where: { $0.prog == prog && $0.rets == rets }) { return .entry(copy: c, pc: pc) }
            copies.append((prog, rets))
            return .entry(copy: copies.count - 1, pc: pc)
        }

        // 2. Arch cells; an arch whose path reads the number (in any program) gets number runs.
        var archCells: [(UInt32, Outcome)] = []
        var sections: [[(UInt32, Outcome)]] = []
        var sectionArch: [UInt32] = []
        for a in starts {
            var steps: [Step] = []
            var readsNr = false
            for p in progs {
                guard let t = trace(p, arch: a, nr: 0) else { return nil }
                steps.append(t.step)
                readsNr = readsNr || t.readsNr
            }
            if !readsNr {
                guard let o = outcome(steps) else { return nil }
                archCells.append((a, o))
                continue
            }
            var cells: [(UInt32, Outcome)] = []
            for n in starts {
                var s: [Step] = []
                for p in progs {
                    guard let t = trace(p, arch: a, nr: n) else { return nil }
                    s.append(t.step)
                }
                guard let o = outcome(s) else { return nil }
                cells.append((n, o))
            }
            archCells.append((a, .section(sections.count)))
            sections.append(runs(cells))
            sectionArch.append(a)
        }

        // 3. The trees, then each copy of the code reachable from its entries.
        let head: [Item] =
            [.insn(BPFInsn(BPFOp.ldAbs, 0, 0, 4))]
            + tree(runs(archCells)[...]) { o -> [Item] in
                switch o {
                case let .ret(k): return [.insn(BPFInsn(BPFOp.retK, 0, 0, k))]
                case let .entry(copy, pc): return [.toEntry(copy, pc)]
                case let .section(i):
                    return [.insn(BPFInsn(BPFOp.ldAbs, 0, 0, 0))]
                        + tree(sections[i][...]) { n -> [Item] in
                            switch n {
                            case let .ret(k): return [.insn(BPFInsn(BPFOp.retK, 0, 0, k))]
                            case let .entry(copy, pc): return [.toEntry(copy, pc)]
                            case .section: return []
                            }
                        }
                }
            }
        var entries = [[Int]](repeating: [], count: copies.count)
        for c in archCells + sections.flatMap({ $0 }) { if case let .entry(copy, pc) = c.1 { entries[copy].append(pc) } }
        var reach: [[Bool]] = []
        var newIndex: [[Int]] = []
        var n = head.count
        for (c, copy) in copies.enumerated() {
            let p = progs[copy.prog]
            var r = [Bool](repeating: false, count: p.count)
            var stack = entries[c]
            while let pc = stack.popLast() {
                guard pc >= 0, pc < p.count else { return nil }
                if r[pc] { continue }
                r[pc] = true
                let x = p[pc]
                switch x.code {
                case BPFOp.retK: break
                case BPFOp.ja: stack.append(pc + 1 + Int(x.k))
                case BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset: stack.append(pc + 1 + Int(x.jt)); stack.append(pc + 1 + Int(x.jf))
                default: stack.append(pc + 1)
                }
            }
            var idx = [Int](repeating: -1, count: p.count)
            for pc in 0..<p.count where r[pc] { idx[pc] = n; n += 1 }
            reach.append(r)
            newIndex.append(idx)
        }
        guard n <= 4096, n < progs.reduce(0, { $0 + $1.count }) else { return nil }

        var out: [BPFInsn] = []
        out.reserveCapacity(n)
        for item in head {
            switch item {
            case let .insn(x): out.append(x)
            case let .toEntry(copy, pc): out.append(BPFInsn(BPFOp.ja, 0, 0, UInt32(newIndex[copy][pc] - out.count - 1)))
            }
        }
        var values: Set<UInt32> = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]
        for (c, copy) in copies.enumerated() {
            let p = progs[copy.prog]
            for pc in 0..<p.count where reach[c][pc] {
                var x = p[pc]
                let here = out.count, to = newIndex[c]
                switch x.code {
                case BPFOp.ja: x.k = UInt32(to[pc + 1 + Int(x.k)] - here - 1)
                case BPFOp.jeq, BPFOp.jgt, BPFOp.jge, BPFOp.jset:
                    x.jt = UInt8(to[pc + 1 + Int(x.jt)] - here - 1)
                    x.jf = UInt8(to[pc + 1 + Int(x.jf)] - here - 1)
                case BPFOp.retK:
                    var rets = copy.rets
                    rets[copy.prog] = x.k
                    x.k = stacked(rets)
                default: break
                }
                // 4. Argument values from the constants the copied code compares with.
                if x.code != BPFOp.retK && x.code != BPFOp.ja && x.code != BPFOp.ldAbs {
                    values.formUnion([p[pc].k, p[pc].k &+ 1, p[pc].k &- 1, ~p[pc].k])
                }
                out.append(x)
            }
        }
        guard equivalent(progs, out, starts: starts, sectionArch: Set(sectionArch), values: values) else { return nil }
        return BPF.encode(out)
    }

    /// The new program returns what the stack returns on every arch and number cell
    /// (arguments zero), and on argument values made of the programs' constants for every
    /// arch and number whose path reads arguments, one argument word at a time.
    static func equivalent(_ stack: [[BPFInsn]], _ b: [BPFInsn], starts: [UInt32], sectionArch: Set<UInt32>, values: Set<UInt32>) -> Bool {
        func same(_ i: SeccompInput) -> Bool {
            var rets: [UInt32] = []
            for p in stack {
                guard let x = BPF.run(p, i) else { return false }
                rets.append(x.ret)
            }
            return BPF.run(b, i)?.ret == stacked(rets)
        }
        for arch in starts {
            for nr in sectionArch.contains(arch) ? starts : [0] {
                guard same(SeccompInput(nr: nr, arch: arch)) else { return false }
                guard
                    stack.contains(where: { p in trace(p, arch: arch, nr: nr).map { if case .entry = $0.step { return true } else { return false } } ?? false })
                else { continue }
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
