#!/usr/bin/env python3
"""GSM8K generation speed, side by side in one run on the same GGUF file and the same lm-eval prompts:
aft (batched), llama.cpp through llama-cpp-python (one stream, as its server runs a request), and
transformers through lm-eval's HFLM (`generate_until`, batch size 1, as `lm_eval --model hf` runs).

Usage: bench_generation.py MODEL [N]   (default N = 10 problems; prints one JSON line per tool)
Reports problems/minute, and for each tool what it can: prefill tokens/s and single-stream decode
tokens/s. llama.cpp is skipped with a message when llama-cpp-python is not installed
(CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python builds it, about 10 minutes)."""
import json, os, re, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from reference_lmeval import MODELS

ROOT = Path(__file__).resolve().parents[1]
CACHE = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))
name = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
STOPS = ["Question:", "</s>", "<|im_end|>"]
AFT = str(ROOT / ".build/release/aft")

# aft: its own eval (which also writes the prompts, so the others get byte-identical ones).
with tempfile.TemporaryDirectory() as tmp:
    log = f"{tmp}/g.jsonl"
    out = subprocess.run([AFT, "-e", f'load {name}; eval gsm8k limit={n} log="{log}"'], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in open(log)]
secs = float(re.search(r"([0-9.]+) s, ([0-9.]+) problems/min", out).group(1))
bench = json.loads(subprocess.run([AFT, "--bench", name, "512", "4"], check=True, capture_output=True, text=True).stdout)
prompts = [r["prompt"] for r in rows]
print(json.dumps({"tool": "aft", "model": name, "problems": n, "seconds": secs, "problems_per_min": round(n * 60 / secs, 2),
                  "prefill_tokens_per_s": bench["forward_tokens_per_s"], "decode_tokens_per_s": bench["decode_tokens_per_s"],
                  "decode_fraction_of_bandwidth_bound": bench["decode_fraction_of_bandwidth_bound"]}), flush=True)

try:
    from llama_cpp import Llama
    llm = Llama(model_path=f"{CACHE}/{MODELS[name]}", n_ctx=2048, n_threads=os.cpu_count(), n_batch=512, verbose=False)
    t0 = time.time()
    prompt_tokens = gen_tokens = 0
    for p in prompts:
        r = llm.create_completion(p, max_tokens=256, stop=STOPS, temperature=0.0)
        prompt_tokens += r["usage"]["prompt_tokens"]; gen_tokens += r["usage"]["completion_tokens"]
    secs = time.time() - t0
    # Prefill and decode rates on their own: one long prompt, then one token at a time.
    llm.reset(); toks = llm.tokenize(prompts[0].encode())
    t0 = time.time(); llm.eval(toks); pre = len(toks) / (time.time() - t0)
    t0 = time.time()
    for _ in range(64): llm.eval([llm.sample(temp=0.0)])
    dec = 64 / (time.time() - t0)
    print(json.dumps({"tool": "llama.cpp", "model": name, "problems": n, "seconds": round(secs, 1),
                      "problems_per_min": round(n * 60 / secs, 2), "prefill_tokens_per_s": round(pre, 1),
                      "decode_tokens_per_s": round(dec, 1)}), flush=True)
except ImportError:
    print(json.dumps({"tool": "llama.cpp", "skipped": "llama-cpp-python is not installed"}), flush=True)

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from lm_eval.models.huggingface import HFLM
from lm_eval.api.instance import Instance
torch.set_num_threads(os.cpu_count())
tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=MODELS[name])
model = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=MODELS[name], dtype=torch.float32).eval()
lm = HFLM(pretrained=model, tokenizer=tok, batch_size=1, device="cpu")
reqs = [Instance(request_type="generate_until", doc={}, idx=0,
                 arguments=(p, {"until": STOPS, "do_sample": False, "temperature": 0.0, "max_gen_toks": 256})) for p in prompts]
t0 = time.time()
lm.generate_until(reqs, disable_tqdm=True)
secs = time.time() - t0
print(json.dumps({"tool": "transformers (lm-eval HFLM)", "model": name, "problems": n, "seconds": round(secs, 1),
                  "problems_per_min": round(n * 60 / secs, 2)}), flush=True)
