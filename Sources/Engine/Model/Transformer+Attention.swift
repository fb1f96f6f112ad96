import Foundation

extension Transformer {
    /// Multi-head (grouped-query) causal attention of T new tokens over the cache plus themselves.
    ///
    /// `h` [T, hidden] is the normed input; writes the concatenated head outputs to `out` [T, heads·headDim].
    /// The new tokens' K/V are written to cache rows P..<P+T (committed by the caller).
    func attention(_ l: Int, _ blk: Block, _ h: UnsafePointer<Float>, T: Int, pos: [Int], seg: [Int], cache: KVCache,
                   q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let c = config, hd = c.headDim, P = cache.length, L = P + T
        let kvd = c.kvDim, qd = c.qDim
        BLAS.linear(h, rows: T, inDim: c.hidden, weight: blk.q.w, bias: blk.q.b, outDim: qd, into: q)
        let sliding = c.layerIsSliding[l]
        let theta = sliding ? c.ropeLocalTheta : c.ropeTheta
        let window = sliding ? c.slidingWindow : nil
        cache.k[l].withUnsafeMutableBufferPointer { kb in
        cache.v[l].withUnsafeMutableBufferPointer { vb in
            let kNew = kb.baseAddress! + P * kvd, vNew = vb.baseAddress! + P * kvd
            BLAS.linear(h, rows: T, inDim: c.hidden, weight: blk.k.w, bias: blk.k.b, outDim: kvd, into: kNew)
            BLAS.linear(h, rows: T, inDim: c.hidden, weight: blk.v.w, bias: blk.v.b, outDim: kvd, into: vNew)
            if let qn = blk.qNorm, let kn = blk.kNorm {
                norm(qn, q, q, rows: T * c.heads, d: hd)
                norm(kn, kNew, kNew, rows: T * c.kvHeads, d: hd)
            }
            ropeAt(q, T: T, nHeads: c.heads, pos: pos, theta: theta)
            ropeAt(kNew, T: T, nHeads: c.kvHeads, pos: pos, theta: theta)
            let scale = 1 / c.queryPreAttnScalar.squareRoot()
            let group = c.heads / c.kvHeads
            for head in 0..<c.heads {
                let g = head / group
                BLAS.gemm(q + head * hd, lda: qd, kb.baseAddress! + g * hd, ldb: kvd, transB: true,
                          scores, ldc: L, m: T, n: L, k: hd, alpha: scale)
                for t in 0..<T {
                    let row = scores + t * L, pt = pos[t]
                    for r in 0..<L {
                        let kp: Int, visible: Bool
                        if r < P { kp = r; visible = kp <= pt }
                        else { let j = r - P; kp = pos[j]; visible = seg[j] == seg[t] && kp <= pt }
                        if !visible || (window != nil && pt - kp >= window!) { row[r] = -.infinity }
                    }
                    Kernels.softmax(row, L)
                }
                BLAS.gemm(scores, lda: L, vb.baseAddress! + g * hd, ldb: kvd, transB: false,
                          out + head * hd, ldc: qd, m: T, n: hd, k: L)
            }
        } }
    }

    /// Applies RoPE to x [T, nHeads·headDim] with per-token positions.
    func ropeAt(_ x: UnsafeMutablePointer<Float>, T: Int, nHeads: Int, pos: [Int], theta: Float) {
        let hd = config.headDim
        var t = 0
        // Runs of consecutive positions share one call (the common case).
        while t < T {
            var e = t + 1
            while e < T && pos[e] == pos[e - 1] + 1 { e += 1 }
            Kernels.rope(x + t * nHeads * hd, tokens: e - t, nHeads: nHeads, headDim: hd, rotDim: config.rotaryDim,
                         pos0: pos[t], theta: theta)
            t = e
        }
    }

    /// Logits [rows.count, vocab] for the selected rows of final hidden states `hidden` [T, hidden].
    public func logits(hidden: [Float], rows: [Int]) -> [Float] {
        let d = config.hidden, V = config.vocabSize, n = rows.count
        var sel = [Float](repeating: 0, count: n * d)
        for (i, r) in rows.enumerated() { for j in 0..<d { sel[i * d + j] = hidden[r * d + j] } }
        var out = [Float](repeating: 0, count: n * V)
        let w = head ?? embed
        sel.withUnsafeBufferPointer { s in w.withUnsafeBufferPointer { wb in out.withUnsafeMutableBufferPointer { o in
            BLAS.gemm(s.baseAddress!, lda: d, wb.baseAddress!, ldb: d, transB: true, o.baseAddress!, ldc: V, m: n, n: V, k: d)
        } } }
        return out
    }

    /// Convenience: logits [T, vocab] of a fresh sequence.
    public func logits(tokens: [Int]) -> [Float] {
        let cache = KVCache(config: config)
        let h = forward(tokens, cache: cache)
        return logits(hidden: h, rows: Array(0..<tokens.count))
    }
}
