/// A transformer family declared as data: where its hyperparameters live in a Hugging Face
/// `config.json` and in GGUF metadata, what its tensors are called in both formats and how they
/// are fixed up on load, and which features its block has.
///
/// One file per family under `Architectures/` holds one of these; `Architectures.all` lists them.
/// Nothing else in Engine asks which family a model is: the block, the loader and the backward
/// pass read `BlockFeatures` and the naming tables.
public struct Architecture: Equatable, CustomStringConvertible {
    /// Name shown to users (the Hugging Face `model_type` of the family's main member).
    public let name: String
    /// `model_type` values of `config.json` that mean this family.
    public let hfModelTypes: [String]
    /// `general.architecture` values of GGUF files that mean this family; the first is the metadata key prefix.
    public let ggufNames: [String]
    /// The block's features before any config-dependent choice (`adjust` may change them).
    public let features: BlockFeatures
    /// Config keys in `config.json` beyond (or instead of) `ConfigField.commonHFKeys`.
    public let hfKeys: [ConfigField: [String]]
    /// Config keys in GGUF metadata (without the `ARCH.` prefix) beyond `ConfigField.commonGGUFKeys`.
    public let ggufKeys: [ConfigField: [String]]
    /// Tensor names in Hugging Face checkpoints and in llama.cpp GGUF files, and their fix-ups.
    public let hfTensors: TensorNames
    public let ggufTensors: TensorNames
    /// Whether the head shares the embedding matrix when the config does not say.
    public let tiedByDefault: Bool
    /// Config-dependent choices the keys alone cannot express (Gemma's sliding layers, NeoX's
    /// parallel flag); runs after every common field has been read.
    let adjust: ((inout ModelConfig, ConfigReader) throws -> Void)?

    public var description: String { name }
    public static func == (a: Architecture, b: Architecture) -> Bool { a.name == b.name }

    init(name: String, hfModelTypes: [String], ggufNames: [String], features: BlockFeatures,
         hfKeys: [ConfigField: [String]] = [:], ggufKeys: [ConfigField: [String]] = [:],
         hfTensors: TensorNames, ggufTensors: TensorNames, tiedByDefault: Bool,
         adjust: ((inout ModelConfig, ConfigReader) throws -> Void)? = nil) {
        self.name = name; self.hfModelTypes = hfModelTypes; self.ggufNames = ggufNames; self.features = features
        self.hfKeys = hfKeys; self.ggufKeys = ggufKeys; self.hfTensors = hfTensors; self.ggufTensors = ggufTensors
        self.tiedByDefault = tiedByDefault; self.adjust = adjust
    }
}

/// The two file formats a model comes in; each has its own config keys and tensor names.
public enum ModelFormat { case huggingFace, gguf }

/// Normalisation: RMSNorm (scale applied as w + offset; Gemma stores w and applies 1 + w) or LayerNorm with bias.
public enum NormKind: Equatable { case rms(offset: Float), layer }

/// Elementwise activation of the MLP.
public enum Activation: Equatable {
    /// x·σ(x)
    case silu
    /// GELU, tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
    case geluTanh
    /// GELU with erf (`gelu`).
    case geluExact
}

/// The MLP: down(act(gate(h)) ∘ up(h)) or down(act(up(h))).
public enum MLPKind: Equatable { case gated(Activation), plain(Activation) }

/// How attention and MLP join the residual stream.
public enum ResidualLayout: Equatable {
    /// x += attn(norm₁ x); x += mlp(norm₂ x)  (llama, qwen2, gpt2, NeoX without the parallel flag)
    case sequential
    /// x += attn(norm₁ x) + mlp(norm₂ x) with two norms (NeoX), or one shared norm (phi)
    case parallel(sharedNorm: Bool)
    /// x += post₁(attn(norm₁ x)); x += post₂(mlp(pre₂ x))  (Gemma 2/3: four norms per block)
    case sandwich
}

/// How positions enter: rotary embeddings inside attention, or a learned table added to the embeddings.
public enum PositionKind: Equatable { case rope, learned }

/// What a block is made of, as data: the one block function and its backward read only this.
public struct BlockFeatures: Equatable {
    public var norm: NormKind
    public var mlp: MLPKind
    public var residual: ResidualLayout
    public var positions: PositionKind
    /// Per-head norms of q and k before RoPE (Gemma 3).
    public var qkNorm: Bool = false
    public var qkvBias: Bool = false
    public var outBias: Bool = false
    public var mlpBias: Bool = false
    /// The LM head has a bias (phi).
    public var headBias: Bool = false
    /// Embeddings are multiplied by √hidden (Gemma).
    public var scaleEmbeddings: Bool = false
}

