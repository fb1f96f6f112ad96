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
        if !r.screen.isEmpty {
            out.append(Chart(name: "gradient-screen", title: "gradient screen: ‖Σ dL/dh‖ at v = 0", xLabel: "layer (−1 = embeddings)",
                             yLabel: "gradient norm", series: [.init(label: "‖dL/dh‖", points: r.screen.enumerated().map { (Double($0.offset - 1), $0.element) }, withPoints: true)]))
        }
        return out
    }

    func plot(_ s: Statement) throws {
        let name = str(s.positional.first) ?? "_"
        guard let v = variables[name] else {
            throw Diagnostic(.runtime, "no variable '\(name)' to plot; e.g. r = sweep hellaswag layers all, then plot r", at: s.positional.first?.location ?? s.location)
        }
        guard case .sweep(let r) = v else {
            throw Diagnostic(.runtime, "'\(name)' is not a sweep result; plot draws sweep results (layer curve, norms, epochs)", at: s.positional.first?.location)
        }
        var charts = Session.charts(of: r)
        if let only = str(s.named("what")), only != "all" {
            let map = ["layers": "layer-curve", "norms": "norm-ratio", "epochs": "epochs", "screen": "gradient-screen"]
            charts = charts.filter { $0.name == map[only] }
        }
        let mode = settings["plot"] ?? "both"
        let dir = (str(s.named("to")).map { ($0 as NSString).expandingTildeInPath }) ?? r.runDir
        guard let renderer = chartRenderer else {
            output("charts need the shell's gnuplot renderer; data is in \(r.runDir)")
            return
        }
        for c in charts {
            do {
                let (files, text) = try renderer.render(c, dir: dir, files: mode != "inline", inline: mode != "file")
                if let t = text { output(t) }
                if !files.isEmpty { output("  wrote " + files.joined(separator: ", ")) }
            } catch {
                output("plot: \(error) — results are still in \(r.runDir)")
            }
        }
    }
}
