import Foundation

/// Floating-point operations a run did, by part: what a roofline sets beside the CPU's measured
/// peak (`ComputePeak`). A multiply-add counts as 2 FLOPs; norms, RoPE, softmax and activations
/// (a few per element, not per weight) are left out.
public struct ArithmeticWork: Equatable {
    /// The blocks' linear layers (q, k, v, o and the MLP), FLOPs.
    public var linear = 0.0
    /// Attention: each row's scores against the keys it sees and its weighted sum of their values, FLOPs.
    public var attention = 0.0
    /// The vocabulary head of the rows that pick a token, as a full product (a screened greedy
    /// pick does that product in bf16, then a few f32 logits), FLOPs.
    public var head = 0.0

    public init(linear: Double = 0, attention: Double = 0, head: Double = 0) {
        self.linear = linear; self.attention = attention; self.head = head
    }

    public var total: Double { linear + attention + head }

    public static func += (a: inout ArithmeticWork, b: ArithmeticWork) {
        a.linear += b.linear; a.attention += b.attention; a.head += b.head
    }

    /// "312.4 TFLOP (linear 86 %, attention 11 %, head 3 %)": the total to four significant figures
    /// at least, in TFLOP, GFLOP or MFLOP, and each part's share.
    public var summary: String {
        let t = max(total, 1e-30)
        let (scale, unit) = t >= 1e12 ? (1e12, "TFLOP") : t >= 1e9 ? (1e9, "GFLOP") : (1e6, "MFLOP")
        let v = total / scale
        let amount = String(format: v >= 100 ? "%.1f" : v >= 10 ? "%.2f" : "%.3f", v)
        return "\(amount) \(unit)" + String(format: " (linear %.0f %%, attention %.0f %%, head %.0f %%)",
                                             100 * linear / t, 100 * attention / t, 100 * head / t)
    }
}

extension Transformer {
    /// The FLOPs of one cached forward over `spans` (as `Generator.forward` runs it): every block's
    /// linear layers for every row, except that the last block's o and MLP run for `keptRows` rows
    /// alone (nil: all); every block's attention over the keys each row sees (its position + 1,
    /// or the sliding window on layers that have one). No head.
    public func forwardWork(spans: [CacheSpan], keptRows: Int?) -> ArithmeticWork {
        let rows = spans.reduce(0) { $0 + $1.count }
        return blocksWork(rows: rows, keptRows: keptRows ?? rows) { l in
            let window = config.layerIsSliding[l] ? config.slidingWindow : nil
            var keys = 0
            for s in spans { for p in s.positions { keys += window.map { min($0, p + 1) } ?? p + 1 } }
            return keys
        }
    }

    /// The FLOPs of `rows` rows through every block: its linear layers for every row (the last
    /// block's o and MLP for `keptRows` of them) and attention over `keys(l)` (query, key) pairs
    /// in block l (QKᵀ and the weighted values, every head). No head.
    public func blocksWork(rows: Int, keptRows: Int, keys: (Int) -> Int) -> ArithmeticWork {
        var w = ArithmeticWork()
        for (l, b) in blocks.enumerated() {
            let qkv = [b.q, b.k, b.v].reduce(0.0) { $0 + Double($1.outDim * $1.inDim) }
            let rest = ([b.o, b.up, b.down] + (b.gate.map { [$0] } ?? [])).reduce(0.0) { $0 + Double($1.outDim * $1.inDim) }
            let past = l == blocks.count - 1 ? keptRows : rows
            w.linear += 2 * (qkv * Double(rows) + rest * Double(past))
            w.attention += 4 * Double(config.heads * config.headDim) * Double(keys(l))
        }
        return w
    }

    /// The FLOPs of the head over `rows` final hidden states: a [rows, hidden] × [hidden, vocab] product.
    public func headWork(rows: Int) -> ArithmeticWork {
        ArithmeticWork(head: 2 * Double(rows) * Double(config.hidden) * Double(config.vocabSize))
    }
}
