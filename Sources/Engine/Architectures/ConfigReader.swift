import Foundation

/// A hyperparameter that an architecture reads from a config; each format names it its own way.
public enum ConfigField: Hashable {
    case vocabSize, hidden, layers, heads, kvHeads, headDim, ffn, normEps
    case ropeTheta, ropeLocalTheta, rotaryFraction, rotaryDim, slidingWindow, queryPreAttnScalar
    case tiedEmbeddings, maxPositions, bosTokenId, addBos, attentionBias, parallelResidual, activation
    /// The kind of RoPE scaling (`rope_scaling.rope_type`: linear, dynamic, yarn, llama3, longrope).
    case ropeScaling

    /// Keys in a Hugging Face `config.json` (dotted paths reach into objects), first present wins.
    static let commonHFKeys: [ConfigField: [String]] = [
        .vocabSize: ["vocab_size"], .hidden: ["hidden_size"], .layers: ["num_hidden_layers"],
        .heads: ["num_attention_heads"], .kvHeads: ["num_key_value_heads"], .headDim: ["head_dim"],
        .ffn: ["intermediate_size"], .normEps: ["rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon"],
        .ropeTheta: ["rope_theta", "rope_parameters.rope_theta", "rope_parameters.full_attention.rope_theta"],
        .ropeLocalTheta: ["rope_local_base_freq", "rope_parameters.sliding_attention.rope_theta"],
        .rotaryFraction: ["partial_rotary_factor", "rope_parameters.partial_rotary_factor"],
        .maxPositions: ["max_position_embeddings"], .tiedEmbeddings: ["tie_word_embeddings"],
        .bosTokenId: ["bos_token_id"], .attentionBias: ["attention_bias"],
        .queryPreAttnScalar: ["query_pre_attn_scalar"], .slidingWindow: ["sliding_window"],
        .activation: ["hidden_act", "hidden_activation"],
        .ropeScaling: ["rope_scaling.rope_type", "rope_scaling.type", "rope_parameters.rope_type",
                       "rope_parameters.full_attention.rope_type", "rope_parameters.sliding_attention.rope_type"],
    ]
    /// Keys in GGUF metadata, after the `ARCH.` prefix (keys starting `tokenizer.` are not prefixed).
    static let commonGGUFKeys: [ConfigField: [String]] = [
        .vocabSize: ["vocab_size"], .hidden: ["embedding_length"], .layers: ["block_count"],
        .heads: ["attention.head_count"], .kvHeads: ["attention.head_count_kv"], .headDim: ["attention.key_length"],
        .ffn: ["feed_forward_length"], .normEps: ["attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"],
        .ropeTheta: ["rope.freq_base"], .rotaryDim: ["rope.dimension_count"], .maxPositions: ["context_length"],
        .slidingWindow: ["attention.sliding_window"], .bosTokenId: ["tokenizer.ggml.bos_token_id"],
        .addBos: ["tokenizer.ggml.add_bos_token"], .ropeScaling: ["rope.scaling.type"],
    ]
}

/// A config value as either format stores it.
public enum ConfigValue {
    case number(Double), string(String), list([ConfigValue])
    var number: Double? { if case .number(let v) = self { return v }; return nil }
    var string: String? { if case .string(let v) = self { return v }; return nil }
}

/// Reads `ConfigField`s from one config (a `config.json` or GGUF metadata) through an architecture's key table.
public struct ConfigReader {
    /// The file, for error messages.
    public let path: String
    public let format: ModelFormat
    let keys: [ConfigField: [String]]
    let lookup: (String) -> ConfigValue?

