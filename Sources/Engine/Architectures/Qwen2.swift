extension Architectures {
    /// Qwen2 / Qwen2.5: the llama block with biases on the q, k and v projections.
    public static let qwen2 = Architecture(
        name: "qwen2", hfModelTypes: ["qwen2"], ggufNames: ["qwen2"],
        features: BlockFeatures(norm: .rms(offset: 0), mlp: .gated(.silu), residual: .sequential, positions: .rope,
                                qkvBias: true),
        hfTensors: .hfLlamaLike, ggufTensors: .llamaCpp(), tiedByDefault: false)
}
