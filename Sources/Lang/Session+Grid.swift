import Engine
import Foundation

/// `grid`: the seed's search over layer × learning rate × epoch cap, sized before it trains.
extension Session {
    /// Seconds in a duration written `90s`, `30m`, `2h`, `1h30m` (nil when it is not one).
    static func seconds(_ text: String) -> Double? {
        var total = 0.0, digits = "", any = false
        for c in text {
            if c.isNumber || c == "." { digits.append(c); continue }
            guard let v = Double(digits) else { return nil }
            switch c { case "h": total += v * 3600; case "m": total += v * 60; case "s": total += v; default: return nil }
            digits = ""; any = true
        }
        return any && digits.isEmpty && total > 0 ? total : nil
    }

    static func duration(_ s: Double) -> String {
        s >= 3600 ? String(format: "%.1f h", s / 3600) : s >= 60 ? String(format: "%.1f min", s / 60) : String(format: "%.0f s", s)
    }

    func grid(_ s: Statement) throws {
        guard let m = model else { throw Diagnostic(.runtime, "no model loaded; run e.g. 'load smollm2-135m' first", at: s.location) }
        let task = try positional(s, 0)
        var lrs = numbers(s.named("lr"))
        if lrs.isEmpty { lrs = [1e-4, 5e-4, 1e-3, 2e-3] }
        if let bad = lrs.first(where: { !($0 > 0 && $0 <= 10) }) { throw Diagnostic(.usage, "lr \(bad) must be in (0, 10]", at: s.named("lr")?.valueLocation) }
        // Checked before conversion: one epoch cap or several, each a whole number in range.
        let caps = numbers(s.named("epochs"))
        if let bad = caps.first(where: { $0 != $0.rounded() || $0 < 1 || $0 > 1000 }) {
            throw Diagnostic(.usage, "epochs \(Value.number(bad)) must be a whole number in 1..1000", at: s.named("epochs")?.valueLocation)
        }
        var epochs = caps.isEmpty ? [5, 10, 15, 20] : caps.map { Int($0) }
        lrs = Array(Set(lrs)).sorted(); epochs = Array(Set(epochs)).sorted()
        if smoke { lrs = Array(lrs.prefix(2)); epochs = [1] }
        var budget: Double?
        if let b = str(s.named("budget")) {
            guard let v = Session.seconds(b) else {
                throw Diagnostic(.usage, "budget '\(b)' is not a duration; write e.g. 90s, 30m, 2h or 1h30m", at: s.named("budget")?.valueLocation)
            }
            budget = v
        }
        if case .range(let a, let b)? = s.named("layers")?.value, a > b {
            throw Diagnostic(.usage, "layers \(a)..\(b) is an inverted range; write \(b)..\(a)", at: s.named("layers")?.valueLocation)
        }
        let layers = try layerList(s.named("layers"), layers: m.config.layers)
        guard !layers.isEmpty, !lrs.isEmpty, !epochs.isEmpty else { throw Diagnostic(.usage, "the grid is empty: give at least one layer, lr and epoch cap", at: s.location) }
        let st = try study(s, task: task)
        guard !st.generative else {
            throw Diagnostic(.runtime, "grid searches multiple-choice tasks; \(task) is scored by generation (use sweep and train)", at: s.positional.first?.valueLocation)
        }
        let dir = st.gridDirectory(outDir: outDir, lrs: lrs, epochs: epochs.max() ?? 1)
        let bytes = st.cacheBytes(layers: layers.count), cacheBudget = Int(settings.cacheGB * 1_073_741_824)
        try checkCacheFits(bytes, budget: cacheBudget, what: "the grid", at: s.named("layers")?.valueLocation ?? s.location)
        let toDisk = settings.spill == .always || bytes > cacheBudget
        if toDisk && settings.spill == .never {
            throw Diagnostic(.runtime, String(format: "the grid's residual cache needs %.1f GB (cache_gb=%g, spill=never): raise cache_gb, allow spill=auto, or use fewer layers", Double(bytes) / 1e9, settings.cacheGB),
                             at: s.named("layers")?.valueLocation ?? s.location)
        }
        let t0 = Date()
        let prog = progressFn()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try st.prepare(layers: layers, spillDirectory: toDisk ? dir : nil) { prog("caching residuals (\(layers.count) layers)", $0, $1) }
        let epochSeconds = try st.calibrateGrid(layer: layers[layers.count / 2])
        var plan = GridPlan(layers: layers, lrs: lrs, epochs: epochs, epochSeconds: epochSeconds, workers: runContext.workers, seeds: max(1, st.config.seeds))
        func describe(_ p: GridPlan) -> String {
            "layers \(p.layers.map(String.init).joined(separator: ",")), lr \(p.lrs.map { String(format: "%g", $0) }.joined(separator: ",")), epochs \(p.epochs.map(String.init).joined(separator: ","))"
        }
        let workers = min(plan.workers, plan.jobs), cap = plan.epochs.max() ?? 0
        var head = "grid \(task): \(plan.cells) cells (\(plan.layers.count) layers × \(plan.lrs.count) lr × \(plan.epochs.count) epoch caps), "
        head += "\(plan.jobs) trainings to \(cap) epochs (each smaller cap is read from the same run)\n"
        head += "  train \(st.splits.train.count) / val \(st.splits.val.count) / test \(st.splits.test.count) (seed \(st.splits.seed)), "
        head += "\(plan.seeds) seed\(plan.seeds == 1 ? "" : "s") per cell\n"
        head += String(format: "  residual cache: %.1f MB (f16) ", Double(bytes) / 1e6) + (toDisk ? "in a scratch file in the run directory\n" : "in memory\n")
        head += String(format: "  calibrated here: %.2f s per epoch per training; ", epochSeconds)
        head += "at most \(Session.duration(plan.estimatedSeconds)) on \(workers) worker\(workers == 1 ? "" : "s") (early stopping ends trainings sooner)"
        output(head)
        if let b = budget, plan.estimatedSeconds > b {
            let fit = plan.shrunk(toFit: b)
            if word(arg(s, "shrink")) == "yes" {
                guard let (p, dropped) = fit else {
                    throw Diagnostic(.runtime, "budget \(Session.duration(b)) is too small for a single cell (one training to \(epochs.min() ?? 1) epochs takes about \(Session.duration(epochSeconds * Double(epochs.min() ?? 1) * Double(plan.seeds))))",
                                     at: s.named("budget")?.valueLocation)
                }
                plan = p
                output("  budget \(Session.duration(b)): dropped " + dropped.joined(separator: ", ") + "; now \(describe(p)), at most \(Session.duration(p.estimatedSeconds))")
            } else {
                let hint = fit.map { "the largest grid that fits drops \($0.dropped.joined(separator: ", ")): \(describe($0.plan)), at most \(Session.duration($0.plan.estimatedSeconds)); or add shrink=yes" }
                    ?? "not even one cell fits"
                throw Diagnostic(.runtime, "the grid needs at most \(Session.duration(plan.estimatedSeconds)), over budget=\(Session.duration(b)): \(hint)",
                                 at: s.named("budget")?.valueLocation)
            }
        }
        let (jobs, interrupted) = try st.grid(plan, dir: dir, onJob: { [weak self] j, resumed in
            let c = j.cell(cap: plan.epochs.max() ?? 1, select: st.config.select)
            self?.output(String(format: "  layer %2d  lr %-8g  val %@ %.4f (epoch %d)  %.1f s%@", j.layer, j.lr, st.metricName, c.valMetric, c.bestEpoch,
                                j.seconds, resumed ? "  (resumed from run directory)" : ""))
        }, onProgress: { prog("grid: trainings", $0, $1) })
        if let sh = shard {
            output("shard \(sh.index)/\(sh.count): \(jobs.count) of \(plan.jobs) trainings finished in \(dir) (the merge run, without --shard, reads them all)")
            return
        }
        guard let best = SteeringStudy.bestCell(jobs, epochs: plan.epochs, select: st.config.select) else {
            throw Diagnostic(.runtime, interrupted ? "interrupted before any training finished" : "no finished cell", at: s.location)
        }
        // The best cell's vector: its training again (deterministic: the same shuffles, the same stop).
        var c = st.config
        c.lr = best.lr; c.epochs = best.epochs
        let t = try st.trainer()
        let run = t.train(layer: best.layer, train: st.trainIdx, val: st.valIdx, config: c, seed: best.seed)
        let name = str(s.named("as")) ?? "\(taskStem(task))-grid"
        var meta = st.provenance(layer: best.layer, run: run)
        meta["hyperparameters"] = c.description
        meta["selection"] = "grid: best of \(plan.cells) cells on validation"
        let vec = SteeringVector(name: name, values: run.vector, layer: best.layer, metadata: meta)
        let (base, steered, _) = try testScores(st, vec, s)
        let rep = SteeringReport(layer: best.layer, base: base, steered: steered, vectorNorm: vec.norm,
                                 meanResidualNorm: st.cache?.meanResidualNorm(layer: best.layer) ?? 0)
        vectors[name] = vec
        unsaved.insert(name)
        let baseVal = jobs.first?.seeds.first?.valMetric.first ?? .nan
        let r = GridResult(task: task, model: m.name, metricName: st.metricName, layers: plan.layers, lrs: plan.lrs, epochs: plan.epochs,
                           jobs: jobs, select: st.config.select, best: best, vectorName: name, report: rep, baseMetric: baseVal, runDir: dir,
                           estimatedSeconds: plan.estimatedSeconds, seconds: Date().timeIntervalSince(t0), interrupted: interrupted)
        present(r, s)
        store(ResultValue(r), s)
    }
}

