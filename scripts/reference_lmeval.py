#!/usr/bin/env python3
"""Golden multiple-choice scores from lm-evaluation-harness's own HFLM over transformers.

For each model (GGUF, loaded by transformers in f32) and task, scores the first N items with
`HFLM.loglikelihood` (lm-eval's tokenisation, context/continuation split and log-softmax) and
writes JSONL lines {"doc", "gold", "ll", "pred", "pred_norm"} like `aft eval … log=`.
Needs torch, transformers, gguf, lm-eval (developer machines only; tests read the output).

Usage: reference_lmeval.py --out DIR [--limit 200] [--models …] [--tasks hellaswag arc-challenge]
"""
import argparse, json, os, sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from lm_eval.models.huggingface import HFLM
from lm_eval.api.instance import Instance

MODELS = {"smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
          "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"}
TASKS = {"hellaswag": "hellaswag/hellaswag_val.jsonl", "arc-challenge": "arc_challenge/arc_challenge_test.jsonl",
         "arc-easy": "arc_easy/arc_easy_test.jsonl"}


def items(task, path, limit):
    """Context, choices, gold: the same prompts as aft's Dataset (lm-eval's task templates)."""
    out = []
    for i, line in enumerate(open(path)):
        if i >= limit: break
        r = json.loads(line)
        if task == "hellaswag":
            # ctx is already lm-eval-preprocessed text (see shared/README.md); do not preprocess twice.
            out.append((r["ctx"], r["endings"], int(r["label"])))
        else:
            labels = r["choices"]["label"]
            out.append((f"Question: {r['question']}\nAnswer:", r["choices"]["text"], labels.index(r["answerKey"])))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--tasks", nargs="*", default=["hellaswag", "arc-challenge"])
    ap.add_argument("--cache", default=os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models")))
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    Path(a.out).mkdir(parents=True, exist_ok=True)
    for m in a.models:
        tok = AutoTokenizer.from_pretrained(a.cache, gguf_file=MODELS[m])
        model = AutoModelForCausalLM.from_pretrained(a.cache, gguf_file=MODELS[m], dtype=torch.float32).eval()
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=8, device="cpu")
        for t in a.tasks:
            its = items(t, Path(a.data) / TASKS[t], a.limit)
            reqs = [Instance(request_type="loglikelihood", doc={}, arguments=(ctx, " " + c), idx=j)
                    for ctx, chs, _ in its for j, c in enumerate(chs)]
            res = lm.loglikelihood(reqs, disable_tqdm=True)
            k = 0
            with open(Path(a.out) / f"{m}_{t}.jsonl", "w") as f:
                for doc, (ctx, chs, gold) in enumerate(its):
                    ll = [res[k + j][0] for j in range(len(chs))]; k += len(chs)
                    norm = [x / len(c) for x, c in zip(ll, chs)]
                    f.write(json.dumps({"doc": doc, "gold": gold, "ll": [round(x, 6) for x in ll],
                                        "pred": max(range(len(ll)), key=lambda i: ll[i]),
                                        "pred_norm": max(range(len(norm)), key=lambda i: norm[i])}) + "\n")
            print(f"{m} {t}: {len(its)} items", flush=True)


if __name__ == "__main__":
    main()
