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
    /// The K-shot prompting baseline (no vector) on the report's test items; nil when skipped.
    public let prompted: [ItemScore]?
    public let shots: Int
    /// Whether the selection metric is the second label (acc_norm, flexible) or the first (acc, strict).
    public let primaryNorm: Bool
    /// The mean-difference vector extracted at the same layer from the same training split, on the same test items.
    public struct Extracted {
        public let scores: [ItemScore]
        public let norm: Double
        /// Cosine similarity of the trained and the extracted vector.
        public let cosine: Double
        public let pairs: Int
    }
    public var extracted: Extracted?

    public init(name: String, layer: Int, metricName: String, runs: [TrainRun], selectedSeed: UInt64, report: SteeringReport,
                prompted: [ItemScore]? = nil, shots: Int = 0, primaryNorm: Bool = true) {
        self.name = name; self.layer = layer; self.metricName = metricName; self.runs = runs; self.selectedSeed = selectedSeed
        self.report = report; self.prompted = prompted; self.shots = shots; self.primaryNorm = primaryNorm
    }

    public var kind: String { "train" }

    /// The two verdicts a test item has, and which of them is length-normalised: acc and acc_norm
    /// for multiple choice; strict-match and flexible-extract exact match for GSM8K.
    public static func labels(metricName: String) -> [(String, Bool)] {
        metricName == "exact_match" ? [("strict", false), ("flexible", true)] : [("acc", false), ("acc_norm", true)]
    }
    var labels: [(String, Bool)] { TrainResult.labels(metricName: metricName) }

    /// The prompting baseline against the steered model on the same items (base = the prompt).
    var promptReport: SteeringReport? {
        prompted.map { p in SteeringReport(layer: layer, base: p, steered: Array(report.steered.prefix(p.count)), vectorNorm: 0, meanResidualNorm: 0) }
    }

    /// The extracted vector against the base model, and against the trained one, on the same items.
    var extractedReports: (vsBase: SteeringReport, vsTrained: SteeringReport)? {
        extracted.map { e in
            (SteeringReport(layer: layer, base: Array(report.base.prefix(e.scores.count)), steered: e.scores, vectorNorm: e.norm, meanResidualNorm: report.meanResidualNorm),
             SteeringReport(layer: layer, base: e.scores, steered: Array(report.steered.prefix(e.scores.count)), vectorNorm: 0, meanResidualNorm: 0))
        }
    }

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
        t += TrainResult.text(of: report, labels: labels)
        if let (eb, et) = extractedReports, let e = extracted {
            t += String(format: "\n  extracted: mean difference of %d pairs at layer %d, same training split, no training (‖v‖ %.3f, cosine with the trained vector %+.3f):",
                        e.pairs, layer, e.norm, e.cosine)
            for (name, norm) in labels {
                let x = EvalSummary(eb.steered), st = EvalSummary(et.steered)
                let (x0, x1) = x.interval(norm: norm)
                t += String(format: "\n  %@ extracted %.4f [%.4f, %.4f]  vs base %+.4f p=%.4g  trained − extracted %+.4f p=%.4g",
                            name.padding(toLength: 8, withPad: " ", startingAt: 0), x.metric(norm: norm), x0, x1,
                            x.metric(norm: norm) - EvalSummary(eb.base).metric(norm: norm), eb.mcnemar(norm: norm),
                            st.metric(norm: norm) - x.metric(norm: norm), et.mcnemar(norm: norm))
            }
        }
        if let pr = promptReport {
            t += "\n  \(shots)-shot prompt, no vector, on the same items (does the vector beat showing examples?):"
            for (name, norm) in labels {
                let p = EvalSummary(pr.base), st = EvalSummary(pr.steered)
                let (p0, p1) = p.interval(norm: norm), (dc, dd) = pr.discordant(norm: norm)
                t += String(format: "\n  %@ prompt %.4f [%.4f, %.4f]  steered − prompt %+.4f  McNemar p=%.4g (%d↓ %d↑)",
                            name.padding(toLength: 8, withPad: " ", startingAt: 0), p.metric(norm: norm), p0, p1,
                            st.metric(norm: norm) - p.metric(norm: norm), pr.mcnemar(norm: norm), dc, dd)
            }
        }
        return t
    }

    /// The test report: base vs steered with intervals, McNemar p and discordant counts, and ‖v‖.
    static func text(of rep: SteeringReport, labels: [(String, Bool)] = labels(metricName: "acc")) -> String {
        let n = rep.base.count, b = EvalSummary(rep.base), s = EvalSummary(rep.steered)
        func line(_ name: String, _ norm: Bool) -> String {
            let (b0, b1) = b.interval(norm: norm), (s0, s1) = s.interval(norm: norm)
            let (dc, dd) = rep.discordant(norm: norm)
            return String(format: "  %@ base %.4f [%.4f, %.4f]  steered %.4f [%.4f, %.4f]  Δ %+.4f  McNemar p=%.4g (%d↓ %d↑)",
                          name.padding(toLength: 8, withPad: " ", startingAt: 0), b.metric(norm: norm), b0, b1,
                          s.metric(norm: norm), s0, s1, s.metric(norm: norm) - b.metric(norm: norm), rep.mcnemar(norm: norm), dc, dd)
        }
        return "test split (\(n) items, scored once), layer \(rep.layer):\n" + labels.map { line($0.0, $0.1) }.joined(separator: "\n")
            + String(format: "\n  ‖v‖ = %.3f, %.3f × mean residual norm at layer %d", rep.vectorNorm, rep.normRatio, rep.layer)
    }

    public var json: [String: Any] {
        let rep = report
        func side(_ sc: [ItemScore]) -> [String: Any] {
            let e = EvalSummary(sc)
            return Dictionary(uniqueKeysWithValues: labels.map { ($0.0, e.metric(norm: $0.1)) })
        }
        return ["kind": "train", "vector": name, "layer": layer, "metric": metricName, "selected_seed": selectedSeed,
                "runs": runs.map { r -> [String: Any] in
                    ["seed": r.seed, "best_epoch": r.bestEpoch, "best_val": jnum(r.bestVal), "interrupted": r.interrupted,
                     "epochs": r.history.map { h -> [String: Any] in
                         ["epoch": h.epoch, "train_loss": jnum(h.trainLoss), "val_loss": jnum(h.valLoss),
                          "val_acc": jnum(h.valAcc), "val_acc_norm": jnum(h.valAccNorm)] }]
                },
                "test": ["n": rep.base.count, "base": side(rep.base), "steered": side(rep.steered),
                         "mcnemar_p_\(labels[0].0)": jnum(rep.mcnemar(norm: false)), "mcnemar_p_\(labels[1].0)": jnum(rep.mcnemar(norm: true)),
                         "prompt_baseline": promptReport.map { pr -> Any in
                             ["shots": shots, "scores": side(pr.base), "mcnemar_p_vs_steered": jnum(pr.mcnemar(norm: primaryNorm))] } ?? NSNull(),
                         "extracted": extractedReports.map { er -> Any in
                             ["method": "mean", "pairs": extracted?.pairs ?? 0, "norm": jnum(extracted?.norm ?? .nan), "cosine_with_trained": jnum(extracted?.cosine ?? .nan),
                              "scores": side(er.vsBase.steered), "mcnemar_p_vs_base": jnum(er.vsBase.mcnemar(norm: primaryNorm)),
                              "mcnemar_p_trained_vs_extracted": jnum(er.vsTrained.mcnemar(norm: primaryNorm)),
                              "items_ll": er.vsBase.steered.map { $0.ll.map(jnum) }] } ?? NSNull(),
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
        for (name, norm) in labels {
            let (b0, b1) = b.interval(norm: norm), (s0, s1) = s.interval(norm: norm)
            let (mb, ms) = (b.metric(norm: norm), s.metric(norm: norm))
            t += "| \(name) | \(f(mb)) [\(f(b0)), \(f(b1))] | \(f(ms)) [\(f(s0)), \(f(s1))] | \(String(format: "%+.4f", ms - mb)) | \(String(format: "%.4g", rep.mcnemar(norm: norm))) |\n"
        }
        if let (eb, et) = extractedReports, let e = extracted {
            let x = EvalSummary(eb.steered)
            t += "\n| extracted (mean diff, \(e.pairs) pairs, cosine \(String(format: "%+.3f", e.cosine))) | score | vs base | McNemar p | trained − extracted | McNemar p |\n|---|---:|---:|---:|---:|---:|\n"
            for (name, norm) in labels {
                let (x0, x1) = x.interval(norm: norm)
                t += "| \(name) | \(f(x.metric(norm: norm))) [\(f(x0)), \(f(x1))] | \(String(format: "%+.4f", x.metric(norm: norm) - b.metric(norm: norm))) | \(String(format: "%.4g", eb.mcnemar(norm: norm))) | \(String(format: "%+.4f", s.metric(norm: norm) - x.metric(norm: norm))) | \(String(format: "%.4g", et.mcnemar(norm: norm))) |\n"
            }
        }
        if let pr = promptReport {
            let p = EvalSummary(pr.base)
            t += "\n| \(shots)-shot prompt, no vector | score | steered − prompt | McNemar p |\n|---|---:|---:|---:|\n"
            for (name, norm) in labels {
                let (p0, p1) = p.interval(norm: norm)
                t += "| \(name) | \(f(p.metric(norm: norm))) [\(f(p0)), \(f(p1))] | \(String(format: "%+.4f", s.metric(norm: norm) - p.metric(norm: norm))) | \(String(format: "%.4g", pr.mcnemar(norm: norm))) |\n"
            }
        }
        return t
    }

    public func charts(what: String?) -> [Chart] { Session.charts(of: self) }
    public func plotDirectory(outDir: String) -> String? { "\(outDir)/vectors/\(name)" }
}
