import Foundation

/// Hyperparameters of steering-vector training (the seed's protocol, made explicit).
public struct TrainConfig: Equatable {
    public var lr: Double = 1e-3
    public var epochs = 10
    public var patience = 3
    public var l2: Double = 0
    public var clip: Double = 1.0
    public var batch = 1
    public var seeds = 1
    public var loss: SteeringLoss = .choice
    /// Divide each choice's log-likelihood by its character count in the choice loss and use acc_norm for selection.
    public var normalize = true
    /// What picks the best epoch (and seed) on validation.
    public var select: SteeringSelection = .metric
    public init() {}

    public var description: String {
        "lr=\(lr) epochs=\(epochs) patience=\(patience) l2=\(l2) clip=\(clip) batch=\(batch) seeds=\(seeds) loss=\(loss.rawValue) normalize=\(normalize)"
            + (select == .metric ? "" : " select=\(select.rawValue)")
    }
}

/// How training chooses its best epoch on the validation split.
public enum SteeringSelection: String, CaseIterable {
    /// The task's metric (acc_norm or acc; exact match of greedy generations for GSM8K), ties to the lower loss.
    case metric
    /// The validation loss alone (for GSM8K: no generation per epoch, only once for the chosen epoch).
    case loss

    /// Whether an epoch scoring (`m`, `loss`) on validation beats the best so far: the one rule
    /// training and a grid's epoch caps choose by.
    public func prefers(metric m: Double, loss: Double, over best: (metric: Double, loss: Double)) -> Bool {
        self == .loss ? loss < best.loss : (m > best.metric || (m == best.metric && loss < best.loss))
    }
}

/// One epoch of one run: mean training loss and validation scores.
public struct EpochRecord: Equatable {
    public let epoch: Int
    public let trainLoss: Double
    public let valLoss: Double
    public let valAcc: Double
    public let valAccNorm: Double
}

/// The outcome of training one seed at one layer; `vector` holds the best epoch's weights.
public struct TrainRun {
    public let layer: Int
    public let seed: UInt64
    public let vector: [Float]
    public let history: [EpochRecord]
    public let bestEpoch: Int
    /// The selection metric (acc_norm when normalising, else acc) at the best epoch, on validation.
    public let bestVal: Double
    public let interrupted: Bool
    /// Validation scores at the best epoch (the base model's when no epoch beat it).
    public var bestValScores: [ItemScore] = []
    /// Where training stopped because a loss or gradient was NaN or infinite (the first item and
    /// where its forward pass broke down); nil when every step was finite. The run keeps the best
    /// epoch before it.
    public var nonFinite: String? = nil
}

/// Trains steering vectors at a layer over cached residuals (items indexed into the cache).
public final class SteeringTrainer {
    public let model: LanguageModel
    public let cache: ResidualCache
    public let items: [MCItem]        // all items the cache holds, same order
    let seqs: [PackedSequence]
    public var context = RunContext()
    /// Called after each training step with (steps done, steps planned).
    public var onStep: (Int, Int) -> Void = { _, _ in }
    /// Validation scores by another route than the cached forward (GSM8K: exact match of greedy
    /// generations with v at `layer`), in `valIdx` order; nil: the scores of `evaluate`.
    public var verdicts: ((_ layer: Int, _ v: [Float]) -> [ItemScore])?

    public init(model: LanguageModel, cache: ResidualCache, items: [MCItem], seqs: [PackedSequence]) {
        self.model = model; self.cache = cache; self.items = items; self.seqs = seqs
    }

    func chars(_ i: Int) -> [Int] { items[i].choiceChars }

    /// Scores of items `idx` with vector v at `layer` (v = zeros gives the base model).
    public func evaluate(_ idx: [Int], layer: Int, v: [Float], config: TrainConfig) -> (scores: [ItemScore], loss: Double) {
        let r = context.pool.map(idx.count) { k, _ -> (ItemScore, Double) in
            let i = idx[k]
            let ev = model.transformer.steer(seqs[i], residual: cache.residual(i, layer: layer), layer: layer, v: v,
                                             gold: items[i].gold, choiceChars: chars(i), loss: config.loss,
                                             normalize: config.normalize, wantGrad: false)
            return (ItemScore(doc: items[i].doc, gold: items[i].gold, ll: ev.ll, choiceChars: chars(i)), ev.loss)
        }
        return (r.map { $0.0 }, r.reduce(0.0) { $0 + $1.1 } / Double(max(1, idx.count)))
    }

    func metric(_ s: [ItemScore], _ c: TrainConfig) -> Double { EvalSummary(s).metric(norm: c.normalize) }

