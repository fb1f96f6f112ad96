import Foundation

/// Elementwise and row-wise kernels of the forward pass; all operate in place on f32 rows.
enum Kernels {
    /// RMSNorm over each of `rows` rows of width `d`: x · rsqrt(mean(x²) + eps) · (w + offset).
    /// `offset` is 1 for Gemma (weights stored as w, applied as 1 + w).
    static func rmsNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                        weight: UnsafePointer<Float>, eps: Float, offset: Float) {
        for t in 0..<rows {
            let xr = x + t * d, yr = y + t * d
            var ss: Float = 0
            for i in 0..<d { ss += xr[i] * xr[i] }
            let inv = 1 / (ss / Float(d) + eps).squareRoot()
            for i in 0..<d { yr[i] = xr[i] * inv * (weight[i] + offset) }
        }
    }

    /// LayerNorm over rows: (x − mean) / sqrt(var + eps) · w + b.
    static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float) {
        for t in 0..<rows {
            let xr = x + t * d, yr = y + t * d
            var mean: Float = 0
            for i in 0..<d { mean += xr[i] }
            mean /= Float(d)
            var v: Float = 0
            for i in 0..<d { let c = xr[i] - mean; v += c * c }
            let inv = 1 / (v / Float(d) + eps).squareRoot()
            for i in 0..<d { yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i] }
        }
    }

    @inline(__always) static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }
    @inline(__always) static func geluExact(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.7071067811865476)) }

    /// Rotary embedding (Hugging Face rotate_half layout) on the first `rotDim` dims of each head.
    /// `x` is [T, nHeads·headDim]; token t has absolute position `pos0 + t`.
    static func rope(_ x: UnsafeMutablePointer<Float>, tokens: Int, nHeads: Int, headDim: Int, rotDim: Int,
                     pos0: Int, theta: Float) {
        let half = rotDim / 2
        var inv = [Float](repeating: 0, count: half)
        for i in 0..<half { inv[i] = 1 / powf(theta, Float(2 * i) / Float(rotDim)) }
        var c = [Float](repeating: 0, count: half), s = [Float](repeating: 0, count: half)
        for t in 0..<tokens {
            let p = Float(pos0 + t)
            for i in 0..<half { let a = p * inv[i]; c[i] = cosf(a); s[i] = sinf(a) }
            for h in 0..<nHeads {
                let r = x + t * nHeads * headDim + h * headDim
                for i in 0..<half {
                    let a = r[i], b = r[i + half]
                    r[i] = a * c[i] - b * s[i]
                    r[i + half] = b * c[i] + a * s[i]
                }
            }
        }
    }

}
