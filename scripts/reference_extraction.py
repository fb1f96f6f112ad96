#!/usr/bin/env python3
"""The reference for `extract`: the vectors the peers themselves extract from CAA pairs, on
smollm2-135m loaded by transformers from the same GGUF aft reads.

- steering-vectors 0.12 `train_steering_vector(..., read_token_index=-1)`: mean over pairs of
  (positive − negative) at the last token, read at the output of decoder block L.
- repeng 0.4 `ControlVector.train(...)` (method pca_diff): the first principal component of the
  differences (sklearn's PCA, which centres them), sign chosen so positives project higher.

Both peers pin transformers < 5 and numpy < 2: run this in their own environment, e.g.

    python3 -m venv --system-site-packages /tmp/peervenv
    /tmp/peervenv/bin/pip install "transformers<5" "numpy<2" steering-vectors==0.12.2 repeng==0.4.0
    /tmp/peervenv/bin/python scripts/reference_extraction.py > Tests/EngineTests/Fixtures/extraction/smollm2-135m-sycophancy.json

With `--import-gguf FILE` it instead reads an aft-exported control vector with repeng's
`ControlVector.import_gguf` and prints {layer: [norm, first 4 values]} as JSON.
The fixture holds vectors only (no dataset text): 100 pairs, three layers, 576 floats each.
"""
import json, os, sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")

if len(sys.argv) == 3 and sys.argv[1] == "--import-gguf":
    import numpy as np
    # repeng 0.4 names np.float_ in a type hint, which NumPy 2 removed; import_gguf itself needs only
    # gguf and numpy, so with NumPy 2 (the test suite's environment) the old alias is put back.
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    from repeng import ControlVector
    cv = ControlVector.import_gguf(sys.argv[2])
    print(json.dumps({"model_hint": cv.model_type,
                      "directions": {str(k): [float(np.linalg.norm(v))] + [float(x) for x in v[:4]] for k, v in sorted(cv.directions.items())}}))
    sys.exit(0)

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from steering_vectors import train_steering_vector
from repeng import ControlVector, DatasetEntry

CACHE = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/caa/generate/sycophancy/generate_dataset.json"
PAIRS, LAYERS = 100, [5, 15, 25]

tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=GGUF)
# The GGUF says tokenizer.ggml.add_bos_token = false (aft, llama.cpp and lm-eval add none);
# transformers' GGUF conversion would prepend <|im_start|> anyway. Same tokens on both sides.
tok.add_bos_token = False
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
model = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=GGUF, dtype=torch.float32).eval()

rows = json.load(open(DATA))[:PAIRS]


def text(r, key):
    """CAA's reading text: question, "\\n\\nAnswer: ", the answer without its closing parenthesis."""
    return r["question"] + "\n\nAnswer: " + r[key][:-1] if r[key].endswith(")") else r["question"] + "\n\nAnswer: " + r[key]


pairs = [(text(r, "answer_matching_behavior"), text(r, "answer_not_matching_behavior")) for r in rows]

sv = train_steering_vector(model, tok, pairs, layers=LAYERS, read_token_index=-1, show_progress=False)
# batch_size 1: no padding, so every text is read at the same positions aft reads it.
cv = ControlVector.train(model, tok, [DatasetEntry(positive=p, negative=n) for p, n in pairs],
                         hidden_layers=LAYERS, batch_size=1, method="pca_diff")

out = {
    "model": GGUF, "behaviour": "sycophancy", "pairs": PAIRS, "layers": LAYERS,
    "versions": {"steering-vectors": "0.12.2", "repeng": "0.4.0", "transformers": __import__("transformers").__version__},
    "first_positive_tokens": tok(pairs[0][0]).input_ids,
    "first_negative_tokens": tok(pairs[0][1]).input_ids,
    "steering_vectors_mean": {str(l): [round(float(x), 7) for x in sv.layer_activations[l].float().tolist()] for l in LAYERS},
    "repeng_pca_diff": {str(l): [round(float(x), 7) for x in cv.directions[l].tolist()] for l in LAYERS},
}
print(json.dumps(out))
