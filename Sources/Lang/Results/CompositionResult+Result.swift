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
        for (r, router) in routers.enumerated() {
            let acc = tasks.indices.compactMap { k in routeAccuracy(router: r, task: k).map { String(format: "%@ %.0f%%", tasks[k], 100 * $0) } }
            t += "  routed (\(router.kind.rawValue)): \(router.detail)"
            t += (acc.isEmpty ? "" : "; sent to a vector of its own task: " + acc.joined(separator: ", ")) + "\n"
        }
        if generative.contains(true) { t += "  generation columns: greedy zero-shot answers, lm-eval's GSM8K filters; cells are exact match\n" }
        return String(t.dropLast())
    }

    public var json: [String: Any] {
        ["kind": "compose", "model": model, "metric": metricName, "tasks": tasks, "rows": rows,
         "column_metrics": tasks.indices.map { metricName(task: $0) },
         "row_layers": rowLayers.map { $0 as Any? ?? NSNull() }, "interrupted": interrupted, "seconds": seconds,
         "routers": routers.enumerated().map { r, o -> [String: Any] in
             ["kind": o.kind.rawValue, "detail": o.detail,
              "own_task_fraction": tasks.indices.map { routeAccuracy(router: r, task: $0).map(jnum) ?? NSNull() }] },
         "base": tasks.indices.map { k -> [String: Any] in
             let e = EvalSummary(base[k]); return ["task": tasks[k], "n": e.n, "metric": metricName(task: k), "value": e.metric(norm: metricNorm)] },
         "matrix": rows.indices.map { r in tasks.indices.map { k -> [String: Any] in
             ["value": jnum(metric(row: r, task: k)), "delta": jnum(delta(row: r, task: k)),
              "mcnemar_p": jnum(report(row: r, task: k).mcnemar(norm: metricNorm))] } },
         "items": tasks.indices.map { k in base[k].indices.map { i -> [String: Any] in
             var o: [String: Any] = ["doc": base[k][i].doc,
                                     "routes": routers.map { $0.choices[k][i].map { vectorNames[$0] as Any } ?? NSNull() }]
             if generative[k] {
                 o["base_correct"] = ["strict": base[k][i].correct, "flexible": base[k][i].correctNorm]
                 o["rows_correct"] = rows.indices.map { ["strict": scores[$0][k][i].correct, "flexible": scores[$0][k][i].correctNorm] }
             } else {
                 o["gold"] = base[k][i].gold
                 o["base_ll"] = base[k][i].ll.map(jnum)
                 o["rows_ll"] = rows.indices.map { scores[$0][k][i].ll.map(jnum) }
             }
             return o } }]
    }

    public var markdownTables: String {
        var t = "| steered with | " + tasks.enumerated().map { "\($0.element) (n=\(base[$0.offset].count), \(metricName(task: $0.offset)))" }.joined(separator: " | ") + " |\n"
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
