#!/usr/bin/env python3
"""Scoring throughput of transformers + lm-eval's HFLM on CPU for the first N HellaSwag items.

Usage: bench_transformers.py MODEL N   (prints one JSON line)"""
import json, os, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from lm_eval.models.huggingface import HFLM
from lm_eval.api.instance import Instance
sys.path.insert(0, str(Path(__file__).parent))
from reference_lmeval import MODELS, items

name, n = sys.argv[1], int(sys.argv[2])
cache = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))
data = Path(__file__).resolve().parents[2] / "shared/data/hellaswag/hellaswag_val.jsonl"
torch.set_num_threads(os.cpu_count())
tok = AutoTokenizer.from_pretrained(cache, gguf_file=MODELS[name])
model = AutoModelForCausalLM.from_pretrained(cache, gguf_file=MODELS[name], dtype=torch.float32).eval()
lm = HFLM(pretrained=model, tokenizer=tok, batch_size=8, device="cpu")
its = items("hellaswag", data, n)
reqs = [Instance(request_type="loglikelihood", doc={}, arguments=(c, " " + e), idx=j) for c, es, _ in its for j, e in enumerate(es)]
lm.loglikelihood(reqs[:4], disable_tqdm=True)  # warm up
t0 = time.time()
lm.loglikelihood(reqs, disable_tqdm=True)
dt = time.time() - t0
print(json.dumps({"impl": "transformers+lm-eval HFLM", "model": name, "threads": torch.get_num_threads(),
                  "scoring_items": len(its), "scoring_seconds": round(dt, 2), "scoring_items_per_s": round(len(its) / dt, 3)}))