    /// The first of the field's keys that is present.
    public func value(_ f: ConfigField) -> ConfigValue? {
        for k in keys[f] ?? [] { if let v = lookup(k) { return v } }
        return nil
    }
    public func double(_ f: ConfigField) -> Double? { value(f)?.number }
    public func int(_ f: ConfigField) -> Int? {
        guard let v = double(f), v.isFinite, v == v.rounded(), abs(v) < 1e15 else { return nil }
        return Int(v)
    }
    public func bool(_ f: ConfigField) -> Bool? { double(f).map { $0 != 0 } }
    public func string(_ f: ConfigField) -> String? { value(f)?.string }
    /// A raw key outside the field table (an architecture's own, e.g. `layer_types`).
    public func raw(_ key: String) -> ConfigValue? { lookup(key) }

    /// The field as a positive integer (at most `limit`), or an error naming the file and the key.
    public func positive(_ f: ConfigField, limit: Int = 1 << 40) throws -> Int {
        let name = keys[f]?.first ?? "\(f)"
        guard let v = value(f) else { throw EngineError.missingConfig(path: path, key: name) }
        guard let n = int(f), n > 0, n <= limit else {
            throw EngineError.malformed(path: path, what: "'\(name)' must be a positive integer\(limit < 1 << 40 ? " of at most \(limit)" : ""), found \(v)")
        }
        return n
    }

    /// The field as a positive integer when it is present (nil when absent or null); present with
    /// another value (0, −1, 1.5, "x", a list) is an error, never silently replaced by a default.
    public func optionalPositive(_ f: ConfigField, limit: Int = 1 << 40) throws -> Int? {
        value(f) == nil ? nil : try positive(f, limit: limit)
    }

    /// The field as a non-negative integer when present (a token id), else nil; another value is an error.
    public func optionalIndex(_ f: ConfigField) throws -> Int? {
        guard let v = value(f) else { return nil }
        guard let n = int(f), n >= 0 else {
            throw EngineError.malformed(path: path, what: "'\(keys[f]?.first ?? "\(f)")' must be a non-negative integer, found \(v)")
        }
        return n
    }

    /// The field as a finite positive number when present, else nil; another value is an error.
    public func optionalPositiveNumber(_ f: ConfigField) throws -> Double? {
        guard let v = value(f) else { return nil }
        guard let x = v.number, x.isFinite, x > 0 else {
            throw EngineError.malformed(path: path, what: "'\(keys[f]?.first ?? "\(f)")' must be a positive number, found \(v)")
        }
        return x
    }
}

extension ConfigReader {
    /// Over a parsed `config.json` (a multimodal `text_config` is merged over the top level).
    init(hf json: [String: Any], path: String, arch: Architecture) {
        var j = json
        if let text = j["text_config"] as? [String: Any] { j.merge(text) { _, t in t } }
        self.path = path
        format = .huggingFace
        keys = ConfigField.commonHFKeys.merging(arch.hfKeys) { _, own in own }
        lookup = { key in
            var obj: Any? = j
            for part in key.split(separator: ".") { obj = (obj as? [String: Any])?[String(part)] }
            return ConfigReader.convert(obj)
        }
    }

    static func convert(_ o: Any?) -> ConfigValue? {
        switch o {
        case let n as NSNumber: return .number(n.doubleValue)
        case let s as String: return .string(s)
        case let a as [Any]: return .list(a.compactMap { convert($0) })
        default: return nil
        }
    }

    /// Over GGUF metadata; `prefix` is the file's `general.architecture`.
    init(gguf g: GGUFFile, prefix: String, arch: Architecture) {
        path = g.path
        format = .gguf
        keys = ConfigField.commonGGUFKeys.merging(arch.ggufKeys) { _, own in own }
        lookup = { key in
            let full = key.hasPrefix("tokenizer.") || key.hasPrefix("general.") ? key : prefix + "." + key
            guard let v = g.metadata[full] else { return nil }
            if let b = v.bool { return .number(b ? 1 : 0) }
            if let d = v.double { return .number(d) }
            if let s = v.string { return .string(s) }
            if let a = v.array { return .list(a.compactMap { $0.double.map(ConfigValue.number) ?? $0.string.map(ConfigValue.string) }) }
            return nil
        }
    }
}
