#!/usr/bin/python3
"""gen_ref.py -- writes tests/ref/ref_gpt.safetensors, the PyTorch reference
for tests/test_ref.c.

It builds lorascope's GPT (DESIGN.md section 3: pre-LN, learned positions,
causal multi-head attention with separate q/k/v/o, GELU-tanh MLP 4C, final
LN, LM head tied to wte) in plain torch ops, in float64, with seeded random
weights and a LoRA adapter on all six targets of both layers (per-target
ranks, B non-zero), and records:

  model tensors     wte.weight, h.{l}.attn.q_proj.weight, ... (F32, the names
                    and shapes lorascope's model files use; config in the
                    __metadata__ like lsc_gpt_save writes it)
  lora.<module>.lora_A / .lora_B        the adapter (F32)
  inputs, targets (I32 [B,T]), mask (F32 [B,T])
  base.logits, base.loss                the base model
  full.grad.<tensor>                    d loss / d every base weight
  lora.logits, lora.loss                base + adapter (scale alpha/r)
  lora.grad.<module>.lora_A / .lora_B   d loss / d A, B (base frozen)

Run with Debian's python3-torch (1.13): /usr/bin/python3 tests/ref/gen_ref.py
The C test reads only the committed file; it never needs torch. The file is
written by hand (the safetensors layout is simple), sorted by name, so the
output is byte-identical for the same torch/numpy versions.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

FORMAT_VERSION = "1"
L, NH, C, NCTX, V = 2, 2, 32, 8, 64
B, T = 2, 8
ALPHA = 8.0
RANKS = {"q_proj": 4, "k_proj": 2, "v_proj": 4, "o_proj": 3, "fc_in": 2, "fc_out": 3}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "fc_in", "fc_out"]


def module_path(l, t):
    return "h.%d.%s.%s" % (l, "attn" if t.endswith("_proj") else "mlp", t)


def shapes():
    """Name -> shape of every base tensor, in lorascope's naming."""
    s = {"wte.weight": (V, C), "wpe.weight": (NCTX, C)}
    for l in range(L):
        p = "h.%d." % l
        s[p + "ln_1.weight"] = (C,)
        s[p + "ln_1.bias"] = (C,)
        for t in ("q_proj", "k_proj", "v_proj", "o_proj"):
            s[p + "attn.%s.weight" % t] = (C, C)
            s[p + "attn.%s.bias" % t] = (C,)
        s[p + "ln_2.weight"] = (C,)
        s[p + "ln_2.bias"] = (C,)
        s[p + "mlp.fc_in.weight"] = (4 * C, C)
        s[p + "mlp.fc_in.bias"] = (4 * C,)
        s[p + "mlp.fc_out.weight"] = (C, 4 * C)
        s[p + "mlp.fc_out.bias"] = (C,)
    s["ln_f.weight"] = (C,)
    s["ln_f.bias"] = (C,)
    return s


def make_weights(rng):
    """High-entropy weights (larger than GPT-2's init so every path matters).
    Rounded to float32 first: the C model holds exactly these values."""
    P = {}
    for name, shp in shapes().items():
        if len(shp) == 2:
            w = rng.normal(0.0, 0.3 if name.startswith(("wte", "wpe")) else 0.2, shp)
        elif name.endswith("weight"):   # LayerNorm gain
            w = 1.0 + rng.uniform(-0.2, 0.2, shp)
        else:
            w = rng.uniform(-0.1, 0.1, shp)
        P[name] = w.astype(np.float32)
    A, Bm = {}, {}
    for l in range(L):
        for t in TARGETS:
            r = RANKS[t]
            out_f, in_f = shapes()[module_path(l, t) + ".weight"]
            bound = 1.0 / math.sqrt(in_f)          # kaiming_uniform_(a=sqrt(5))
            A[module_path(l, t)] = rng.uniform(-bound, bound, (r, in_f)).astype(np.float32)
            Bm[module_path(l, t)] = rng.normal(0.0, 0.2, (out_f, r)).astype(np.float32)
    return P, A, Bm


