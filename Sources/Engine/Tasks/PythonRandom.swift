import Foundation

/// CPython's `random.Random` (MT19937 seeded as `init_by_array`), far enough to reproduce
/// `randbelow` and `sample` bit for bit: lm-eval draws few-shot examples with
/// `random.Random(1234).sample(train, k)`, and the prompts must be byte-identical to its own.
public struct PythonRandom {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 624

    /// `random.Random(seed)` for a non-negative integer seed below 2⁶⁴.
    public init(seed: UInt64) {
        // CPython splits abs(seed) into 32-bit words, least significant first (at least one word).
        var key: [UInt32] = [UInt32(truncatingIfNeeded: seed)]
        if seed >> 32 != 0 { key.append(UInt32(truncatingIfNeeded: seed >> 32)) }
        initGenrand(19_650_218)
        var i = 1, j = 0
        for _ in 0..<max(624, key.count) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<623 {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
        }
        mt[0] = 0x8000_0000
        index = 624
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<624 { mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i) }
        index = 624
    }

    /// The next 32 random bits (`genrand_uint32`).
    public mutating func next32() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % 624] & 0x7fff_ffff)
                mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_b0df)
            }
            index = 0
        }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// `getrandbits(k)` for 0 < k ≤ 32.
    mutating func bits(_ k: Int) -> Int { Int(next32() >> UInt32(32 - k)) }

    /// `_randbelow(n)`: uniform in 0..<n by rejection on `n.bit_length()` bits (n ≥ 1, n < 2³²).
    public mutating func below(_ n: Int) -> Int {
        let k = Int.bitWidth - n.leadingZeroBitCount
        var r = bits(k)
        while r >= n { r = bits(k) }
        return r
    }

    /// `sample(range(n), k)`: k distinct indices in CPython's order (k ≤ n).
    public mutating func sample(_ n: Int, _ k: Int) -> [Int] {
        var setsize = 21
        if k > 5 {
            // 4 ** ceil(log(3k, 4)), computed as CPython does (in floating point).
            setsize += Int(pow4(Int((log(Double(k * 3)) / log(4.0)).rounded(.up))))
        }
        var result: [Int] = []
        if n <= setsize {
            var pool = Array(0..<n)
            for i in 0..<k {
                let j = below(n - i)
                result.append(pool[j])
                pool[j] = pool[n - i - 1]
            }
        } else {
            var selected = Set<Int>()
            for _ in 0..<k {
                var j = below(n)
                while selected.contains(j) { j = below(n) }
                selected.insert(j)
                result.append(j)
            }
        }
        return result
    }

    private func pow4(_ e: Int) -> Int { (0..<max(e, 0)).reduce(1) { acc, _ in acc * 4 } }
}
