import Foundation

/// Where a sweep keeps a residual cache larger than its memory budget.
public enum SpillPolicy: String, CaseIterable {
    /// In a memory-mapped scratch file in the run directory when over budget (computed once).
    case auto
    /// Always in a scratch file.
    case always
    /// Never on disk: over budget, layers run in groups that fit, each group recomputing residuals.
    case never
}

/// A task prepared for steering: items, seeded splits, packed sequences and their residual cache.
public final class SteeringStudy {
    public let model: LanguageModel
    public let task: String
    public let dataset: Dataset
    public let splits: Splits
    /// The configuration training uses (for GSM8K: the LM loss and flexible exact match, whatever was asked).
    public let config: TrainConfig
    /// The configuration as it was asked for.
    public let requestedConfig: TrainConfig
    /// Items of train + val (the cache's items), then the indices into it.
    public let items: [MCItem]
    let seqs: [PackedSequence]
    public let trainIdx: [Int], valIdx: [Int]
    public private(set) var cache: ResidualCache?
    /// Workers and the stop request for caching, training and sweeps.
    public var context = RunContext()
    /// What a sweep does when its residual cache exceeds the memory budget.
    public var spill: SpillPolicy = .auto
    /// Shard `index` (1-based) of `count`: sweeps and grids train only their share of the cells
    /// (cell k of the full list goes to shard k mod count + 1), under per-cell locks, in a run
    /// directory the shards share; nil: every cell, under one lock for the run.
    public var shard: (index: Int, count: Int)?

    /// Whether cell `k` (of the full, ordered list) is this process's to train.
    public func owns(cell k: Int) -> Bool { shard.map { k % $0.count == $0.index - 1 } ?? true }
    /// Every item of the task's file as a multiple-choice item; the splits index into it.
    let pool: [MCItem]
    /// A generation task (GSM8K): validation and test are scored by greedy generation.
    public let generative: Bool
    /// New tokens per generated answer (validation and test of a generation task).
    public var maxTokens = GSM8K.maxTokens
    /// The base model's validation verdicts (generation tasks), computed once.
    var baseVerdicts: [ItemScore]?
    let verdictLock = NSLock()

    public init(model: LanguageModel, task: String, dataDir: String?, train: Int, val: Int, test: Int, seed: UInt64,
                config: TrainConfig) throws {
        self.model = model; self.task = task
        dataset = try Dataset.load(task, dataDir: dataDir)
        generative = dataset.layout == .gsm8k
        // GSM8K trains on the LM loss of the gold solution and selects on flexible exact match (acc_norm of its verdicts).
        requestedConfig = config
        var c = config
        if generative { c.loss = .lm; c.normalize = true }
        self.config = c
        pool = generative ? dataset.genItems.map(GSM8K.trainingItem) : dataset.items
        splits = try Splits(count: pool.count, train: train, val: val, test: test, seed: seed)
        let all = pool
        items = (splits.train + splits.val).map { all[$0] }
        trainIdx = Array(0..<splits.train.count)
        valIdx = Array(splits.train.count..<items.count)
        let scorer = Scorer(model: model)
        seqs = items.map { scorer.packed($0) }
    }

    /// The held-out test items (for GSM8K, one-choice items whose context is the zero-shot prompt).
    public var testItems: [MCItem] { splits.test.map { pool[$0] } }

    /// Bytes the residual cache needs for `layers` layers.
    public func cacheBytes(layers: Int) -> Int { ResidualCache.estimate(seqs, hidden: model.config.hidden, layers: layers) }

