import Engine
import Foundation

/// Result of `eval caa/BEHAVIOUR`: the behaviour probability (CAA's A/B protocol) of the base model
/// and of each vector at each scale, averaged over the test items with 95 % intervals.
public struct BehaviourResult: CommandResult {
    public let behaviour: String
    public let model: String
    public let scales: [Double]
    public let base: [ItemScore]
    /// Per vector: its name (and layers) and the scores at each scale [scale][item].
    public let rows: [(name: String, layers: [Int], scores: [[ItemScore]])]
    public let seconds: Double
    public let interrupted: Bool

    public var kind: String { "behaviour" }

    func summary(_ s: [ItemScore]) -> ProbabilitySummary { ProbabilitySummary(s.map(CAA.goldProbability)) }

    public var display: String {
        let b = summary(base)
        var t = "caa/\(behaviour) on \(model): p(answer matching the behaviour), A/B test set, \(b.n) items\(interrupted ? " (interrupted)" : "")\n"
        t += String(format: "  base       %.4f [%.4f, %.4f]\n", b.mean, b.low, b.high)
        for r in rows {
            t += "  \(r.name) (layer\(r.layers.count > 1 ? "s" : "") \(r.layers.map(String.init).joined(separator: ",")))\n"
            for (k, sc) in scales.enumerated() {
                let s = summary(r.scores[k])
                t += String(format: "    × %+5.2f  %.4f [%.4f, %.4f]  Δ %+.4f\n", sc, s.mean, s.low, s.high, s.mean - b.mean)
            }
        }
        return t + String(format: "  %.1f s (95%% normal intervals over items)", seconds)
    }

    public var json: [String: Any] {
        let b = summary(base)
        return ["kind": "behaviour", "behaviour": behaviour, "model": model, "n": b.n, "scales": scales, "interrupted": interrupted,
                "base": ["mean": jnum(b.mean), "ci95": [jnum(b.low), jnum(b.high)]],
                "vectors": rows.map { r -> [String: Any] in
                    ["name": r.name, "layers": r.layers,
                     "points": scales.indices.map { k -> [String: Any] in
                         let s = summary(r.scores[k]); return ["scale": scales[k], "mean": jnum(s.mean), "ci95": [jnum(s.low), jnum(s.high)]] }] },
                "items": base.indices.map { i -> [String: Any] in
                    ["doc": base[i].doc, "base": jnum(CAA.goldProbability(base[i])),
                     "vectors": rows.map { r in r.scores.map { $0.indices.contains(i) ? jnum(CAA.goldProbability($0[i])) : NSNull() } }] }]
    }

    public var markdownTables: String {
        var t = "| vector | " + scales.map { String(format: "× %+.2f", $0) }.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: scales.count) + "\n"
        let b = summary(base)
        t += "| base | " + scales.map { _ in mdNumber(b.mean) }.joined(separator: " | ") + " |\n"
        for r in rows {
            t += "| \(r.name) | " + r.scores.map { sc -> String in let s = summary(sc); return "\(mdNumber(s.mean)) [\(mdNumber(s.low)), \(mdNumber(s.high))]" }.joined(separator: " | ") + " |\n"
        }
        return t + "\nCells: mean p(answer matching the behaviour) over \(b.n) A/B test items, 95% interval.\n"
    }

    public func charts(what: String?) -> [Chart] {
        let b = summary(base)
        var c = Chart(name: "behaviour-\(behaviour)", title: "caa/\(behaviour) on \(model): behaviour probability by steering scale",
                      xLabel: "scale (multiple of the vector)", yLabel: "p(answer matching the behaviour)",
                      series: rows.map { r in .init(label: r.name, points: scales.indices.map { (scales[$0], summary(r.scores[$0]).mean) }, withPoints: true) })
        if rows.count == 1 { c.band = scales.indices.map { let s = summary(rows[0].scores[$0]); return (scales[$0], s.low, s.high) } }
        if b.mean.isFinite { c.hLine = (b.mean, String(format: "base %.3f", b.mean)) }
        return [c]
    }

    public func plotDirectory(outDir: String) -> String? { "\(outDir)/behaviour/\(behaviour)" }
}
