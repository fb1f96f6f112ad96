import CKernels
import Foundation

/// The head's greedy pick over f32 weights for about half the work: bf16 logits for the whole
/// vocabulary, then f32 logits only for the few tokens that could still be the f32 argmax. It
/// picks exactly the token the f32 logits pick (the first on a tie, as `Kernels.argmax`).
///
/// Why it is exact. For a hidden state x [K] and head row w_j [K], let S_j = Σ_i |x_i| |w_ji|
/// ≤ ‖x‖₂ ‖w_j‖₂. The bf16 logit ã_j = Σ bf16(x_i) · bf16(w_ji) (each product exact in f32, the
/// sum rounded in f32) is within (2u + u² + γ_K (1 + u)²) S_j of the real dot product r_j, where
/// u = 2⁻⁸ is bf16's rounding and γ_K ≈ K · 2⁻²⁴ an f32 sum's; the f32 logit f_j is within γ_K S_j
/// of r_j. So |ã_j − f_j| ≤ e_j = c(K) ‖x‖ ‖w_j‖ with c(K) = 2u + u² + 2.2 γ_K. Let k be the token
/// where ã_k − e_k is largest, L that value: f_k ≥ L, and any token with ã_j + e_j < L has
/// f_j < f_k and cannot be the f32 argmax. The rest (a handful for a confident model) get their
/// f32 logits, and the largest of those wins. A row with more than `maxCandidates` left, or
/// anything not finite, takes the full f32 head instead.
final class ScreenedHead {
    let vocab: Int, dim: Int
    /// The head rounded to bf16 [vocab, dim].
    let weights: WeightMatrix
    /// ‖w_j‖₂ of each f32 row [vocab], rounded up.
    let norms: [Float]
    /// c(K) above, widened by 2⁻¹⁰ for the rounding of the screen's own arithmetic.
    let c: Float

    /// Rows with more candidates than this take the full f32 head.
    var maxCandidates: Int { max(64, vocab / 16) }

    /// Rounds `head` (dense f32 [vocab, dim]) to bf16 and takes its row norms; nil when bf16
    /// products do not run natively here.
    init?(_ head: WeightMatrix) {
        guard BF16.support.available, !head.isPacked, !head.isBF16 else { return nil }
        vocab = head.rows; dim = head.cols
        weights = head.roundedToBF16()
        let V = head.rows, K = head.cols
        norms = Kernels.filled(V) { n in
            head.withFloats { w in
                Kernels.forBands(V, parts: BLAS.threads) { r in
                    for j in r { n[j] = ScreenedHead.roundedUpNorm(w + j * K, K) }
                }
            }
        }
        let u = 0x1p-8, gamma = 1.01 * Double(dim) * 0x1p-24
        c = Float((2 * u + u * u + 2.2 * gamma) * (1 + 0x1p-10))
    }

    /// Bytes the screen adds: the bf16 copy and the norms.
    static func bytes(for head: WeightMatrix) -> Int { head.rows * head.cols * 2 + head.rows * 4 }

    /// ‖v‖₂ of n floats, summed in f64 and rounded up to f32.
    static func roundedUpNorm(_ v: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = 0.0
        for i in 0..<n { s += Double(v[i]) * Double(v[i]) }
        return Float(s.squareRoot() * (1 + 0x1p-20))
    }

    /// Screened tokens since the process started, and f32 logits they took (tests and traces read them).
    nonisolated(unsafe) static var stats = (rows: 0, candidates: 0, fullRows: 0)
    private static let statsLock = NSLock()

    /// The f32 argmax of each of `rows` hidden states x [rows, dim]; `f32Head` [vocab, dim] is the
    /// dense f32 head the bf16 copy was made from, `fullRow(r)` the f32 argmax of row r by the full head.
    func greedy(_ x: UnsafePointer<Float>, rows: Int, f32Head w: UnsafePointer<Float>, fullRow: (Int) -> Int) -> [Int] {
        let V = vocab, K = dim, cap = maxCandidates
        // Each row's candidates and pick, side by side; rows that need the full head are left at −1.
        var picks = [Int](repeating: -1, count: rows)
        var seen = [Int](repeating: 0, count: rows)
        ScratchPool.shared.with(rows * V) { a in
            _ = weights.withBF16 { BF16.gemm(x, lda: K, $0, ldw: K, transposed: true, a, ldc: V, m: rows, n: V, k: K) }
            norms.withUnsafeBufferPointer { nb in picks.withUnsafeMutableBufferPointer { p in seen.withUnsafeMutableBufferPointer { s in
                let threads = max(1, min(BLAS.threads, rows))
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    var found = [Int32](repeating: 0, count: cap)
                    found.withUnsafeMutableBufferPointer { fb in
                        for r in stride(from: t, to: rows, by: threads) {
                            let xr = x + r * K, bound = c * ScreenedHead.roundedUpNorm(xr, K)
                            guard bound.isFinite else { continue }
                            let n = aft_screen_candidates(a + r * V, nb.baseAddress!, V, bound, 0x1p-20, fb.baseAddress!, cap)
                            guard n > 0 else { continue }
                            s[r] = n
                            var best = -1, bestValue = -Float.infinity
                            for j in fb.prefix(n) {
                                let f = ScreenedHead.dot(xr, w + Int(j) * K, K)
                                if f > bestValue || best < 0 && !f.isNaN { best = Int(j); bestValue = f }
                            }
                            if best >= 0 { p[r] = best }
                        }
                    }
                }
            } } }
        }
        var full = 0
        for r in 0..<rows where picks[r] < 0 { picks[r] = fullRow(r); full += 1 }
        ScreenedHead.statsLock.lock()
        ScreenedHead.stats.rows += rows; ScreenedHead.stats.candidates += seen.reduce(0, +); ScreenedHead.stats.fullRows += full
        ScreenedHead.statsLock.unlock()
        return picks
    }

    /// ⟨a, b⟩ over n floats, summed in f32.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        let m = n / 16 * 16
        var s = m > 0 ? Kernels.dot(a, b, m) : 0
        for i in m..<n { s += a[i] * b[i] }
        return s
    }
}
