import Engine
import Foundation

/// `compose`'s result: the interference matrix of task vectors.
extension CompositionResult: CommandResult {
    public var kind: String { "compose" }

    /// The matrix as text: base per task, then Δ metric and McNemar p per row and task.
    public var display: String {
        let rw = max(10, (rows.map { $0.count }.max() ?? 0) + 8)
        let cw = max(22, (tasks.map { $0.count }.max() ?? 0) + 10)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        var t = "compose on \(model): Δ \(metricName) vs base on each task's test split (paired McNemar p)"
            + (interrupted ? " — interrupted, finished items kept" : "") + "\n"
        t += "  " + pad("", rw) + tasks.enumerated().map { pad("\($0.element) (n=\(base[$0.offset].count))", cw) }.joined() + "\n"
        t += "  " + pad("base", rw) + tasks.indices.map { pad(String(format: "%.4f", baseMetric(task: $0)), cw) }.joined() + "\n"
        for (r, name) in rows.enumerated() {
            let label = rowLayers[r].map { "\(name) (L\($0))" } ?? name
            t += "  " + pad(label, rw) + tasks.indices.map { k in
                pad(String(format: "%+.4f  p=%.3g", delta(row: r, task: k), report(row: r, task: k).mcnemar(norm: metricNorm)), cw)
            }.joined() + "\n"
        }
        guard routed else { return String(t.dropLast()) }
        let acc = tasks.indices.compactMap { k in routeAccuracy(task: k).map { String(format: "%@ %.0f%%", tasks[k], 100 * $0) } }
        t += "  router: nearest centroid of context residuals after block \(routeLayer) (\(routerTrainItems) training items per task)"
        if !acc.isEmpty { t += "; routed to its own vector: " + acc.joined(separator: ", ") }
        return t
    }

    public var json: [String: Any] {
        ["kind": "compose", "model": model, "metric": metricName, "tasks": tasks, "rows": rows,
         "row_layers": rowLayers.map { $0 as Any? ?? NSNull() }, "interrupted": interrupted, "seconds": seconds,
         "router": ["layer": routeLayer, "tasks": routeTasks, "train_items_per_task": routerTrainItems,
                    "own_task_fraction": tasks.indices.map { routeAccuracy(task: $0).map(jnum) ?? NSNull() }],
         "base": tasks.indices.map { k -> [String: Any] in
             let e = EvalSummary(base[k]); return ["task": tasks[k], "n": e.n, "acc": e.acc, "acc_norm": e.accNorm] },
         "matrix": rows.indices.map { r in tasks.indices.map { k -> [String: Any] in
             let e = EvalSummary(scores[r][k])
             return ["acc": e.acc, "acc_norm": e.accNorm, "delta": jnum(delta(row: r, task: k)),
                     "mcnemar_p": jnum(report(row: r, task: k).mcnemar(norm: metricNorm))] } },
         "items": tasks.indices.map { k in base[k].indices.map { i -> [String: Any] in
             ["doc": base[k][i].doc, "gold": base[k][i].gold, "route": routeTasks[routes[k][i]],
              "base_ll": base[k][i].ll.map(jnum), "rows_ll": rows.indices.map { scores[$0][k][i].ll.map(jnum) }] } }]
    }

    public var markdownTables: String {
        var t = "| steered with | " + tasks.enumerated().map { "\($0.element) (n=\(base[$0.offset].count))" }.joined(separator: " | ") + " |\n"
        t += "|---|" + String(repeating: "---:|", count: tasks.count) + "\n"
        t += "| base \(metricName) | " + tasks.indices.map { mdNumber(baseMetric(task: $0)) }.joined(separator: " | ") + " |\n"
        for (r, name) in rows.enumerated() {
            let label = rowLayers[r].map { "\(name) (layer \($0))" } ?? name
            t += "| \(label) | " + tasks.indices.map { k in
                String(format: "%+.4f (p=%.3g)", delta(row: r, task: k), report(row: r, task: k).mcnemar(norm: metricNorm))
            }.joined(separator: " | ") + " |\n"
        }
        return t + "\nCells: Δ \(metricName) vs base on the task's test split, exact McNemar p on the paired items.\n"
    }

    public func charts(what: String?) -> [Chart] { Session.charts(of: self) }
    public func plotDirectory(outDir: String) -> String? { "\(outDir)/compose/" + vectorNames.joined(separator: "+") }
}