/// Layers written as shares of the model's depth: `25%`, or every layer of `10%..90%`.
enum LayerPercent {
    /// The (from, to) percentages of `w` (equal for one), or nil when it is not written as one.
    static func parse(_ w: String) -> (Double, Double)? {
        let parts = w.components(separatedBy: "..")
        guard parts.count <= 2, parts.allSatisfy({ $0.hasSuffix("%") }) else { return nil }
        let v = parts.compactMap { Double($0.dropLast()) }
        guard v.count == parts.count, v.allSatisfy({ $0.isFinite }) else { return nil }
        return (v[0], v.last ?? v[0])
    }

    /// The layer at share `p` % of `n` layers: round(p / 100 · (n − 1)).
    static func layer(_ p: Double, of n: Int) -> Int { Int((p / 100 * Double(n - 1)).rounded()) }

    /// The layers `w` names on a model of `n` layers; a percentage outside 0–100 or an inverted range is an error.
    static func layers(_ w: String, of n: Int, at loc: SourceLocation?) throws -> [Int] {
        guard let (a, b) = parse(w) else {
            throw Diagnostic(.usage, "'\(w)' is not a layer list: write all, A..B, a,b,c, N, P%..Q% or p%,q%", at: loc)
        }
        guard (0...100).contains(a), (0...100).contains(b) else {
            throw Diagnostic(.usage, "'\(w)': a share of depth must be within 0%..100%", at: loc)
        }
        guard a <= b else { throw Diagnostic(.usage, "'\(w)' is an inverted range; write the smaller share first", at: loc) }
        let lo = layer(a, of: n), hi = layer(b, of: n)
        return Array(lo...hi)
    }
}
