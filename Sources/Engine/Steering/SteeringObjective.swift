import Foundation

/// What the steering vector is trained to do on a multiple-choice item.
public enum SteeringLoss: String, CaseIterable {
    /// Cross-entropy over the choices' log-likelihoods (length-normalised by characters when `normalize`).
    case choice
    /// Mean token negative log-likelihood of the gold continuation (language-model loss).
    case lm
}

/// Loss, dL/dv and per-choice log-likelihoods of one item with steering vector v added after block `layer`.
public struct SteeringEval {
    public let loss: Double
    public let grad: [Float]        // dL/dv [hidden]
    public let ll: [Double]         // per-choice log-likelihood under steering
    /// dL/d(residual after block l) summed over positions, norm per layer (only from `screen`).
    public var layerGradNorms: [Double] = []
}

extension Transformer {
    /// Forward from the residual after block `layer` (+ v at every position) through the head; returns
    /// the loss, gradient with respect to v (when `wantGrad`) and the choices' log-likelihoods.
    ///
    /// - Parameters:
    ///   - residual: residual stream after block `layer` without steering [T, hidden] (cached; it does not depend on v).
    ///   - layer: −1 steers the embeddings (before block 0).
    public func steer(_ seq: PackedSequence, residual: [Float], layer: Int, v: [Float], gold: Int, choiceChars: [Int],
                      loss kind: SteeringLoss = .choice, normalize: Bool = true, wantGrad: Bool = true,
                      collectLayerGrads: Bool = false) -> SteeringEval {
        let c = config, T = seq.count, d = c.hidden
        var x = residual
        x.withUnsafeMutableBufferPointer { Kernels.addToRows(v, $0.baseAddress!, rows: T) }
        var tapes: [BlockTape] = []
        for l in (layer + 1)..<c.layers {
            let (y, tp) = blockForward(l, x, seq, record: wantGrad)
            if let tp = tp { tapes.append(tp) }
            x = y
        }
        let hidden = normed(finalNorm, x, rows: T, d: d)
        // Rows whose logits are needed, and each target's row index among them.
        var rowIndex: [Int: Int] = [:], rows: [Int] = []
        for tg in seq.targets { for (r, _) in tg where rowIndex[r] == nil { rowIndex[r] = rows.count; rows.append(r) } }
        let V = c.vocabSize
        var logits = logits(hidden: hidden, rows: rows)
        var ll = [Double](repeating: 0, count: seq.targets.count)
        let lse = Kernels.rowLogSumExps(logits, rows: rows.count, V)
        for (ci, tg) in seq.targets.enumerated() {
            for (r, tok) in tg { let ri = rowIndex[r]!; ll[ci] += Double(logits[ri * V + tok]) - lse[ri] }
        }
        // dLoss/dLL per choice.
        var dLL = [Double](repeating: 0, count: ll.count)
        let lossValue: Double
        switch kind {
        case .choice:
            let z = ll.enumerated().map { normalize ? $0.element / Double(max(choiceChars[$0.offset], 1)) : $0.element }
            let m = z.max() ?? 0
            let e = z.map { exp($0 - m) }, s = e.reduce(0, +)
            lossValue = -(z[gold] - m - log(s))
            for i in z.indices {
                let p = e[i] / s - (i == gold ? 1 : 0)
                dLL[i] = normalize ? p / Double(max(choiceChars[i], 1)) : p
            }
        case .lm:
            let n = Double(max(seq.targets[gold].count, 1))
            lossValue = -ll[gold] / n
            dLL[gold] = -1 / n
        }
        guard wantGrad else { return SteeringEval(loss: lossValue, grad: [], ll: ll) }
        // dlogits[r] = Σ_targets dLL_c · (onehot(tok) − softmax(logits[r])); overwrite logits in place.
        var coef = [Double](repeating: 0, count: rows.count)
        for (ci, tg) in seq.targets.enumerated() { for (r, _) in tg { coef[rowIndex[r]!] += dLL[ci] } }
        logits.withUnsafeMutableBufferPointer { lp in
            Kernels.forRows(rows.count, cost: V) { ri in
                Kernels.scaledExp(lp.baseAddress! + ri * V, V, shift: Float(lse[ri]), scale: -Float(coef[ri]))
            }
        }
        for (ci, tg) in seq.targets.enumerated() {
            for (r, tok) in tg { logits[rowIndex[r]! * V + tok] += Float(dLL[ci]) }
        }
        // dHidden = dLogits · W_head, scattered back to the sequence rows.
        let w = head ?? embed
        var dSel = [Float](repeating: 0, count: rows.count * d)
        logits.withUnsafeBufferPointer { g in dSel.withUnsafeMutableBufferPointer { o in
            if !w.isPacked || w.rows * w.cols <= Transformer.wholeScratchLimit {
                w.multiplyLeft(g.baseAddress!, lda: V, m: rows.count, into: o.baseAddress!, ldc: d)
            } else {
                // A compact head too large to dequantise whole: accumulated over vocabulary panels
                // (the same sum in another order: equal to the f32 gradient up to rounding).
                w.forEachPanel(Transformer.headPanelRows) { v0, panel, nc in
                    BLAS.gemm(g.baseAddress! + v0, lda: V, panel, ldb: d, transB: false, o.baseAddress!, ldc: d,
                              m: rows.count, n: d, k: nc, beta: v0 == 0 ? 0 : 1)
                }
            }
        } }
        var dh = [Float](repeating: 0, count: T * d)
        for (ri, r) in rows.enumerated() { for i in 0..<d { dh[r * d + i] += dSel[ri * d + i] } }
        var dx = normBack(finalNorm, x, dh, rows: T, d: d)
        var norms: [Double] = []
        for (k, l) in ((layer + 1)..<c.layers).enumerated().reversed() {
            if collectLayerGrads { norms.append(sumRowsNorm(dx, T: T, d: d)) }
            dx = blockBackward(l, tapes[k], dx, seq)
        }
        if collectLayerGrads { norms.append(sumRowsNorm(dx, T: T, d: d)) }
        var g = [Float](repeating: 0, count: d)
        for t in 0..<T { for i in 0..<d { g[i] += dx[t * d + i] } }
        var ev = SteeringEval(loss: lossValue, grad: g, ll: ll)
        ev.layerGradNorms = norms.reversed()
        return ev
    }

    /// ‖Σ_t dx[t]‖: the gradient norm a steering vector at that point would receive.
    func sumRowsNorm(_ dx: [Float], T: Int, d: Int) -> Double {
        var s = [Double](repeating: 0, count: d)
        for t in 0..<T { for i in 0..<d { s[i] += Double(dx[t * d + i]) } }
        return s.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