    /// Computes (or reuses) the residual cache for `layers`, in memory or in a scratch file in `spillDirectory`.
    ///
    /// With `scoreBase`, the validation items' forward passes continue from the top cached layer
    /// through the head: their base-model (v = 0) scores and loss come back with no second pass.
    @discardableResult
    public func prepare(layers: [Int], spillDirectory: String? = nil, scoreBase: Bool = false,
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> (scores: [ItemScore], loss: Double)? {
        if let c = cache, Set(layers).isSubset(of: Set(c.layers)) { return nil }
        cache = nil   // release the old cache before building the next
        let top = layers.max() ?? 0, tf = model.transformer, cfg = config, its = items
        let isVal = Set(valIdx)
        let lock = NSLock()
        var base: [Int: (score: ItemScore, loss: Double)] = [:]
        let zero = [Float](repeating: 0, count: model.config.hidden)
        cache = try ResidualCache(model: tf, seqs: seqs, layers: layers, context: context, spillDirectory: spillDirectory,
                                  atTop: scoreBase ? { i, x in
            guard isVal.contains(i) else { return }
            let chars = its[i].choiceChars
            let ev = tf.steer(self.seqs[i], residual: x, layer: top, v: zero, gold: its[i].gold, choiceChars: chars,
                              loss: cfg.loss, normalize: cfg.normalize, wantGrad: false)
            let sc = ItemScore(doc: its[i].doc, gold: its[i].gold, ll: ev.ll, choiceChars: chars)
            lock.lock(); base[i] = (sc, ev.loss); lock.unlock()
        } : nil) { progress($0, self.seqs.count) }
        guard scoreBase, base.count == valIdx.count else { return nil }
        return (valIdx.map { base[$0]!.score }, valIdx.reduce(0.0) { $0 + base[$1]!.loss } / Double(max(1, valIdx.count)))
    }

    public func trainer() throws -> SteeringTrainer {
        guard let c = cache else { throw EngineError.invalidArgument("residual cache not prepared") }
        let t = SteeringTrainer(model: model, cache: c, items: items, seqs: seqs)
        t.context = context
        if generative {
            t.verdicts = { [unowned self] layer, v in
                v.allSatisfy({ $0 == 0 }) ? self.baseValidationVerdicts() : (try? self.validationVerdicts([(layer, v)])) ?? []
            }
        }
        return t
    }

    /// ‖Σ_t dL/dh_l‖ at v = 0 for every layer (index l+1; index 0 = embeddings), mean over `n` train items,
    /// from one backward pass per item: a fast preview of where steering gets gradient.
    public func gradientScreen(items n: Int) -> [Double] {
        let tf = model.transformer
        var sum = [Double](repeating: 0, count: model.config.layers + 1)
        let k = min(n, trainIdx.count)
        for i in trainIdx.prefix(k) {
            let ev = tf.steer(seqs[i], residual: tf.embed(seqs[i]), layer: -1, v: [Float](repeating: 0, count: model.config.hidden),
                              gold: items[i].gold, choiceChars: items[i].choiceChars,
                              loss: config.loss, normalize: config.normalize, collectLayerGrads: true)
            for (j, g) in ev.layerGradNorms.enumerated() where j < sum.count { sum[j] += g }
        }
        return sum.map { $0 / Double(max(k, 1)) }
    }

    /// A short stable key of everything that determines a sweep's per-layer results: the model
    /// (name, shape and file fingerprint), the task's data (content hash), the splits and every
    /// hyperparameter. Changing any of them starts a fresh run directory.
    public var runKey: String {
        let s = "\(model.name)|\(model.config.hidden)|\(model.config.layers)|\(modelFingerprint)|\(task)|\(dataFingerprint)|\(splits.seed)|\(splits.train.count)|\(splits.val.count)|\(splits.test.count)|\(config.description)"
        return String(fnv1a64(Data(s.utf8)), radix: 16)
    }

    /// The task file's content hash (read when the file was parsed, not again).
    public var dataFingerprint: String { dataset.fingerprint }

    /// The model's identity: the sha256 of its weight file(s), so changing the weights under the
    /// same name or path gives another run key (hashed once per file version, then cached).
    public var modelFingerprint: String {
        (try? model.sha256()) ?? "unhashed:\(model.path)"
    }

}

/// One layer of a sweep: validation scores of the best epoch (and seed mean when seeds > 1).
public struct LayerResult: Codable, Equatable {
    public let layer: Int
    public let valN: Int
    public let valMetric: Double       // acc_norm (normalised) or acc
    public let valLow: Double, valHigh: Double
    public let valAcc: Double, valAccNorm: Double
    public let bestEpoch: Int
    public let vectorNorm: Double
    public let normRatio: Double
    public let seconds: Double
    public let seedMetrics: [Double]
    public let epochValMetric: [Double]  // per epoch (0 = base) of the best seed
    public let epochTrainLoss: [Double]

    public init(layer: Int, valN: Int, valMetric: Double, valLow: Double, valHigh: Double, valAcc: Double, valAccNorm: Double,
                bestEpoch: Int, vectorNorm: Double, normRatio: Double, seconds: Double, seedMetrics: [Double],
                epochValMetric: [Double], epochTrainLoss: [Double]) {
        self.layer = layer; self.valN = valN; self.valMetric = valMetric; self.valLow = valLow; self.valHigh = valHigh
        self.valAcc = valAcc; self.valAccNorm = valAccNorm; self.bestEpoch = bestEpoch; self.vectorNorm = vectorNorm
        self.normRatio = normRatio; self.seconds = seconds; self.seedMetrics = seedMetrics
        self.epochValMetric = epochValMetric; self.epochTrainLoss = epochTrainLoss
    }
}

extension LayerResult {
    /// A layer file's encoder: sorted keys, and NaN (an epoch with no metric) written as "nan".
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// Equal as the layer file writes them: a NaN (epoch 0 has no training loss; a diverged epoch
    /// keeps its NaN) equals a NaN in the same place.
    public static func == (a: LayerResult, b: LayerResult) -> Bool {
        guard let x = try? encoder.encode(a), let y = try? encoder.encode(b) else { return false }
        return x == y
    }
}

/// Result of `sweep`: the layer curve, the base line and the best layer, all on validation.
public struct SweepResult {
    public let task: String
    public let model: String
    public let metricName: String
    public var layers: [LayerResult]
    public let baseMetric: Double
    public let baseLow: Double, baseHigh: Double
    public let runDir: String
    public var screen: [Double]
    public var interrupted: Bool
    /// The residual cache: its largest size in bytes, whether it lived on disk, and how many times
    /// residuals were computed (1 unless spill=never split the layers into groups).
    public var cacheBytes = 0
    public var cacheOnDisk = false
    public var cachePasses = 0

    public init(task: String, model: String, metricName: String, layers: [LayerResult], baseMetric: Double, baseLow: Double,
                baseHigh: Double, runDir: String, screen: [Double], interrupted: Bool) {
        self.task = task; self.model = model; self.metricName = metricName; self.layers = layers; self.baseMetric = baseMetric
        self.baseLow = baseLow; self.baseHigh = baseHigh; self.runDir = runDir; self.screen = screen; self.interrupted = interrupted
    }

    public var bestLayer: Int? { layers.max { $0.valMetric < $1.valMetric || ($0.valMetric == $1.valMetric && $0.layer > $1.layer) }?.layer }
}
