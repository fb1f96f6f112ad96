import Foundation

extension Transformer {
    /// The logit lens of a direction: `v` [hidden] read as a final residual, through the final norm
    /// and the unembedding (with its bias, if any): [vocab] logits.
    public func logitLens(_ v: [Float]) -> [Float] {
        logits(hidden: normed(finalNorm, v, rows: 1, d: config.hidden), rows: [0])
    }
}

/// Euclidean norm of `v`, accumulated in Double.
public func l2Norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1 * $1) }.squareRoot() }

/// Σ over rows `rows` of `x` [·, width] of each row's Euclidean norm (a mean residual norm's numerator).
public func rowNormSum(_ x: [Float], rows: Range<Int>, width d: Int) -> Double {
    var total = 0.0
    for t in rows {
        var s = 0.0
        for j in 0..<d { s += Double(x[t * d + j] * x[t * d + j]) }
        total += s.squareRoot()
    }
    return total
}

/// Cosine similarity of two vectors of one width (0 when either is zero).
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var ab = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
    return aa > 0 && bb > 0 ? ab / (aa * bb).squareRoot() : 0
}

/// Indices of the `k` largest values of `v`, largest first (ties: lower index first).
public func topIndices(_ v: [Float], _ k: Int) -> [Int] {
    Array(v.indices.sorted { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) }.prefix(k))
}
