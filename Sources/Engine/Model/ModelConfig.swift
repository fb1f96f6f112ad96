import Foundation

/// Hyperparameters of a decoder-only transformer, normalised across GGUF and Hugging Face configs.
public struct ModelConfig: Equatable {
    public var arch: Architecture
    /// The block's features (the architecture's, with config-dependent choices applied).
    public var features: BlockFeatures
    public var vocabSize: Int
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffn: Int
    public var normEps: Float
    public var ropeTheta: Float
    /// RoPE base for sliding-window layers (Gemma 3); equals `ropeTheta` elsewhere.
    public var ropeLocalTheta: Float
    /// Dimensions of each head that are rotated (GPT-NeoX rotates 25 %, phi 50 %).
    public var rotaryDim: Int
    /// Sliding window in tokens for layers marked sliding (Gemma 3), else nil.
    public var slidingWindow: Int?
    public var layerIsSliding: [Bool]
    public var tiedEmbeddings: Bool
    /// Attention score scale is 1/sqrt(this) (Gemma 3's query_pre_attn_scalar; head_dim elsewhere).
    public var queryPreAttnScalar: Float
    /// Longest sequence the model was trained on (the size of a learned position table), when known.
    public var maxPositions: Int?
    public var bosTokenId: Int?
    /// Whether the tokenizer prepends BOS when encoding with special tokens (lm-eval adds it for Gemma).
    public var addBos: Bool

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
}

extension ModelConfig {
    /// Reads every field through `r` (the architecture's keys in one format), applies the
    /// architecture's own choices, and checks that the shapes are consistent.
    init(arch: Architecture, reader r: ConfigReader, vocabFallback: Int? = nil) throws {
        // Limits far beyond any real model keep a corrupt count from asking for terabytes before
        // the weights (which must match these shapes) are even opened.
        let hidden = try r.positive(.hidden, limit: 1 << 20), heads = try r.positive(.heads, limit: 1 << 14)
        let layers = try r.positive(.layers, limit: 1 << 14)
        let headDim = try r.optionalPositive(.headDim, limit: 1 << 16) ?? hidden / heads
        if r.value(.headDim) == nil && hidden % heads != 0 {
            throw EngineError.malformed(path: r.path, what: "hidden size \(hidden) is not divisible by \(heads) attention heads")
        }
        let kvHeads = try r.optionalPositive(.kvHeads, limit: 1 << 14) ?? heads
        let theta = try r.optionalPositiveNumber(.ropeTheta) ?? 10000
        let fraction = try r.optionalPositiveNumber(.rotaryFraction) ?? 1
        guard fraction <= 1 else { throw EngineError.malformed(path: r.path, what: "partial rotary factor \(fraction) must be at most 1") }
        // Scaled RoPE changes every position's rotation: running it unscaled would give other
        // logits than transformers without a word, so a scaling aft does not implement is refused.
        for k in r.keys[.ropeScaling] ?? [] {
            guard let kind = r.raw(k)?.string else { continue }
            if kind != "default" && kind != "none" {
                throw EngineError.malformed(path: r.path, what: "'\(k)' is '\(kind)': RoPE scaling is not supported (aft runs unscaled RoPE, as 'default'); this model's long-context scaling would change every logit")
            }
        }
        var features = arch.features
        if let act = r.string(.activation) {
            guard let a = ModelConfig.activations[act] else {
                throw EngineError.malformed(path: r.path, what: "unsupported activation '\(act)' (supported: \(ModelConfig.activations.keys.sorted().joined(separator: ", ")))")
            }
            switch features.mlp { case .gated: features.mlp = .gated(a); case .plain: features.mlp = .plain(a) }
        }
        self.init(arch: arch, features: features, vocabSize: try r.optionalPositive(.vocabSize, limit: 1 << 24) ?? vocabFallback ?? 0, hidden: hidden,
                  layers: layers, heads: heads, kvHeads: kvHeads, headDim: headDim, ffn: try r.optionalPositive(.ffn, limit: 1 << 22) ?? 0,
                  normEps: Float(try r.optionalPositiveNumber(.normEps) ?? 1e-5), ropeTheta: Float(theta),
                  ropeLocalTheta: Float(try r.optionalPositiveNumber(.ropeLocalTheta) ?? theta),
                  rotaryDim: try r.optionalIndex(.rotaryDim) ?? Int(Double(headDim) * fraction),
                  slidingWindow: nil, layerIsSliding: [Bool](repeating: false, count: layers),
                  tiedEmbeddings: r.bool(.tiedEmbeddings) ?? arch.tiedByDefault,
                  queryPreAttnScalar: Float(try r.optionalPositiveNumber(.queryPreAttnScalar) ?? Double(headDim)),
                  maxPositions: try r.optionalPositive(.maxPositions), bosTokenId: try r.optionalIndex(.bosTokenId),
                  addBos: r.bool(.addBos) ?? false)
        try arch.adjust?(&self, r)
        try validate(path: r.path)
    }

