import Foundation

extension SteeringStudy {
    public var metricName: String { generative ? "exact_match" : config.normalize ? "acc_norm" : "acc" }

    /// Trains `config.seeds` seeds at `layer`; returns every run and the best one by validation.
    /// `base`: validation scores and loss of the base model, when known (computed once otherwise).
    /// `trainer`: the one to use (a sweep gives each of its parallel workers its own).
    public func trainSeeds(layer: Int, baseSeed: UInt64, base known: (scores: [ItemScore], loss: Double)? = nil,
                           trainer given: SteeringTrainer? = nil,
                           onStep: @escaping (Int, Int) -> Void = { _, _ in }) throws -> (runs: [TrainRun], best: TrainRun) {
        let t = try given ?? trainer()
        t.onStep = onStep
        let base = selectionBase(known ?? t.evaluate(valIdx, layer: layer, v: [Float](repeating: 0, count: model.config.hidden), config: config))
        var runs: [TrainRun] = []
        for s in 0..<max(1, config.seeds) {
            let r = t.train(layer: layer, train: trainIdx, val: valIdx, config: config, seed: baseSeed &+ UInt64(s), base: base)
            runs.append(r)
            if r.interrupted || context.shouldStop() { break }
        }
        let best = runs.max { $0.bestVal < $1.bestVal }!
        return (runs, best)
    }

    /// Trains at every layer in `layers` and returns the validation layer curve.
    ///
    /// Each finished layer is written to the run directory (`SweepRunDirectory`); a rerun with the
    /// same arguments, data and model reads the verified ones back instead of retraining
    /// (`onNote` says which files were not trusted).
    /// The residual cache holds at most `cacheBudget` bytes: larger sweeps run in layer groups.
    public func sweep(layers: [Int], outDir: String, cacheBudget: Int, screenItems: Int,
                      onLayer: (LayerResult, Bool) -> Void, onProgress: @escaping (String, Int, Int) -> Void,
                      onNote: (String) -> Void = { _ in }) throws -> SweepResult {
        let runDir = "\(outDir)/\(model.name.replacingOccurrences(of: "/", with: "_"))/\(task)/sweep-\(runKey)"
        let dir = try SweepRunDirectory(path: runDir)
        // One lock for the run, or (shards sharing the directory) one per layer below.
        let lock = shard == nil ? try dir.lock() : nil
        defer { lock?.release() }
        try dir.writeMeta(["model": model.name, "task": task, "split_seed": splits.seed, "train": splits.train.count,
                           "val": splits.val.count, "test": splits.test.count, "config": config.description,
                           "train_docs": splits.train, "val_docs": splits.val, "test_docs": splits.test,
                           "data": dataset.path, "data_fingerprint": dataFingerprint, "model_fingerprint": modelFingerprint])
        var done: [Int: LayerResult] = [:]
        for l in layers {
            let (r, problem) = dir.finished(l, layers: model.config.layers, hidden: model.config.hidden)
            if let r = r { done[l] = r }
            if let p = problem { onNote("  \(p): training layer \(l) again") }
        }
        var result = SweepResult(task: task, model: model.name, metricName: metricName, layers: [], baseMetric: 0, baseLow: 0,
                                 baseHigh: 0, runDir: runDir, screen: [], interrupted: false)
        let plan = SweepPlan(todo: layers.enumerated().filter { done[$0.element] == nil && owns(cell: $0.offset) }.map { $0.element }, all: layers, budget: cacheBudget, spill: spill) { self.cacheBytes(layers: $0) }
        let todo = plan.todo, toDisk = plan.toDisk, groups = plan.groups
        var baseEval: (scores: [ItemScore], loss: Double)? = nil
        var cacheBytesMax = 0, cacheOnDisk = false, cachePasses = 0
        outer: for (gi, group) in groups.enumerated() {
            // The first pass also finishes the validation items' forward passes: the base model's scores.
            let fromCache = try prepare(layers: group, spillDirectory: toDisk ? runDir : nil, scoreBase: baseEval == nil) {
                onProgress("caching residuals (layers \(group.first!)…\(group.last!)\(toDisk ? ", on disk" : ""))", $0, $1)
            }
            if baseEval == nil, let b = fromCache { baseEval = b }
            cacheBytesMax = max(cacheBytesMax, cache?.bytes ?? 0)
            cacheOnDisk = cacheOnDisk || (cache?.onDisk ?? false)
            cachePasses += 1
            // The base model's validation scores (v = 0) are the same at every layer: computed once
            // (above, or here when the cache was already there).
            if baseEval == nil { baseEval = try trainer().evaluate(valIdx, layer: group[0], v: [Float](repeating: 0, count: model.config.hidden), config: config) }
            if gi == 0, let b = baseEval { baseEval = selectionBase(b) }
            if gi == 0 && screenItems > 0 { result.screen = gradientScreen(items: screenItems) }
            // Layers are independent: with several cores, train one layer per core (the pool gives each
            // single-threaded BLAS, and the last one still training every thread).
            let pending = group.filter { todo.contains($0) }
            let parallel = max(1, min(context.workers, pending.count))
            let trainers = try (0..<parallel).map { _ -> SteeringTrainer in
                let t = try trainer()
                if parallel > 1 { t.context = context.with(workers: 1) }
                return t
            }
            var stepsDone = [Int: (Int, Int)]()
            let progressLock = NSLock()
            var runStopped = false   // a run came back interrupted (guarded by progressLock)
            var brokenRuns: [String] = []   // runs stopped by a NaN or infinity (guarded by progressLock)
            _ = try WorkPool(workers: parallel).tryMap(pending.count, shouldStop: {
                progressLock.lock(); defer { progressLock.unlock() }
                return runStopped || context.shouldStop()
            }, onResult: { _, r in
                if let r = r { done[r.layer] = r; onLayer(r, false) }
            }) { k, worker -> LayerResult? in
                let l = pending[k]
                // A layer trains only under its lock: a shard leaves a layer another live process holds
                // to it; a merge run waits for that process, then reads its layer (or trains one it left).
                guard let cellLock = try dir.cellLock(String(format: "layer-%02d.lock", l), wait: shard == nil, shouldStop: context.shouldStop) else { return nil }
                defer { cellLock.release() }
                if let r = dir.finished(l, layers: model.config.layers, hidden: model.config.hidden).result { return r }
                let t0 = Date()
                let (runs, best) = try trainSeeds(layer: l, baseSeed: splits.seed &* 7919 &+ UInt64(l), base: baseEval, trainer: trainers[worker]) { s, n in
                    // Progress from every worker goes through one lock: the sink is not thread-safe.
                    progressLock.lock()
                    defer { progressLock.unlock() }
                    stepsDone[l] = (s, n)
                    let d = stepsDone.values.reduce(0) { $0 + $1.0 }
                    let total = stepsDone.values.first.map { $0.1 * pending.count } ?? 1
                    onProgress(parallel > 1 ? "train layers \(pending.first!)…\(pending.last!) (\(parallel) at a time)" : "layer \(l)", parallel > 1 ? d : s,
                               parallel > 1 ? total : n)
                }
                if best.interrupted { progressLock.lock(); runStopped = true; progressLock.unlock(); return nil }
                for run in runs { if let why = run.nonFinite { progressLock.lock(); brokenRuns.append("  warning: layer \(l), seed \(run.seed): training stopped: \(why)"); progressLock.unlock() } }
                let r = layerResult(l, runs: runs, best: best, seconds: Date().timeIntervalSince(t0))
                try dir.save(r, vector: SteeringVector(name: "\(task)-L\(l)", values: best.vector, layer: l, metadata: provenance(layer: l, run: best)))
                return r
            }
            brokenRuns.forEach(onNote)
            if runStopped || context.shouldStop() { result.interrupted = true }
            if result.interrupted { break outer }
        }
        for l in layers { if let r = done[l] { result.layers.append(r) } }
        for l in layers where !todo.contains(l) { if let r = done[l] { onLayer(r, true) } }
        let b = EvalSummary(baseEval?.scores ?? [])
        let (blo, bhi) = b.interval(norm: config.normalize)
        result = SweepResult(task: task, model: model.name, metricName: metricName, layers: result.layers,
                             baseMetric: b.n == 0 ? .nan : b.metric(norm: config.normalize), baseLow: blo, baseHigh: bhi,
                             runDir: runDir, screen: result.screen, interrupted: result.interrupted)
        result.cacheBytes = cacheBytesMax; result.cacheOnDisk = cacheOnDisk; result.cachePasses = cachePasses
        return result
    }

