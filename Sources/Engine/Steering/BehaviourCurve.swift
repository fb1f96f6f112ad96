import Foundation

/// Mean of per-item probabilities with a 95 % normal interval (clipped to [0, 1]).
public struct ProbabilitySummary: Equatable {
    public let n: Int
    public let mean: Double, low: Double, high: Double
    public init(_ p: [Double]) {
        let v = p.filter { $0.isFinite }
        n = v.count
        let m = v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
        let sd = v.count > 1 ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
        let h = 1.959963984540054 * sd / Double(max(v.count, 1)).squareRoot()
        mean = m; low = max(0, m - h); high = min(1, m + h)
    }
}

/// A steering set times a scale (every layer's vector multiplied).
public func scaled(_ set: SteeringSet, by s: Double) -> SteeringSet {
    set.map { ($0.layer, $0.values.map { $0 * Float(s) }) }
}

extension Scorer {
    /// Scores of `items` under each set at each scale, sharing the base model (scale 0) and every
    /// block the sets agree on: `[set][scale][item]` (a scale of 0 gives the base scores).
    /// Stoppable like `scoreAll`: on a stop, every list holds the same finished prefix of items.
    public func scaledScores(_ items: [MCItem], sets: [SteeringSet], scales: [Double], context: RunContext = RunContext(),
                             onChunk: (Int) -> Void = { _ in }) -> (base: [ItemScore], scored: [[[ItemScore]]]) {
        var all: [SteeringSet] = [[]], index: [[Int]] = []
        for set in sets {
            index.append(scales.map { s -> Int in
                if s == 0 { return 0 }
                all.append(scaled(set, by: s)); return all.count - 1
            })
        }
        let per = scoreSets(items, sets: all, context: context) { onChunk($0.count) }
        let base = per.map { $0[0] }
        return (base, index.map { row in row.map { k in per.map { $0[k] } } })
    }
}
