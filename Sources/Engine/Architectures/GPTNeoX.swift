extension Architectures {
    /// GPT-NeoX (Pythia): LayerNorm, GELU MLP, fused QKV, partial rotary (25 % of each head), and
    /// by default the parallel residual with two norms (`use_parallel_residual: false` makes it sequential).
    public static let gptNeoX = Architecture(
        name: "gpt_neox", hfModelTypes: ["gpt_neox"], ggufNames: ["gptneox", "gpt_neox"],
        features: BlockFeatures(norm: .layer, mlp: .plain(.geluExact), residual: .parallel(sharedNorm: false), positions: .rope,
                                qkvBias: true, outBias: true, mlpBias: true),
        hfKeys: [.ropeTheta: ["rotary_emb_base", "rope_theta", "rope_parameters.rope_theta"],
                 .rotaryFraction: ["rotary_pct", "partial_rotary_factor", "rope_parameters.partial_rotary_factor"],
                 .parallelResidual: ["use_parallel_residual"]],
        ggufKeys: [.parallelResidual: ["use_parallel_residual"]],
        hfTensors: TensorNames([
            .embed: ["gpt_neox.embed_in"], .finalNorm: ["gpt_neox.final_layer_norm"], .head: ["embed_out"],
            .inputNorm: ["gpt_neox.layers.{i}.input_layernorm"], .postAttnNorm: ["gpt_neox.layers.{i}.post_attention_layernorm"],
            .qkv: ["gpt_neox.layers.{i}.attention.query_key_value"], .o: ["gpt_neox.layers.{i}.attention.dense"],
            .up: ["gpt_neox.layers.{i}.mlp.dense_h_to_4h"], .down: ["gpt_neox.layers.{i}.mlp.dense_4h_to_h"],
        ], fusedQKV: .perHead),
        ggufTensors: .llamaCpp(), tiedByDefault: false,
        adjust: { c, r in
            if r.bool(.parallelResidual) == false { c.features.residual = .sequential }
        })
}
