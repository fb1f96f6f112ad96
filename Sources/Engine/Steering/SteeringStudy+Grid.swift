import Foundation

/// One seed of a grid job: the validation record of every epoch (index 0 = the base model).
public struct GridSeedRecord: Codable {
    public let seed: UInt64
    public let valMetric: [Double]
    public let valLoss: [Double]
}

/// One (layer, learning rate) of a grid, trained once up to the largest epoch cap with early
/// stopping: every smaller cap's cell is the same training cut at that epoch (the shuffles and the
/// stopping rule do not depend on the cap), so it is read from this record instead of retrained.
public struct GridJob: Codable {
    public let layer: Int
    public let lr: Double
    /// The cap trained to.
    public let epochs: Int
    public let seeds: [GridSeedRecord]
    public let seconds: Double

    /// The cell at epoch cap `cap`: each seed's best epoch within it (the trainer's own rule,
    /// `SteeringSelection.prefers`) and the best seed's metric.
    public func cell(cap: Int, select: SteeringSelection) -> GridCell {
        var metrics: [Double] = [], bests: [Int] = []
        for s in seeds {
            var best = (m: s.valMetric.first ?? .nan, loss: s.valLoss.first ?? .nan, epoch: 0)
            let last = min(cap, s.valMetric.count - 1, s.valLoss.count - 1)
            if last >= 1 {
                for e in 1...last {
                    let m = s.valMetric[e], l = s.valLoss[e]
                    if select.prefers(metric: m, loss: l, over: (best.m, best.loss)) { best = (m, l, e) }
                }
            }
            metrics.append(best.m); bests.append(best.epoch)
        }
        let k = metrics.indices.max { metrics[$0] < metrics[$1] } ?? 0
        return GridCell(layer: layer, lr: lr, epochs: cap, valMetric: metrics.isEmpty ? .nan : metrics[k], seedMetrics: metrics,
                        bestEpoch: bests.isEmpty ? 0 : bests[k], seed: seeds.isEmpty ? 0 : seeds[k].seed)
    }
}

/// One cell of a grid: (layer, lr, epoch cap) and its validation score (best seed, best epoch).
public struct GridCell: Equatable {
    public let layer: Int
    public let lr: Double
    public let epochs: Int
    public let valMetric: Double
    public let seedMetrics: [Double]
    public let bestEpoch: Int
    public let seed: UInt64
}

/// What a grid will cost, before it trains: cells, jobs, the calibrated time and the cache.
public struct GridPlan {
    public var layers: [Int], lrs: [Double], epochs: [Int]
    /// Seconds of one epoch of one job on one worker (training steps and the validation pass), measured here.
    public let epochSeconds: Double
    public let workers: Int
    public let seeds: Int
    public init(layers: [Int], lrs: [Double], epochs: [Int], epochSeconds: Double, workers: Int, seeds: Int) {
        self.layers = layers; self.lrs = lrs; self.epochs = epochs; self.epochSeconds = epochSeconds; self.workers = workers; self.seeds = seeds
    }
    public var cells: Int { layers.count * lrs.count * epochs.count }
    /// Jobs (layer × lr), each trained once to the largest cap.
    public var jobs: Int { layers.count * lrs.count }
    /// At most (early stopping ends jobs sooner), seconds on `workers` workers.
    public var estimatedSeconds: Double {
        let perJob = Double(epochs.max() ?? 0) * Double(seeds) * epochSeconds
        return perJob * Double(jobs) / Double(max(1, min(workers, jobs)))
    }

    /// The plan within `budget` seconds, dropping each time the value whose removal saves the most
    /// (the largest epoch cap, a layer, a learning rate; keeping one of each); nil when one cell does not fit.
    public func shrunk(toFit budget: Double) -> (plan: GridPlan, dropped: [String])? {
        var p = self, dropped: [String] = []
        while p.estimatedSeconds > budget {
            var options: [(GridPlan, String)] = []
            if p.epochs.count > 1, let top = p.epochs.max() {
                var q = p; q.epochs.removeAll { $0 == top }; options.append((q, "epochs=\(top)"))
            }
            if p.layers.count > 1 {
                // Every other layer goes first from the middle of the list, keeping the ends.
                var q = p; let drop = p.layers[p.layers.count / 2]; q.layers.removeAll { $0 == drop }; options.append((q, "layer \(drop)"))
            }
            if p.lrs.count > 1, let top = p.lrs.max() {
                var q = p; q.lrs.removeAll { $0 == top }; options.append((q, "lr=\(top)"))
            }
            guard let best = options.min(by: { $0.0.estimatedSeconds < $1.0.estimatedSeconds }) else { return nil }
            p = best.0; dropped.append(best.1)
        }
        return (p, dropped)
    }
}

extension SteeringStudy {
    /// Seconds of one epoch of one grid job at `layer` on one worker: a few training steps and
    /// validation items timed here (single-threaded BLAS, as each parallel worker runs).
    public func calibrateGrid(layer: Int) throws -> Double {
        let t = try trainer()
        t.context = context.with(workers: 1)
        let saved = BLAS.threads
        if context.workers > 1 { BLAS.threads = 1 }
        defer { BLAS.threads = saved }
        let v = [Float](repeating: 0, count: model.config.hidden)
        let n = min(4, trainIdx.count), m = min(4, valIdx.count)
        let t0 = Date()
        for i in trainIdx.prefix(n) {
            _ = model.transformer.steer(seqs[i], residual: t.cache.residual(i, layer: layer), layer: layer, v: v, gold: items[i].gold,
                                        choiceChars: items[i].choiceChars, loss: config.loss, normalize: config.normalize)
        }
        let perTrain = Date().timeIntervalSince(t0) / Double(max(1, n))
        let t1 = Date()
        _ = t.evaluate(Array(valIdx.prefix(m)), layer: layer, v: v, config: config)
        let perVal = Date().timeIntervalSince(t1) / Double(max(1, m))
        return perTrain * Double(trainIdx.count) + perVal * Double(valIdx.count)
    }

