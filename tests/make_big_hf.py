#!/usr/bin/python3
"""make_big_hf.py — Hugging Face model folders for the tests of amplify and
quanterr on a folder base (tests/test_amplify_hf.sh), written with numpy
only through tests/make_adapters.py's safetensors writer.

Usage:
  make_big_hf.py folder SRC.safetensors OUT [--shards N] [--dtype F32|BF16]
                 [--drop NAME]
      the tensors of SRC as a Hugging Face folder OUT: config.json and
      model.safetensors (N = 1, default) or N shards
      model-0000i-of-0000N.safetensors (tensors dealt round-robin in name
      order) with model.safetensors.index.json; values converted to dtype
      (BF16: round to nearest even); --drop leaves tensor NAME out.
  make_big_hf.py bf16-file SRC.safetensors OUT.safetensors
      SRC's tensors rounded to BF16 and stored back as F32 (the values a
      BF16 folder holds, exactly).
  make_big_hf.py llama OUTDIR
      a small Llama-named F32 base OUTDIR/base.safetensors (model.embed_tokens,
      model.norm, per layer model.layers.L.{input_layernorm, self_attn.*_proj,
      mlp.*_proj}) and a PEFT adapter OUTDIR/adapter on q_proj, v_proj of
      every layer (names base_model.model.model.layers.L.self_attn.q_proj...).
  make_big_hf.py big OUTDIR [--hidden 1024] [--layers 8] [--ffn 2816]
                 [--vocab 32000] [--shards 3] [--rank 8]
      the memory benchmark: OUTDIR/model, a tied Llama-shaped BF16 folder
      of random weights (defaults: 135.5 M parameters, 271 MB) in N shards,
      and OUTDIR/adapter, PEFT rank-r LoRA on q_proj, v_proj of every layer.
      Prints "raw_bytes=B params=P".
  make_big_hf.py compare A.h5 B.h5
      every dataset and every numeric attribute under /modules of A and B
      identical (bit for bit; NaN equals NaN) and the same module groups.
      Prints "same N datasets, M attributes" or the first differences;
      exits 1 when they differ.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_adapters import lora_pair, read_safetensors, write_adapter, write_safetensors  # noqa: E402
from make_adapters import _to_bytes  # noqa: E402


def llama_config(C=16, L=2, F=40, V=50, NH=4, tied=True, dtype="float32"):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": C,
            "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": NH,
            "num_key_value_heads": NH, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "max_position_embeddings": 2048, "vocab_size": V, "tie_word_embeddings": tied,
            "torch_dtype": dtype}


def write_folder(d, cfg, tensors, shards=1):
    """tensors: [(name, array, dtype)]; config.json, then one file or
    shards files with the index."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
        return
    tensors = sorted(tensors, key=lambda t: t[0])
    wm, total = {}, 0
    for i in range(shards):
        g = tensors[i::shards]
        name = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(d, name), g, {"format": "pt"})
        for n, a, dt in g:
            wm[n] = name
            total += a.size * (2 if dt in ("BF16", "F16") else 4)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def bf16_round(a):
    u = np.frombuffer(_to_bytes(a.astype(np.float32), "BF16"), dtype="<u2").astype("<u4") << 16
    return u.view("<f4").reshape(a.shape)


def opt(argv, name, default):
    return type(default)(argv[argv.index(name) + 1]) if name in argv else default


# ---- commands ----

def cmd_folder(argv):
    src, out = argv[0], argv[1]
    dtype, shards, drop = opt(argv, "--dtype", "F32"), opt(argv, "--shards", 1), opt(argv, "--drop", "")
    ts = [(n, a.astype(np.float32), dtype) for n, a in sorted(read_safetensors(src).items()) if n != drop]
    write_folder(out, llama_config(dtype="bfloat16" if dtype == "BF16" else "float32"), ts, shards)


def cmd_bf16_file(argv):
    ts = [(n, bf16_round(a), "F32") for n, a in sorted(read_safetensors(argv[0]).items())]
    write_safetensors(argv[1], ts, {"format": "pt"})


