import Foundation

extension Transformer {
    /// y[T, out] = x[T, in] · Wᵀ (+ b).
    func lin(_ x: [Float], _ L: Linear, rows T: Int) -> [Float] {
        x.withUnsafeBufferPointer { xb in
            Kernels.filled(T * L.outDim) { y in
                BLAS.linear(xb.baseAddress!, rows: T, inDim: L.inDim, weight: L.w, bias: L.b, outDim: L.outDim, into: y)
            }
        }
    }

    func normed(_ n: Norm, _ x: [Float], rows: Int, d: Int) -> [Float] {
        x.withUnsafeBufferPointer { xb in Kernels.filled(x.count) { y in norm(n, xb.baseAddress!, y, rows: rows, d: d) } }
    }

    /// Embeddings of the packed sequence [T, hidden] (scaled by √hidden for Gemma).
    public func embed(_ seq: PackedSequence) -> [Float] {
        let d = config.hidden
        var x = [Float](repeating: 0, count: seq.count * d)
        let s: Float = config.arch == .gemma3 ? Float(d).squareRoot() : 1
        for (t, id) in seq.tokens.enumerated() {
            let r = id >= 0 && id < config.vocabSize ? id : 0
            for i in 0..<d { x[t * d + i] = embed[r * d + i] * s }
        }
        return x
    }

    /// One block over a packed sequence without a cache; returns its output and, if asked, its tape.
    func blockForward(_ l: Int, _ x: [Float], _ seq: PackedSequence, record: Bool) -> ([Float], BlockTape?) {
        blockForward(l, x, [seq], record: record)
    }

