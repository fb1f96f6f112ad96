#!/usr/bin/env python3
"""Generate the golden fixtures the Swift tests compare against (needs torch, transformers, gguf,
tokenizers; tests never do). Writes under Tests/EngineTests/Fixtures:

  tiny/<arch>/       random-weight HF models (config.json, safetensors, tokenizer.json) and expected.json
                     (input ids, logits, ARC-Easy log-likelihoods, dL/dv) from transformers — llama,
                     qwen2, gemma3, gpt_neox (parallel and sequential), phi, gpt2
  logits/<model>.json  real GGUF models: prompt ids and logits at sampled positions and vocab columns
  tokens/<name>.bin    uint32 FNV-1a digest of the token ids of every dataset text (see textList)

  steergrad.json     dL/dv by torch autograd through a forward hook, one item per real model
  dequant.json       raw blocks of each quant type and their values from gguf-py's ggml-quants port

Usage: make_fixtures.py [tiny] [dequant] [logits] [tokens] [steergrad]
"""
import json, os, struct, sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "Tests/EngineTests/Fixtures"
SHARED = ROOT.parent / "shared"
CACHE = Path(os.environ.get("AFT_MODELS", Path.home() / ".cache/aft/models"))
GGUFS = {"smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
         "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"}
PROMPTS = [
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years, presses had spread to more than two hundred cities across Europe, and millions of books were printed. Scholars argue about how much the press changed science, religion and politics, but almost all agree that it made copies cheaper, more uniform and far more plentiful than hand-written manuscripts had ever been. The new trade created type founders, paper mills, booksellers and censors; it standardised spelling and grammar, spread news sheets and pamphlets, and let scientists compare identical copies of tables, maps and diagrams across countries for the first time. Question: Why were printed books cheaper than manuscripts? Answer:",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nclass Matrix:\n    def __init__(self, rows):\n        self.rows = [list(r) for r in rows]\n\n    def __matmul__(self, other):\n        cols = list(zip(*other.rows))\n        return Matrix([[sum(x * y for x, y in zip(r, c)) for c in cols] for r in self.rows])\n\n\nif __name__ == '__main__':\n    print(fibonacci(10), 'and', Matrix([[1, 2], [3, 4]]) @ Matrix([[5], [6]]))\n",
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market? Let's think step by step. 16 - 3 - 4 = 9 eggs are left, and 9 * $2 = $18. Ünïcödé test: naïve café, 東京, emoji 🙂, tabs\tand  double  spaces. The answer is 18.",
]


def fnv1a(ids):
    h = 0x811C9DC5
    for i in ids:
        for b in struct.pack("<I", i):
            h ^= b
            h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def text_list():
    """Every dataset text whose tokenisation is checked, in a fixed order (mirrored in the Swift test)."""
    out = []
    for line in open(SHARED / "data/hellaswag/hellaswag_val.jsonl"):
        r = json.loads(line)
        out.append(r["ctx"]); out += [r["ctx"] + " " + e for e in r["endings"]]
    for f in ["arc_challenge/arc_challenge_test.jsonl", "arc_easy/arc_easy_test.jsonl"]:
        for line in open(SHARED / "data" / f):
            r = json.loads(line)
            q = f"Question: {r['question']}\nAnswer:"
            out.append(q); out += [q + " " + c for c in r["choices"]["text"]]
    for f in ["train", "test", "test_socratic"]:
        for line in open(SHARED / f"data/gsm8k/{f}.jsonl"):
            r = json.loads(line)
            out += [r["question"], r["answer"]]
    return out


def tokens():
    from transformers import AutoTokenizer
    from tokenizers import Tokenizer
    texts = text_list()
    (FIX / "tokens").mkdir(parents=True, exist_ok=True)
    toks = {m: AutoTokenizer.from_pretrained(str(CACHE), gguf_file=f) for m, f in GGUFS.items()}
    toks["pythia-160m"] = AutoTokenizer.from_pretrained(str(SHARED / "model-configs/pythia-160m"))
    toks["qwen-0.5b"] = AutoTokenizer.from_pretrained(str(SHARED / "model-configs/qwen-0.5b"))
    for name, t in toks.items():
        enc = t(texts).input_ids   # the tokenizer's default special tokens, as lm-eval uses it
        with open(FIX / f"tokens/{name}.bin", "wb") as f:
            f.write(struct.pack("<I", len(texts)))
            for ids in enc: f.write(struct.pack("<I", fnv1a(ids)))
        print(name, len(texts), "texts", flush=True)


