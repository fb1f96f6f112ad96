import Engine
import Foundation

extension Session {
    /// Charts of a sweep: layer curve with Wilson band, base line and best layer; ‖v‖/‖h‖ per layer;
    /// validation metric per epoch at each layer (early-stop epoch marked); gradient screen.
    public static func charts(of r: SweepResult) -> [Chart] {
        let xs = r.layers.map { Double($0.layer) }
        var curve = Chart(name: "layer-curve", title: "\(r.task) on \(r.model): validation \(r.metricName) by layer",
                          xLabel: "layer (steering added after this block)", yLabel: "validation \(r.metricName)",
                          series: [.init(label: "steered (best epoch)", points: Array(zip(xs, r.layers.map { $0.valMetric })), withPoints: true)])
        curve.band = r.layers.map { (Double($0.layer), $0.valLow, $0.valHigh) }
        if r.baseMetric.isFinite { curve.hLine = (r.baseMetric, String(format: "base %.3f", r.baseMetric)) }
        if let b = r.bestLayer, let l = r.layers.first(where: { $0.layer == b }) {
            curve.marks = [(Double(b), l.valMetric, "best: layer \(b)")]
        }
        let norms = Chart(name: "norm-ratio", title: "‖v‖ / mean ‖h‖ by layer", xLabel: "layer", yLabel: "‖v‖ / ‖h‖",
                          series: [.init(label: "norm ratio", points: Array(zip(xs, r.layers.map { $0.normRatio })), withPoints: true)])
        var epochs = Chart(name: "epochs", title: "validation \(r.metricName) per epoch (epoch 0 = base)", xLabel: "epoch",
                           yLabel: "validation \(r.metricName)",
                           series: r.layers.map { l in .init(label: "layer \(l.layer)", points: l.epochValMetric.enumerated().map { (Double($0.offset), $0.element) }, withPoints: true) })
        epochs.marks = r.layers.compactMap { l in l.bestEpoch < l.epochValMetric.count ? (Double(l.bestEpoch), l.epochValMetric[l.bestEpoch], "") : nil }
        var out = [curve, norms, epochs]
        // Layer × epoch heatmap of the validation metric (a layer that stopped early has empty cells).
        let maxEpochs = r.layers.map { $0.epochValMetric.count }.max() ?? 0
        if r.layers.count > 1 && maxEpochs > 1 {
            let values = r.layers.map { l in (0..<maxEpochs).map { $0 < l.epochValMetric.count ? l.epochValMetric[$0] : .nan } }
            var heat = Chart(name: "layer-epoch", title: "validation \(r.metricName) by layer and epoch (epoch 0 = base)", xLabel: "epoch",
                             yLabel: "layer", series: [])
            heat.heatmap = Heatmap(rowLabels: r.layers.map { "\($0.layer)" }, columnLabels: (0..<maxEpochs).map { "\($0)" },
                                   values: values, valueLabel: "validation \(r.metricName)")
            out.append(heat)
        }
        if !r.screen.isEmpty {
            out.append(Chart(name: "gradient-screen", title: "gradient screen: ‖Σ dL/dh‖ at v = 0", xLabel: "layer (−1 = embeddings)",
                             yLabel: "gradient norm", series: [.init(label: "‖dL/dh‖", points: r.screen.enumerated().map { (Double($0.offset - 1), $0.element) }, withPoints: true)]))
        }
        return out
    }

    /// Training curves of a `train` result, one line per seed: training and validation loss per epoch,
    /// and the validation metric per epoch with each seed's early-stop (best, restored) epoch marked.
    public static func charts(of t: TrainResult) -> [Chart] {
        func pts(_ r: TrainRun, _ f: (EpochRecord) -> Double) -> [(Double, Double)] {
            r.history.compactMap { h in let y = f(h); return y.isFinite ? (Double(h.epoch), y) : nil }
        }
        let many = t.runs.count > 1
        var loss = Chart(name: "train-loss", title: "\(t.name): loss per epoch (layer \(t.layer))", xLabel: "epoch", yLabel: "loss (nats)", series: [])
        for r in t.runs {
            let tag = many ? " (seed \(r.seed))" : ""
            loss.series.append(.init(label: "train" + tag, points: pts(r) { $0.trainLoss }, withPoints: true))
            loss.series.append(.init(label: "validation" + tag, points: pts(r) { $0.valLoss }, withPoints: true))
        }
        // The early-stop (best, restored) epoch of each seed, on its validation loss curve.
        loss.marks = t.runs.compactMap { r in
            guard r.bestEpoch < r.history.count, r.history[r.bestEpoch].valLoss.isFinite else { return nil }
            return (Double(r.bestEpoch), r.history[r.bestEpoch].valLoss, r.seed == t.selectedSeed ? "early stop: epoch \(r.bestEpoch)" : "")
        }
        let metric: (EpochRecord) -> Double = t.primaryNorm ? { $0.valAccNorm } : { $0.valAcc }
        // Selected on the loss with the metric from generation (GSM8K, select=loss): no metric per epoch to draw.
        guard t.runs.contains(where: { r in r.history.contains { metric($0).isFinite } }) else { return [loss] }
        var val = Chart(name: "train-val", title: "\(t.name): validation \(t.metricName) per epoch (epoch 0 = base)", xLabel: "epoch",
                        yLabel: "validation \(t.metricName)",
                        series: t.runs.map { r in .init(label: many ? "seed \(r.seed)" : "validation", points: pts(r, metric), withPoints: true) })
        val.marks = t.runs.compactMap { r in
            guard r.bestEpoch < r.history.count, metric(r.history[r.bestEpoch]).isFinite else { return nil }
            return (Double(r.bestEpoch), metric(r.history[r.bestEpoch]), r.seed == t.selectedSeed ? "early stop: epoch \(r.bestEpoch)" : "")
        }
        return [loss, val]
    }

    func plot(_ s: Statement) throws {
        let name = str(s.positional.first) ?? "_"
        guard let v = variables[name] else {
            throw Diagnostic(.runtime, "no variable '\(name)' to plot; e.g. r = sweep hellaswag layers all, then plot r", at: s.positional.first?.location ?? s.location)
        }
        guard let runDir = v.result.plotDirectory(outDir: outDir) else {
            throw Diagnostic(.runtime, "'\(name)' is a \(v.kind) result, which has no charts; plot draws sweep, train, compose, caa behaviour (eval caa/…) and explain results",
                             at: s.positional.first?.location)
        }
        let charts = v.result.charts(what: str(s.named("what")))
        let mode = settings.plot.rawValue
        let dir = (str(s.named("to")).map { ($0 as NSString).expandingTildeInPath }) ?? runDir
        guard let renderer = chartRenderer else {
            output("charts need the shell's gnuplot renderer; data is in \(runDir)")
            return
        }
        var failures: [String] = []
        for c in charts {
            do {
                let (files, text) = try renderer.render(c, dir: dir, files: mode != "inline", inline: mode != "file")
                if let t = text { output(t) }
                cellChartFiles += files
                if !files.isEmpty { output("  wrote " + files.joined(separator: ", ")) }
            } catch let e as ChartToolMissing {
                output("plot: \(e) — results are still in \(runDir)")
            } catch {
                failures.append("\(c.name): \(error)")
            }
        }
        // Every chart is tried; any that could not be written makes the command fail (exit 1 in a script).
        if !failures.isEmpty {
            throw Diagnostic(.runtime, "plot could not write " + failures.joined(separator: "; ") + " (results are still in \(runDir))",
                             at: s.named("to")?.valueLocation ?? s.location)
        }
    }
}