    /// The sweep's record of one trained layer: validation scores of the best epoch (from training,
    /// not recomputed), Wilson interval, norms and the per-epoch curve.
    func layerResult(_ l: Int, runs: [TrainRun], best: TrainRun, seconds: Double) -> LayerResult {
        let scores = best.bestValScores
        let s = EvalSummary(scores)
        let (lo, hi) = s.interval(norm: config.normalize)
        let vn = l2Norm(best.vector)
        let rn = cache?.meanResidualNorm(layer: l) ?? 0
        return LayerResult(layer: l, valN: scores.count, valMetric: s.metric(norm: config.normalize), valLow: lo, valHigh: hi,
                           valAcc: s.acc, valAccNorm: s.accNorm, bestEpoch: best.bestEpoch, vectorNorm: vn,
                           normRatio: rn > 0 ? vn / rn : 0, seconds: seconds, seedMetrics: runs.map { $0.bestVal },
                           epochValMetric: best.history.map { config.normalize ? $0.valAccNorm : $0.valAcc },
                           epochTrainLoss: best.history.map { $0.trainLoss })
    }

    /// Provenance metadata saved with a vector.
    public func provenance(layer: Int, run: TrainRun) -> [String: String] {
        return splitProvenance.merging(["model": model.name, "model_path": model.path, "model_sha256": modelFingerprint, "task": task, "layer": String(layer),
                "train_seed": String(run.seed), "best_epoch": String(run.bestEpoch),
                "val_\(metricName)": String(format: "%.6f", run.bestVal), "hyperparameters": config.description]) { $1 }
    }

    /// The split a vector's provenance records (split seed and sizes), from which `compose` and the
    /// comparisons rebuild its held-out items.
    public var splitProvenance: [String: String] {
        ["split_seed": String(splits.seed), "train": String(splits.train.count), "val": String(splits.val.count), "test": String(splits.test.count)]
    }
}
