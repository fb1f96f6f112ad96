extension Architectures {
    /// GPT-2: learned absolute positions, LayerNorm, GELU-tanh (`gelu_new`), a fused QKV stored as
    /// Conv1D weights ([in, out], transposed on load), and a head tied to the embeddings.
    public static let gpt2 = Architecture(
        name: "gpt2", hfModelTypes: ["gpt2"], ggufNames: ["gpt2"],
        features: BlockFeatures(norm: .layer, mlp: .plain(.geluTanh), residual: .sequential, positions: .learned,
                                qkvBias: true, outBias: true, mlpBias: true),
        hfKeys: [.hidden: ["n_embd"], .layers: ["n_layer"], .heads: ["n_head"], .ffn: ["n_inner"],
                 .normEps: ["layer_norm_epsilon"], .maxPositions: ["n_positions"], .activation: ["activation_function"]],
        hfTensors: TensorNames([
            .embed: ["transformer.wte", "wte"], .positions: ["transformer.wpe", "wpe"],
            .finalNorm: ["transformer.ln_f", "ln_f"], .head: ["lm_head"],
            .inputNorm: ["transformer.h.{i}.ln_1", "h.{i}.ln_1"], .postAttnNorm: ["transformer.h.{i}.ln_2", "h.{i}.ln_2"],
            .qkv: ["transformer.h.{i}.attn.c_attn", "h.{i}.attn.c_attn"], .o: ["transformer.h.{i}.attn.c_proj", "h.{i}.attn.c_proj"],
            .up: ["transformer.h.{i}.mlp.c_fc", "h.{i}.mlp.c_fc"], .down: ["transformer.h.{i}.mlp.c_proj", "h.{i}.mlp.c_proj"],
        ], fusedQKV: .concatenated, conv1D: true),
        ggufTensors: .llamaCpp(), tiedByDefault: true,
        adjust: { c, r in
            if c.ffn == 0 { c.ffn = 4 * c.hidden }     // n_inner: null means 4 × n_embd
            if r.raw("scale_attn_weights")?.number == 0 { c.queryPreAttnScalar = 1 }
            if r.raw("scale_attn_by_inverse_layer_idx")?.number.map({ $0 != 0 }) == true {
                throw EngineError.malformed(path: r.path, what: "gpt2 with scale_attn_by_inverse_layer_idx is not supported")
            }
        })
}
