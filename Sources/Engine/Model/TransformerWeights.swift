/// A linear layer: weight [out, in] (Hugging Face layout) and optional bias [out].
public struct Linear {
    public var w: WeightMatrix
    public var b: [Float]?
    public let outDim: Int, inDim: Int
}

/// A normalisation layer's scale (and bias for LayerNorm), width `d`.
public struct Norm {
    public var w: [Float]
    public var b: [Float]?
}

/// One transformer block's weights. Which norms exist depends on the block's features.
public struct Block {
    public var inputNorm: Norm
    /// The pre-MLP norm (sequential and two-norm parallel layouts); Gemma's norm of the attention output (sandwich).
    public var postAttnNorm: Norm?
    public var preFFNNorm: Norm?      // sandwich
    public var postFFNNorm: Norm?     // sandwich
    public var q: Linear, k: Linear, v: Linear, o: Linear
    public var qNorm: Norm?, kNorm: Norm?  // per head (width headDim)
    public var gate: Linear?          // gated MLPs
    public var up: Linear, down: Linear
    /// k and v packed as one matrix [2 kvDim, hidden] for generation's products
    /// (`Transformer.packForGeneration`), once made.
    let kvPacked = MadeOnce<PackedF32>()
}

/// Every weight of a model, in Hugging Face layout.
struct TransformerWeights {
    var embed: WeightMatrix     // [vocab, hidden]
    var positions: [Float]?     // [maxPositions, hidden] (learned positions)
    var head: WeightMatrix?     // [vocab, hidden]; nil when tied to `embed`
    var headBias: [Float]?      // [vocab]
    var finalNorm: Norm
    var blocks: [Block]
}

/// Reads a model's tensors through its architecture's naming table for the source's format,
/// applying the table's fix-ups (Conv1D transposes, fused QKV splits, norm offsets, llama.cpp's
/// Q/K permutation) and checking every shape against the config.
struct WeightReader {
    let src: WeightSource
    let names: TensorNames
    let c: ModelConfig
    let mode: WeightMode

    init(_ src: WeightSource, _ c: ModelConfig, mode: WeightMode = .f32) {
        self.src = src; self.c = c; self.mode = mode
        names = src.format == .gguf ? c.arch.ggufTensors : c.arch.hfTensors
    }

    /// The stored name of `role` (in block `layer`) with `suffix`: the first alternative present,
    /// else the first alternative (so a missing tensor is reported by its usual name).
    func name(_ role: TensorRole, _ layer: Int?, _ suffix: String) -> String? {
        guard let alts = names.names[role], !alts.isEmpty else { return nil }
        let full = alts.map { alt in (layer.map { alt.replacingOccurrences(of: "{i}", with: "\($0)") } ?? alt) + suffix }
        return full.first(where: src.has) ?? full[0]
    }

    func has(_ role: TensorRole, _ layer: Int?) -> Bool { name(role, layer, ".weight").map(src.has) ?? false }

    /// The tensor with the expected shape (a 1-D tensor may be stored [1, n]); Conv1D weights are transposed.
    func get(_ role: TensorRole, _ layer: Int?, _ suffix: String, _ shape: [Int]) throws -> [Float] {
        guard let n = name(role, layer, suffix) else {
            throw EngineError.missingTensor(path: src.path, tensor: "\(role)\(layer.map { " of block \($0)" } ?? "")\(suffix) (no name in \(c.arch.name)'s table)")
        }
        var t = try src.tensor(n)
        if names.conv1D && shape.count == 2 && suffix == ".weight" && role != .embed && role != .positions && role != .head {
            guard t.shape == [shape[1], shape[0]] else {
                throw EngineError.shapeMismatch(path: src.path, tensor: n, expected: [shape[1], shape[0]], found: t.shape)
            }
            t = Tensor(shape: shape, data: transposed(t.data, rows: shape[1], cols: shape[0]))
        }
        if t.shape != shape && !(t.shape.filter { $0 != 1 } == shape.filter { $0 != 1 } && t.count == shape.reduce(1, *)) {
            throw EngineError.shapeMismatch(path: src.path, tensor: n, expected: shape, found: t.shape)
        }
        return t.data
    }

    /// A weight matrix [rows, cols]: packed as stored in compact mode (when the file's type is not
    /// f32 and no transpose is needed), rounded to bf16 in bf16 mode (from the packed rows a panel
    /// at a time, so no f32 copy of a large matrix is ever whole), else dequantised to f32.
    func matrix(_ role: TensorRole, _ layer: Int?, rows: Int, cols: Int) throws -> WeightMatrix {
        let transposes = names.conv1D && role != .embed && role != .positions && role != .head
        if mode != .f32, !transposes, let n = name(role, layer, ".weight"), src.has(n), let p = try src.packed(n) {
            let shape = [rows, cols]
            guard p.shape == shape || (p.shape.filter { $0 != 1 } == shape.filter { $0 != 1 } && p.shape.reduce(1, *) == rows * cols) else {
                throw EngineError.shapeMismatch(path: src.path, tensor: n, expected: shape, found: p.shape)
            }
            guard cols % p.type.blockSize == 0, p.bytes.count == rows * (cols / p.type.blockSize) * p.type.blockBytes else {
                throw EngineError.malformed(path: src.path, what: "tensor '\(n)': rows of \(cols) \(p.type.name) elements are not whole blocks")
            }
            let packed = WeightMatrix(packed: p.bytes, type: p.type, rows: rows, cols: cols)
            return mode == .bf16 ? packed.roundedToBF16() : packed
        }
        let floats = try get(role, layer, ".weight", [rows, cols])
        if mode == .bf16 { return WeightMatrix(bf16: floats, rows: rows, cols: cols) }
        return WeightMatrix(dense: floats, rows: rows, cols: cols)
    }

