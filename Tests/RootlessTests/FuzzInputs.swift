/// Inputs for the parsers' fuzz tests: every other one the seed with a few bytes changed
/// (every sixth one also cut short), the rest random bytes.
enum FuzzInputs {
    static func make(_ i: Int, seed: [UInt8], changes: ClosedRange<Int>, randomUpTo: Int, using rng: inout some RandomNumberGenerator) -> [UInt8] {
        guard i % 2 == 0 else { return (0..<Int.random(in: 0...randomUpTo, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var b = seed
        for _ in 0..<Int.random(in: changes, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
        return i % 6 == 0 ? Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) : b
    }
}
