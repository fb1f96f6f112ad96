#!/usr/bin/env python3
"""Writes the committed fuzz corpus: small valid inputs per target in scripts/fuzz-seeds/TARGET/,
which libFuzzer mutates and the test run replays (`aft-fuzz TARGET scripts/fuzz-seeds/TARGET`).

    python3 scripts/make_fuzz_seeds.py          (needs numpy and the `gguf` package for the .gguf seeds)

Seeds are tiny (a few KB) so that mutations stay fast; each is a file aft loads without error, so
the fuzzer starts from inputs that reach deep into every reader (tensors, forward pass, prompts).
"""
import json, os, shutil, struct, sys
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz-seeds")
TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EngineTests", "Fixtures", "tiny")
rng = np.random.default_rng(7)


def out(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def byte_tokens():
    """GPT-2's byte-to-unicode map: the 256 single-byte tokens of a byte-level BPE vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


MERGES = ["Ġ t", "h e", "Ġ a", "i n", "Ġt he", "e r", "1 2", "Ġ 4"]


def vocab():
    toks = byte_tokens()
    for m in MERGES:
        toks.append(m.replace(" ", ""))
    return toks + ["<|endoftext|>", "<|im_end|>"]


def gguf_seeds():
    import gguf
    toks = vocab()
    n_vocab, heads, kv, layers = len(toks), 2, 1, 2

    def write(name, arch, quant=None, tied=False, pre="smollm"):
        # Q8_0 packs rows in blocks of 32: its seed is wide enough that every matrix is quantised.
        hidden, ffn = (64, 64) if quant == gguf.GGMLQuantizationType.Q8_0 else (8, 16)
        hd = hidden // heads
        path = os.path.join(ROOT, "gguf", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        w = gguf.GGUFWriter(path, arch)
        w.add_block_count(layers); w.add_context_length(64); w.add_embedding_length(hidden)
        w.add_feed_forward_length(ffn); w.add_head_count(heads); w.add_head_count_kv(kv)
        w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0)
        if arch == "gemma3":
            w.add_key_length(hd); w.add_value_length(hd); w.add_sliding_window(4)
        w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(pre)
        w.add_token_list(toks)
        w.add_token_types([1] * (n_vocab - 2) + [3, 3])
        w.add_token_merges(MERGES)
        w.add_bos_token_id(n_vocab - 2); w.add_eos_token_id(n_vocab - 1)

        def t(n, shape):
            a = (rng.standard_normal(shape) * 0.1).astype(np.float32)
            if quant is not None and len(shape) == 2:
                q = gguf.quants.quantize(a, quant)
                w.add_tensor(n, q, raw_shape=q.shape, raw_dtype=quant)
            else:
                w.add_tensor(n, a)
        t("token_embd.weight", (n_vocab, hidden))
        for i in range(layers):
            p = f"blk.{i}."
            t(p + "attn_norm.weight", (hidden,)); t(p + "ffn_norm.weight", (hidden,))
            t(p + "attn_q.weight", (heads * hd, hidden)); t(p + "attn_k.weight", (kv * hd, hidden))
            t(p + "attn_v.weight", (kv * hd, hidden)); t(p + "attn_output.weight", (hidden, heads * hd))
            t(p + "ffn_gate.weight", (ffn, hidden)); t(p + "ffn_up.weight", (ffn, hidden)); t(p + "ffn_down.weight", (hidden, ffn))
            if arch == "qwen2":
                t(p + "attn_q.bias", (heads * hd,)); t(p + "attn_k.bias", (kv * hd,)); t(p + "attn_v.bias", (kv * hd,))
            if arch == "gemma3":
                t(p + "attn_q_norm.weight", (hd,)); t(p + "attn_k_norm.weight", (hd,))
                t(p + "post_attention_norm.weight", (hidden,)); t(p + "post_ffw_norm.weight", (hidden,))
        t("output_norm.weight", (hidden,))
        if not tied:
            t("output.weight", (n_vocab, hidden))
        w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    write("llama-f32.gguf", "llama")
    write("llama-tied.gguf", "llama", tied=True)
    write("qwen2-f32.gguf", "qwen2", pre="qwen2", tied=True)
    write("gemma3-f32.gguf", "gemma3", tied=True)
    write("llama-f16.gguf", "llama", quant=gguf.GGMLQuantizationType.F16)
    write("llama-q8_0.gguf", "llama", quant=gguf.GGMLQuantizationType.Q8_0)


def safetensors_bytes(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * (-(len(h) + 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def safetensors_seeds():
    f = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)
    out("safetensors", "model-f32.safetensors", safetensors_bytes({
        "model.embed_tokens.weight": ("F32", f(12, 8)), "model.norm.weight": ("F32", f(8)),
        "model.layers.0.self_attn.q_proj.weight": ("F32", f(8, 8))}))
    out("safetensors", "model-f16-bf16.safetensors", safetensors_bytes({
        "a": ("F16", f(4, 4).astype(np.float16)),
        "b": ("BF16", (f(6).view(np.uint32) >> 16).astype(np.uint16))}, {"format": "pt"}))
    meta = {"format": "aft-steering-vector/1", "name": "v", "layer": "3", "model": "smollm2-135m",
            "model_sha256": "0" * 64, "task": "arc-easy"}
    out("safetensors", "steering-vector.safetensors", safetensors_bytes({"steering.vector": ("F32", f(8))}, meta))


def tokenizer_seeds():
    shutil.copy(os.path.join(TINY, "llama", "tokenizer.json"), os.path.join(ROOT, "tokenizer", "tiny-bpe.json"))
    toks = vocab()
    tj = {"version": "1.0", "added_tokens": [{"id": len(toks) - 1, "content": "<|im_end|>", "special": True}],
          "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>"}}, {"Sequence": {"id": "A"}}],
                             "special_tokens": {"<|endoftext|>": {"ids": [len(toks) - 2]}}},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(toks)}, "merges": MERGES}}
    out("tokenizer", "byte-level.json", json.dumps(tj))
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False}, {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    tj["normalizer"] = {"type": "NFC"}
    out("tokenizer", "qwen-like.json", json.dumps(tj))


def config_seeds():
    for d in sorted(os.listdir(TINY)):
        shutil.copy(os.path.join(TINY, d, "config.json"), os.path.join(ROOT, "config", d + ".json"))
    c = json.load(open(os.path.join(TINY, "llama", "config.json")))
    c["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    out("config", "llama-yarn.json", json.dumps(c))
    c = json.load(open(os.path.join(TINY, "gemma3", "config.json")))
    out("config", "gemma3-text-config.json", json.dumps({"model_type": "gemma3", "text_config": c}))


def jsonl_seeds():
    hs = [{"ctx": "A man is sitting on a roof. He", "endings": ["starts pulling up roofing.", "is ripping level tiles off.",
           "is holding a rubik's cube.", "starts ripping up his roof."], "label": "3", "activity_label": "Roof shingle removal"},
          {"ctx": "Then, the man writes over the snow", "endings": ["a", "b"], "label": 0}]
    arc = [{"id": "Mercury_1", "question": "Which gas do plants absorb?", "choices": {"text": ["oxygen", "carbon dioxide", "helium", "neon"],
            "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
           {"id": "x", "question": "2+2?", "choices": {"text": ["3", "4"], "label": ["1", "2"]}, "answerKey": "2"}]
    gsm = [{"question": "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many in all?",
            "answer": "In May she sold 48/2 = <<48/2=24>>24 clips.\nAltogether 48+24 = <<48+24=72>>72.\n#### 72"},
           {"question": "What is $1,000 - 1?", "answer": "It is 999.\n#### 999"},
           {"question": "Neg?", "answer": "#### -3.5"}]
    for name, rows in [("hellaswag.jsonl", hs), ("arc.jsonl", arc), ("gsm8k.jsonl", gsm)]:
        out("jsonl", name, "\n".join(json.dumps(r) for r in rows) + "\n")


def dictionaries():
    dicts = {
        "gguf": ["GGUF", "general.architecture", "general.alignment", "llama", "qwen2", "gemma3", "gpt2", ".block_count",
                 ".embedding_length", ".feed_forward_length", ".attention.head_count", ".attention.head_count_kv",
                 ".attention.key_length", ".context_length", ".rope.freq_base", ".rope.scaling.type", "yarn",
                 "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                 "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "token_embd.weight", "output.weight",
                 "blk.0.attn_q.weight", "blk.9.ffn_up.weight", "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x7f", "\\x00\\x00\\x00\\x00"],
        "safetensors": ["__metadata__", "dtype", "shape", "data_offsets", "F32", "F16", "BF16", "I64", "steering.vector",
                        "aft-steering-vector/1", "layer", "model_sha256", "[0, 0]", "-1", "1e308", "null"],
        "tokenizer": ["model", "BPE", "vocab", "merges", "added_tokens", "special", "content", "pre_tokenizer", "ByteLevel",
                      "Split", "Regex", "Sequence", "normalizer", "NFC", "post_processor", "TemplateProcessing",
                      "SpecialToken", "ids", "\\xc4\\xa0", "\\x5cu0120", "-1", "1e99", "null"],
        "config": ["model_type", "llama", "qwen2", "gemma3", "gpt2", "gpt_neox", "phi", "hidden_size", "num_hidden_layers",
                   "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                   "rope_scaling", "rope_type", "yarn", "linear", "rope_theta", "hidden_act", "gelu", "text_config",
                   "sliding_window", "layer_types", "-1", "0", "1e308", "null", "true"],
        "jsonl": ["ctx", "endings", "label", "question", "choices", "text", "answerKey", "answer", "####", "<<", ">>",
                  "$", ",", "-1", "null", "\\x5cn", "\\x5cu00e9", "\\x0a"],
    }
    for target, words in dicts.items():
        with open(os.path.join(ROOT, f"{target}.dict"), "w") as f:
            f.write("".join(f'k{i}="{w}"\n' for i, w in enumerate(words)))


if __name__ == "__main__":
    for t in ["gguf", "safetensors", "tokenizer", "config", "jsonl"]:
        shutil.rmtree(os.path.join(ROOT, t), ignore_errors=True)
        os.makedirs(os.path.join(ROOT, t), exist_ok=True)
    gguf_seeds(); safetensors_seeds(); tokenizer_seeds(); config_seeds(); jsonl_seeds(); dictionaries()
    for t in sorted(os.listdir(ROOT)):
        p = os.path.join(ROOT, t)
        if os.path.isdir(p):
            print(t, len(os.listdir(p)), "files,", sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p)), "bytes")