    func linear(_ role: TensorRole, _ layer: Int, out: Int, in inDim: Int, bias: Bool) throws -> Linear {
        var w = try matrix(role, layer, rows: out, cols: inDim)
        if names.permutedQK && (role == .q || role == .k) {
            w = w.selectingRows(unpermutedRowOrder(rows: out, heads: role == .q ? c.heads : c.kvHeads))
        }
        return Linear(w: w, b: bias ? try get(role, layer, ".bias", [out]) : nil, outDim: out, inDim: inDim)
    }

    func norm(_ role: TensorRole, _ layer: Int?, _ d: Int) throws -> Norm {
        var w = try get(role, layer, ".weight", [d])
        if names.normOffset != 0 { for i in w.indices { w[i] += names.normOffset } }
        return Norm(w: w, b: c.features.norm == .layer ? try get(role, layer, ".bias", [d]) : nil)
    }

    /// Q, K and V of block `layer`: three tensors, or one fused tensor split by the table's layout.
    func qkv(_ l: Int) throws -> (Linear, Linear, Linear) {
        let d = c.hidden, bias = c.features.qkvBias
        guard has(.qkv, l) || names.names[.q] == nil else {
            return (try linear(.q, l, out: c.qDim, in: d, bias: bias), try linear(.k, l, out: c.kvDim, in: d, bias: bias),
                    try linear(.v, l, out: c.kvDim, in: d, bias: bias))
        }
        let total = c.qDim + 2 * c.kvDim
        let fused = try linear(.qkv, l, out: total, in: d, bias: bias)
        // Source row of output row r of part s (0 q, 1 k, 2 v).
        let rowOf: (Int, Int) -> Int
        switch names.fusedQKV {
        case .perHead:
            guard c.kvHeads == c.heads else {
                throw EngineError.malformed(path: src.path, what: "a per-head fused QKV needs as many key/value heads as query heads")
            }
            rowOf = { s, r in (r / c.headDim) * 3 * c.headDim + s * c.headDim + r % c.headDim }
        case .concatenated:
            rowOf = { s, r in (s == 0 ? 0 : c.qDim + (s - 1) * c.kvDim) + r }
        }
        func part(_ s: Int) -> Linear {
            let out = s == 0 ? c.qDim : c.kvDim
            let rows = (0..<out).map { rowOf(s, $0) }
            return Linear(w: fused.w.selectingRows(rows), b: fused.b.map { fb in rows.map { fb[$0] } }, outDim: out, inDim: d)
        }
        return (part(0), part(1), part(2))
    }

    /// Loads and shape-checks every tensor the config implies; errors name the missing or misshapen tensor.
    func load() throws -> TransformerWeights {
        let d = c.hidden, f = c.features
        let embed = try matrix(.embed, nil, rows: c.vocabSize, cols: d)
        let positions = f.positions == .learned ? try get(.positions, nil, ".weight", [c.maxPositions ?? 0, d]) : nil
        let head = c.tiedEmbeddings ? nil : try matrix(.head, nil, rows: c.vocabSize, cols: d)
        let headBias = f.headBias ? try get(.head, nil, ".bias", [c.vocabSize]) : nil
        let final = try norm(.finalNorm, nil, d)
        var blocks: [Block] = []
        let sandwich = f.residual == .sandwich, shared = f.residual == .parallel(sharedNorm: true)
        for i in 0..<c.layers {
            let (q, k, v) = try qkv(i)
            var gate: Linear? = nil
            if case .gated = f.mlp { gate = try linear(.gate, i, out: c.ffn, in: d, bias: f.mlpBias) }
            blocks.append(Block(
                inputNorm: try norm(.inputNorm, i, d),
                postAttnNorm: shared ? nil : try norm(.postAttnNorm, i, d),
                preFFNNorm: sandwich ? try norm(.preFFNNorm, i, d) : nil,
                postFFNNorm: sandwich ? try norm(.postFFNNorm, i, d) : nil,
                q: q, k: k, v: v, o: try linear(.o, i, out: d, in: c.qDim, bias: f.outBias),
                qNorm: f.qkNorm ? try norm(.qNorm, i, c.headDim) : nil,
                kNorm: f.qkNorm ? try norm(.kNorm, i, c.headDim) : nil,
                gate: gate, up: try linear(.up, i, out: c.ffn, in: d, bias: f.mlpBias),
                down: try linear(.down, i, out: d, in: c.ffn, bias: f.mlpBias)))
        }
        return TransformerWeights(embed: embed, positions: positions, head: head, headBias: headBias, finalNorm: final, blocks: blocks)
    }
}

/// The [cols, rows] transpose of a row-major [rows, cols] matrix.
func transposed(_ a: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: a.count)
    for r in 0..<rows { for k in 0..<cols { out[k * rows + r] = a[r * cols + k] } }
    return out
}
