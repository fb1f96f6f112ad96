import Engine
import Foundation

/// Result of `train`: every seed's validation score, the selected vector and the one test report.
public struct TrainResult: CommandResult {
    public let name: String
    public let layer: Int
    public let metricName: String
    public let runs: [TrainRun]
    public let selectedSeed: UInt64
    public let report: SteeringReport

    public var kind: String { "train" }

    public var display: String {
        let m = runs.map { $0.bestVal }
        let mean = m.reduce(0, +) / Double(m.count)
        let sd = m.count > 1 ? (m.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(m.count - 1)).squareRoot() : 0
        var t = "vector '\(name)' at layer \(layer)\n"
        for r in runs {
            t += String(format: "  seed %llu: best epoch %d of %d, val %@ %.4f%@\n", r.seed, r.bestEpoch, r.history.count - 1,
                        metricName, r.bestVal, r.seed == selectedSeed && runs.count > 1 ? "  ← selected (best of \(runs.count) seeds on validation)" : "")
        }
        if runs.count > 1 { t += String(format: "  val %@ over %d seeds: %.4f ± %.4f (mean ± sd)\n", metricName, runs.count, mean, sd) }
        return t + TrainResult.text(of: report)
    }

    /// The test report: base vs steered with intervals, McNemar p and discordant counts, and ‖v‖.
    static func text(of rep: SteeringReport) -> String {
        let n = rep.base.count, b = EvalSummary(rep.base), s = EvalSummary(rep.steered)
        func line(_ name: String, _ norm: Bool) -> String {
            let (b0, b1) = b.interval(norm: norm), (s0, s1) = s.interval(norm: norm)
            let (dc, dd) = rep.discordant(norm: norm)
            return String(format: "  %@ base %.4f [%.4f, %.4f]  steered %.4f [%.4f, %.4f]  Δ %+.4f  McNemar p=%.4g (%d↓ %d↑)",
                          name.padding(toLength: 8, withPad: " ", startingAt: 0), b.metric(norm: norm), b0, b1,
                          s.metric(norm: norm), s0, s1, s.metric(norm: norm) - b.metric(norm: norm), rep.mcnemar(norm: norm), dc, dd)
        }
        return "test split (\(n) items, scored once), layer \(rep.layer):\n" + line("acc", false) + "\n" + line("acc_norm", true)
            + String(format: "\n  ‖v‖ = %.3f, %.3f × mean residual norm at layer %d", rep.vectorNorm, rep.normRatio, rep.layer)
    }

    public var json: [String: Any] {
        let rep = report
        func side(_ sc: [ItemScore]) -> [String: Any] { let e = EvalSummary(sc); return ["acc": e.acc, "acc_norm": e.accNorm] }
        return ["kind": "train", "vector": name, "layer": layer, "metric": metricName, "selected_seed": selectedSeed,
                "runs": runs.map { r -> [String: Any] in
                    ["seed": r.seed, "best_epoch": r.bestEpoch, "best_val": jnum(r.bestVal), "interrupted": r.interrupted,
                     "epochs": r.history.map { h -> [String: Any] in
                         ["epoch": h.epoch, "train_loss": jnum(h.trainLoss), "val_loss": jnum(h.valLoss),
                          "val_acc": jnum(h.valAcc), "val_acc_norm": jnum(h.valAccNorm)] }]
                },
                "test": ["n": rep.base.count, "base": side(rep.base), "steered": side(rep.steered),
                         "mcnemar_p_acc": jnum(rep.mcnemar(norm: false)), "mcnemar_p_acc_norm": jnum(rep.mcnemar(norm: true)),
                         "vector_norm": jnum(rep.vectorNorm), "norm_ratio": jnum(rep.normRatio),
                         "items": zip(rep.base, rep.steered).map { ["doc": $0.doc, "gold": $0.gold, "base_ll": $0.ll.map(jnum), "steered_ll": $1.ll.map(jnum)] }]]
    }

    public var markdownTables: String {
        let f = mdNumber
        var t = "| seed | best epoch | epochs run | val \(metricName) | |\n|---:|---:|---:|---:|---|\n"
        for r in runs {
            t += "| \(r.seed) | \(r.bestEpoch) | \(r.history.count - 1) | \(f(r.bestVal)) | \(r.seed == selectedSeed && runs.count > 1 ? "selected on validation" : "") |\n"
        }
        let rep = report, b = EvalSummary(rep.base), s = EvalSummary(rep.steered)
        t += "\n| test (\(b.n) items, scored once) | base | steered | Δ | McNemar p |\n|---|---:|---:|---:|---:|\n"
        for (name, norm) in [("acc", false), ("acc_norm", true)] {
            let (b0, b1) = b.interval(norm: norm), (s0, s1) = s.interval(norm: norm)
            let (mb, ms) = (b.metric(norm: norm), s.metric(norm: norm))
            t += "| \(name) | \(f(mb)) [\(f(b0)), \(f(b1))] | \(f(ms)) [\(f(s0)), \(f(s1))] | \(String(format: "%+.4f", ms - mb)) | \(String(format: "%.4g", rep.mcnemar(norm: norm))) |\n"
        }
        return t
    }

    public func charts(what: String?) -> [Chart] { Session.charts(of: self) }
    public func plotDirectory(outDir: String) -> String? { "\(outDir)/vectors/\(name)" }
}
