import Engine
import Foundation

/// `sweep`'s result: the validation layer curve, the base line and the best layer.
extension SweepResult: CommandResult {
    public var kind: String { "sweep" }

    /// The layer curve as a table, best layer marked.
    public var display: String {
        var t = String(format: "sweep %@ on %@ (validation %@; base %.4f [%.4f, %.4f])%@\n", task, model, metricName, baseMetric, baseLow, baseHigh,
                       interrupted ? " — interrupted, finished layers kept" : "")
        let best = bestLayer
        for l in layers {
            t += String(format: "  layer %2d  %.4f [%.4f, %.4f]  %+.4f%@\n", l.layer, l.valMetric, l.valLow, l.valHigh, l.valMetric - baseMetric,
                        l.layer == best ? "  ← best" : "")
        }
        if !screen.isEmpty {
            t += "  gradient screen ‖dL/dh‖ at v=0: " + screen.enumerated().map { String(format: "%@%.3g", $0.offset == 0 ? "emb " : "", $0.element) }.joined(separator: " ") + "\n"
        }
        return t + "  run directory: \(runDir)"
    }

    public var json: [String: Any] {
        ["kind": "sweep", "task": task, "model": model, "metric": metricName, "run_dir": runDir,
         "base": jnum(baseMetric), "base_ci95": [jnum(baseLow), jnum(baseHigh)], "best_layer": bestLayer as Any? ?? NSNull(),
         "interrupted": interrupted, "gradient_screen": screen.map(jnum),
         "cache_bytes": cacheBytes, "cache_on_disk": cacheOnDisk, "cache_passes": cachePasses,
         "layers": layers.map { l -> [String: Any] in
             ["layer": l.layer, "val_n": l.valN, "val_metric": jnum(l.valMetric), "val_ci95": [jnum(l.valLow), jnum(l.valHigh)],
              "val_acc": jnum(l.valAcc), "val_acc_norm": jnum(l.valAccNorm), "best_epoch": l.bestEpoch,
              "vector_norm": jnum(l.vectorNorm), "norm_ratio": jnum(l.normRatio), "seconds": l.seconds,
              "seed_metrics": l.seedMetrics.map(jnum), "epoch_val_metric": l.epochValMetric.map(jnum),
              "epoch_train_loss": l.epochTrainLoss.map(jnum)]
         }]
    }

    public var markdownTables: String {
        let f = mdNumber, best = bestLayer
        var t = "| layer | val \(metricName) | 95% interval | Δ vs base | best epoch | ‖v‖/‖h‖ | seconds |\n|---:|---:|---|---:|---:|---:|---:|\n"
        t += "| base | \(f(baseMetric)) | [\(f(baseLow)), \(f(baseHigh))] | | | | |\n"
        for l in layers {
            let name = l.layer == best ? "**\(l.layer)** (best)" : "\(l.layer)"
            t += "| \(name) | \(f(l.valMetric)) | [\(f(l.valLow)), \(f(l.valHigh))] | \(String(format: "%+.4f", l.valMetric - baseMetric)) | \(l.bestEpoch) | \(String(format: "%.3f", l.normRatio)) | \(String(format: "%.1f", l.seconds)) |\n"
        }
        return t
    }

    /// `what`: layers, norms, epochs, screen or heatmap (one chart), or all.
    public func charts(what: String?) -> [Chart] {
        let all = Session.charts(of: self)
        guard let only = what, only != "all" else { return all }
        let map = ["layers": "layer-curve", "norms": "norm-ratio", "epochs": "epochs", "screen": "gradient-screen", "heatmap": "layer-epoch"]
        return all.filter { $0.name == map[only] }
    }

    public func plotDirectory(outDir: String) -> String? { runDir }
}
