import Engine
import Foundation

/// Result of `sweep … method=mean|pca` (and the behaviour curve of a trained CAA sweep): for each
/// layer, the vector's validation scores at scale +1 and −1 beside the base model's.
public struct BehaviourSweepResult: CommandResult {
    public struct Layer {
        public let layer: Int
        public let norm: Double, residualNorm: Double
        /// Validation scores with the vector added (+1) and subtracted (−1).
        public let plus: [ItemScore], minus: [ItemScore]
    }
    public let task: String
    public let model: String
    /// mean, pca or train.
    public let method: String
    public let pairs: Int
    public let normalize: Bool
    public let base: [ItemScore]
    public let layers: [Layer]
    public let seconds: Double
    public let interrupted: Bool

    public var kind: String { "sweep-\(method)" }
    var isBehaviour: Bool { CAA.behaviour(task) != nil }
    var metricName: String { normalize ? "acc_norm" : "acc" }

    func p(_ s: [ItemScore]) -> ProbabilitySummary { ProbabilitySummary(s.map(CAA.goldProbability)) }
    func metric(_ s: [ItemScore]) -> Double { EvalSummary(s).metric(norm: normalize) }
    /// What the curve ranks layers by: the behaviour probability at +1 (CAA), else the metric at +1.
    func key(_ l: Layer) -> Double { isBehaviour ? p(l.plus).mean : metric(l.plus) }
    public var bestLayer: Int? { layers.max { key($0) < key($1) || (key($0) == key($1) && $0.layer > $1.layer) }?.layer }

    public var display: String {
        let b = p(base)
        var t = "sweep \(task) method=\(method) on \(model): \(layers.count) layers, validation \(b.n) items"
            + (method == "train" ? "" : ", vectors from \(pairs) training pairs") + (interrupted ? " (interrupted)" : "") + "\n"
        t += String(format: "  base: p(gold) %.4f [%.4f, %.4f]  %@ %.4f\n", b.mean, b.low, b.high, metricName, metric(base))
        for l in layers {
            let a = p(l.plus), c = p(l.minus)
            t += String(format: "  layer %2d  p(gold) × +1 %.4f [%.4f, %.4f]  × −1 %.4f  shift %+.4f  %@ × +1 %.4f  ‖v‖/‖h‖ %.3f%@\n",
                        l.layer, a.mean, a.low, a.high, c.mean, a.mean - c.mean, metricName, metric(l.plus),
                        l.residualNorm > 0 ? l.norm / l.residualNorm : 0, l.layer == bestLayer ? "  ← best" : "")
        }
        return t + String(format: "  %.1f s; p(gold) is the behaviour-matching answer's probability for caa/ tasks", seconds)
    }

    public var json: [String: Any] {
        let b = p(base)
        return ["kind": kind, "task": task, "model": model, "method": method, "pairs": pairs, "metric": metricName, "seconds": seconds,
                "interrupted": interrupted, "best_layer": bestLayer.map { $0 as Any } ?? NSNull(),
                "base": ["p_gold": jnum(b.mean), "p_gold_ci95": [jnum(b.low), jnum(b.high)], metricName: jnum(metric(base))],
                "layers": layers.map { l -> [String: Any] in
                    let a = p(l.plus), c = p(l.minus)
                    return ["layer": l.layer, "norm": jnum(l.norm), "mean_residual_norm": jnum(l.residualNorm),
                            "p_gold_plus": jnum(a.mean), "p_gold_plus_ci95": [jnum(a.low), jnum(a.high)],
                            "p_gold_minus": jnum(c.mean), "p_gold_minus_ci95": [jnum(c.low), jnum(c.high)],
                            "\(metricName)_plus": jnum(metric(l.plus)), "\(metricName)_minus": jnum(metric(l.minus))] }]
    }

    public var markdownTables: String {
        var t = "| layer | p(gold) × +1 | p(gold) × −1 | shift | \(metricName) × +1 | ‖v‖/‖h‖ |\n|---:|---:|---:|---:|---:|---:|\n"
        t += "| base | \(mdNumber(p(base).mean)) | \(mdNumber(p(base).mean)) | 0 | \(mdNumber(metric(base))) | |\n"
        for l in layers {
            let a = p(l.plus), c = p(l.minus)
            t += "| \(l.layer)\(l.layer == bestLayer ? " (best)" : "") | \(mdNumber(a.mean)) [\(mdNumber(a.low)), \(mdNumber(a.high))] | \(mdNumber(c.mean)) | \(String(format: "%+.4f", a.mean - c.mean)) | \(mdNumber(metric(l.plus))) | \(mdNumber(l.residualNorm > 0 ? l.norm / l.residualNorm : .nan)) |\n"
        }
        return t
    }

    public func charts(what: String?) -> [Chart] {
        let xs = layers.map { Double($0.layer) }
        var c = Chart(name: "behaviour-layers-\(method)", title: "\(task) on \(model): p(gold) by layer, vector × ±1 (method \(method), validation)",
                      xLabel: "layer (vector added after this block)", yLabel: "p(gold)",
                      series: [.init(label: "× +1", points: Array(zip(xs, layers.map { p($0.plus).mean })), withPoints: true),
                               .init(label: "× −1", points: Array(zip(xs, layers.map { p($0.minus).mean })), withPoints: true)])
        c.band = layers.map { let a = p($0.plus); return (Double($0.layer), a.low, a.high) }
        let b = p(base).mean
        if b.isFinite { c.hLine = (b, String(format: "base %.3f", b)) }
        return [c]
    }

    public func plotDirectory(outDir: String) -> String? { "\(outDir)/sweeps/\(task.replacingOccurrences(of: "/", with: "_"))-\(method)" }
}
