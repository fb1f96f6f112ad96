extension Architectures {
    /// Llama (SmolLM2, Llama 2/3, Mistral): RMSNorm, SwiGLU, sequential residual, RoPE.
    /// llama.cpp permutes the Q/K rows of this family for its interleaved RoPE; the loader undoes it.
    public static let llama = Architecture(
        name: "llama", hfModelTypes: ["llama", "mistral"], ggufNames: ["llama"],
        features: BlockFeatures(norm: .rms(offset: 0), mlp: .gated(.silu), residual: .sequential, positions: .rope),
        hfTensors: .hfLlamaLike, ggufTensors: .llamaCpp(permutedQK: true), tiedByDefault: false,
        adjust: { c, r in
            // `attention_bias` puts a bias on q, k, v and o alike; `mlp_bias` on the three MLP projections.
            if r.bool(.attentionBias) == true { c.features.qkvBias = true; c.features.outBias = true }
            if r.raw("mlp_bias")?.number.map({ $0 != 0 }) == true { c.features.mlpBias = true }
        })
}
