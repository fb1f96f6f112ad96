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
            if r.interrupted || shouldStop() { break }
        }
        let best = runs.max { $0.bestVal < $1.bestVal }!
        return (runs, best)
    }

    /// Trains at every layer in `layers` and returns the validation layer curve.
    ///
    /// Each finished layer is written to `runDir/layer-NN.json` (and its vector to `.safetensors`)
    /// atomically; a rerun with the same arguments reads those back instead of retraining.
    /// The residual cache holds at most `cacheBudget` bytes: larger sweeps run in layer groups.
    public func sweep(layers: [Int], outDir: String, cacheBudget: Int, screenItems: Int,
                      onLayer: (LayerResult, Bool) -> Void, onProgress: @escaping (String, Int, Int) -> Void) throws -> SweepResult {
        let runDir = "\(outDir)/\(model.name.replacingOccurrences(of: "/", with: "_"))/\(task)/sweep-\(runKey)"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let meta: [String: Any] = ["model": model.name, "task": task, "split_seed": splits.seed, "train": splits.train.count,
                                   "val": splits.val.count, "test": splits.test.count, "config": config.description,
                                   "train_docs": splits.train, "val_docs": splits.val, "test_docs": splits.test]
        try writeAtomically(try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys]), to: runDir + "/meta.json")
        var done: [Int: LayerResult] = [:]
        for l in layers {
            let p = String(format: "%@/layer-%02d.json", runDir, l)
            if let d = FileManager.default.contents(atPath: p), let r = try? LayerResult.decoder.decode(LayerResult.self, from: d) { done[l] = r }
        }
        var result = SweepResult(task: task, model: model.name, metricName: metricName, layers: [], baseMetric: 0, baseLow: 0,
                                 baseHigh: 0, runDir: runDir, screen: [], interrupted: false)
        let todo = layers.filter { done[$0] == nil }
        // Over the memory budget, the cache goes to a scratch file (one pass for all layers) unless
        // spill=never, which runs layers in groups that fit, each group recomputing its residuals.
        let fits = cacheBytes(layers: todo.count) <= cacheBudget
        let toDisk = !todo.isEmpty && (spill == .always || (spill == .auto && !fits))
        let perGroup = toDisk ? max(1, todo.count) : max(1, min(todo.count, cacheBudget / max(1, cacheBytes(layers: 1))))
        var baseEval: (scores: [ItemScore], loss: Double)? = nil
        var cacheBytesMax = 0, cacheOnDisk = false, cachePasses = 0
        var groups = stride(from: 0, to: todo.count, by: perGroup).map { Array(todo[$0..<min(todo.count, $0 + perGroup)]) }
        if groups.isEmpty { groups = [[layers.first ?? 0]] }
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
            // Layers are independent: with several cores, train one layer per core, each with
            // single-threaded BLAS (small per-item GEMMs scale better across layers than across threads).
            let pending = group.filter { todo.contains($0) }
            let parallel = max(1, min(workers, pending.count))
            let lock = NSLock()
            var next = 0, failure: Error? = nil
            var stepsDone = [Int: (Int, Int)]()
            // Workers still training; when one is left (the others found no layer to take), it gets
            // every BLAS thread back at its next step, so a slow low layer does not run on one core alone.
            var active = parallel, lent = false
            let saved = BLAS.threads
            if parallel > 1 { BLAS.threads = 1 }
            defer { if parallel > 1 { BLAS.threads = saved } }
            DispatchQueue.concurrentPerform(iterations: parallel) { _ in
                defer { lock.lock(); active -= 1; lock.unlock() }
                let own: SteeringTrainer
                do { own = try trainer() } catch { lock.lock(); failure = error; lock.unlock(); return }
                if parallel > 1 {
                    own.workers = 1
                    own.beforeWork = {
                        lock.lock(); defer { lock.unlock() }
                        if active == 1 && !lent && saved > 1 { lent = true; BLAS.threads = saved }
                    }
                }
                while true {
                    lock.lock()
                    if next >= pending.count || result.interrupted || failure != nil || shouldStop() {
                        if shouldStop() { result.interrupted = true }
                        lock.unlock(); return
                    }
                    let l = pending[next]; next += 1
                    lock.unlock()
                    do {
                        let t0 = Date()
                        let (runs, best) = try trainSeeds(layer: l, baseSeed: splits.seed &* 7919 &+ UInt64(l), base: baseEval, trainer: own) { s, n in
                            // Progress from every worker goes through the lock: the sink is not thread-safe.
                            lock.lock()
                            defer { lock.unlock() }
                            stepsDone[l] = (s, n)
                            let d = stepsDone.values.reduce(0) { $0 + $1.0 }
                            let total = stepsDone.values.first.map { $0.1 * pending.count } ?? 1
                            onProgress(parallel > 1 ? "train layers \(pending.first!)…\(pending.last!) (\(parallel) at a time)" : "layer \(l)", parallel > 1 ? d : s,
                                       parallel > 1 ? total : n)
                        }
                        if best.interrupted { lock.lock(); result.interrupted = true; lock.unlock(); return }
                        let r = layerResult(l, runs: runs, best: best, seconds: Date().timeIntervalSince(t0))
                        let enc = LayerResult.encoder
                        let vec = SteeringVector(name: "\(task)-L\(l)", values: best.vector, layer: l, metadata: provenance(layer: l, run: best))
                        try vec.saveSafetensors(to: String(format: "%@/layer-%02d.safetensors", runDir, l))
                        try writeAtomically(try enc.encode(r), to: String(format: "%@/layer-%02d.json", runDir, l))
                        lock.lock()
                        done[l] = r
                        onLayer(r, false)
                        lock.unlock()
                    } catch {
                        lock.lock(); failure = error; lock.unlock(); return
                    }
                }
            }
            if let e = failure { throw e }
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
        let vn = best.vector.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
        let rn = cache?.meanResidualNorm(layer: l) ?? 0
        return LayerResult(layer: l, valN: scores.count, valMetric: s.metric(norm: config.normalize), valLow: lo, valHigh: hi,
                           valAcc: s.acc, valAccNorm: s.accNorm, bestEpoch: best.bestEpoch, vectorNorm: vn,
                           normRatio: rn > 0 ? vn / rn : 0, seconds: seconds, seedMetrics: runs.map { $0.bestVal },
                           epochValMetric: best.history.map { config.normalize ? $0.valAccNorm : $0.valAcc },
                           epochTrainLoss: best.history.map { $0.trainLoss.isNaN ? 0 : $0.trainLoss })
    }

    /// Provenance metadata saved with a vector.
    public func provenance(layer: Int, run: TrainRun) -> [String: String] {
        let sha = ModelRegistry.ggufModels.first { $0.name == model.name }?.sha256 ?? "unknown"
        return ["model": model.name, "model_path": model.path, "model_sha256": sha, "task": task, "layer": String(layer),
                "split_seed": String(splits.seed), "train": String(splits.train.count), "val": String(splits.val.count),
                "test": String(splits.test.count), "train_seed": String(run.seed), "best_epoch": String(run.bestEpoch),
                "val_\(metricName)": String(format: "%.6f", run.bestVal), "hyperparameters": config.description]
    }
}
