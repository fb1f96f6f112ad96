#!/usr/bin/env python3
"""Steering sweep time: aft's cached sweep vs the seed's method (transformers + forward hook,
full forward and backward of every choice sequence per step), same items, layers and epochs.

Usage: bench_sweep.py MODEL [LAYERS] [TRAIN] [VAL]   (prints JSON lines; default 3 layers, 16 + 16 items)
LAYERS: a count of evenly spaced layers, or "all" for the full sweep (every layer)."""
import json, os, re, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
import torch
from torch_steering import load, Steer, choice_loss
from reference_lmeval import MODELS

ROOT = Path(__file__).resolve().parents[1]
name = sys.argv[1]
nl = sys.argv[2] if len(sys.argv) > 2 else "3"
ntrain = int(sys.argv[3]) if len(sys.argv) > 3 else 16
nval = int(sys.argv[4]) if len(sys.argv) > 4 else 16
torch.set_num_threads(os.cpu_count())
tok, model = load(MODELS[name])
N = model.config.num_hidden_layers
if nl == "all":
    layers = list(range(N))
else:
    nl = int(nl)
    layers = [round(i * (N - 1) / max(1, nl - 1)) for i in range(nl)] if nl > 1 else [N // 2]

# aft: the same sweep; splits come from aft's own seeded split, which the run directory records.
with tempfile.TemporaryDirectory() as out:
    cmd = (f"set out={out}; load {name}; sweep hellaswag layers {','.join(map(str, layers))} epochs=1 "
           f"train={ntrain} val={nval} test=0 screen=0")
    t0 = time.time()
    run = subprocess.run([str(ROOT / ".build/release/aft"), "-e", cmd], check=True, capture_output=True, text=True)
    aft_s = time.time() - t0
    # The sweep reports its residual cache ("residual cache: N MB in memory, computed once …");
    # the process's peak resident memory comes from the kernel's accounting of finished children.
    m = re.search(r"residual cache: ([0-9.]+) MB (in memory|in a scratch file)", run.stdout)
    cache_mb = float(m.group(1)) if m else None
    cache_where = ("memory" if m.group(2) == "in memory" else "disk") if m else None
    import resource
    aft_peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    meta = json.load(open(next(Path(out).rglob("meta.json"))))
rows = [json.loads(l) for l in open(ROOT.parent / "shared/data/hellaswag/hellaswag_val.jsonl")]
train = [rows[i] for i in meta["train_docs"]]
val = [rows[i] for i in meta["val_docs"]]

t0 = time.time()
for L in layers:
    v = torch.zeros(model.config.hidden_size, requires_grad=True)
    opt = torch.optim.Adam([v], lr=1e-3)
    h = Steer(model, L, v)
    for r in train:                      # one epoch, batch 1
        opt.zero_grad()
        loss, _ = choice_loss(model, tok, r["ctx"], r["endings"], int(r["label"]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([v], 1.0)
        opt.step()
    with torch.no_grad():                # validation after the epoch, as the sweep does
        for r in val:
            choice_loss(model, tok, r["ctx"], r["endings"], int(r["label"]))
    h.remove()
seed_s = time.time() - t0
print(json.dumps({"model": name, "layers": layers, "epochs": 1, "train": ntrain, "val": nval,
                  "aft_sweep_seconds": round(aft_s, 1), "seed_method_seconds": round(seed_s, 1),
                  "aft_residual_cache_mb": cache_mb, "aft_residual_cache_in": cache_where,
                  "aft_peak_rss_mb": round(aft_peak_rss_mb, 1),
                  "speedup": round(seed_s / aft_s, 2)}))