    /// The grid's run directory: the sweep's key plus the grid's values.
    public func gridDirectory(outDir: String, lrs: [Double], epochs: Int) -> String {
        let key = String(fnv1a64(Data("\(runKey)|grid|\(lrs)|\(epochs)".utf8)), radix: 16)
        return "\(outDir)/\(model.name.replacingOccurrences(of: "/", with: "_"))/\(task.replacingOccurrences(of: "/", with: "_"))/grid-\(key)"
    }

    /// Trains every (layer, lr) of `plan` to its largest epoch cap, one job per worker, each seed
    /// from the same residual cache (prepared by the caller). A finished job is one atomic file in
    /// `dir`; a rerun reads it back instead of training (`onJob(job, resumed)`).
    public func grid(_ plan: GridPlan, dir: String, onJob: (GridJob, Bool) -> Void,
                     onProgress: @escaping (Int, Int) -> Void) throws -> (jobs: [GridJob], interrupted: Bool) {
        let run = try SweepRunDirectory(path: dir)
        let lock = shard == nil ? try run.lock() : nil
        defer { lock?.release() }
        let cap = plan.epochs.max() ?? 1
        func file(_ l: Int, _ lr: Double) -> String { String(format: "%@/job-L%02d-lr%@.json", dir, l, String(lr)) }
        var done: [String: GridJob] = [:]
        var todo: [(Int, Double)] = []
        func finished(_ l: Int, _ lr: Double) -> GridJob? {
            guard let d = FileManager.default.contents(atPath: file(l, lr)), let j = try? LayerResult.decoder.decode(GridJob.self, from: d),
                  j.layer == l, j.lr == lr, j.epochs == cap, j.seeds.count == max(1, config.seeds), j.seeds.allSatisfy({ !$0.valMetric.isEmpty }) else { return nil }
            return j
        }
        var k = 0
        for l in plan.layers {
            for lr in plan.lrs {
                if let j = finished(l, lr) { done[file(l, lr)] = j; onJob(j, true) } else if owns(cell: k) { todo.append((l, lr)) }
                k += 1
            }
        }
        let zero = [Float](repeating: 0, count: model.config.hidden)
        let parallel = max(1, min(context.workers, todo.count))
        let trainers = try (0..<parallel).map { _ -> SteeringTrainer in
            let t = try trainer(); if parallel > 1 { t.context = context.with(workers: 1) }; return t
        }
        let base = selectionBase(try trainer().evaluate(valIdx, layer: plan.layers[0], v: zero, config: config))
        let lockP = NSLock()
        var stopped = false, finishedCount = 0
        let results = try WorkPool(workers: parallel).tryMap(todo.count, shouldStop: {
            lockP.lock(); defer { lockP.unlock() }; return stopped || context.shouldStop()
        }, onResult: { _, j in
            if let j = j { onJob(j, false) }
        }) { k, w -> GridJob? in
            let (l, lr) = todo[k]
            // A job trains only under its lock: a shard leaves a job another live process holds to it;
            // a merge run waits for that process, then reads its job (or trains one it left).
            guard let cellLock = try run.cellLock(String(format: "job-L%02d-lr%@.lock", l, String(lr)), wait: shard == nil,
                                                  shouldStop: context.shouldStop) else { return nil }
            defer { cellLock.release() }
            if let j = finished(l, lr) { return j }
            var c = config
            c.lr = lr; c.epochs = cap
            let t0 = Date()
            var seeds: [GridSeedRecord] = []
            for s in 0..<max(1, c.seeds) {
                let r = trainers[w].train(layer: l, train: trainIdx, val: valIdx, config: c,
                                          seed: splits.seed &* 7919 &+ UInt64(l) &+ UInt64(s), base: base)
                if r.interrupted { lockP.lock(); stopped = true; lockP.unlock(); return nil }
                seeds.append(GridSeedRecord(seed: r.seed, valMetric: r.history.map { c.normalize ? $0.valAccNorm : $0.valAcc },
                                            valLoss: r.history.map { $0.valLoss }))
            }
            let job = GridJob(layer: l, lr: lr, epochs: cap, seeds: seeds, seconds: Date().timeIntervalSince(t0))
            try writeAtomically(try LayerResult.encoder.encode(job), to: file(l, lr))
            lockP.lock(); finishedCount += 1; let f = finishedCount; lockP.unlock()
            onProgress(f, todo.count)
            return job
        }
        for (k, j) in results.enumerated() { if let j = j { done[file(todo[k].0, todo[k].1)] = j } }
        let jobs = plan.layers.flatMap { l in plan.lrs.compactMap { done[file(l, $0)] } }
        return (jobs, stopped || context.shouldStop())
    }

    /// The best cell of finished jobs on validation (ties: the earlier layer, lr and cap: the cheaper).
    public static func bestCell(_ jobs: [GridJob], epochs: [Int], select: SteeringSelection) -> GridCell? {
        var best: GridCell?
        for j in jobs {
            for e in epochs.sorted() {
                let c = j.cell(cap: e, select: select)
                if c.valMetric.isFinite, best.map({ c.valMetric > $0.valMetric }) ?? true { best = c }
            }
        }
        return best
    }
}