    /// One block over several packed sequences stacked row-wise (x is [ΣT, hidden]): the linear
    /// layers run on all rows at once, attention stays within each sequence. Tapes need one sequence.
    /// `keepRows` (ascending, not when recording): only these rows go on past attention, and the
    /// output is [keepRows.count, hidden]; the last block of a scoring pass needs only the scored rows.
    func blockForward(_ l: Int, _ xIn: [Float], _ batch: [PackedSequence], record: Bool,
                      keepRows: [Int]? = nil) -> ([Float], BlockTape?) {
        let c = config, d = c.hidden, hd = c.headDim, blk = blocks[l]
        let rowsIn = batch.reduce(0) { $0 + $1.count }
        let positions = batch.flatMap { $0.positions }
        let h1 = normed(blk.inputNorm, xIn, rows: rowsIn, d: d)
        var q = lin(h1, blk.q, rows: rowsIn), k = lin(h1, blk.k, rows: rowsIn)
        let v = lin(h1, blk.v, rows: rowsIn)
        // Kept for the tape only: sharing the buffers would make RoPE below copy q and k first.
        let qPre = record ? q : [], kPre = record ? k : []
        if let qn = blk.qNorm, let kn = blk.kNorm {
            q = normed(qn, q, rows: rowsIn * c.heads, d: hd); k = normed(kn, k, rows: rowsIn * c.kvHeads, d: hd)
        }
        let sliding = c.layerIsSliding[l]
        let theta = sliding ? c.ropeLocalTheta : c.ropeTheta, window = sliding ? c.slidingWindow : nil
        q.withUnsafeMutableBufferPointer { ropeAt($0.baseAddress!, T: rowsIn, nHeads: c.heads, pos: positions, theta: theta) }
        k.withUnsafeMutableBufferPointer { ropeAt($0.baseAddress!, T: rowsIn, nHeads: c.kvHeads, pos: positions, theta: theta) }
        // Scores of one sequence at a time: [heads, Ts, Ts] (kept as the tape when recording one sequence).
        let maxT = batch.map { $0.count }.max() ?? 0
        // Both are written in full below (per sequence: its [heads, Ts, Ts] scores; every head's columns).
        var probs = Kernels.filled(c.heads * maxT * maxT) { _ in }
        var attn = Kernels.filled(rowsIn * c.qDim) { _ in }
        let scale = 1 / c.queryPreAttnScalar.squareRoot(), group = c.heads / c.kvHeads
        q.withUnsafeBufferPointer { qb in k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
        probs.withUnsafeMutableBufferPointer { pb in attn.withUnsafeMutableBufferPointer { ab in
            var r0 = 0
            for seq in batch {
                let Ts = seq.count
                let qs = qb.baseAddress! + r0 * c.qDim, ks = kb.baseAddress! + r0 * c.kvDim, vs = vb.baseAddress! + r0 * c.kvDim
                // What each query sees, worked out once for all heads: 0 where visible, −∞ where not;
                // `span[i]`: keys past the last visible one (causal: at most i + 1) get probability 0 directly.
                var mask = [Float](repeating: 0, count: Ts * Ts), span = [Int](repeating: 0, count: Ts)
                for i in 0..<Ts {
                    for j in 0..<Ts { if seq.visible(i, j, window: window) { span[i] = j + 1 } else { mask[i * Ts + j] = -.infinity } }
                }
                mask.withUnsafeBufferPointer { mb in
                for head in 0..<c.heads {
                    let g = head / group, P = pb.baseAddress! + head * Ts * Ts
                    BLAS.gemm(qs + head * hd, lda: c.qDim, ks + g * hd, ldb: c.kvDim, transB: true,
                              P, ldc: Ts, m: Ts, n: Ts, k: hd, alpha: scale)
                    for i in 0..<Ts {
                        let row = P + i * Ts, m = mb.baseAddress! + i * Ts, n = span[i]
                        for j in 0..<n { row[j] += m[j] }
                        Kernels.softmax(row, n)
                        (row + n).update(repeating: 0, count: Ts - n)
                    }
                    BLAS.gemm(P, lda: Ts, vs + g * hd, ldb: c.kvDim, transB: false,
                              ab.baseAddress! + r0 * c.qDim + head * hd, ldc: c.qDim, m: Ts, n: hd, k: Ts)
                }
                }
                r0 += Ts
            }
        } } } } }
        // Rows whose output is wanted go on past attention; the others were needed only as keys and values.
        let keep = record ? nil : keepRows.flatMap { $0.count < rowsIn ? $0 : nil }
        let x = keep.map { Kernels.gatherRows(xIn, $0, width: d) } ?? xIn
        if let keep = keep { attn = Kernels.gatherRows(attn, keep, width: c.qDim) }
        let T = keep?.count ?? rowsIn
        let o = lin(attn, blk.o, rows: T)
        var x1 = [Float](), h2: [Float], out: [Float], m: [Float]
        var a: [Float] = [], g: [Float] = []
        func mlp(_ h: [Float]) -> [Float] {
            a = lin(h, blk.up, rows: T)
            var z = a
            if let gl = blk.gate {
                g = lin(h, gl, rows: T)
                z.withUnsafeMutableBufferPointer { zb in g.withUnsafeBufferPointer { gb in
                    Kernels.gatedActivation(zb.baseAddress!, gate: gb.baseAddress!, zb.count, geluTanh: c.arch == .gemma3)
                } }
            } else {
                for i in z.indices { z[i] = Kernels.geluExact(z[i]) }
            }
            return lin(z, blk.down, rows: T)
        }
        switch c.arch {
        case .gemma3:
            let oN = normed(blk.postAttnNorm, o, rows: T, d: d)
            x1 = Kernels.added(x, oN)
            h2 = normed(blk.preFFNNorm!, x1, rows: T, d: d)
            m = mlp(h2)
            let mN = normed(blk.postFFNNorm!, m, rows: T, d: d)
            out = Kernels.added(x1, mN)
        case .gptNeoX where c.parallelResidual:
            h2 = normed(blk.postAttnNorm, x, rows: T, d: d)
            m = mlp(h2)
            out = (0..<x.count).map { x[$0] + o[$0] + m[$0] }
        default:
            x1 = Kernels.added(x, o)
            h2 = normed(blk.postAttnNorm, x1, rows: T, d: d)
            m = mlp(h2)
            out = Kernels.added(x1, m)
        }
        guard record && batch.count == 1 else { return (out, nil) }
        return (out, BlockTape(x: x, h1: h1, qPre: qPre, kPre: kPre, q: q, k: k, v: v, probs: probs, attn: attn, o: o,
                               x1: x1, h2: h2, a: a, g: g, m: m))
    }

    /// Residual stream after every block 0...last for `seq` (no steering): [last+1][T·hidden].
    public func residuals(_ seq: PackedSequence, through last: Int) -> [[Float]] {
        var x = embed(seq)
        var out: [[Float]] = []
        for l in 0...min(last, config.layers - 1) {
            x = blockForward(l, x, seq, record: false).0
            out.append(x)
        }
        return out
    }
}
