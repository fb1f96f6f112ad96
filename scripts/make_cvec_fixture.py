#!/usr/bin/env python3
"""Writes Tests/EngineTests/Fixtures/cvec/tiny-llama-cvec.gguf: a llama.cpp control vector for the
tiny llama fixture (hidden 64, 3 layers) written the way repeng's ControlVector.export_gguf writes
one (gguf-py's GGUFWriter, architecture `controlvector`, one F32 `direction.N` per layer), with
values value[i] = 0.05 * N * sin(i + N) that the test recomputes.

    python3 scripts/make_cvec_fixture.py        (needs numpy and gguf)
"""
import os
import numpy as np
import gguf

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "EngineTests", "Fixtures", "cvec", "tiny-llama-cvec.gguf")
w = gguf.GGUFWriter(out, "controlvector")
w.add_string("controlvector.model_hint", "llama")
w.add_uint32("controlvector.layer_count", 2)
for layer in (1, 2):
    w.add_tensor(f"direction.{layer}", (0.05 * layer * np.sin(np.arange(64) + layer)).astype(np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(out)
