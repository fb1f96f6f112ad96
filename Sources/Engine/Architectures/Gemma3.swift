extension Architectures {
    /// Gemma 3 (text): four RMSNorms per block applied as (1 + w), q/k norms, GELU-tanh gated MLP,
    /// embeddings × √hidden, sliding-window layers with their own RoPE base and every sixth layer global.
    /// llama.cpp stores the norm scales as w + 1; the loader subtracts it.
    public static let gemma3 = Architecture(
        name: "gemma3", hfModelTypes: ["gemma3", "gemma3_text"], ggufNames: ["gemma3"],
        features: BlockFeatures(norm: .rms(offset: 1), mlp: .gated(.geluTanh), residual: .sandwich, positions: .rope,
                                qkNorm: true, scaleEmbeddings: true),
        hfTensors: .hfLlamaLike, ggufTensors: .llamaCpp(normOffset: -1, postAttnNorm: "post_attention_norm"),
        tiedByDefault: true,
        adjust: { c, r in
            let gguf = r.format == .gguf
            c.slidingWindow = r.int(.slidingWindow) ?? (gguf ? 512 : 4096)
            // llama.cpp's files carry no local base; Gemma 3 uses 10,000 for its sliding layers.
            if gguf { c.ropeLocalTheta = 10000 }
            if case .list(let types)? = r.raw("layer_types"), types.count == c.layers {
                c.layerIsSliding = types.map { $0.string == "sliding_attention" }
            } else {
                let pattern = r.raw("sliding_window_pattern")?.number.map { Int($0) } ?? 6
                c.layerIsSliding = (0..<c.layers).map { ($0 + 1) % max(pattern, 1) != 0 }
            }
            // Gemma's tokenizer prepends <bos> (lm-eval encodes with it).
            if r.bool(.addBos) == nil { c.addBos = true }
        })
}
