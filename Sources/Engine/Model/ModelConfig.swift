import Foundation

/// Supported transformer families.
public enum Architecture: String, CaseIterable {
    case llama, qwen2, gemma3, gptNeoX = "gpt_neox"
}

/// Hyperparameters of a decoder-only transformer, normalised across GGUF and Hugging Face configs.
public struct ModelConfig: Equatable {
    public var arch: Architecture
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
    /// Dimensions of each head that are rotated (GPT-NeoX rotates 25 %).
    public var rotaryDim: Int
    /// Sliding window in tokens for layers marked sliding (Gemma 3), else nil.
    public var slidingWindow: Int?
    public var layerIsSliding: [Bool]
    public var tiedEmbeddings: Bool
    public var qkvBias: Bool
    /// Attention score scale is 1/sqrt(this) (Gemma 3's query_pre_attn_scalar; head_dim elsewhere).
    public var queryPreAttnScalar: Float
    public var parallelResidual: Bool
    public var bosTokenId: Int?
    /// Whether the tokenizer prepends BOS when encoding with special tokens (lm-eval adds it for Gemma).
    public var addBos: Bool

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
}

extension ModelConfig {
    /// Reads the config from llama.cpp GGUF metadata (`ARCH.block_count`, …).
    public init(gguf g: GGUFFile) throws {
        guard let a = g.metadata["general.architecture"]?.string else {
            throw EngineError.missingConfig(path: g.path, key: "general.architecture")
        }
        let archName = a == "gptneox" ? "gpt_neox" : a
        guard let arch = Architecture(rawValue: archName) else { throw EngineError.unsupportedArchitecture(a) }
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["\(a).\(k)"]?.int else { throw EngineError.missingConfig(path: g.path, key: "\(a).\(k)") }
            return v
        }
        func dbl(_ k: String) -> Double? { g.metadata["\(a).\(k)"]?.double }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let layers = try int("block_count")
        let headDim = (try? int("attention.key_length")) ?? hidden / heads
        let vocab = (try? int("vocab_size")) ?? g.stringArray("tokenizer.ggml.tokens")?.count ?? 0
        let theta = Float(dbl("rope.freq_base") ?? 10000)
        var sliding = [Bool](repeating: false, count: layers)
        var window: Int? = nil
        if arch == .gemma3 {
            window = (try? int("attention.sliding_window")) ?? 512
            // Gemma 3: every 6th layer is global, the rest use the sliding window.
            for i in 0..<layers { sliding[i] = (i + 1) % 6 != 0 }
        }
        let rot = (try? int("rope.dimension_count")) ?? headDim
        let neoxEps = dbl("attention.layer_norm_epsilon")
        self.init(arch: arch, vocabSize: vocab, hidden: hidden, layers: layers, heads: heads,
                  kvHeads: (try? int("attention.head_count_kv")) ?? heads, headDim: headDim,
                  ffn: try int("feed_forward_length"),
                  normEps: Float(dbl("attention.layer_norm_rms_epsilon") ?? neoxEps ?? 1e-5),
                  ropeTheta: theta, ropeLocalTheta: arch == .gemma3 ? 10000 : theta,
                  rotaryDim: arch == .gptNeoX ? rot : headDim,
                  slidingWindow: window, layerIsSliding: sliding,
                  tiedEmbeddings: g.tensors["output.weight"] == nil, qkvBias: arch == .qwen2 || arch == .gptNeoX,
                  queryPreAttnScalar: Float(headDim), parallelResidual: arch == .gptNeoX && (g.metadata["\(a).use_parallel_residual"]?.bool ?? true),
                  bosTokenId: g.metadata["tokenizer.ggml.bos_token_id"]?.int,
                  addBos: g.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? (arch == .gemma3))
    }

    /// Reads a Hugging Face `config.json` (transformers 4.x and 5.x layouts).
    public init(hfConfigAt path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError.fileNotFound(path: path) }
        guard let obj = try? JSONSerialization.jsonObject(with: data), var j = obj as? [String: Any] else {
            throw EngineError.malformed(path: path, what: "config.json is not a JSON object")
        }
        if let text = j["text_config"] as? [String: Any] { j.merge(text) { _, t in t } }
        let mt = (j["model_type"] as? String) ?? ""
        let arch: Architecture
        switch mt {
        case "llama": arch = .llama
        case "qwen2": arch = .qwen2
        case "gemma3", "gemma3_text": arch = .gemma3
        case "gpt_neox": arch = .gptNeoX
        default: throw EngineError.unsupportedArchitecture(mt.isEmpty ? "(no model_type)" : mt)
        }
        func num(_ k: String) -> Double? { (j[k] as? NSNumber)?.doubleValue }
        func req(_ k: String) throws -> Int {
            guard let v = num(k) else { throw EngineError.missingConfig(path: path, key: k) }
            return Int(v)
        }
        let hidden = try req("hidden_size"), heads = try req("num_attention_heads")
        let layers = try req("num_hidden_layers")
        let headDim = num("head_dim").map { Int($0) } ?? hidden / heads
        let rope = j["rope_parameters"] as? [String: Any]
        func ropeTheta(_ kind: String?) -> Double? {
            if let kind = kind, let sub = rope?[kind] as? [String: Any] { return (sub["rope_theta"] as? NSNumber)?.doubleValue }
            return (rope?["rope_theta"] as? NSNumber)?.doubleValue
        }
        let theta = num("rope_theta") ?? num("rotary_emb_base") ?? ropeTheta(nil) ?? ropeTheta("full_attention") ?? 10000
        let local = num("rope_local_base_freq") ?? ropeTheta("sliding_attention") ?? theta
        var sliding = [Bool](repeating: false, count: layers)
        var window: Int? = nil
        if arch == .gemma3 {
            window = num("sliding_window").map { Int($0) } ?? 4096
            if let types = j["layer_types"] as? [String], types.count == layers {
                sliding = types.map { $0 == "sliding_attention" }
            } else {
                let pattern = num("sliding_window_pattern").map { Int($0) } ?? 6
                for i in 0..<layers { sliding[i] = (i + 1) % pattern != 0 }
            }
        }
        let rotaryPct = num("rotary_pct") ?? num("partial_rotary_factor") ?? 1.0
        let eps = num("rms_norm_eps") ?? num("layer_norm_eps") ?? 1e-5
        self.init(arch: arch, vocabSize: try req("vocab_size"), hidden: hidden, layers: layers, heads: heads,
                  kvHeads: num("num_key_value_heads").map { Int($0) } ?? heads, headDim: headDim,
                  ffn: try req("intermediate_size"), normEps: Float(eps),
                  ropeTheta: Float(theta), ropeLocalTheta: Float(local),
                  rotaryDim: Int(Double(headDim) * rotaryPct), slidingWindow: window, layerIsSliding: sliding,
                  tiedEmbeddings: (j["tie_word_embeddings"] as? Bool) ?? (arch != .gptNeoX),
                  qkvBias: arch == .qwen2 || arch == .gptNeoX || ((j["attention_bias"] as? Bool) ?? false),
                  queryPreAttnScalar: Float(num("query_pre_attn_scalar") ?? Double(headDim)),
                  parallelResidual: arch == .gptNeoX && ((j["use_parallel_residual"] as? Bool) ?? true),
                  bosTokenId: num("bos_token_id").map { Int($0) },
                  addBos: arch == .gemma3)
    }
}
