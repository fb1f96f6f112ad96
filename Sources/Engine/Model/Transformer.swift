import Foundation

/// A decoder-only transformer (llama, qwen2, gemma3, gpt_neox) evaluated in f32 over OpenBLAS.
public final class Transformer {
    public let config: ModelConfig
    let embed: [Float]          // [vocab, hidden]
    let head: [Float]?          // [vocab, hidden]; nil when tied to `embed`
    let finalNorm: Norm
    let blocks: [Block]

    public init(config: ModelConfig, weights: WeightSource) throws {
        self.config = config
        (embed, head, finalNorm, blocks) = try Transformer.loadWeights(config, weights)
    }

    /// Residual-stream hooks: `after(layer, x, rows)` sees block `layer`'s output [rows, hidden] and may modify it.
    public typealias ResidualHook = (_ layer: Int, _ x: UnsafeMutablePointer<Float>, _ rows: Int) -> Void

    /// The hook that adds `values` [hidden] at every position after block `layer` (the steering vector's hook).
    public static func steeringHook(layer: Int, values: [Float]) -> ResidualHook {
        { l, x, rows in if l == layer { Kernels.addToRows(values, x, rows: rows) } }
    }

    /// Runs `tokens` after whatever `cache` holds and returns the final-normed hidden states [T, hidden].
    ///
    /// - Parameters:
    ///   - positions: absolute position of each token (default: cache.length + t).
    ///   - segments: tokens with different segment ids do not attend to each other (each still sees
    ///     the whole cache). This scores several continuations of one cached context in one batch.
    ///   - keepInCache: append these tokens' K/V to the cache (false for the batched continuations).
    public func forward(_ tokens: [Int], cache: KVCache, positions: [Int]? = nil, segments: [Int]? = nil,
                        keepInCache: Bool = true, hook: ResidualHook? = nil) -> [Float] {
        let c = config, d = c.hidden, T = tokens.count
        let pos = positions ?? (0..<T).map { cache.length + $0 }
        let seg = segments ?? [Int](repeating: 0, count: T)
        let P = cache.length
        cache.reserve(P + T)
        var x = [Float](repeating: 0, count: T * d)
        embed.withUnsafeBufferPointer { e in
            for t in 0..<T {
                let id = tokens[t] >= 0 && tokens[t] < c.vocabSize ? tokens[t] : 0
                for i in 0..<d { x[t * d + i] = e[id * d + i] }
            }
        }
        if c.arch == .gemma3 {
            let s = Float(d).squareRoot()
            for i in x.indices { x[i] *= s }
        }
        var h = [Float](repeating: 0, count: T * d), h2 = [Float](repeating: 0, count: T * d)
        var attn = [Float](repeating: 0, count: T * c.qDim)
        var q = [Float](repeating: 0, count: T * c.qDim)
        var mlpA = [Float](repeating: 0, count: T * c.ffn), mlpB = [Float](repeating: 0, count: T * c.ffn)
        var scores = [Float](repeating: 0, count: T * (P + T))
        for (l, blk) in blocks.enumerated() {
            x.withUnsafeMutableBufferPointer { xb in
            h.withUnsafeMutableBufferPointer { hb in
            h2.withUnsafeMutableBufferPointer { h2b in
                let xp = xb.baseAddress!, hp = hb.baseAddress!, h2p = h2b.baseAddress!
                norm(blk.inputNorm, xp, hp, rows: T, d: d)
                q.withUnsafeMutableBufferPointer { qb in
                attn.withUnsafeMutableBufferPointer { ab in
                scores.withUnsafeMutableBufferPointer { sb in
                    attention(l, blk, hp, T: T, pos: pos, seg: seg, cache: cache, q: qb.baseAddress!, out: ab.baseAddress!,
                              scores: sb.baseAddress!)
                    BLAS.linear(ab.baseAddress!, rows: T, inDim: c.qDim, weight: blk.o.w, bias: blk.o.b, outDim: d, into: h2p)
                } } }
                mlpA.withUnsafeMutableBufferPointer { ma in
                mlpB.withUnsafeMutableBufferPointer { mb in
                    switch c.arch {
                    case .gemma3:
                        norm(blk.postAttnNorm, h2p, hp, rows: T, d: d)
                        for i in 0..<T * d { xp[i] += hp[i] }
                        norm(blk.preFFNNorm!, xp, hp, rows: T, d: d)
                        mlp(blk, hp, T: T, a: ma.baseAddress!, b: mb.baseAddress!, out: h2p)
                        norm(blk.postFFNNorm!, h2p, hp, rows: T, d: d)
                        for i in 0..<T * d { xp[i] += hp[i] }
                    case .gptNeoX where c.parallelResidual:
                        norm(blk.postAttnNorm, xp, hp, rows: T, d: d)
                        for i in 0..<T * d { xp[i] += h2p[i] }      // attention branch
                        mlp(blk, hp, T: T, a: ma.baseAddress!, b: mb.baseAddress!, out: h2p)
                        for i in 0..<T * d { xp[i] += h2p[i] }      // MLP branch of the same input
                    default:
                        for i in 0..<T * d { xp[i] += h2p[i] }
                        norm(blk.postAttnNorm, xp, hp, rows: T, d: d)
                        mlp(blk, hp, T: T, a: ma.baseAddress!, b: mb.baseAddress!, out: h2p)
                        for i in 0..<T * d { xp[i] += h2p[i] }
                    }
                } }
                hook?(l, xp, T)
            } } }
        }
        if keepInCache { cache.commit(T) }
        var out = [Float](repeating: 0, count: T * d)
        x.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { ob in
            norm(finalNorm, xb.baseAddress!, ob.baseAddress!, rows: T, d: d)
        } }
        return out
    }

    func norm(_ n: Norm, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int) {
        n.w.withUnsafeBufferPointer { w in
            if let b = n.b {
                b.withUnsafeBufferPointer { bb in
                    Kernels.layerNorm(x, y, rows: rows, d: d, weight: w.baseAddress!, bias: bb.baseAddress!, eps: config.normEps)
                }
            } else {
                Kernels.rmsNorm(x, y, rows: rows, d: d, weight: w.baseAddress!, eps: config.normEps,
                                offset: config.arch == .gemma3 ? 1 : 0)
            }
        }
    }

    /// out[T, ffn→hidden]: gated (act(gate) · up) or plain (act(up)) MLP.
    func mlp(_ blk: Block, _ h: UnsafePointer<Float>, T: Int, a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>,
             out: UnsafeMutablePointer<Float>) {
        let c = config, f = c.ffn
        BLAS.linear(h, rows: T, inDim: c.hidden, weight: blk.up.w, bias: blk.up.b, outDim: f, into: a)
        if let g = blk.gate {
            BLAS.linear(h, rows: T, inDim: c.hidden, weight: g.w, bias: g.b, outDim: f, into: b)
            Kernels.gatedActivation(a, gate: b, T * f, geluTanh: c.arch == .gemma3)
        } else {
            for i in 0..<T * f { a[i] = Kernels.geluExact(a[i]) }
        }
        BLAS.linear(a, rows: T, inDim: f, weight: blk.down.w, bias: blk.down.b, outDim: c.hidden, into: out)
    }
}
