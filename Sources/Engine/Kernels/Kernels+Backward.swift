import Foundation

/// Backward (input-gradient) kernels matching the forward kernels in Kernels.swift.
enum Backward {
    /// dX[T, in] = dY[T, out] · W[out, in]  (gradient of y = x·Wᵀ + b with respect to x).
    static func linearInput(_ dy: [Float], _ L: Linear, rows T: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: T * L.inDim)
        dy.withUnsafeBufferPointer { g in dx.withUnsafeMutableBufferPointer { o in
            L.w.multiplyLeft(g.baseAddress!, lda: L.outDim, m: T, into: o.baseAddress!, ldc: L.inDim)
        } }
        return dx
    }

    /// RMSNorm: y = x·r·(w + offset), r = (mean x² + eps)^-½ → dx = r·gw − x·r³·⟨gw, x⟩/d, gw = dy·(w + offset).
    static func rmsNorm(_ x: [Float], _ dy: [Float], rows: Int, d: Int, weight: [Float], eps: Float, offset: Float) -> [Float] {
        var dx = [Float](repeating: 0, count: x.count)
        for t in 0..<rows {
            let b = t * d
            var ss: Float = 0, dot: Float = 0
            for i in 0..<d { ss += x[b + i] * x[b + i] }
            let r = 1 / (ss / Float(d) + eps).squareRoot()
            for i in 0..<d { dot += dy[b + i] * (weight[i] + offset) * x[b + i] }
            let c = r * r * r * dot / Float(d)
            for i in 0..<d { dx[b + i] = r * dy[b + i] * (weight[i] + offset) - x[b + i] * c }
        }
        return dx
    }

    /// LayerNorm: x̂ = (x − μ)·r, y = x̂·w + b → dx = r·(gw − mean(gw) − x̂·mean(gw·x̂)).
    static func layerNorm(_ x: [Float], _ dy: [Float], rows: Int, d: Int, weight: [Float], eps: Float) -> [Float] {
        var dx = [Float](repeating: 0, count: x.count)
        for t in 0..<rows {
            let b = t * d
            var mu: Float = 0
            for i in 0..<d { mu += x[b + i] }
            mu /= Float(d)
            var v: Float = 0
            for i in 0..<d { let c = x[b + i] - mu; v += c * c }
            let r = 1 / (v / Float(d) + eps).squareRoot()
            var mg: Float = 0, mgx: Float = 0
            for i in 0..<d { let gw = dy[b + i] * weight[i], xh = (x[b + i] - mu) * r; mg += gw; mgx += gw * xh }
            mg /= Float(d); mgx /= Float(d)
            for i in 0..<d { let xh = (x[b + i] - mu) * r; dx[b + i] = r * (dy[b + i] * weight[i] - mg - xh * mgx) }
        }
        return dx
    }

    @inline(__always) static func siluGrad(_ x: Float) -> Float { let s = 1 / (1 + expf(-x)); return s * (1 + x * (1 - s)) }
    @inline(__always) static func geluTanhGrad(_ x: Float) -> Float {
        let k: Float = 0.7978845608028654
        let u = k * (x + 0.044715 * x * x * x), th = tanhf(u)
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * 0.044715 * x * x)
    }
    @inline(__always) static func geluExactGrad(_ x: Float) -> Float {
        0.5 * (1 + erff(x * 0.7071067811865476)) + x * expf(-0.5 * x * x) * 0.3989422804014327
    }

    /// RoPE backward: the transpose of the rotation (rotate by −angle), in place on g [T, nHeads·headDim].
    static func rope(_ g: inout [Float], T: Int, nHeads: Int, headDim: Int, rotDim: Int, pos: [Int], theta: Float) {
        let half = rotDim / 2
        var inv = [Float](repeating: 0, count: half)
        for i in 0..<half { inv[i] = 1 / powf(theta, Float(2 * i) / Float(rotDim)) }
        for t in 0..<T {
            let p = Float(pos[t])
            for i in 0..<half {
                let a = p * inv[i], c = cosf(a), s = sinf(a)
                for h in 0..<nHeads {
                    let b = t * nHeads * headDim + h * headDim
                    let ga = g[b + i], gb = g[b + i + half]
                    g[b + i] = ga * c + gb * s
                    g[b + i + half] = -ga * s + gb * c
                }
            }
        }
    }
}