    /// Trains one seed: Adam on (loss + l2·‖v‖²) with global-norm clipping, early stopping on validation.
    /// `base`: the validation scores and loss at v = 0, when already known (they are the same at every
    /// layer and for every seed: the base model), so they are not computed again.
    public func train(layer: Int, train trainIdx: [Int], val valIdx: [Int], config c: TrainConfig, seed: UInt64,
                      base known: (scores: [ItemScore], loss: Double)? = nil) -> TrainRun {
        let d = model.config.hidden
        var v = [Float](repeating: 0, count: d)
        var m1 = [Double](repeating: 0, count: d), m2 = m1
        var t = 0
        var rng = SeededRandom(seed: seed)
        let base = known ?? evaluate(valIdx, layer: layer, v: v, config: c)
        var best = (metric: metric(base.scores, c), loss: base.loss, epoch: 0, v: v, scores: base.scores)
        /// Whether an epoch with this metric and loss beats the best so far.
        func better(_ m: Double, _ loss: Double) -> Bool { c.select.prefers(metric: m, loss: loss, over: (best.metric, best.loss)) }
        var history = [EpochRecord(epoch: 0, trainLoss: .nan, valLoss: base.loss, valAcc: EvalSummary(base.scores).acc,
                                   valAccNorm: EvalSummary(base.scores).accNorm)]
        var sinceBest = 0, interrupted = false
        var nonFinite: String?
        let stepsPerEpoch = (trainIdx.count + c.batch - 1) / c.batch
        var stepsDone = 0
        epochs: for epoch in 1...max(1, c.epochs) {
            let order = trainIdx.shuffled(using: &rng)
            var lossSum = 0.0
            for b in stride(from: 0, to: order.count, by: c.batch) {
                if context.shouldStop() { interrupted = true; break epochs }
                let batch = Array(order[b..<min(order.count, b + c.batch)])
                let vv = v
                let evs = context.pool.map(batch.count) { k, _ -> SteeringEval in
                    let i = batch[k]
                    return model.transformer.steer(seqs[i], residual: cache.residual(i, layer: layer), layer: layer, v: vv,
                                                   gold: items[i].gold, choiceChars: chars(i), loss: c.loss, normalize: c.normalize)
                }
                // A NaN or infinity would poison v and every later step: stop, and say where it came from.
                if let k = evs.indices.first(where: { !evs[$0].loss.isFinite || evs[$0].grad.contains { !$0.isFinite } }) {
                    let i = batch[k]
                    let what = evs[k].loss.isFinite ? "a non-finite gradient" : "a loss of \(evs[k].loss)"
                    let place = model.transformer.firstNonFinite(tokens: seqs[i].tokens, steering: [(layer, vv)])
                    nonFinite = "epoch \(epoch), step \(stepsDone + 1): item doc \(items[i].doc) has \(what); "
                        + (place.map { "in its forward pass with the vector at layer \(layer), \($0)" }
                           ?? "its forward pass with the vector at layer \(layer) is finite, so it arose in the loss or the backward pass")
                    break epochs
                }
                let grads = evs.map { $0.grad }, losses = evs.map { $0.loss }
                var g = [Double](repeating: 0, count: d)
                for gr in grads { for j in 0..<d { g[j] += Double(gr[j]) / Double(batch.count) } }
                for j in 0..<d { g[j] += 2 * c.l2 * Double(v[j]) }
                let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if c.clip > 0 && norm > c.clip { for j in 0..<d { g[j] *= c.clip / norm } }
                t += 1
                let b1 = 0.9, b2 = 0.999, eps = 1e-8
                for j in 0..<d {
                    m1[j] = b1 * m1[j] + (1 - b1) * g[j]
                    m2[j] = b2 * m2[j] + (1 - b2) * g[j] * g[j]
                    let mh = m1[j] / (1 - pow(b1, Double(t))), vh = m2[j] / (1 - pow(b2, Double(t)))
                    v[j] -= Float(c.lr * mh / (vh.squareRoot() + eps))
                }
                lossSum += losses.reduce(0, +)
                stepsDone += 1
                onStep(stepsDone, stepsPerEpoch * c.epochs)
            }
            let ev = evaluate(valIdx, layer: layer, v: v, config: c)
            // Selecting on the metric with another route to it (generation): that route, every epoch.
            let scores = c.select == .metric ? verdicts?(layer, v) ?? ev.scores : ev.scores
            let s = EvalSummary(scores)
            // Selected on the loss with the metric from another route: no metric per epoch (NaN), only the loss.
            let unscored = c.select == .loss && verdicts != nil
            history.append(EpochRecord(epoch: epoch, trainLoss: lossSum / Double(max(1, order.count)), valLoss: ev.loss,
                                       valAcc: unscored ? .nan : s.acc, valAccNorm: unscored ? .nan : s.accNorm))
            let mtr = metric(scores, c)
            if better(mtr, ev.loss) {
                best = (mtr, ev.loss, epoch, v, scores); sinceBest = 0
            } else {
                sinceBest += 1
                if sinceBest >= c.patience { break }
            }
        }
        // Selected on the loss: the chosen epoch's metric by the other route, once.
        if c.select == .loss, let vd = verdicts, !interrupted {
            best.scores = best.epoch == 0 ? base.scores : vd(layer, best.v)
            best.metric = metric(best.scores, c)
        }
        return TrainRun(layer: layer, seed: seed, vector: best.v, history: history, bestEpoch: best.epoch,
                        bestVal: best.metric, interrupted: interrupted, bestValScores: best.scores, nonFinite: nonFinite)
    }
}