def llama_names(L, C, F, V, tied):
    shapes = [("model.embed_tokens.weight", (V, C)), ("model.norm.weight", (C,))]
    if not tied:
        shapes.append(("lm_head.weight", (V, C)))
    for l in range(L):
        p = "model.layers.%d." % l
        shapes += [(p + "input_layernorm.weight", (C,)), (p + "post_attention_layernorm.weight", (C,)),
                   (p + "self_attn.q_proj.weight", (C, C)), (p + "self_attn.k_proj.weight", (C, C)),
                   (p + "self_attn.v_proj.weight", (C, C)), (p + "self_attn.o_proj.weight", (C, C)),
                   (p + "mlp.gate_proj.weight", (F, C)), (p + "mlp.up_proj.weight", (F, C)),
                   (p + "mlp.down_proj.weight", (C, F))]
    return shapes


def peft_qv(out, L, C, r, seed):
    rng = np.random.default_rng(seed)
    mods = {}
    for l in range(L):
        for m in ("q_proj", "v_proj"):
            mods["model.layers.%d.self_attn.%s" % (l, m)] = lora_pair(rng, C, C, r)
    write_adapter(out, mods, r, 2 * r, target_modules=["q_proj", "v_proj"])


def cmd_llama(argv):
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    L, C, F, V = 2, 32, 80, 50
    rng = np.random.default_rng(21)
    ts = []
    for n, s in llama_names(L, C, F, V, True):
        W = rng.normal(0.0, 0.02, size=s)
        if len(s) == 2:   # a few strong directions, as in trained weights
            for i in range(3):
                u, v = rng.normal(size=s[0]), rng.normal(size=s[1])
                W += (0.5 * 0.6 ** i) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        ts.append((n, W.astype(np.float32), "F32"))
    write_safetensors(os.path.join(out, "base.safetensors"), ts, {"format": "pt"})
    peft_qv(os.path.join(out, "adapter"), L, C, 4, 22)


def cmd_big(argv):
    out = argv[0]
    C, L, F = opt(argv, "--hidden", 1024), opt(argv, "--layers", 8), opt(argv, "--ffn", 2816)
    V, shards, r = opt(argv, "--vocab", 32000), opt(argv, "--shards", 3), opt(argv, "--rank", 8)
    rng = np.random.default_rng(5)
    shapes = llama_names(L, C, F, V, True)
    ts, params = [], 0
    for n, s in shapes:
        a = rng.standard_normal(s, dtype=np.float32)
        a *= np.float32(0.02)
        ts.append((n, a, "BF16"))
        params += a.size
    cfg = llama_config(C, L, F, V, NH=max(1, C // 64), tied=True, dtype="bfloat16")
    write_folder(os.path.join(out, "model"), cfg, ts, shards)
    peft_qv(os.path.join(out, "adapter"), L, C, r, 6)
    print("raw_bytes=%d params=%d" % (2 * params, params))


def h5_items(path):
    import h5py
    ds, at = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                if np.asarray(v).dtype.kind in "fiub":
                    at[name + "@" + k] = np.asarray(v)
            if isinstance(obj, h5py.Dataset):
                ds[name] = obj[()]
        f["modules"].visititems(visit)
    return ds, at


def cmd_compare(argv):
    (da, aa), (db, ab) = h5_items(argv[0]), h5_items(argv[1])
    diffs = sorted(set(da) ^ set(db)) + sorted(set(aa) ^ set(ab))
    for k in sorted(set(da) & set(db)):
        if not np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind == "f"):
            diffs.append(k)
    for k in sorted(set(aa) & set(ab)):
        if not np.array_equal(aa[k], ab[k], equal_nan=aa[k].dtype.kind == "f"):
            diffs.append(k + " %r %r" % (aa[k], ab[k]))
    if diffs or not da:
        print("differ (%d datasets): %s" % (len(da), "; ".join(diffs[:5])))
        return 1
    print("same %d datasets, %d attributes" % (len(da), len(aa)))
    return 0


def main(argv):
    cmds = {"folder": cmd_folder, "bf16-file": cmd_bf16_file, "llama": cmd_llama, "big": cmd_big,
            "compare": cmd_compare}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]](argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
