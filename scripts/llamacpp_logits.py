#!/usr/bin/env python3
"""Next-token logits from llama.cpp itself (llama-cpp-python), with and without a control vector.

    python3 scripts/llamacpp_logits.py MODEL.gguf CVEC.gguf|- TOKENS.json OUT.json

TOKENS.json is a list of token-id lists (aft's tokenisation, so both sides see the same ids). The
control vector is read as llama.cpp's own loader reads it (common_control_vector_load: one F32
`direction.N` per layer, stored at offset n_embd·(N−1)) and applied with llama_set_adapter_cvec
(llama_apply_adapter_cvec in older releases) over layers 1…n_layer−1, the range llama.cpp's
--control-vector uses. OUT.json: {"base": [[logits of the last position] per prompt], "steered": […]}.
"""
import ctypes, json, sys
import numpy as np
import llama_cpp
from gguf import GGUFReader

model, cvec, tokens_path, out = sys.argv[1:5]
prompts = json.load(open(tokens_path))
llm = llama_cpp.Llama(model_path=model, n_ctx=512, logits_all=True, verbose=False, n_threads=2, n_batch=512)
ctx = llm._ctx.ctx
n_embd, n_layer = llm.n_embd(), llama_cpp.llama_model_n_layer(llm._model.model) if hasattr(llama_cpp, "llama_model_n_layer") else llama_cpp.llama_n_layer(llm._model.model)
apply = getattr(llama_cpp, "llama_set_adapter_cvec", None) or llama_cpp.llama_apply_adapter_cvec


def last_logits(ids):
    llm.reset()
    llm.eval(ids)
    return [float(x) for x in llm.scores[len(ids) - 1]]


result = {"base": [last_logits(p) for p in prompts]}
if cvec != "-":
    r = GGUFReader(cvec)
    data = np.zeros(n_embd * n_layer, dtype=np.float32)
    for t in r.tensors:
        layer = int(t.name.split(".")[1])
        data[n_embd * (layer - 1): n_embd * layer] += np.asarray(t.data, dtype=np.float32).reshape(-1)
    buf = (ctypes.c_float * len(data))(*data)
    rc = apply(ctx, buf, len(data), n_embd, 1, n_layer - 1)
    assert rc == 0, f"llama.cpp refused the control vector (rc={rc})"
    result["steered"] = [last_logits(p) for p in prompts]
json.dump(result, open(out, "w"))