def forward(P, lora, inp, tgt, mask):
    """lorascope's GPT in torch (float64). lora: None or (A, B) dicts."""
    hs = C // NH

    def lin(x, l, t):
        name = module_path(l, t)
        y = F.linear(x, P[name + ".weight"], P[name + ".bias"])
        if lora is not None:
            A, Bm = lora
            y = y + (x @ A[name].T @ Bm[name].T) * (ALPHA / RANKS[t])
        return y

    x = P["wte.weight"][inp] + P["wpe.weight"][:T]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = "h.%d." % l
        h = F.layer_norm(x, (C,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps=1e-5)
        q = lin(h, l, "q_proj").view(B, T, NH, hs).transpose(1, 2)
        k = lin(h, l, "k_proj").view(B, T, NH, hs).transpose(1, 2)
        v = lin(h, l, "v_proj").view(B, T, NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + lin(y, l, "o_proj")
        h = F.layer_norm(x, (C,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps=1e-5)
        h = F.gelu(lin(h, l, "fc_in"), approximate="tanh")
        x = x + lin(h, l, "fc_out")
    x = F.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"], eps=1e-5)
    logits = x @ P["wte.weight"].T
    ce = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), reduction="none")
    m = mask.reshape(-1)
    loss = (ce * m).sum() / m.sum()
    return logits, loss


def write_safetensors(path, tensors, meta):
    """tensors: name -> numpy array (float32 or int32)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype("float32"): "F32", np.dtype("int32"): "I32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "ref_gpt.safetensors")
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20240607)
    Pn, An, Bn = make_weights(rng)
    inp = rng.integers(0, V, (B, T)).astype(np.int32)
    tgt = rng.integers(0, V, (B, T)).astype(np.int32)
    mask = np.ones((B, T), np.float32)
    mask[0, :2] = 0.0          # a prompt that does not count
    mask[1, 5] = 0.0

    ti, tt, tm = torch.tensor(inp, dtype=torch.long), torch.tensor(tgt, dtype=torch.long), torch.tensor(mask, dtype=torch.float64)
    out_t = {}
    # base model, every weight trainable
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in Pn.items()}
    logits, loss = forward(P, None, ti, tt, tm)
    loss.backward()
    out_t["base.logits"] = logits.detach().numpy().astype(np.float32)
    out_t["base.loss"] = np.array([loss.item()], np.float32)
    for k, v in P.items():
        out_t["full.grad." + k] = v.grad.numpy().astype(np.float32)
    # LoRA, base frozen
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in Pn.items()}
    A = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in An.items()}
    Bm = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in Bn.items()}
    logits, loss = forward(P, (A, Bm), ti, tt, tm)
    loss.backward()
    out_t["lora.logits"] = logits.detach().numpy().astype(np.float32)
    out_t["lora.loss"] = np.array([loss.item()], np.float32)
    for k in An:
        out_t["lora.%s.lora_A" % k] = An[k]
        out_t["lora.%s.lora_B" % k] = Bn[k]
        out_t["lora.grad.%s.lora_A" % k] = A[k].grad.numpy().astype(np.float32)
        out_t["lora.grad.%s.lora_B" % k] = Bm[k].grad.numpy().astype(np.float32)
    out_t.update(Pn)
    out_t["inputs"], out_t["targets"], out_t["mask"] = inp, tgt, mask
    meta = {
        "format": "pt", "lsc_format": "lorascope-gpt", "lsc_format_version": "1",
        "lsc_ref_version": FORMAT_VERSION,
        "n_layer": str(L), "n_head": str(NH), "n_embd": str(C), "n_ctx": str(NCTX), "vocab_size": str(V),
        "batch": str(B), "time": str(T), "lora_alpha": repr(ALPHA),
        "lora_ranks": json.dumps(RANKS, sort_keys=True),
        "generator": "tests/ref/gen_ref.py, torch %s, numpy %s, float64" % (torch.__version__, np.__version__),
    }
    write_safetensors(out, out_t, meta)
    print("wrote %s (%d bytes): base loss %.6f, lora loss %.6f" %
          (out, os.path.getsize(out), out_t["base.loss"][0], out_t["lora.loss"][0]))


if __name__ == "__main__":
    main()
