#!/usr/bin/env python3
"""Golden few-shot multiple-choice prompts and scores from lm-evaluation-harness itself (its CLI,
HFLM over transformers in f32 on the CPU): the stock arc_easy.yaml with a local file as its only
split, so lm-eval draws the few-shot examples from the evaluated split (k + 1 drawn, the document
itself dropped), as `aft eval arc-easy shots=K` does. Writes one JSONL line per document to
Tests/EngineTests/Fixtures/fewshot/<model>_arc-easy_<K>shot.jsonl: {"doc", "context", "ll"}, the
context exactly as lm-eval built it and each choice's log-likelihood, from lm-eval's --log_samples.

Usage: reference_fewshot.py [MODEL] [SHOTS] [LIMIT]   (smollm2-135m, 5, 20); needs torch, transformers, gguf, lm_eval."""
import json, os, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from reference_lmeval import MODELS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared/data/arc_easy/arc_easy_test.jsonl"
CACHE = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))
model = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m"
shots = int(sys.argv[2]) if len(sys.argv) > 2 else 5
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 20

import lm_eval
stock = Path(lm_eval.__file__).parent / "tasks/arc/arc_easy.yaml"
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "arc_easy_local.yaml").write_text(
        f"include: {stock}\ntask: arc_easy_local\ntag: []\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {DATA}\n"
        "training_split: null\nvalidation_split: null\ntest_split: test\nfewshot_split: test\n")
    out = Path(tmp) / "out"
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    subprocess.run(["lm_eval", "--model", "hf", "--model_args",
                    f"pretrained={CACHE},gguf_file={MODELS[model]},dtype=float32",
                    "--include_path", tmp, "--tasks", "arc_easy_local", "--num_fewshot", str(shots), "--limit", str(limit),
                    "--device", "cpu", "--batch_size", "4", "--log_samples", "--output_path", str(out)], check=True, env=env)
    samples = next(out.rglob("samples_arc_easy_local_*.jsonl"))
    rows = [json.loads(l) for l in open(samples)]

fx = ROOT / "Tests/EngineTests/Fixtures/fewshot"
fx.mkdir(parents=True, exist_ok=True)
path = fx / f"{model}_arc-easy_{shots}shot.jsonl"
with open(path, "w") as f:
    for r in sorted(rows, key=lambda r: r["doc_id"]):
        args = [r["arguments"][k] for k in sorted(r["arguments"], key=lambda k: int(k.split("_")[-1]))]
        f.write(json.dumps({"doc": r["doc_id"], "context": args[0]["arg_0"],
                            "ll": [round(float(x[0][0]), 6) for x in r["resps"]]}) + "\n")
print(f"{model}: {len(rows)} documents -> {path}")
