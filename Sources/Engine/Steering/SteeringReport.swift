import Foundation

/// Base vs steered accuracy on the held-out test split, scored once, with paired statistics.
public struct SteeringReport {
    public let layer: Int
    public let base: [ItemScore]
    public let steered: [ItemScore]
    public let vectorNorm: Double
    public let meanResidualNorm: Double

    public init(layer: Int, base: [ItemScore], steered: [ItemScore], vectorNorm: Double, meanResidualNorm: Double) {
        self.layer = layer; self.base = base; self.steered = steered
        self.vectorNorm = vectorNorm; self.meanResidualNorm = meanResidualNorm
    }

    public var normRatio: Double { meanResidualNorm > 0 ? vectorNorm / meanResidualNorm : .nan }

    /// Discordant pairs (base right & steered wrong, base wrong & steered right) for acc or acc_norm.
    public func discordant(norm: Bool) -> (b: Int, c: Int) {
        var b = 0, c = 0
        for (x, y) in zip(base, steered) {
            let bx = norm ? x.correctNorm : x.correct, by = norm ? y.correctNorm : y.correct
            if bx && !by { b += 1 } else if !bx && by { c += 1 }
        }
        return (b, c)
    }

    public func mcnemar(norm: Bool) -> Double { let (b, c) = discordant(norm: norm); return Stats.mcnemarExact(b: b, c: c) }
}
