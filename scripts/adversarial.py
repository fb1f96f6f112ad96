#!/usr/bin/env python3
"""Feeds aft hostile inputs, as an adversarial user would, and counts the outcomes by class.

    python3 scripts/adversarial.py [AFT_BINARY] [--json]     (default .build/release/aft)

Each input is a malformed model file, tokenizer, config, vector, task file or language line, made
from the committed fuzz seeds (scripts/fuzz-seeds) by a targeted edit (a field set to 0, -1 or
huge, a negative id, a truncation, a duplicated key, bytes flipped, ...). Every input runs in a
fresh `aft -e` process and its outcome is classified:

  clear     exit 1 or 2 with a message that names what was wrong (the file, or the argument)
  vague     a non-zero exit whose message names neither the file nor the argument
  crash     killed by a signal (a trap, a segfault, an abort) or an exit code other than 0, 1, 2
  hang      still running after 60 s
  accepted  exit 0 — for inputs that must be refused, a silently wrong result

Run it against two builds (this one and an older checkout's) to see a fix's effect per class.
"""
import json, os, random, shutil, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "scripts", "fuzz-seeds")
rng = random.Random(1234)


def gguf_kv_edits(path):
    """(label, bytes) for each metadata integer value of the seed set to 0, -1 and 2**40, and other edits."""
    import gguf
    data = open(path, "rb").read()
    r = gguf.GGUFReader(path)
    out = []
    for name, f in r.fields.items():
        if not f.types or f.types[0] not in (gguf.GGUFValueType.UINT32, gguf.GGUFValueType.INT32, gguf.GGUFValueType.UINT64):
            continue
        part = f.parts[-1]
        off = part.ctypes.data - r.data.ctypes.data   # byte offset of the value within the file
        width = part.dtype.itemsize
        for v in (0, -1, 1 << 31, 7):
            b = bytearray(data)
            b[off:off + width] = (v & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
            out.append((f"gguf {name}={v}", bytes(b)))
    for t in r.tensors[:6]:   # a tensor's offset moved out of the file, or misaligned
        off = t.field.parts[-1].ctypes.data - r.data.ctypes.data
        for v in (1 << 40, 3):
            b = bytearray(data); b[off:off + 8] = v.to_bytes(8, "little")
            out.append((f"gguf {t.name} offset={v}", bytes(b)))
    for n in (8, 24, len(data) // 3, len(data) - 5):
        out.append((f"gguf truncated to {n} bytes", data[:n]))
    for i in range(40):
        b = bytearray(data)
        for _ in range(8):
            b[rng.randrange(0, min(len(b), 4096))] = rng.randrange(256)
        out.append((f"gguf header bytes flipped #{i}", bytes(b)))
    return out


def json_edits(path, fields, label):
    base = json.load(open(path))
    out = []
    for f in fields:
        for v in (0, -1, 10 ** 12, 1.5, "x", None, [1]):
            o = json.loads(json.dumps(base)); o[f] = v
            out.append((f"{label} {f}={json.dumps(v)}", json.dumps(o).encode()))
    return out


def inputs(tmp):
    """(class, label, files {relative path: bytes}, aft source, must_fail)."""
    cases = []
    llama = os.path.join(SEEDS, "gguf", "llama-f32.gguf")
    for label, b in gguf_kv_edits(llama):
        # Token ids must lie in the vocabulary; counts and sizes must be positive; 7 is a valid id,
        # and a 2**31 context is a (large) valid one.
        ok = label.endswith("=7") or ("context_length" in label and not label.endswith("=0")) or \
            (label.endswith("=0") and "token_id" in label)
        cases.append(("model file", label, {"m.gguf": b}, "load m.gguf; eval arc-easy limit=2", None if ok else True))
    cfg = os.path.join(SEEDS, "config", "llama.json")
    tok = open(os.path.join(ROOT, "Tests", "EngineTests", "Fixtures", "tiny", "llama", "tokenizer.json"), "rb").read()
    st = open(os.path.join(ROOT, "Tests", "EngineTests", "Fixtures", "tiny", "llama", "model.safetensors"), "rb").read()
    for label, b in json_edits(cfg, ["num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_size",
                                     "intermediate_size", "vocab_size", "rope_theta", "max_position_embeddings"], "config"):
        cases.append(("config", label, {"hf/config.json": b, "hf/tokenizer.json": tok, "hf/model.safetensors": st}, "load hf", None))
    for kind in ("yarn", "linear", "dynamic"):
        o = json.load(open(cfg)); o["rope_scaling"] = {"rope_type": kind, "factor": 4.0}
        cases.append(("config", f"config rope_scaling {kind}", {"hf/config.json": json.dumps(o).encode(), "hf/tokenizer.json": tok,
                                                                "hf/model.safetensors": st}, "load hf", True))
    tj = json.loads(tok)
    for v in (-1, -(1 << 40), 1 << 40):
        o = json.loads(json.dumps(tj)); k = next(iter(o["model"]["vocab"])); o["model"]["vocab"][k] = v
        cases.append(("tokenizer", f"tokenizer id {v}", {"hf/config.json": open(cfg, "rb").read(), "hf/tokenizer.json": json.dumps(o).encode(),
                                                         "hf/model.safetensors": st}, "load hf", True))
    # Safetensors weights: header lies.
    n = struct.unpack("<Q", st[:8])[0]
    hdr = json.loads(st[8:8 + n])
    for name in list(k for k in hdr if k != "__metadata__")[:4]:
        for edit in ("shape", "offsets", "dtype", "overlap"):
            h = json.loads(json.dumps(hdr)); e = h[name]
            if edit == "shape": e["shape"] = [x * 2 for x in e["shape"]]
            if edit == "offsets": e["data_offsets"] = [e["data_offsets"][0], e["data_offsets"][1] + 10 ** 9]
            if edit == "dtype": e["dtype"] = "I64"
            if edit == "overlap":
                if e["data_offsets"][0] == 0: continue   # already first: moving it to 0 changes nothing
                e["data_offsets"] = [0, e["data_offsets"][1] - e["data_offsets"][0]]
            hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
            body = struct.pack("<Q", len(hb)) + hb + st[8 + n:]
            cases.append(("weights", f"safetensors {name} {edit}", {"hf/config.json": open(cfg, "rb").read(), "hf/tokenizer.json": tok,
                                                                 "hf/model.safetensors": body}, "load hf", True))
    # Steering vectors.
    vec = open(os.path.join(SEEDS, "safetensors", "steering-vector.safetensors"), "rb").read()
    vn = struct.unpack("<Q", vec[:8])[0]
    vh = json.loads(vec[8:8 + vn])
    for label, change in [("layer 999", ("layer", "999")), ("layer -1", ("layer", "-7")), ("layer x", ("layer", "x")),
                          ("format 9", ("format", "aft-steering-vector/9")), ("sha other", ("model_sha256", "f" * 64))]:
        h = json.loads(json.dumps(vh)); h["__metadata__"][change[0]] = change[1]
        hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
        cases.append(("vector", f"vector {label}", {"v.safetensors": struct.pack("<Q", len(hb)) + hb + vec[8 + vn:]},
                      f"load {llama}; load v.safetensors as w; eval arc-easy limit=2 with w", True))
    nanvec = bytearray(vec); nanvec[-4:] = struct.pack("<f", float("nan"))
    cases.append(("vector", "vector NaN value", {"v.safetensors": bytes(nanvec)}, f"load {llama}; load v.safetensors as w; eval arc-easy limit=2 with w", True))
    cases.append(("vector", "vector truncated", {"v.safetensors": vec[:-3]}, f"load {llama}; load v.safetensors as w", True))
    # Task files.
    arc = open(os.path.join(SEEDS, "jsonl", "arc.jsonl"), "rb").read()
    for label, body in [("empty", b""), ("blank lines", b"\n\n"), ("not json", b"{nope\n"), ("label out of range", b'{"ctx": "a", "endings": ["x", "y"], "label": 5}\n'),
                        ("answerKey unknown", arc.replace(b'"answerKey": "B"', b'"answerKey": "Z"')),
                        ("one choice", b'{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}\n'),
                        ("10 MB line", b'{"question": "' + b"word " * 2_000_000 + b'", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "A"}\n'),
                        ("invalid utf8", b'{"question": "\xff\xfe", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "A"}\n')]:
        must = label not in ("10 MB line", "invalid utf8")
        cases.append(("task file", f"jsonl {label}", {"data/arc_easy/arc_easy_test.jsonl": body}, f"load {llama}; eval arc-easy limit=3", must))
    # Language.
    for src in ["eval arc-easy layers 1.5", "sweep arc-easy layers 999", "set threads=0", "set data=/nonexistent; eval arc-easy",
                "help nosuch", "train arc-easy lr=-1", "eval arc-easy limit=-3", "x = = 3", "load", "report", "plot nosuch",
                "eval arc-easy with nosuch", "compose", "generate \"hi\" max_tokens=0", "set cache_gb=nan"]:
        cases.append(("language", f"aft: {src}", {}, f"load {llama}; {src}", True))
    return cases


def main():
    binary = os.path.abspath(next((a for a in sys.argv[1:] if not a.startswith("--")), os.path.join(ROOT, ".build", "release", "aft")))
    as_json = "--json" in sys.argv
    counts, worst = {}, []
    tmp = tempfile.mkdtemp(prefix="aft-adv-")
    try:
        cases = inputs(tmp)
        for i, (klass, label, files, source, must_fail) in enumerate(cases):
            d = os.path.join(tmp, str(i))
            os.makedirs(os.path.join(d, "data", "arc_easy"))
            shutil.copy(os.path.join(SEEDS, "jsonl", "arc.jsonl"), os.path.join(d, "data", "arc_easy", "arc_easy_test.jsonl"))
            for rel, b in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)) or d, exist_ok=True)
                open(os.path.join(d, rel), "wb").write(b)
            env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "cache"), AFT_DATA=os.path.join(d, "data"))
            try:
                p = subprocess.run([binary, "-e", f"set data={d}/data; set out={d}/out; {source}"], cwd=d, env=env,
                                   capture_output=True, timeout=60)
                text = (p.stdout + p.stderr).decode(errors="replace")
                if p.returncode < 0 or p.returncode not in (0, 1, 2): outcome = "crash"
                elif p.returncode == 0: outcome = "accepted"
                else:
                    named = any(k in text for k in list(files) + ["m.gguf", "hf", "line", "layer", "threads", "lr", "limit", "nosuch", "data", "expected", "unknown", "usage"])
                    outcome = "clear" if named else "vague"
            except subprocess.TimeoutExpired:
                outcome, text = "hang", ""
            if must_fail and outcome == "accepted": outcome = "accepted (should fail)"
            counts.setdefault(klass, {}).setdefault(outcome, 0)
            counts[klass][outcome] += 1
            if outcome in ("crash", "hang", "vague", "accepted (should fail)") or "-v" in sys.argv:
                worst.append({"class": klass, "input": label, "outcome": outcome, "output": text.strip().splitlines()[-1:] if text else []})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(sum(c.values()) for c in counts.values())
    summary = {"binary": binary, "inputs": total, "by_class": counts,
               "totals": {k: sum(c.get(k, 0) for c in counts.values()) for k in ("clear", "vague", "crash", "hang", "accepted", "accepted (should fail)")},
               "problems": worst}
    if as_json:
        print(json.dumps(summary, indent=1))
    else:
        print(json.dumps({k: v for k, v in summary.items() if k != "problems"}, indent=1))
        for w in worst: print(json.dumps(w))


if __name__ == "__main__":
    main()
