/// SplitMix64: a small, seedable, reproducible random generator.
public struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Disjoint train / validation / test index sets drawn with a seed from a task's items.
///
/// There is no train split for HellaSwag or ARC here, so all three come from one file; the
/// layer, epoch and seed are chosen on `val`, and `test` is scored once at the end.
public struct Splits: Equatable {
    public let seed: UInt64
    public let train: [Int], val: [Int], test: [Int]

    public init(count n: Int, train a: Int, val b: Int, test c: Int, seed: UInt64) throws {
        guard a >= 1, b >= 1, c >= 0, a + b + c <= n else {
            throw EngineError.invalidArgument("splits train=\(a) val=\(b) test=\(c) need \(a + b + c) items; the task has \(n)")
        }
        var rng = SeededRandom(seed: seed)
        let perm = Array(0..<n).shuffled(using: &rng)
        self.seed = seed
        train = Array(perm[0..<a]).sorted()
        val = Array(perm[a..<(a + b)]).sorted()
        test = Array(perm[(a + b)..<(a + b + c)]).sorted()
    }
}
