/// Serves a GGUF file's tensors under Hugging Face names, in Hugging Face layout.
///
/// Undoes llama.cpp's conversions: the Q/K row permutation of the llama architecture and the
/// +1 folded into Gemma norm weights.
public final class GGUFWeights: WeightSource {
    public let file: GGUFFile
    public let config: ModelConfig
    public var path: String { file.path }

    public init(file: GGUFFile, config: ModelConfig) { self.file = file; self.config = config }

    /// The llama.cpp tensor name for a Hugging Face name, or nil if none corresponds.
    func ggufName(_ hf: String) -> String? {
        if hf == "model.embed_tokens.weight" || hf == "gpt_neox.embed_in.weight" { return "token_embd.weight" }
        if hf == "model.norm.weight" || hf == "gpt_neox.final_layer_norm.weight" { return "output_norm.weight" }
        if hf == "gpt_neox.final_layer_norm.bias" { return "output_norm.bias" }
        if hf == "lm_head.weight" || hf == "embed_out.weight" { return "output.weight" }
        let parts = hf.split(separator: ".").map(String.init)
        guard parts.count >= 5, parts[0] == "model" || parts[0] == "gpt_neox", parts[1] == "layers", let i = Int(parts[2]) else { return nil }
        let rest = parts[3...].joined(separator: ".")
        let table: [String: String] = [
            "input_layernorm": "attn_norm",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
            "post_attention_layernorm": config.arch == .gemma3 ? "post_attention_norm" : (config.arch == .gptNeoX ? "ffn_norm" : "ffn_norm"),
            "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
            "attention.query_key_value": "attn_qkv", "attention.dense": "attn_output",
            "mlp.dense_h_to_4h": "ffn_up", "mlp.dense_4h_to_h": "ffn_down",
        ]
        let suffix = parts.last!
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        _ = rest
        guard let g = table[module] else { return nil }
        return "blk.\(i).\(g).\(suffix)"
    }

    public func has(_ name: String) -> Bool { ggufName(name).map { file.tensors[$0] != nil } ?? false }

    public func tensor(_ name: String) throws -> Tensor {
        guard let g = ggufName(name), let info = file.tensors[g] else {
            throw EngineError.missingTensor(path: path, tensor: "\(name) (GGUF: \(ggufName(name) ?? "no mapping"))")
        }
        var data = try file.floats(g)
        if config.arch == .llama, name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight") {
            let nHead = name.hasSuffix("q_proj.weight") ? config.heads : config.kvHeads
            data = unpermuteRows(data, rows: info.shape[0], cols: info.elementCount / info.shape[0], heads: nHead)
        }
        if config.arch == .gemma3, name.hasSuffix("norm.weight") || name.hasSuffix("layernorm.weight") {
            for i in data.indices { data[i] -= 1 }
        }
        return Tensor(shape: info.shape, data: data)
    }
}

/// Inverts llama.cpp's `permute` of Q/K rows: stored row (h, j, s) holds original row (h, s, j).
///
/// `rows` = heads × headDim; within a head, stored index 2j+s maps to original s·headDim/2 + j.
func unpermuteRows(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    let hd = rows / heads, half = hd / 2
    var out = [Float](repeating: 0, count: w.count)
    w.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads {
                for s in 0..<2 {
                    for j in 0..<half {
                        let from = (h * hd + 2 * j + s) * cols, to = (h * hd + s * half + j) * cols
                        for c in 0..<cols { dst[to + c] = src[from + c] }
                    }
                }
            }
        }
    }
    return out
}