def logits():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    (FIX / "logits").mkdir(parents=True, exist_ok=True)
    for m, f in GGUFS.items():
        tok = AutoTokenizer.from_pretrained(str(CACHE), gguf_file=f)
        model = AutoModelForCausalLM.from_pretrained(str(CACHE), gguf_file=f, dtype=torch.float32).eval()
        V = model.config.vocab_size
        cols = list(range(0, V, 97))
        out = {"model": m, "columns": cols, "prompts": []}
        for p in PROMPTS:
            ids = tok(p).input_ids
            with torch.no_grad(): lg = model(torch.tensor([ids])).logits[0]
            positions = sorted(set(list(range(0, len(ids), 16)) + [len(ids) - 1]))
            rows = []
            for t in positions:
                row = lg[t]
                am = int(row.argmax())
                rows.append({"pos": t, "maxabs": float(row.abs().max()), "argmax": am, "argmax_logit": float(row[am]),
                             "values": [round(float(row[c]), 5) for c in cols]})
            out["prompts"].append({"text": p, "ids": ids, "rows": rows})
            print(m, len(ids), "tokens", flush=True)
        json.dump(out, open(FIX / f"logits/{m}.json", "w"))


def tiny():
    """Tiny random-weight models of every architecture, made to fail: every weight matrix drawn with
    std 0.08 (transformers' default 0.02 hides errors), norm scales N(1, 0.3) (N(0, 0.3) for Gemma's
    offset form), every bias N(0, 0.1). expected.json holds the logits of one text, the lm-eval
    log-likelihoods of the first ARC-Easy items' choices, and dL/dv at one layer by torch autograd."""
    import torch
    from transformers import (AutoModelForCausalLM, LlamaConfig, Qwen2Config, Gemma3TextConfig, GPTNeoXConfig,
                              PhiConfig, GPT2Config, PreTrainedTokenizerFast)
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    sys.path.insert(0, str(Path(__file__).parent))
    from torch_steering import encode_pair, Steer, choice_loss
    corpus = [json.loads(l)["ctx"] for _, l in zip(range(3000), open(SHARED / "data/hellaswag/hellaswag_val.jsonl"))]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=384, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    V = bpe.get_vocab_size()
    common = dict(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                  max_position_embeddings=256)
    configs = {
        "llama": LlamaConfig(**common, num_key_value_heads=2, rope_theta=10000.0, tie_word_embeddings=True, rms_norm_eps=1e-5),
        "qwen2": Qwen2Config(**common, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=False, rms_norm_eps=1e-6),
        "gemma3": Gemma3TextConfig(**{**common, "num_hidden_layers": 6}, num_key_value_heads=1, head_dim=32,
                                   query_pre_attn_scalar=24, sliding_window=8, rope_local_base_freq=10000.0,
                                   rope_theta=1e6, layer_types=["sliding_attention"] * 2 + ["full_attention"] + ["sliding_attention"] * 2 + ["full_attention"],
                                   final_logit_softcapping=None, attn_logit_softcapping=None),
        "gpt_neox": GPTNeoXConfig(**common, rotary_pct=0.25, rotary_emb_base=10000, use_parallel_residual=True,
                                  hidden_act="gelu", layer_norm_eps=1e-5, tie_word_embeddings=False),
        "gpt_neox_sequential": GPTNeoXConfig(**common, rotary_pct=0.25, rotary_emb_base=10000, use_parallel_residual=False,
                                             hidden_act="gelu", layer_norm_eps=1e-5, tie_word_embeddings=False),
        "phi": PhiConfig(**common, partial_rotary_factor=0.5, hidden_act="gelu_new", layer_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=0, eos_token_id=0),
        "gpt2": GPT2Config(vocab_size=V, n_embd=64, n_layer=3, n_head=4, n_inner=96, n_positions=256,
                           activation_function="gelu_new", bos_token_id=0, eos_token_id=0,
                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
    }
    dtypes = {"llama": torch.float32, "qwen2": torch.bfloat16, "gemma3": torch.float32, "gpt_neox": torch.float16,
              "gpt_neox_sequential": torch.float32, "phi": torch.float32, "gpt2": torch.float32}
    text = "A man is sitting on a roof. He starts pulling up roofing on a roof, and then the camera pans to a lady who walks to a barbell and lifts it."
    arc = [json.loads(l) for _, l in zip(range(6), open(SHARED / "data/arc_easy/arc_easy_test.jsonl"))]
    for arch, cfg in configs.items():
        torch.manual_seed(sum(map(ord, arch)))
        cfg.torch_dtype = "float32"
        model = AutoModelForCausalLM.from_config(cfg).float().eval()
        with torch.no_grad():
            for n, p in model.named_parameters():
                if ("norm" in n or "ln_" in n) and n.endswith("weight"):
                    p.copy_(torch.randn_like(p) * 0.3 + (0.0 if arch == "gemma3" else 1.0))
                elif n.endswith("bias"):
                    p.copy_(torch.randn_like(p) * 0.1)
                else:
                    p.copy_(torch.randn_like(p) * 0.08)
        d = FIX / "tiny" / arch
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.safetensors*"): old.unlink()
        model.to(dtypes[arch])
        model.save_pretrained(d, max_shard_size="100KB" if arch == "qwen2" else "50MB")
        fast = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
        fast.save_pretrained(d)
        for extra in ["tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]:
            (d / extra).unlink(missing_ok=True)
        ids = fast(text).input_ids
        # Reload from disk so the reference sees exactly the stored (possibly bf16/f16) weights.
        ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        for p in ref.parameters(): p.requires_grad_(False)
        with torch.no_grad():
            lg = ref(torch.tensor([ids])).logits[0]
            items = []
            for r in arc:
                ctx = f"Question: {r['question']}\nAnswer:"
                lls = []
                for ch in r["choices"]["text"]:
                    c, k = encode_pair(fast, ctx, " " + ch)
                    logp = torch.log_softmax(ref(torch.tensor([c + k])).logits[0].double(), -1)
                    lls.append(float(sum(logp[len(c) - 1 + j, t] for j, t in enumerate(k))))
                items.append({"context": ctx, "choices": r["choices"]["text"], "ll": lls})
        # dL/dv after block 1 (the choice loss, length-normalised) by autograd through a forward hook.
        g = torch.Generator().manual_seed(3)
        v = (torch.randn(64, generator=g) * 0.3).requires_grad_(True)
        h = Steer(ref, 1, v)
        loss, ll = choice_loss(ref, fast, items[0]["context"], items[0]["choices"], 0)
        loss.backward()
        h.remove()
        json.dump({"text": text, "ids": ids, "logits": [[round(float(x), 6) for x in row] for row in lg], "arc_easy": items,
                   "steer": {"layer": 1, "v": [float(x) for x in v.detach()], "gold": 0, "loss": float(loss),
                             "ll": [float(x) for x in ll], "grad": [float(x) for x in v.grad]}},
                  open(d / "expected.json", "w"))
        print(arch, "tokens", len(ids), "vocab", V, "max|logit|", float(lg.abs().max()), "|grad|", float(v.grad.norm()),
              "files", sorted(p.name for p in d.iterdir()), flush=True)


def dequant():
    """Random blocks of each quant type and their f32 values from gguf-py's port of ggml-quants."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q, quants
    rng = np.random.default_rng(7)
    out = {}
    for name in ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]:
        qt = Q[name]
        block, size = quants.GGML_QUANT_SIZES[qt]
        nblocks = 3
        raw = rng.integers(0, 256, size=nblocks * size, dtype=np.uint8)
        # Keep f16 scales finite and moderate: overwrite every f16 scale field with a small value.
        r = raw.reshape(nblocks, size)
        scale = np.frombuffer(np.float16(rng.uniform(-0.05, 0.05, size=8)).tobytes(), dtype=np.uint8)
        if name in ("Q4_0", "Q5_0", "Q8_0"): r[:, 0:2] = scale[0:2]
        if name in ("Q4_1", "Q5_1", "Q4_K", "Q5_K"): r[:, 0:4] = scale[0:4]
        if name == "Q6_K": r[:, 208:210] = scale[0:2]
        if name == "F16": raw = np.frombuffer(np.float16(rng.normal(size=nblocks * block)).tobytes(), dtype=np.uint8)
        if name == "BF16":
            f = rng.normal(size=nblocks * block).astype(np.float32)
            raw = np.frombuffer((f.view(np.uint32) >> 16).astype(np.uint16).tobytes(), dtype=np.uint8)
        vals = quants.dequantize(raw.reshape(-1).copy(), qt).reshape(-1)
        out[name] = {"bytes": raw.reshape(-1).tobytes().hex(), "values": [float(v) for v in vals]}
        print(name, len(vals))
    json.dump(out, open(FIX / "dequant.json", "w"))


def steergrad():
    """dL/dv from torch autograd (forward hook on the real models) for one HellaSwag item."""
    import torch, numpy as np
    sys.path.insert(0, str(Path(__file__).parent))
    from torch_steering import load, Steer, choice_loss
    rows = [json.loads(l) for _, l in zip(range(3), open(SHARED / "data/hellaswag/hellaswag_val.jsonl"))]
    r = rows[2]
    out = {}
    for m, f in GGUFS.items():
        tok, model = load(f)
        L = model.config.num_hidden_layers // 2
        rng = np.random.default_rng(1)
        v0 = rng.normal(size=model.config.hidden_size).astype(np.float32) * 0.05
        v = torch.tensor(v0, requires_grad=True)
        h = Steer(model, L, v)
        loss, ll = choice_loss(model, tok, r["ctx"], r["endings"], int(r["label"]))
        loss.backward()
        h.remove()
        out[m] = {"doc": 2, "layer": L, "v": [float(x) for x in v0], "loss": float(loss), "ll": [float(x) for x in ll],
                  "grad": [float(x) for x in v.grad]}
        print(m, "layer", L, "loss", float(loss), "|grad|", float(v.grad.norm()), flush=True)
    json.dump(out, open(FIX / "steergrad.json", "w"))


if __name__ == "__main__":
    what = sys.argv[1:] or ["tiny", "dequant", "logits", "tokens", "steergrad"]
    for w in what: globals()[w]()
