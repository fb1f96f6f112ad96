#!/usr/bin/env python3
"""Memory and speed of weights=f32, weights=compact and precision=bf16, side by side in one run (a
benchmark, not a test): peak resident memory (the kernel's accounting of each finished aft process)
and speed of HellaSwag scoring, a 3-layer sweep and one train, per model; then a Qwen2-7B-shaped Q4_K_M
GGUF with random weights (scripts/make_7b_gguf.py) in compact mode: 5 items scored and one training
step at one layer. Prints JSON lines, then a markdown table for the README.

    python3 scripts/bench_memory.py [MODEL ...]       default: the three real models
    BIG=0 skips the 7B-shaped model; BIG_GGUF=PATH reuses a file written earlier;
    MODES="f32 bf16" limits the modes (bf16 is left out where the CPU cannot run it natively).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AFT = str(ROOT / ".build/release/aft")


def run(script, out):
    """Runs `aft -e script`; returns (stdout, seconds, peak RSS in GB)."""
    t0 = time.time()
    p = subprocess.Popen([AFT, "-e", f"set out={out}\n" + script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    text = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"aft failed ({p.returncode}) on:\n{script}\n{text[-2000:]}")
    return text, time.time() - t0, usage.ru_maxrss * 1024 / 1e9


def weights_gb(text):
    m = re.search(r"weights: \w+, ([0-9.]+) GB", text)
    return float(m.group(1)) if m else None


def bf16_native():
    """Whether aft runs precision=bf16 here (it falls back to f32, saying so, on a CPU without AVX512_BF16)."""
    text, _, _ = run("set precision=bf16", tempfile.gettempdir())
    return "not available" not in text


MODES = os.environ.get("MODES", "f32 compact bf16").split()


def model_rows(model, out):
    layers = {"smollm2-135m": (6, 15, 24), "gemma3-270m": (4, 9, 14), "qwen2.5-coder-0.5b": (6, 12, 18)}.get(model, (2, 4, 6))
    rows, logs = {}, {}
    # Alternated f32, compact, bf16 per job, so drift in the machine's load hits each.
    for job in ["eval", "sweep", "train"]:
        for mode in MODES:
            load = f"load {model} precision=bf16\n" if mode == "bf16" else f"load {model} weights={mode}\n"
            if job == "eval":
                log = f"{out}/{mode}-eval.jsonl"
                text, secs, rss = run(load + f"eval hellaswag limit=40 log={log}", out)
                m = re.search(r"([0-9.]+) items/s", text)
                logs[mode] = open(log).read()
                rows[(job, mode)] = {"items_per_s": float(m.group(1)) if m else None}
            elif job == "sweep":
                text, secs, rss = run(load + f"sweep hellaswag layers {','.join(map(str, layers))} epochs=1 train=16 val=16 test=0 screen=0", out + "/" + mode)
                m = re.findall(r"layer +\d+ +val [^\n]*?([0-9.]+) s\n", text)
                rows[(job, mode)] = {"train_seconds": sum(float(x) for x in m)}
            else:
                text, secs, rss = run(load + f"train hellaswag layer={layers[1]} epochs=1 train=16 val=16 test=16 baseline=0 extracted=no", out + "/t" + mode)
                rows[(job, mode)] = {}
            rows[(job, mode)].update({"model": model, "job": job, "weights": mode, "seconds": round(secs, 1),
                                      "peak_rss_gb": round(rss, 2), "weights_gb": weights_gb(text)})
            print(json.dumps(rows[(job, mode)]), flush=True)
    summary = {"model": model}
    if "compact" in MODES:
        summary["eval_identical_logs"] = logs.get("f32") == logs.get("compact")
    for mode in MODES[1:]:
        summary.update({f"eval_speed_{mode}_over_f32": round(rows[("eval", mode)]["items_per_s"] / rows[("eval", "f32")]["items_per_s"], 3),
                        f"sweep_speed_{mode}_over_f32": round(rows[("sweep", "f32")]["seconds"] / rows[("sweep", mode)]["seconds"], 3),
                        f"train_speed_{mode}_over_f32": round(rows[("train", "f32")]["seconds"] / rows[("train", mode)]["seconds"], 3)})
    summary.update({f"{job}_rss_over_weights_f32": round(rows[(job, "f32")]["peak_rss_gb"] / rows[(job, "f32")]["weights_gb"], 2) for job in ["eval", "sweep", "train"]})
    print(json.dumps(summary), flush=True)
    return rows, summary


def big(out):
    path = os.environ.get("BIG_GGUF") or out + "/qwen2-7b-random.gguf"
    if not os.path.exists(path):
        subprocess.run([sys.executable, str(ROOT / "scripts/make_7b_gguf.py"), path], check=True)
    text, secs, rss = run(f"load {path} weights=compact\neval hellaswag limit=5", out)
    m = re.search(r"([0-9.]+) s, ([0-9.]+) items/s", text)
    e = {"model": "qwen2-7b-shaped random Q4_K_M", "job": "eval 5 items", "weights": "compact", "seconds": round(secs, 1),
         "seconds_per_item": round(float(m.group(1)) / 5, 2) if m else None, "peak_rss_gb": round(rss, 2), "weights_gb": weights_gb(text)}
    print(json.dumps(e), flush=True)
    text, secs, rss = run(f"load {path} weights=compact\ntrain hellaswag layer=14 epochs=1 train=1 val=2 test=2 baseline=0 extracted=no", out + "/big")
    t = {"model": "qwen2-7b-shaped random Q4_K_M", "job": "train 1 step (layer 14) + 2 val + 2 test items", "weights": "compact",
         "seconds": round(secs, 1), "peak_rss_gb": round(rss, 2), "finite": "nan" not in text}
    print(json.dumps(t), flush=True)
    return e, t


def main():
    global MODES
    if "bf16" in MODES and not bf16_native():
        print(json.dumps({"bf16": "skipped: this CPU cannot run precision=bf16 natively"}), flush=True)
        MODES = [m for m in MODES if m != "bf16"]
    models = sys.argv[1:] or ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"]
    table = ["| model | weights / precision | resident weights | eval 40 items: peak RSS, items/s | 3-layer sweep: peak RSS, s | train: peak RSS, s |",
             "|---|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as out:
        for m in models:
            rows, s = model_rows(m, out)
            for mode in MODES:
                e, sw, tr = rows[("eval", mode)], rows[("sweep", mode)], rows[("train", mode)]
                table.append(f"| {m} | {mode} | {e['weights_gb']:.2f} GB | {e['peak_rss_gb']:.2f} GB, {e['items_per_s']:.2f} | "
                             f"{sw['peak_rss_gb']:.2f} GB, {sw['seconds']:.0f} | {tr['peak_rss_gb']:.2f} GB, {tr['seconds']:.0f} |")
        if os.environ.get("BIG", "1") != "0":
            e, t = big(out)
            table.append(f"| Qwen2-7B-shaped (random, Q4_K_M) | compact | {e['weights_gb']:.2f} GB | {e['peak_rss_gb']:.2f} GB, "
                         f"{e['seconds_per_item']:.1f} s/item | — | {t['peak_rss_gb']:.2f} GB, {t['seconds']:.0f} |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
