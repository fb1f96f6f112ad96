import Foundation

/// Statistics for honest reporting: confidence intervals and paired tests.
public enum Stats {
    /// Wilson score interval for a binomial proportion at 95 % (z = 1.96); returns (low, high).
    public static func wilson(successes k: Int, n: Int, z: Double = 1.959963984540054) -> (Double, Double) {
        guard n > 0 else { return (0, 1) }
        let p = Double(k) / Double(n), nn = Double(n)
        let denom = 1 + z * z / nn
        let centre = (p + z * z / (2 * nn)) / denom
        let half = z * ((p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()) / denom
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Exact two-sided McNemar p-value from the discordant counts b and c (binomial, p = 0.5).
    public static func mcnemarExact(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        // P(X ≤ k) for X ~ Bin(n, 1/2), summed in log space for stability.
        var total = 0.0
        for i in 0...k { total += exp(logChoose(n, i) - Double(n) * log(2.0)) }
        return min(1, 2 * total)
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) }
}
