#!/usr/bin/env python3
"""GSM8K generation speed, side by side in one run on the same GGUF file and the same lm-eval prompts:
aft (batched; f32 and precision=bf16; lm-eval's shots and shots=fixed), llama.cpp through llama-cpp-python (one stream, as its server runs a request), and
transformers through lm-eval's HFLM (`generate_until`, batch size 1, as `lm_eval --model hf` runs).

Usage: bench_generation.py MODEL [N]   (default N = 10 problems; prints one JSON line per tool)
Reports problems/minute, and for each tool what it can: prefill tokens/s and single-stream decode
tokens/s; for aft also the TFLOP its eval reports doing, its GFLOP/s and their fraction of the
cores' FMA peak (measured by aft --bench), and after llama.cpp and transformers the GFLOP/s aft
would need on these prompts for 2x and 10x their problems/min. llama.cpp is skipped with a message
when llama-cpp-python is not installed
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

# aft: its own eval (which also writes the prompts, so the others get byte-identical ones), in f32
# and with precision=bf16, with lm-eval's per-problem shots and with shots=fixed (one shared prefix).
prompts = None
peak, work = {}, {}   # measured FMA peak (GFLOP/s) by precision; TFLOP of the lm-eval-prompt runs
for precision, shots in [("f32", "5"), ("bf16", "5"), ("f32", "fixed"), ("bf16", "fixed")]:
    with tempfile.TemporaryDirectory() as tmp:
        log = f"{tmp}/g.jsonl"
        out = subprocess.run([AFT, "-e", f'load {name} precision={precision}; eval gsm8k limit={n} shots={shots} log="{log}"'],
                             check=True, capture_output=True, text=True).stdout
        if "not available" in out:
            print(json.dumps({"tool": f"aft ({precision})", "skipped": "precision=bf16 is not available on this CPU"}), flush=True)
            continue
        rows = [json.loads(l) for l in open(log)]
    if prompts is None:
        prompts = [r["prompt"] for r in rows]
    secs = float(re.search(r"([0-9.]+) s, ([0-9.]+) problems/min", out).group(1))
    row = {"tool": f"aft ({precision}, batched)", "model": name, "problems": n, "shots": shots, "seconds": secs,
           "problems_per_min": round(n * 60 / secs, 2),
           "flexible_exact_match": round(sum(r["exact_match_flexible"] for r in rows) / len(rows), 3)}
    if shots == "5":
        # Prefill and single-stream decode on their own (aft --bench: one 512-token forward; 64 greedy steps).
        bench = json.loads(subprocess.run([AFT, "--bench", name, "512", "4", precision], check=True, capture_output=True, text=True).stdout)
        row.update({"prefill_tokens_per_s": bench["forward_tokens_per_s"], "decode_tokens_per_s": bench["decode_tokens_per_s"],
                    "decode_fraction_of_bandwidth_bound": bench["decode_fraction_of_bandwidth_bound"],
                    "read_bandwidth_gb_per_s": bench["read_bandwidth_gb_per_s"]})
        peak[precision] = bench.get("fma_peak_gflops")
    # The arithmetic the eval reports doing, its rate, and that rate against the cores' measured peak.
    c = re.search(r"compute: ([0-9.]+) ([TGM])FLOP .*, ([0-9.]+) GFLOP/s", out)
    if c:
        tflop = float(c.group(1)) * {"T": 1, "G": 1e-3, "M": 1e-6}[c.group(2)]
        row.update({"tflop": round(tflop, 4), "gflops": float(c.group(3))})
        if peak.get(precision):
            row["fraction_of_fma_peak"] = round(float(c.group(3)) / peak[precision], 3)
        if shots == "5":
            work[precision] = tflop
    print(json.dumps(row), flush=True)


def needed(tool, per_min):
    """The GFLOP/s aft would need for `per_min` problems/min on these prompts, against each measured peak."""
    for precision, tflop in work.items():
        rate = tflop * 1e3 * per_min / (n * 60)
        print(json.dumps({"target": tool, "precision": precision, "problems_per_min": round(per_min, 2), "gflops_needed": round(rate, 1),
                          "fraction_of_fma_peak": round(rate / peak[precision], 3) if peak.get(precision) else None}), flush=True)

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
    llm.close()   # now, not at interpreter exit (its destructor fails once the module is torn down)
    print(json.dumps({"tool": "llama.cpp", "model": name, "problems": n, "seconds": round(secs, 1),
                      "problems_per_min": round(n * 60 / secs, 2), "prefill_tokens_per_s": round(pre, 1),
                      "decode_tokens_per_s": round(dec, 1)}), flush=True)
    needed("2x llama.cpp", 2 * n * 60 / secs)
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
needed("10x transformers", 10 * n * 60 / secs)
