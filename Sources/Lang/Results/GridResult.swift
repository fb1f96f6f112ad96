import Engine
import Foundation

/// Result of `grid`: every (layer, lr, epoch cap) cell on validation, the best cell, and its one
/// test report (base vs steered, McNemar).
public struct GridResult: CommandResult {
    public let task: String
    public let model: String
    public let metricName: String
    public let layers: [Int], lrs: [Double], epochs: [Int]
    public let jobs: [GridJob]
    public let select: SteeringSelection
    public let best: GridCell
    public let vectorName: String
    public let report: SteeringReport
    public let baseMetric: Double
    public let runDir: String
    public let estimatedSeconds: Double, seconds: Double
    public let interrupted: Bool

    public var kind: String { "grid" }

    func job(_ l: Int, _ lr: Double) -> GridJob? { jobs.first { $0.layer == l && $0.lr == lr } }
    func cell(_ l: Int, _ lr: Double, _ e: Int) -> GridCell? { job(l, lr)?.cell(cap: e, select: select) }

    public var display: String {
        var t = "grid \(task) on \(model): \(layers.count) layers × \(lrs.count) lr × \(epochs.count) epoch caps = \(layers.count * lrs.count * epochs.count) cells"
            + String(format: " (%.0f s; estimated at most %.0f s)", seconds, estimatedSeconds) + (interrupted ? " — interrupted, finished jobs kept" : "") + "\n"
        t += String(format: "  validation %@ (best epoch within each cap), base %.4f\n", metricName, baseMetric)
        let w = 10
        t += "  " + "layer/lr".padding(8) + lrs.map { String(format: "%g", $0).padding(w) }.joined() + "  (at epochs ≤ \(epochs.max() ?? 0))\n"
        for l in layers {
            t += "  " + String(l).padding(8) + lrs.map { lr in cell(l, lr, epochs.max() ?? 0).map { String(format: "%.4f", $0.valMetric) } ?? "·" }.map { $0.padding(w) }.joined() + "\n"
        }
        t += String(format: "  best: layer %d, lr %g, epochs ≤ %d (best epoch %d, seed %llu): validation %@ %.4f\n",
                    best.layer, best.lr, best.epochs, best.bestEpoch, best.seed, metricName, best.valMetric)
        t += "  vector '\(vectorName)'; " + TrainResult.text(of: report, labels: TrainResult.labels(metricName: metricName))
        return t
    }

    public var json: [String: Any] {
        ["kind": "grid", "task": task, "model": model, "metric": metricName, "layers": layers, "lrs": lrs, "epochs": epochs,
         "run_dir": runDir, "seconds": seconds, "estimated_seconds": estimatedSeconds, "interrupted": interrupted, "base": jnum(baseMetric),
         "cells": layers.flatMap { l in lrs.flatMap { lr in epochs.compactMap { e -> [String: Any]? in
             cell(l, lr, e).map { ["layer": l, "lr": lr, "epochs": e, "val": jnum($0.valMetric), "best_epoch": $0.bestEpoch, "seed_vals": $0.seedMetrics.map(jnum)] } } } },
         "best": ["layer": best.layer, "lr": best.lr, "epochs": best.epochs, "best_epoch": best.bestEpoch, "val": jnum(best.valMetric), "vector": vectorName],
         "test": ["n": report.base.count, "base": EvalSummary(report.base).metric(norm: metricName != "acc"),
                  "steered": EvalSummary(report.steered).metric(norm: metricName != "acc"), "mcnemar_p": jnum(report.mcnemar(norm: metricName != "acc"))]]
    }

    public var markdownTables: String {
        let cap = epochs.max() ?? 0
        var t = "| layer \\ lr | " + lrs.map { String(format: "%g", $0) }.joined(separator: " | ") + " |\n|---:|" + String(repeating: "---:|", count: lrs.count) + "\n"
        for l in layers { t += "| \(l) | " + lrs.map { lr in cell(l, lr, cap).map { mdNumber($0.valMetric) } ?? "–" }.joined(separator: " | ") + " |\n" }
        t += "\nValidation \(metricName), best epoch within \(cap) epochs. Best cell: layer \(best.layer), lr \(best.lr), epochs ≤ \(best.epochs).\n\n"
        let b = EvalSummary(report.base), s = EvalSummary(report.steered), norm = metricName != "acc"
        t += "| test (\(b.n) items, scored once) | base | steered | McNemar p |\n|---|---:|---:|---:|\n"
        t += "| \(metricName) | \(mdNumber(b.metric(norm: norm))) | \(mdNumber(s.metric(norm: norm))) | \(String(format: "%.4g", report.mcnemar(norm: norm))) |\n"
        return t
    }

    public func charts(what: String?) -> [Chart] {
        let cap = epochs.max() ?? 0
        var heat = Chart(name: "grid-layer-lr", title: "\(task): validation \(metricName) by layer and lr (epochs ≤ \(cap))", xLabel: "lr", yLabel: "layer", series: [])
        heat.heatmap = Heatmap(rowLabels: layers.map(String.init), columnLabels: lrs.map { String(format: "%g", $0) },
                               values: layers.map { l in lrs.map { lr in cell(l, lr, cap)?.valMetric ?? .nan } }, valueLabel: "validation \(metricName)")
        var curve = Chart(name: "grid-epochs", title: "\(task): validation \(metricName) by epoch cap at layer \(best.layer)", xLabel: "epochs (cap)",
                          yLabel: "validation \(metricName)",
                          series: lrs.map { lr in .init(label: String(format: "lr %g", lr), points: epochs.sorted().compactMap { e in cell(best.layer, lr, e).map { (Double(e), $0.valMetric) } }, withPoints: true) })
        if baseMetric.isFinite { curve.hLine = (baseMetric, String(format: "base %.3f", baseMetric)) }
        return [heat, curve]
    }

    public func plotDirectory(outDir: String) -> String? { runDir }
}
