import Engine
import Foundation

/// JSON-ready numbers: NaN and ±infinity become null (JSON has no such numbers).
func jnum(_ d: Double) -> Any { d.isFinite ? d : NSNull() }

extension ItemScore {
    /// The item as a JSON object: doc, gold, ll (nats per choice), pred, pred_norm.
    var json: [String: Any] { ["doc": doc, "gold": gold, "ll": ll.map(jnum), "pred": pred, "pred_norm": predNorm] }
}

extension ResultValue {
    /// Short kind name, used in file names of the report ("eval", "sweep", …).
    public var kind: String {
        switch self {
        case .eval: return "eval"
        case .model: return "model"
        case .text: return "text"
        case .sweep: return "sweep"
        case .train: return "train"
        case .compose: return "compose"
        }
    }

    /// The raw result as a JSON object (per-item scores, per-layer and per-epoch numbers included).
    public var json: [String: Any] {
        switch self {
        case .eval(let e):
            let s = EvalSummary(e.scores)
            let (a0, a1) = s.interval(norm: false), (b0, b1) = s.interval(norm: true)
            return ["kind": "eval", "task": e.task, "model": e.model, "n": s.n, "interrupted": e.interrupted, "seconds": e.seconds,
                    "acc": s.acc, "acc_ci95": [a0, a1], "acc_norm": s.accNorm, "acc_norm_ci95": [b0, b1],
                    "items": e.scores.map { $0.json }]
        case .model(let name, let summary):
            return ["kind": "model", "name": name, "summary": summary]
        case .text(let t):
            return ["kind": "text", "text": t]
        case .sweep(let r):
            return ["kind": "sweep", "task": r.task, "model": r.model, "metric": r.metricName, "run_dir": r.runDir,
                    "base": jnum(r.baseMetric), "base_ci95": [jnum(r.baseLow), jnum(r.baseHigh)], "best_layer": r.bestLayer as Any? ?? NSNull(),
                    "interrupted": r.interrupted, "gradient_screen": r.screen.map(jnum),
                    "cache_bytes": r.cacheBytes, "cache_on_disk": r.cacheOnDisk, "cache_passes": r.cachePasses,
                    "layers": r.layers.map { l -> [String: Any] in
                        ["layer": l.layer, "val_n": l.valN, "val_metric": jnum(l.valMetric), "val_ci95": [jnum(l.valLow), jnum(l.valHigh)],
                         "val_acc": jnum(l.valAcc), "val_acc_norm": jnum(l.valAccNorm), "best_epoch": l.bestEpoch,
                         "vector_norm": jnum(l.vectorNorm), "norm_ratio": jnum(l.normRatio), "seconds": l.seconds,
                         "seed_metrics": l.seedMetrics.map(jnum), "epoch_val_metric": l.epochValMetric.map(jnum),
                         "epoch_train_loss": l.epochTrainLoss.map(jnum)]
                    }]
        case .train(let t):
            let rep = t.report
            func side(_ sc: [ItemScore]) -> [String: Any] { let e = EvalSummary(sc); return ["acc": e.acc, "acc_norm": e.accNorm] }
            return ["kind": "train", "vector": t.name, "layer": t.layer, "metric": t.metricName, "selected_seed": t.selectedSeed,
                    "runs": t.runs.map { r -> [String: Any] in
                        ["seed": r.seed, "best_epoch": r.bestEpoch, "best_val": jnum(r.bestVal), "interrupted": r.interrupted,
                         "epochs": r.history.map { h -> [String: Any] in
                             ["epoch": h.epoch, "train_loss": jnum(h.trainLoss), "val_loss": jnum(h.valLoss),
                              "val_acc": jnum(h.valAcc), "val_acc_norm": jnum(h.valAccNorm)] }]
                    },
                    "test": ["n": rep.base.count, "base": side(rep.base), "steered": side(rep.steered),
                             "mcnemar_p_acc": jnum(rep.mcnemar(norm: false)), "mcnemar_p_acc_norm": jnum(rep.mcnemar(norm: true)),
                             "vector_norm": jnum(rep.vectorNorm), "norm_ratio": jnum(rep.normRatio),
                             "items": zip(rep.base, rep.steered).map { ["doc": $0.doc, "gold": $0.gold, "base_ll": $0.ll.map(jnum), "steered_ll": $1.ll.map(jnum)] }]]
        case .compose(let c):
            return ["kind": "compose", "model": c.model, "metric": c.metricName, "tasks": c.tasks, "rows": c.rows,
                    "row_layers": c.rowLayers.map { $0 as Any? ?? NSNull() }, "interrupted": c.interrupted, "seconds": c.seconds,
                    "router": ["layer": c.routeLayer, "tasks": c.routeTasks, "train_items_per_task": c.routerTrainItems,
                               "own_task_fraction": c.tasks.indices.map { c.routeAccuracy(task: $0).map(jnum) ?? NSNull() }],
                    "base": c.tasks.indices.map { k -> [String: Any] in
                        let e = EvalSummary(c.base[k]); return ["task": c.tasks[k], "n": e.n, "acc": e.acc, "acc_norm": e.accNorm] },
                    "matrix": c.rows.indices.map { r in c.tasks.indices.map { k -> [String: Any] in
                        let e = EvalSummary(c.scores[r][k])
                        return ["acc": e.acc, "acc_norm": e.accNorm, "delta": jnum(c.delta(row: r, task: k)),
                                "mcnemar_p": jnum(c.report(row: r, task: k).mcnemar(norm: c.metricNorm))] } },
                    "items": c.tasks.indices.map { k in c.base[k].indices.map { i -> [String: Any] in
                        ["doc": c.base[k][i].doc, "gold": c.base[k][i].gold, "route": c.routeTasks[c.routes[k][i]],
                         "base_ll": c.base[k][i].ll.map(jnum), "rows_ll": c.rows.indices.map { c.scores[$0][k][i].ll.map(jnum) }] } }]
        }
    }

