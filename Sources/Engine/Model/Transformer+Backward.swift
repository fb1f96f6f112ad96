import Foundation

extension Transformer {
    /// Backward of `norm` (the architecture's kind): dx given the input x and dy.
    func normBack(_ n: Norm, _ x: [Float], _ dy: [Float], rows: Int, d: Int) -> [Float] {
        switch config.features.norm {
        case .layer: return Backward.layerNorm(x, dy, rows: rows, d: d, weight: n.w, eps: config.normEps)
        case .rms(let offset): return Backward.rmsNorm(x, dy, rows: rows, d: d, weight: n.w, eps: config.normEps, offset: offset)
        }
    }

    /// Gradient of the block's input given the gradient of its output (activations only, no weight
    /// grads): `blockForward` in reverse, wired by the same `config.features`.
    func blockBackward(_ l: Int, _ tp: BlockTape, _ dOut: [Float], _ seq: PackedSequence) -> [Float] {
        let c = config, T = seq.count, d = c.hidden, blk = blocks[l]
        func mlpBack(_ dm: [Float]) -> [Float] {
            let dz = Backward.linearInput(dm, blk.down, rows: T)
            switch c.features.mlp {
            case .gated(let act):
                var da = dz, dg = dz
                dz.withUnsafeBufferPointer { dzb in tp.a.withUnsafeBufferPointer { ab in tp.g.withUnsafeBufferPointer { gb in
                da.withUnsafeMutableBufferPointer { dab in dg.withUnsafeMutableBufferPointer { dgb in
                    Kernels.gatedActivationBackward(dz: dzb.baseAddress!, a: ab.baseAddress!, g: gb.baseAddress!, da: dab.baseAddress!,
                                                    dg: dgb.baseAddress!, dzb.count, act)
                } } } } }
                let x1 = Backward.linearInput(da, blk.up, rows: T), x2 = Backward.linearInput(dg, blk.gate!, rows: T)
                return zip(x1, x2).map { $0 + $1 }
            case .plain(let act):
                return Backward.linearInput(Kernels.activationBackward(dz: dz, a: tp.a, act), blk.up, rows: T)
            }
        }
        func attnBack(_ dO: [Float]) -> [Float] {
            let hd = c.headDim, group = c.heads / c.kvHeads
            let scale = 1 / c.queryPreAttnScalar.squareRoot()
            let dAttn = Backward.linearInput(dO, blk.o, rows: T)
            var dq = [Float](repeating: 0, count: T * c.qDim)
            var dk = [Float](repeating: 0, count: T * c.kvDim), dv = dk
            var dP = [Float](repeating: 0, count: T * T)
            dAttn.withUnsafeBufferPointer { da in tp.probs.withUnsafeBufferPointer { pb in
            tp.q.withUnsafeBufferPointer { qb in tp.k.withUnsafeBufferPointer { kb in tp.v.withUnsafeBufferPointer { vb in
            dq.withUnsafeMutableBufferPointer { dqb in dk.withUnsafeMutableBufferPointer { dkb in dv.withUnsafeMutableBufferPointer { dvb in
            dP.withUnsafeMutableBufferPointer { dpb in
                for head in 0..<c.heads {
                    let g = head / group, P = pb.baseAddress! + head * T * T, D = dpb.baseAddress!
                    // dP = dA_h · V_gᵀ ; dV_g += Pᵀ · dA_h
                    BLAS.gemm(da.baseAddress! + head * hd, lda: c.qDim, vb.baseAddress! + g * hd, ldb: c.kvDim, transB: true,
                              D, ldc: T, m: T, n: T, k: hd)
                    BLAS.gemm(P, lda: T, da.baseAddress! + head * hd, ldb: c.qDim, transB: false,
                              dvb.baseAddress! + g * hd, ldc: c.kvDim, m: T, n: hd, k: T, beta: 1, transA: true)
                    // dS = P ∘ (dP − rowsum(dP ∘ P)), row-wise softmax backward.
                    for i in 0..<T {
                        var s: Float = 0
                        for j in 0..<T { s += D[i * T + j] * P[i * T + j] }
                        for j in 0..<T { D[i * T + j] = P[i * T + j] * (D[i * T + j] - s) }
                    }
                    // dQ_h = dS · K_g · scale ; dK_g += dSᵀ · Q_h · scale
                    BLAS.gemm(D, lda: T, kb.baseAddress! + g * hd, ldb: c.kvDim, transB: false,
                              dqb.baseAddress! + head * hd, ldc: c.qDim, m: T, n: hd, k: T, alpha: scale)
                    BLAS.gemm(D, lda: T, qb.baseAddress! + head * hd, ldb: c.qDim, transB: false,
                              dkb.baseAddress! + g * hd, ldc: c.kvDim, m: T, n: hd, k: T, alpha: scale, beta: 1, transA: true)
                }
            } } } } } } } } }
            if c.features.positions == .rope && c.rotaryDim > 0 {
                let theta = c.layerIsSliding[l] ? c.ropeLocalTheta : c.ropeTheta
                Backward.rope(&dq, T: T, nHeads: c.heads, headDim: hd, rotDim: c.rotaryDim, pos: seq.positions, theta: theta)
                Backward.rope(&dk, T: T, nHeads: c.kvHeads, headDim: hd, rotDim: c.rotaryDim, pos: seq.positions, theta: theta)
            }
            if let qn = blk.qNorm, let kn = blk.kNorm {
                dq = normBack(qn, tp.qPre, dq, rows: T * c.heads, d: hd)
                dk = normBack(kn, tp.kPre, dk, rows: T * c.kvHeads, d: hd)
            }
            let a = Backward.linearInput(dq, blk.q, rows: T), b = Backward.linearInput(dk, blk.k, rows: T)
            let e = Backward.linearInput(dv, blk.v, rows: T)
            return (0..<a.count).map { a[$0] + b[$0] + e[$0] }
        }
        func add(_ x: [Float], _ y: [Float]) -> [Float] { zip(x, y).map { $0 + $1 } }
        switch c.features.residual {
        case .sandwich:
            let dm = normBack(blk.postFFNNorm!, tp.m, dOut, rows: T, d: d)
            let dx1 = add(dOut, normBack(blk.preFFNNorm!, tp.x1, mlpBack(dm), rows: T, d: d))
            let dO = normBack(blk.postAttnNorm!, tp.o, dx1, rows: T, d: d)
            return add(dx1, normBack(blk.inputNorm, tp.x, attnBack(dO), rows: T, d: d))
        case .parallel(sharedNorm: true):
            let dh = add(mlpBack(dOut), attnBack(dOut))
            return add(dOut, normBack(blk.inputNorm, tp.x, dh, rows: T, d: d))
        case .parallel(sharedNorm: false):
            let viaMLP = normBack(blk.postAttnNorm!, tp.x, mlpBack(dOut), rows: T, d: d)
            let viaAttn = normBack(blk.inputNorm, tp.x, attnBack(dOut), rows: T, d: d)
            return (0..<dOut.count).map { dOut[$0] + viaMLP[$0] + viaAttn[$0] }
        case .sequential:
            let dx1 = add(dOut, normBack(blk.postAttnNorm!, tp.x1, mlpBack(dOut), rows: T, d: d))
            return add(dx1, normBack(blk.inputNorm, tp.x, attnBack(dx1), rows: T, d: d))
        }
    }
}
