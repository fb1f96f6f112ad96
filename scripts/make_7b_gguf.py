#!/usr/bin/env python3
"""Writes a Qwen2-7B-shaped GGUF with random weights, quantised like Q4_K_M, for memory checks.

    python3 scripts/make_7b_gguf.py OUT.gguf [--layers 28]

Shapes are Qwen2-7B's (hidden 3584, 28 layers, 28 heads, 4 key/value heads, FFN 18944,
vocabulary 152064, Q/K/V biases). Matrices are Q4_K blocks except output.weight, attn_v and
ffn_down (Q6_K, as llama.cpp's Q4_K_M keeps them); norms and biases are f32. Block scales are
fixed so the weights are centred on 0 with a spread of about 0.03, and the 4- and 6-bit codes
random, so activations stay moderate through 28 layers. The tokenizer is qwen2.5-coder-0.5b's (the same Qwen2 BPE vocabulary), copied from its
GGUF in the model cache. Real 7B weights are not available here; this file measures what a
7B-class model costs in memory and time, not what it says. About 4.7 GB.
"""
import argparse
import os
import sys

import numpy as np
import gguf

HIDDEN, FFN, HEADS, KV, VOCAB = 3584, 18944, 28, 4, 152064
HD = HIDDEN // HEADS


def f16_bytes(x):
    return np.array([x], dtype=np.float16).view(np.uint8)


def q4_k(rows, cols, rng):
    """rows × cols as Q4_K super-blocks (144 bytes per 256 values): d, dmin, 12 scale bytes, 128 code bytes."""
    nb = rows * cols // 256
    b = np.empty((nb, 144), dtype=np.uint8)
    # value = d·sc·q − dmin·m with sc, m, q uniform: dmin = 7.5·d centres the weights on 0
    # (E[q] = 7.5), so activations do not grow layer after layer; their spread is about 0.03.
    b[:, 0:2] = f16_bytes(1.0e-4)
    b[:, 2:4] = f16_bytes(7.5e-4)
    b[:, 4:16] = rng.integers(0, 256, size=(nb, 12), dtype=np.uint8)
    b[:, 16:] = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
    return b.reshape(rows, cols // 256 * 144)


def q6_k(rows, cols, rng):
    """rows × cols as Q6_K super-blocks (210 bytes per 256 values): ql, qh, 16 int8 scales, d."""
    nb = rows * cols // 256
    b = np.empty((nb, 210), dtype=np.uint8)
    b[:, 0:192] = rng.integers(0, 256, size=(nb, 192), dtype=np.uint8)
    b[:, 192:208] = rng.integers(-24, 24, size=(nb, 16), dtype=np.int8).view(np.uint8)
    b[:, 208:210] = f16_bytes(1.0e-4)
    return b.reshape(rows, cols // 256 * 210)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--tokenizer", default=os.path.join(os.environ.get("AFT_MODELS", os.path.expanduser("~/.cache/aft/models")),
                                                       "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))
    a = ap.parse_args()
    src = gguf.GGUFReader(a.tokenizer)

    def field(k):
        f = src.fields[k]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(a.out, "qwen2")
    w.add_name("random Qwen2-7B-shaped (aft memory benchmark)")
    w.add_block_count(a.layers)
    w.add_context_length(32768)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(VOCAB)
    w.add_file_type(15)   # MOSTLY_Q4_K_M
    w.add_tokenizer_model(field("tokenizer.ggml.model"))
    w.add_tokenizer_pre(field("tokenizer.ggml.pre"))
    w.add_token_list(field("tokenizer.ggml.tokens"))
    w.add_token_types(field("tokenizer.ggml.token_type"))
    w.add_token_merges(field("tokenizer.ggml.merges"))
    w.add_bos_token_id(151643)
    w.add_eos_token_id(151645)
    w.add_add_bos_token(False)

    Q4, Q6 = gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K

    def mat(name, rows, cols, kind):
        data = (q6_k if kind == Q6 else q4_k)(rows, cols, rng)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=kind)

    def vec(name, n, centre, spread):
        w.add_tensor(name, (centre + spread * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", VOCAB, HIDDEN, Q4)
    vec("output_norm.weight", HIDDEN, 1.0, 0.05)
    mat("output.weight", VOCAB, HIDDEN, Q6)
    for i in range(a.layers):
        p = f"blk.{i}."
        vec(p + "attn_norm.weight", HIDDEN, 1.0, 0.05)
        vec(p + "ffn_norm.weight", HIDDEN, 1.0, 0.05)
        mat(p + "attn_q.weight", HIDDEN, HIDDEN, Q4)
        mat(p + "attn_k.weight", KV * HD, HIDDEN, Q4)
        mat(p + "attn_v.weight", KV * HD, HIDDEN, Q6)
        mat(p + "attn_output.weight", HIDDEN, HIDDEN, Q4)
        vec(p + "attn_q.bias", HIDDEN, 0.0, 0.05)
        vec(p + "attn_k.bias", KV * HD, 0.0, 0.05)
        vec(p + "attn_v.bias", KV * HD, 0.0, 0.05)
        mat(p + "ffn_gate.weight", FFN, HIDDEN, Q4)
        mat(p + "ffn_up.weight", FFN, HIDDEN, Q4)
        mat(p + "ffn_down.weight", HIDDEN, FFN, Q6 if i % 2 == 0 else Q4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {a.out}: {os.path.getsize(a.out) / 1e9:.2f} GB", file=sys.stderr)


if __name__ == "__main__":
    main()
