#!/usr/bin/env python3
"""The seed's steering method in transformers: a forward hook adds v to the output of block L,
every step runs the full model on each (context + choice) sequence, and autograd gives dL/dv.

Used by make_fixtures.py (golden dL/dv for the real models) and bench_sweep.py (the baseline
the cached sweep is compared with). Loss: cross-entropy over the choices' log-likelihoods, each
divided by the choice's character count (aft's default `loss=choice norm=yes`)."""
import os, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

CACHE = os.environ.get("AFT_MODELS", str(Path.home() / ".cache/aft/models"))


def load(gguf):
    tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=gguf, dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return tok, model


def encode_pair(tok, ctx, cont):
    """lm-eval's _encode_pair with the tokenizer's default special tokens."""
    whole = tok(ctx + cont).input_ids
    c = tok(ctx).input_ids
    return c, whole[len(c):]


def decoder_layers(model):
    """The model's list of decoder blocks, whatever the architecture calls it."""
    for path in ("model.layers", "gpt_neox.layers", "transformer.h"):
        obj = model
        try:
            for part in path.split("."): obj = getattr(obj, part)
            return obj
        except AttributeError:
            continue
    raise ValueError(f"no decoder layers found in {type(model).__name__}")


class Steer:
    """Adds `self.v` to the output of decoder layer `layer` at every position."""
    def __init__(self, model, layer, v):
        self.v = v
        self.h = decoder_layers(model)[layer].register_forward_hook(self.hook)

    def hook(self, mod, inp, out):
        if isinstance(out, tuple):
            return (out[0] + self.v,) + tuple(out[1:])
        return out + self.v

    def remove(self):
        self.h.remove()


def choice_loss(model, tok, ctx, choices, gold):
    """(loss, per-choice log-likelihoods) with the current hooks, one full forward per choice."""
    lls = []
    for ch in choices:
        c, k = encode_pair(tok, ctx, " " + ch)
        ids = torch.tensor([c + k])
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
        ll = sum(logp[len(c) - 1 + j, t] for j, t in enumerate(k))
        lls.append(ll)
    ll = torch.stack(lls)
    z = ll / torch.tensor([float(len(ch)) for ch in choices])
    return -torch.log_softmax(z, 0)[gold], ll