    /// Activation names of `hidden_act` (and its spellings) that aft runs.
    static let activations: [String: Activation] = [
        "silu": .silu, "swish": .silu, "gelu": .geluExact, "gelu_new": .geluTanh, "gelu_pytorch_tanh": .geluTanh,
        "gelu_fast": .geluTanh,
    ]

    /// Shapes that would make a kernel divide by zero or index out of bounds are refused here.
    func validate(path: String) throws {
        func bad(_ what: String) -> EngineError { .malformed(path: path, what: what) }
        guard vocabSize > 0 else { throw bad("vocabulary size is missing or not positive (\(vocabSize))") }
        guard ffn > 0 else { throw bad("feed-forward size is missing or not positive (\(ffn))") }
        guard heads % kvHeads == 0 else { throw bad("\(heads) attention heads are not a multiple of \(kvHeads) key/value heads") }
        guard rotaryDim >= 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
            throw bad("rotary dimension \(rotaryDim) must be even and at most the head size \(headDim)")
        }
        guard normEps.isFinite, normEps > 0, ropeTheta.isFinite, ropeTheta > 0 else { throw bad("norm epsilon and RoPE base must be positive") }
        if features.positions == .learned {
            guard let n = maxPositions, n > 0 else { throw bad("a learned position table needs its size (max positions)") }
        }
        if let w = slidingWindow, w <= 0 { throw bad("sliding window \(w) must be positive") }
        if let b = bosTokenId, b >= vocabSize { throw bad("BOS token id \(b) is outside the vocabulary of \(vocabSize) tokens") }
    }

    /// Reads the config from llama.cpp GGUF metadata (`ARCH.block_count`, …).
    public init(gguf g: GGUFFile) throws {
        guard let a = g.metadata["general.architecture"]?.string else {
            throw EngineError.missingConfig(path: g.path, key: "general.architecture")
        }
        guard let arch = Architectures.forGGUF(a) else { throw EngineError.unsupportedArchitecture(a) }
        try self.init(arch: arch, reader: ConfigReader(gguf: g, prefix: a, arch: arch),
                      vocabFallback: g.stringArray("tokenizer.ggml.tokens")?.count)
        // A GGUF file says whether the head is tied by having an `output` tensor or not.
        tiedEmbeddings = g.tensors["output.weight"] == nil
    }

    /// Reads a Hugging Face `config.json` (transformers 4.x and 5.x layouts).
    public init(hfConfigAt path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError.fileNotFound(path: path) }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let j = obj as? [String: Any] else {
            throw EngineError.malformed(path: path, what: "config.json is not a JSON object")
        }
        let text = j["text_config"] as? [String: Any]
        let mt = (text?["model_type"] as? String) ?? (j["model_type"] as? String) ?? ""
        guard let arch = Architectures.forHF(modelType: mt) ?? Architectures.forHF(modelType: (j["model_type"] as? String) ?? "") else {
            throw EngineError.unsupportedArchitecture(mt.isEmpty ? "(no model_type)" : mt)
        }
        try self.init(arch: arch, reader: ConfigReader(hf: j, path: path, arch: arch))
    }
}