    /// The result as markdown tables (empty for results that are only text).
    public var markdownTables: String {
        func f(_ d: Double) -> String { d.isFinite ? String(format: "%.4f", d) : "–" }
        switch self {
        case .eval(let e):
            let s = EvalSummary(e.scores)
            let (a0, a1) = s.interval(norm: false), (b0, b1) = s.interval(norm: true)
            return "| \(e.task) (\(s.n) items) | value | 95% Wilson interval |\n|---|---:|---|\n"
                + "| acc | \(f(s.acc)) | [\(f(a0)), \(f(a1))] |\n| acc_norm | \(f(s.accNorm)) | [\(f(b0)), \(f(b1))] |\n"
        case .sweep(let r):
            let best = r.bestLayer
            var t = "| layer | val \(r.metricName) | 95% interval | Δ vs base | best epoch | ‖v‖/‖h‖ | seconds |\n|---:|---:|---|---:|---:|---:|---:|\n"
            t += "| base | \(f(r.baseMetric)) | [\(f(r.baseLow)), \(f(r.baseHigh))] | | | | |\n"
            for l in r.layers {
                let name = l.layer == best ? "**\(l.layer)** (best)" : "\(l.layer)"
                t += "| \(name) | \(f(l.valMetric)) | [\(f(l.valLow)), \(f(l.valHigh))] | \(String(format: "%+.4f", l.valMetric - r.baseMetric)) | \(l.bestEpoch) | \(String(format: "%.3f", l.normRatio)) | \(String(format: "%.1f", l.seconds)) |\n"
            }
            return t
        case .train(let tr):
            var t = "| seed | best epoch | epochs run | val \(tr.metricName) | |\n|---:|---:|---:|---:|---|\n"
            for r in tr.runs {
                t += "| \(r.seed) | \(r.bestEpoch) | \(r.history.count - 1) | \(f(r.bestVal)) | \(r.seed == tr.selectedSeed && tr.runs.count > 1 ? "selected on validation" : "") |\n"
            }
            let rep = tr.report, b = EvalSummary(rep.base), s = EvalSummary(rep.steered)
            t += "\n| test (\(b.n) items, scored once) | base | steered | Δ | McNemar p |\n|---|---:|---:|---:|---:|\n"
            for (name, norm) in [("acc", false), ("acc_norm", true)] {
                let (b0, b1) = b.interval(norm: norm), (s0, s1) = s.interval(norm: norm)
                let (mb, ms) = (b.metric(norm: norm), s.metric(norm: norm))
                t += "| \(name) | \(f(mb)) [\(f(b0)), \(f(b1))] | \(f(ms)) [\(f(s0)), \(f(s1))] | \(String(format: "%+.4f", ms - mb)) | \(String(format: "%.4g", rep.mcnemar(norm: norm))) |\n"
            }
            return t
        case .compose(let c):
            var t = "| steered with | " + c.tasks.enumerated().map { "\($0.element) (n=\(c.base[$0.offset].count))" }.joined(separator: " | ") + " |\n"
            t += "|---|" + String(repeating: "---:|", count: c.tasks.count) + "\n"
            t += "| base \(c.metricName) | " + c.tasks.indices.map { f(c.baseMetric(task: $0)) }.joined(separator: " | ") + " |\n"
            for (r, name) in c.rows.enumerated() {
                let label = c.rowLayers[r].map { "\(name) (layer \($0))" } ?? name
                t += "| \(label) | " + c.tasks.indices.map { k in
                    String(format: "%+.4f (p=%.3g)", c.delta(row: r, task: k), c.report(row: r, task: k).mcnemar(norm: c.metricNorm))
                }.joined(separator: " | ") + " |\n"
            }
            return t + "\nCells: Δ \(c.metricName) vs base on the task's test split, exact McNemar p on the paired items.\n"
        case .model, .text: return ""
        }
    }
}
