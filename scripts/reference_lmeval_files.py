#!/usr/bin/env python3
"""The reference for `eval … lmeval=DIR`: what lm-eval 0.4 itself writes with --log_samples, reduced
to what can be committed (no dataset text): each file's key/type skeleton and, per document, the
hashes lm-eval takes (doc, prompt, target), the filtered responses and the metrics.

    python3 scripts/reference_lmeval_files.py LMEVAL_OUTPUT_DIR > Tests/EngineTests/Fixtures/lmeval-files/smollm2-135m.json

LMEVAL_OUTPUT_DIR is what this wrote (local task YAMLs pointing at ../shared/data, tasks named
arc_easy_aft and gsm8k_aft; see the fixture's "command"):
    lm_eval --model hf --model_args pretrained=~/.cache/aft/models,gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf,dtype=float32 \
        --tasks arc_easy_aft,gsm8k_aft --include_path TASKS --limit 3 --gen_kwargs max_gen_toks=24 \
        --output_path OUT --log_samples --device cpu
"""
import glob, json, sys


def skel(v):
    if isinstance(v, dict): return {k: skel(x) for k, x in v.items()}
    if isinstance(v, list): return [skel(v[0])] if v else []
    return type(v).__name__


out = {"command": "see scripts/reference_lmeval_files.py"}
root = sys.argv[1]
results = json.load(open(glob.glob(f"{root}/*/results_*.json")[0]))
for task, name in [("arc_easy_aft", "arc_easy"), ("gsm8k_aft", "gsm8k")]:
    lines = [json.loads(l) for l in open(glob.glob(f"{root}/*/samples_{task}_*.jsonl")[0])]
    entry = {k: v for k, v in results["results"][task].items() if k not in ("name", "alias")}
    out[name] = {
        "sample_skeleton": skel({k: v for k, v in lines[0].items() if k != "doc"}),
        "results_entry": entry,
        "n-shot": results["n-shot"][task], "version": results["versions"][task],
        "docs": [{"doc_id": l["doc_id"], "filter": l["filter"], "doc_hash": l["doc_hash"], "prompt_hash": l["prompt_hash"],
                  "target_hash": l["target_hash"], "filtered_resps": l["filtered_resps"],
                  "metrics": {m: l[m] for m in l["metrics"]}} for l in lines],
    }
out["results_keys"] = sorted(results.keys())
print(json.dumps(out, indent=1))
