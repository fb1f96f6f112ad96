import Foundation

extension Transformer {
    /// log p(token | row) in nats for each (row, token) pair of final hidden states `hidden` [T, hidden]
    /// (already through the final norm), without holding a [rows, vocab] logits matrix.
    ///
    /// The head runs over blocks of `block` vocabulary columns into one reused buffer
    /// [distinct rows, logitBlock]; each block's log-sum-exp per row is combined in f64, and the
    /// wanted tokens' logits are picked from the block that holds them. Same values as
    /// `logits(hidden:rows:)` followed by a full-row log-sum-exp, up to f32 rounding of the sum;
    /// for Qwen's 151,936-token vocabulary it saves ~115 MB of fresh, page-faulted memory per pass.
    public func logProbs(hidden: [Float], pairs: [(row: Int, token: Int)], block: Int = 4096) -> [Double] {
        logProbsAndGreedy(hidden: hidden, pairs: pairs, block: block).logProbs
    }

    /// `logProbs`, and for each pair whether its token is the row's argmax (lm-eval's `is_greedy` per token).
    public func logProbsAndGreedy(hidden: [Float], pairs: [(row: Int, token: Int)], block: Int = 4096) -> (logProbs: [Double], greedy: [Bool]) {
        let d = config.hidden, V = config.vocabSize
        var rows: [Int] = [], slot: [Int: Int] = [:]
        for p in pairs where slot[p.row] == nil { slot[p.row] = rows.count; rows.append(p.row) }
        let pairSlot = pairs.map { slot[$0.row] ?? 0 }
        let n = rows.count
        guard n > 0 else { return ([], []) }
        var sel = [Float](repeating: 0, count: n * d)
        for (i, r) in rows.enumerated() { for j in 0..<d { sel[i * d + j] = hidden[r * d + j] } }
        // Pairs by the block holding their token: (pair index, slot, column within the block).
        let B = max(1, block)
        var wanted = [[(Int, Int, Int)]](repeating: [], count: (V + B - 1) / B)
        for (k, p) in pairs.enumerated() {
            let t = min(max(p.token, 0), V - 1)
            wanted[t / B].append((k, pairSlot[k], t % B))
        }
        var picked = [Double](repeating: 0, count: pairs.count)
        var pickedRaw = [Float](repeating: 0, count: pairs.count)
        var lse = [Double](repeating: -.infinity, count: n)
        // Each row's largest logit (the max the log-sum-exp finds anyway): a token is the argmax
        // when its logit equals it (an exact tie with an earlier token, which torch's argmax would
        // prefer, is not told apart).
        var rowMax = [Float](repeating: -.infinity, count: n)
        var buf = [Float](repeating: 0, count: n * min(B, V))
        let w = head ?? embed
        sel.withUnsafeBufferPointer { s in buf.withUnsafeMutableBufferPointer { o in
        lse.withUnsafeMutableBufferPointer { lb in
            // Vocabulary panels of B rows of the head (dequantised one panel at a time when compact,
            // multiplied as stored when bf16).
            w.forEachPanelProduct(B) { v0, nc, product in
                let b = v0 / B
                product(s.baseAddress!, n, o.baseAddress!, nc, false)
                if let hb = headBias { for r in 0..<n { for j in 0..<nc { o[r * nc + j] += hb[v0 + j] } } }
                rowMax.withUnsafeMutableBufferPointer { mx in
                    Kernels.forRows(n, cost: nc) { r in
                        let row = o.baseAddress! + r * nc, m = Kernels.maxValue(row, nc)
                        let part = Kernels.logSumExp(row, nc, max: m), acc = lb[r]
                        let hi = max(acc, part)
                        lb[r] = hi + log(exp(acc - hi) + exp(part - hi))
                        mx[r] = max(mx[r], m)
                    }
                }
                for (k, r, c) in wanted[b] { pickedRaw[k] = o[r * nc + c]; picked[k] = Double(pickedRaw[k]) }
            }
        } } }
        return (pairs.indices.map { picked[$0] - lse[pairSlot[$0]] },
                pairs.indices.map { pickedRaw[$0] == rowMax[pairSlot[$0]] })
    }

    /// Logits [rows.count, vocab] for the selected rows of final hidden states `hidden` [T, hidden];
    /// `packed`: by the head's packed copy when it has one (`packForGeneration`).
    public func logits(hidden: [Float], rows: [Int], packed: Bool = false) -> [Float] {
        let d = config.hidden, V = config.vocabSize, n = rows.count
        var sel = [Float](repeating: 0, count: n * d)
        for (i, r) in rows.enumerated() { for j in 0..<d { sel[i * d + j] = hidden[r * d + j] } }
        var out = [Float](repeating: 0, count: n * V)
        let w = head ?? embed
        sel.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { o in
            // A dense head is one panel (a single call over the whole vocabulary); a compact one is
            // dequantised a panel at a time, each multiplied into its columns of the output.
            let byPacked = packed && w.prepared.packed?.multiply(s.baseAddress!, m: n, o.baseAddress!, ldc: V) == true
            if !byPacked {
                w.forEachPanelProduct(w.isPacked ? Transformer.headPanelRows : V) { v0, nc, product in
                    product(s.baseAddress!, n, o.baseAddress! + v0, V, true)
                }
            }
            if let hb = headBias { for r in 0..<n { for j in 0..<V { o[r * V + j] += hb[j] } } }
        } }
        return out
    }

    /// Convenience: logits [T, vocab] of a fresh sequence.
    public func logits(tokens: [Int]) -> [Float] {
        let cache = KVCache(config: config)
        let h = forward(tokens, cache: cache)
        return logits(hidden: h, rows: Array(0..<tokens.count))
    }
}
