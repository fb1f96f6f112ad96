import Foundation

/// Steering vectors applied together: each value list is added after its block (−1: to the
/// embeddings); several at one block add up.
public typealias SteeringSet = [(layer: Int, values: [Float])]

/// A decoder-only transformer of any registered architecture, evaluated in f32 over OpenBLAS.
///
/// Every path (packed scoring, prefill and decoding with a KV cache, training) runs the same
/// block function, `blockForward`, whose wiring comes from `config.features`.
public final class Transformer {
    public let config: ModelConfig
    let embed: WeightMatrix     // [vocab, hidden]
    let positionTable: [Float]? // [maxPositions, hidden] for learned positions
    let head: WeightMatrix?     // [vocab, hidden]; nil when tied to `embed`
    let headBias: [Float]?      // [vocab]
    let finalNorm: Norm
    let blocks: [Block]

    /// Rows of a compact head dequantised at a time for full-vocabulary logits (a multiple of 16,
    /// the GEMM kernels' column unroll, so each column is computed as in one call).
    static let headPanelRows = 8192

    /// Query rows per sequence up to which attention takes the decoding path (key/value groups, and
    /// sequences spread over the cores).
    static let decodeRows = 2
    /// Whether attention runs on our AVX-512 kernels (decoding: `aft_f32_attention_scores`/`_mix`;
    /// prompts: `aft_f32_block_scores`/`_mix`): the CPU has AVX512F and `AFT_BLAS_ATTENTION=1`
    /// (sgemm instead, to compare) is not set.
    static let ownAttention = BF16.cpuFlags.contains("avx512f") && ProcessInfo.processInfo.environment["AFT_BLAS_ATTENTION"] == nil

    /// Query rows per block of prefill attention: each block multiplies only the keys its last row sees.
    static let attentionBlockRows = 128

    /// Largest compact matrix (elements) dequantised whole into a scratch for the head's backward:
    /// 256 M floats (1 GiB); larger heads are summed over panels.
    static var wholeScratchLimit = 1 << 28

    /// Bytes the weights occupy in memory (matrices as kept, norms and tables in f32).
    public var residentWeightBytes: Int {
        var n = embed.residentBytes + (head?.residentBytes ?? 0) + 4 * ((positionTable?.count ?? 0) + (headBias?.count ?? 0) + finalNorm.w.count + (finalNorm.b?.count ?? 0))
        for b in blocks {
            for l in [b.q, b.k, b.v, b.o, b.up, b.down] + (b.gate.map { [$0] } ?? []) { n += l.w.residentBytes + 4 * (l.b?.count ?? 0) }
            for nm in [b.inputNorm] + [b.postAttnNorm, b.preFFNNorm, b.postFFNNorm, b.qNorm, b.kNorm].compactMap({ $0 }) { n += 4 * (nm.w.count + (nm.b?.count ?? 0)) }
        }
        return n
    }

    /// How the weights are kept (`compact`: as the file stores them, dequantised per GEMM).
    public let weightMode: WeightMode

    public init(config: ModelConfig, weights: WeightSource, mode: WeightMode = .f32) throws {
        self.config = config
        weightMode = mode
        if let top = weights.highestLayerIndex, top >= config.layers {
            throw EngineError.malformed(path: weights.path, what: "the file has tensors for layer \(top) but its config says \(config.layers) layers")
        }
        let w = try WeightReader(weights, config, mode: mode).load()
        embed = w.embed; positionTable = w.positions; head = w.head; headBias = w.headBias
        finalNorm = w.finalNorm; blocks = w.blocks
    }

    /// Residual-stream hooks: `after(layer, x, rows)` sees block `layer`'s output [rows, hidden] and may modify it.
    public typealias ResidualHook = (_ layer: Int, _ x: UnsafeMutablePointer<Float>, _ rows: Int) -> Void

    /// The hook that adds `values` [hidden] at every position after block `layer` (the steering vector's hook).
    public static func steeringHook(layer: Int, values: [Float]) -> ResidualHook {
        { l, x, rows in if l == layer { Kernels.addToRows(values, x, rows: rows) } }
    }