/// Roles a tensor plays; a `TensorNames` table maps each to its name in one format.
public enum TensorRole: Hashable, CaseIterable {
    case embed, positions, finalNorm, head
    case inputNorm, postAttnNorm, preFFNNorm, postFFNNorm
    case q, k, v, qkv, o, qNorm, kNorm, gate, up, down
}

/// How a fused QKV projection is laid out, so it can be split into Q, K and V.
public enum FusedQKV: Equatable {
    /// Rows [heads, 3, headDim] (GPT-NeoX's Hugging Face layout).
    case perHead
    /// Rows [Q; K; V] one after the other (GPT-2, and llama.cpp's files for every family).
    case concatenated
}

/// One format's tensor names (`{i}` stands for the block index; alternatives are tried in order;
/// `.weight`/`.bias` are appended) and the fix-ups its files need to reach Hugging Face layout.
public struct TensorNames {
    public var names: [TensorRole: [String]]
    public var fusedQKV: FusedQKV = .concatenated
    /// Linear weights are stored [in, out] (GPT-2's Conv1D) and are transposed on load.
    public var conv1D = false
    /// Added to every norm scale on load (llama.cpp stores Gemma's norms as w + 1: −1 undoes it).
    public var normOffset: Float = 0
    /// Q/K rows are in llama.cpp's interleaved RoPE order (llama), undone on load.
    public var permutedQK = false

    init(_ names: [TensorRole: [String]], fusedQKV: FusedQKV = .concatenated, conv1D: Bool = false,
         normOffset: Float = 0, permutedQK: Bool = false) {
        self.names = names; self.fusedQKV = fusedQKV; self.conv1D = conv1D; self.normOffset = normOffset
        self.permutedQK = permutedQK
    }

    /// llama.cpp's names, shared by every family it converts (roles a family lacks are never asked for).
    static func llamaCpp(fusedQKV: FusedQKV = .concatenated, normOffset: Float = 0, permutedQK: Bool = false,
                         postAttnNorm: String = "ffn_norm") -> TensorNames {
        TensorNames([
            .embed: ["token_embd"], .positions: ["position_embd"], .finalNorm: ["output_norm"], .head: ["output"],
            .inputNorm: ["blk.{i}.attn_norm"], .postAttnNorm: ["blk.{i}." + postAttnNorm],
            .preFFNNorm: ["blk.{i}.ffn_norm"], .postFFNNorm: ["blk.{i}.post_ffw_norm"],
            .q: ["blk.{i}.attn_q"], .k: ["blk.{i}.attn_k"], .v: ["blk.{i}.attn_v"], .qkv: ["blk.{i}.attn_qkv"],
            .o: ["blk.{i}.attn_output"], .qNorm: ["blk.{i}.attn_q_norm"], .kNorm: ["blk.{i}.attn_k_norm"],
            .gate: ["blk.{i}.ffn_gate"], .up: ["blk.{i}.ffn_up"], .down: ["blk.{i}.ffn_down"],
        ], fusedQKV: fusedQKV, normOffset: normOffset, permutedQK: permutedQK)
    }

    /// The Hugging Face names of the llama family (`model.layers.{i}.self_attn.q_proj`, …), shared by qwen2 and gemma3.
    static let hfLlamaLike = TensorNames([
        .embed: ["model.embed_tokens"], .finalNorm: ["model.norm"], .head: ["lm_head"],
        .inputNorm: ["model.layers.{i}.input_layernorm"], .postAttnNorm: ["model.layers.{i}.post_attention_layernorm"],
        .preFFNNorm: ["model.layers.{i}.pre_feedforward_layernorm"], .postFFNNorm: ["model.layers.{i}.post_feedforward_layernorm"],
        .q: ["model.layers.{i}.self_attn.q_proj"], .k: ["model.layers.{i}.self_attn.k_proj"], .v: ["model.layers.{i}.self_attn.v_proj"],
        .o: ["model.layers.{i}.self_attn.o_proj"], .qNorm: ["model.layers.{i}.self_attn.q_norm"], .kNorm: ["model.layers.{i}.self_attn.k_norm"],
        .gate: ["model.layers.{i}.mlp.gate_proj"], .up: ["model.layers.{i}.mlp.up_proj"], .down: ["model.layers.{i}.mlp.down_proj"],
    ])
}
