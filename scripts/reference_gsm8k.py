#!/usr/bin/env python3
"""Golden GSM8K generations from lm-evaluation-harness itself (its CLI, HFLM over transformers in
f32 on the CPU), with a local task YAML that includes the stock gsm8k.yaml (version 3.0) and points
at ../shared/data/gsm8k. Writes one JSONL line per problem to
Tests/EngineTests/Fixtures/gsm8k/<model>.jsonl: {"doc", "prompt", "generated", "strict",
"flexible", "target", "exact_match_strict", "exact_match_flexible"}, the same keys as
`aft eval gsm8k … log=`, taken from lm-eval's own --log_samples output.

Usage: reference_gsm8k.py MODEL [LIMIT]   (MODEL: smollm2-135m | qwen2.5-coder-0.5b | gemma3-270m; LIMIT 40)
About 17 s a problem on smollm2-135m on 2 cores; needs torch, transformers, gguf, lm_eval."""
import json, os, re, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from reference_lmeval import MODELS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/gsm8k"
CACHE = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))
model = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 40

import lm_eval
stock = Path(lm_eval.__file__).parent / "tasks/gsm8k/gsm8k.yaml"
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "gsm8k_local.yaml").write_text(
        f"include: {stock}\ntask: gsm8k_local\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    train: {DATA / 'train.jsonl'}\n    test: {DATA / 'test.jsonl'}\n")
    out = Path(tmp) / "out"
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    subprocess.run(["lm_eval", "--model", "hf", "--model_args",
                    f"pretrained={CACHE},gguf_file={MODELS[model]},dtype=float32",
                    "--include_path", tmp, "--tasks", "gsm8k_local", "--limit", str(limit), "--device", "cpu",
                    "--batch_size", "1", "--log_samples", "--output_path", str(out)], check=True, env=env)
    samples = next(out.rglob("samples_gsm8k_local_*.jsonl"))
    rows = [json.loads(l) for l in open(samples)]

# The same normalisation lm-eval's exact_match applies (ignore_case, regexes_to_ignore).
def norm(s):
    for r in [",", r"\$", r"(?s).*#### ", r"\.$"]: s = re.sub(r, "", s)
    return s.lower()

fx = ROOT / "Tests/EngineTests/Fixtures/gsm8k"
fx.mkdir(parents=True, exist_ok=True)
by_filter = {}
with open(fx / f"{model}.jsonl", "w") as f:
    for r in sorted(rows, key=lambda r: (r["doc_id"], r["filter"])):
        by_filter.setdefault(r["doc_id"], {})[r["filter"]] = r
    for doc, fl in sorted(by_filter.items()):
        s, x = fl["strict-match"], fl["flexible-extract"]
        f.write(json.dumps({"doc": doc, "prompt": s["arguments"]["gen_args_0"]["arg_0"], "generated": s["resps"][0][0],
                            "strict": s["filtered_resps"][0], "flexible": x["filtered_resps"][0],
                            "target": norm(s["target"]), "exact_match_strict": int(s["exact_match"]),
                            "exact_match_flexible": int(x["exact_match"])}) + "\n")
print(f"{model}: {len(by_filter)} problems -> {fx / (model + '.jsonl')}")