    /// The hook that adds each of the set's vectors after its block (a multi-layer control vector).
    public static func steeringHook(_ set: SteeringSet) -> ResidualHook {
        { l, x, rows in for (sl, v) in set where sl == l { Kernels.addToRows(v, x, rows: rows) } }
    }

    /// Adds the set's vectors for block `layer` (−1: the embeddings) to every row of `x` [rows, hidden].
    static func add(_ set: SteeringSet, at layer: Int, to x: inout [Float]) {
        for (l, v) in set where l == layer && !x.isEmpty {   // empty: a last block that kept no rows
            x.withUnsafeMutableBufferPointer { Kernels.addToRows(v, $0.baseAddress!, rows: $0.count / v.count) }
        }
    }

    /// Embeddings of `tokens` at `positions` [T, hidden]: the token table (× √hidden when the
    /// architecture scales it) plus the learned position table when there is one.
    /// Out-of-range ids and positions are clamped (callers check lengths against the context first).
    public func embed(tokens: [Int], positions: [Int]) -> [Float] {
        let d = config.hidden, V = config.vocabSize
        let s: Float = config.features.scaleEmbeddings ? Float(d).squareRoot() : 1
        return Kernels.filled(tokens.count * d) { x in
            for (t, id) in tokens.enumerated() {
                let r = min(max(id, 0), V - 1), row = x + t * d
                embed.dequantizeRows(r..<(r + 1), into: row)
                for i in 0..<d { row[i] *= s }
            }
            if let table = positionTable {
                let n = table.count / d
                table.withUnsafeBufferPointer { p in
                    for (t, pos) in positions.enumerated() {
                        let r = min(max(pos, 0), n - 1), row = x + t * d
                        for i in 0..<d { row[i] += p[r * d + i] }
                    }
                }
            }
        }
    }

    /// Embeddings of the packed sequence [T, hidden].
    public func embed(_ seq: PackedSequence) -> [Float] { embed(tokens: seq.tokens, positions: seq.positions) }

    /// Runs `tokens` after whatever `cache` holds and returns the final-normed hidden states [T, hidden].
    ///
    /// - Parameters:
    ///   - positions: absolute position of each token (default: cache.length + t).
    ///   - segments: tokens with different segment ids do not attend to each other (each still sees
    ///     the whole cache). This scores several continuations of one cached context in one batch.
    ///   - keepInCache: append these tokens' K/V to the cache (false for the batched continuations).
    public func forward(_ tokens: [Int], cache: KVCache, positions: [Int]? = nil, segments: [Int]? = nil,
                        keepInCache: Bool = true, hook: ResidualHook? = nil) -> [Float] {
        let T = tokens.count
        let pos = positions ?? (0..<T).map { cache.length + $0 }
        let span = CacheSpan(cache: cache, positions: pos, segments: segments ?? [Int](repeating: 0, count: T))
        let x = run(embed(tokens: tokens, positions: pos), .cached([span]), hook: hook)
        if keepInCache { cache.commit(T) }
        return normed(finalNorm, x, rows: T, d: config.hidden)
    }

    /// Every block over `x` with the given attention layout (the hook after each block); the last block's output.
    func run(_ x: [Float], _ layout: AttentionLayout, hook: ResidualHook?) -> [Float] {
        var x = x
        for l in 0..<config.layers {
            x = blockForward(l, x, layout, record: false).0
            if let hook = hook { let T = x.count / config.hidden; x.withUnsafeMutableBufferPointer { hook(l, $0.baseAddress!, T) } }
        }
        return x
    }

    /// Residual stream after every block 0...last for `seq` (no steering): [last+1][T·hidden].
    public func residuals(_ seq: PackedSequence, through last: Int) -> [[Float]] {
        var x = embed(seq)
        var out: [[Float]] = []
        for l in 0...min(last, config.layers - 1) {
            x = blockForward(l, x, seq, record: false).0
            out.append(x)
        }
        return out
    }
}
