/// A linear layer: weight [out, in] (Hugging Face layout) and optional bias [out].
public struct Linear {
    public var w: [Float]
    public var b: [Float]?
    public let outDim: Int, inDim: Int
}

/// A normalisation layer's scale (and bias for LayerNorm), width `d`.
public struct Norm {
    public var w: [Float]
    public var b: [Float]?
}

/// One transformer block's weights. Which norms exist depends on the architecture.
public struct Block {
    public var inputNorm: Norm
    /// llama/qwen2/gpt_neox: the pre-MLP norm; gemma3: the norm applied to the attention output.
    public var postAttnNorm: Norm
    public var preFFNNorm: Norm?      // gemma3
    public var postFFNNorm: Norm?     // gemma3
    public var q: Linear, k: Linear, v: Linear, o: Linear
    public var qNorm: Norm?, kNorm: Norm?  // gemma3, per head (width headDim)
    public var gate: Linear?          // gated MLP (all but gpt_neox)
    public var up: Linear, down: Linear
}

extension Transformer {
    /// Loads and shape-checks every tensor the config implies; errors name the missing or misshapen tensor.
    static func loadWeights(_ c: ModelConfig, _ src: WeightSource) throws -> (embed: [Float], head: [Float]?, final: Norm, blocks: [Block]) {
        func get(_ name: String, _ shape: [Int]) throws -> [Float] {
            let t = try src.tensor(name)
            // 1-D tensors may be stored as [n] or [1, n]; compare element layout.
            if t.shape != shape && !(t.shape.filter { $0 != 1 } == shape.filter { $0 != 1 } && t.count == shape.reduce(1, *)) {
                throw EngineError.shapeMismatch(path: src.path, tensor: name, expected: shape, found: t.shape)
            }
            return t.data
        }
        func lin(_ name: String, _ out: Int, _ inp: Int, bias: Bool) throws -> Linear {
            Linear(w: try get(name + ".weight", [out, inp]), b: bias ? try get(name + ".bias", [out]) : nil, outDim: out, inDim: inp)
        }
        func norm(_ name: String, _ d: Int, bias: Bool = false) throws -> Norm {
            Norm(w: try get(name + ".weight", [d]), b: bias ? try get(name + ".bias", [d]) : nil)
        }
        let d = c.hidden
        if c.arch == .gptNeoX {
            let embed = try get("gpt_neox.embed_in.weight", [c.vocabSize, d])
            let head = c.tiedEmbeddings ? nil : try get("embed_out.weight", [c.vocabSize, d])
            let final = try norm("gpt_neox.final_layer_norm", d, bias: true)
            var blocks: [Block] = []
            for i in 0..<c.layers {
                let p = "gpt_neox.layers.\(i)."
                let qkvW = try get(p + "attention.query_key_value.weight", [3 * d, d])
                let qkvB = try get(p + "attention.query_key_value.bias", [3 * d])
                let (q, k, v) = splitNeoXQKV(qkvW, qkvB, heads: c.heads, headDim: c.headDim, inDim: d)
                blocks.append(Block(inputNorm: try norm(p + "input_layernorm", d, bias: true),
                                    postAttnNorm: try norm(p + "post_attention_layernorm", d, bias: true),
                                    preFFNNorm: nil, postFFNNorm: nil, q: q, k: k, v: v,
                                    o: try lin(p + "attention.dense", d, d, bias: true), qNorm: nil, kNorm: nil, gate: nil,
                                    up: try lin(p + "mlp.dense_h_to_4h", c.ffn, d, bias: true),
                                    down: try lin(p + "mlp.dense_4h_to_h", d, c.ffn, bias: true)))
            }
            return (embed, head, final, blocks)
        }
        let embed = try get("model.embed_tokens.weight", [c.vocabSize, d])
        let head = c.tiedEmbeddings ? nil : try get("lm_head.weight", [c.vocabSize, d])
        let final = try norm("model.norm", d)
        var blocks: [Block] = []
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            let gemma = c.arch == .gemma3
            blocks.append(Block(
                inputNorm: try norm(p + "input_layernorm", d),
                postAttnNorm: try norm(p + "post_attention_layernorm", d),
                preFFNNorm: gemma ? try norm(p + "pre_feedforward_layernorm", d) : nil,
                postFFNNorm: gemma ? try norm(p + "post_feedforward_layernorm", d) : nil,
                q: try lin(p + "self_attn.q_proj", c.qDim, d, bias: c.qkvBias),
                k: try lin(p + "self_attn.k_proj", c.kvDim, d, bias: c.qkvBias),
                v: try lin(p + "self_attn.v_proj", c.kvDim, d, bias: c.qkvBias),
                o: try lin(p + "self_attn.o_proj", d, c.qDim, bias: false),
                qNorm: gemma ? try norm(p + "self_attn.q_norm", c.headDim) : nil,
                kNorm: gemma ? try norm(p + "self_attn.k_norm", c.headDim) : nil,
                gate: try lin(p + "mlp.gate_proj", c.ffn, d, bias: false),
                up: try lin(p + "mlp.up_proj", c.ffn, d, bias: false),
                down: try lin(p + "mlp.down_proj", d, c.ffn, bias: false)))
        }
        return (embed, head, final, blocks)
    }

    /// Splits GPT-NeoX's fused QKV, laid out per head as [heads, 3, headDim, in], into Q, K, V.
    static func splitNeoXQKV(_ w: [Float], _ b: [Float], heads: Int, headDim: Int, inDim: Int) -> (Linear, Linear, Linear) {
        let d = heads * headDim
        var ws = [[Float]](repeating: [Float](repeating: 0, count: d * inDim), count: 3)
        var bs = [[Float]](repeating: [Float](repeating: 0, count: d), count: 3)
        for h in 0..<heads {
            for s in 0..<3 {
                for j in 0..<headDim {
                    let src = h * 3 * headDim + s * headDim + j, dst = h * headDim + j
                    ws[s].replaceSubrange(dst * inDim..<(dst + 1) * inDim, with: w[src * inDim..<(src + 1) * inDim])
                    bs[s][dst] = b[src]
                }
            }
        }
        return (Linear(w: ws[0], b: bs[0], outDim: d, inDim: inDim), Linear(w: ws[1], b: bs[1], outDim: d, inDim: inDim),
                Linear(w: ws[2], b: bs[2], outDim: d, inDim: inDim))
    }
}
