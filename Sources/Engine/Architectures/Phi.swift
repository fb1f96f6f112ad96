extension Architectures {
    /// Phi (phi-1, phi-1.5, phi-2): attention and MLP in parallel on one shared LayerNorm, partial
    /// rotary (50 % of each head), GELU-tanh (`gelu_new`), biases everywhere, and a bias on the LM head.
    public static let phi = Architecture(
        name: "phi", hfModelTypes: ["phi"], ggufNames: ["phi2"],
        features: BlockFeatures(norm: .layer, mlp: .plain(.geluTanh), residual: .parallel(sharedNorm: true), positions: .rope,
                                qkvBias: true, outBias: true, mlpBias: true, headBias: true),
        hfTensors: TensorNames([
            .embed: ["model.embed_tokens"], .finalNorm: ["model.final_layernorm"], .head: ["lm_head"],
            .inputNorm: ["model.layers.{i}.input_layernorm"],
            .q: ["model.layers.{i}.self_attn.q_proj"], .k: ["model.layers.{i}.self_attn.k_proj"],
            .v: ["model.layers.{i}.self_attn.v_proj"], .o: ["model.layers.{i}.self_attn.dense"],
            .up: ["model.layers.{i}.mlp.fc1"], .down: ["model.layers.{i}.mlp.fc2"],
        ]),
        ggufTensors: .llamaCpp(), tiedByDefault: false,
        adjust: { c, r in
            if r.raw("qk_layernorm")?.number.map({ $0 != 0 }) == true {
                throw EngineError.malformed(path: r.path, what: "phi with qk_layernorm is not supported")
            }
        })
}
