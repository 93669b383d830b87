#!/usr/bin/python3
"""make_adapters.py — synthetic PEFT LoRA adapters and base models for the
analysis tests, written with numpy only (the safetensors bytes are put
together here: 8-byte little-endian header length, JSON header, data; no
torch, no safetensors package).

Usage:
  make_adapters.py suite DIR
      the test fixtures: adapters a8, a4, f16, rslora, zeroB, nanA, badr,
      noconfig, shape, onlyshape, r64 (r above the dimension), fanin, the
      known answers of the null tests (planted1, planted2: independent
      adapters sharing one planted top direction per module in A's rows and
      B's columns; alignW: dW built from base_a's own top-8 singular
      vectors; gauss8: Gaussian A and B) and the bases base_a.safetensors
      (for a8/f16/zeroB/...) and base_fanin.safetensors (BF16, GPT-2 Conv1D
      layout).
  make_adapters.py kinds DIR
      one adapter per kind issue 14 reads, in PEFT's documented key forms
      (peft/utils/save_and_load.py, peft/tuners/lora/layer.py) and kohya's
      (sd-scripts networks/lora.py): dora (use_dora, lora_magnitude_vector
      in both its saved forms), emb (lora_embedding_A/B), conv (PEFT
      Conv2d + Conv1d), kohya.safetensors (lora_down/lora_up/alpha, Linear
      and 3x3 conv, one module without alpha), mts (modules_to_save: full
      lm_head and embed_tokens), named (keys with ".default."), keys2 (two
      adapter names in one file), multi (the default at the top and
      "french" in a subfolder), mixed (F32/BF16/F16 in one file, rsLoRA,
      rank_pattern, alpha_pattern), and the refusals ia3, loha, pickle,
      lycoris.safetensors. kinds.json beside them lists, per adapter and
      module, the scaling this writer used.
  make_adapters.py hostile-names DIR
      DIR/adapter (issue 15): a PEFT adapter whose module names carry a
      newline, ESC[2J, a C1 CSI (U+009B) and <script>; its metadata and
      base_model_name_or_path carry the same. Printing them raw would
      rewrite a terminal or inject HTML.
  make_adapters.py kinds-base OUT.safetensors
      the base the kinds adapters emb, conv, mts and dora are analysed against
      (kinds_base): wte [50, 12] (the [vocab, dim] table of emb's embedding
      LoRA), h.0.attn.q_proj [12, 12], the kernels unet.conv_in [8, 3, 3, 3]
      and audio.conv1 [7, 6, 5], model.layers.0.self_attn.q_proj [6, 6],
      lm_head [9, 6] (two rows fewer than mts's: two added tokens) and
      model.embed_tokens [11, 6] (F16), h.1.attn.q_proj [6, 5]; h.0.attn.q_proj
      is [12, 12] for emb, so dora's h.0 module does not match it.
  make_adapters.py gpt2-base OUT.safetensors [--layers 12] [--kind spiked|gauss]
                   [--seed 0]
      a random base with GPT-2 small's names and shapes for the modules the
      GPT-2 fixture adapts: transformer.h.{l}.attn.c_attn.weight [768, 2304],
      attn.c_proj.weight [768, 768], mlp.c_proj.weight [3072, 768] (Conv1D
      layout: [in, out]) plus their biases. kind=gauss: N(0, 0.02²);
      kind=spiked (default): that plus a decaying rank-32 component, so the
      top singular directions stand out as in trained weights.

Also imported by tests/test_analysis_oracle.py (write_safetensors,
read_safetensors, write_adapter, sha256_path).
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np

# ---- safetensors ----

_DT = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2), "F64": ("<f8", 8)}


def _to_bytes(arr, dtype):
    a = np.ascontiguousarray(arr)
    if dtype == "BF16":
        f = a.astype("<f4")
        u = f.view("<u4").astype(np.uint64)
        # round to nearest even on the upper 16 bits
        rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    return a.astype(_DT[dtype][0]).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, array, dtype) in any order; written sorted by
    name (all our dtypes share an alignment class)."""
    header = {}
    blobs = []
    off = 0
    for name, arr, dtype in sorted(tensors, key=lambda t: t[0]):
        b = _to_bytes(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(np.shape(arr)),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata is not None:
        header["__metadata__"] = metadata
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """{name: float64 array} for F32/F16/BF16/F64 tensors."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype("<u4") << 16
            arr = u.view("<f4")
        else:
            arr = np.frombuffer(raw, dtype=_DT[dt][0])
        out[name] = arr.astype(np.float64).reshape(info["shape"])
    return out


def sha256_path(path):
    """lsc_sha256_path: a file's sha256, or for a directory the sha256 of
    every regular file sorted by name, hashed as name + NUL + bytes; an
    adapter directory (one holding adapter_config.json) over its two PEFT
    files only."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        adapter = os.path.isfile(os.path.join(path, "adapter_config.json"))
        for name in sorted(os.listdir(path)):
            p = os.path.join(path, name)
            if name.startswith("."):
                continue
            if adapter and name not in ("adapter_config.json", "adapter_model.safetensors"):
                continue
            if os.path.isfile(p):
                h.update(name.encode() + b"\0")
                with open(p, "rb") as f:
                    h.update(f.read())
    else:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


# ---- adapters ----

def write_adapter(d, modules, r, alpha, dtype="F32", fan_in_fan_out=False,
                  target_modules=None, use_rslora=False, rank_pattern=None,
                  alpha_pattern=None, extra=None, config=True, config_r=None):
    """modules: {name: (A (r_m, k), B (d, r_m))}."""
    os.makedirs(d, exist_ok=True)
    tensors = []
    for name, (A, B) in modules.items():
        tensors.append(("base_model.model.%s.lora_A.weight" % name, A, dtype))
        tensors.append(("base_model.model.%s.lora_B.weight" % name, B, dtype))
    for name, arr in (extra or {}).items():
        tensors.append((name, arr, dtype))
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, {"format": "pt"})
    if not config:
        return
    cfg = {
        "alpha_pattern": alpha_pattern or {},
        "auto_mapping": None,
        "base_model_name_or_path": "synthetic",
        "bias": "none",
        "fan_in_fan_out": fan_in_fan_out,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": config_r if config_r is not None else r,
        "rank_pattern": rank_pattern or {},
        "revision": None,
        "target_modules": target_modules or sorted({n.split(".")[-1] for n in modules}),
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": use_rslora,
    }
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def lora_pair(rng, d, k, r, scale_b=0.05):
    """A like PEFT's Kaiming-uniform init, B as if trained a little."""
    A = rng.uniform(-1.0, 1.0, size=(r, k)) / np.sqrt(k)
    B = rng.normal(0.0, scale_b, size=(d, r))
    return A.astype(np.float32), B.astype(np.float32)


C = 48  # channels of the synthetic model


def synth_modules(seed, r, layers=2, r_v=None, fc_k=4 * C):
    rng = np.random.default_rng(seed)
    mods = {}
    for l in range(layers):
        mods["h.%d.attn.q_proj" % l] = lora_pair(rng, C, C, r)
        mods["h.%d.attn.v_proj" % l] = lora_pair(rng, C, C, r_v or r)
    mods["h.0.mlp.fc_in"] = lora_pair(rng, fc_k, C, r)
    mods["h.0.mlp.fc_out"] = lora_pair(rng, C, fc_k, r)
    return mods


def planted_modules(seed, r, strength=6.0):
    """Like synth_modules(seed, r), plus one shared top direction per module
    (drawn from a fixed stream, so the same for every seed): A's first row
    and B's first column get strength times a unit vector, so A's top
    right-singular and B's top left-singular vectors are (nearly) it."""
    mods = synth_modules(seed, r)
    shared = np.random.default_rng(99)
    out = {}
    for name in sorted(mods):
        A, B = (x.astype(np.float64) for x in mods[name])
        w = shared.normal(size=A.shape[1])
        u = shared.normal(size=B.shape[0])
        A[0] += strength * w / np.linalg.norm(w)
        B[:, 0] += strength * u / np.linalg.norm(u)
        out[name] = (A.astype(np.float32), B.astype(np.float32))
    return out


def aligned_modules(base, r, prefix="transformer."):
    """dW = s·U_r·diag(σ_r)·V_rᵀ from each base weight's own top-r singular
    triplets (base: {name: W (d, k)}): B = U_r·sqrt(σ), A = sqrt(σ)·V_rᵀ."""
    out = {}
    for name, W in base.items():
        U, S, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
        sq = np.sqrt(S[:r])
        out[name[len(prefix):]] = ((sq[:, None] * Vt[:r]).astype(np.float32),
                                   (U[:, :r] * sq).astype(np.float32))
    return out


def synth_base(seed, names_shapes, prefix="transformer."):
    rng = np.random.default_rng(seed)
    t = []
    for name, (d, k) in names_shapes.items():
        W = rng.normal(0.0, 0.02, size=(d, k))
        # a few strong directions, as in trained weights
        for i in range(4):
            u = rng.normal(size=d)
            v = rng.normal(size=k)
            W += (0.5 * 0.6 ** i) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        t.append((prefix + name + ".weight", W.astype(np.float32), "F32"))
        t.append((prefix + name + ".bias", np.zeros(d, np.float32), "F32"))
    return t


def suite(out):
    os.makedirs(out, exist_ok=True)
    j = os.path.join
    a8 = synth_modules(1, 8)
    write_adapter(j(out, "a8"), a8, 8, 16)
    write_adapter(j(out, "a4"), synth_modules(2, 4), 4, 8)
    write_adapter(j(out, "f16"), synth_modules(3, 8), 8, 16, dtype="F16")
    # rsLoRA with rank_pattern/alpha_pattern: v_proj has r = 4, alpha 6
    write_adapter(j(out, "rslora"), synth_modules(4, 8, r_v=4), 8, 16, use_rslora=True,
                  rank_pattern={"v_proj": 4}, alpha_pattern={"v_proj": 6})
    z = dict(synth_modules(5, 8))
    A, B = z["h.1.attn.v_proj"]
    z["h.1.attn.v_proj"] = (A, np.zeros_like(B))
    write_adapter(j(out, "zeroB"), z, 8, 16)
    nn = dict(synth_modules(6, 8))
    A, B = nn["h.0.attn.q_proj"]
    A = A.copy()
    A[2, 3] = np.nan
    nn["h.0.attn.q_proj"] = (A, B)
    write_adapter(j(out, "nanA"), nn, 8, 16)
    write_adapter(j(out, "badr"), synth_modules(7, 8), 8, 16, config_r=4)
    write_adapter(j(out, "noconfig"), synth_modules(8, 8), 8, 16, config=False)
    # r = 64 > 48 = the dimension of most of its modules' spaces
    write_adapter(j(out, "r64"), synth_modules(14, 64, layers=1), 64, 64)
    # same names as a8, but fc_in reads 64 inputs and fc_out writes 64 outputs
    sh = dict(synth_modules(9, 8))
    rng = np.random.default_rng(10)
    sh["h.0.mlp.fc_in"] = lora_pair(rng, 4 * C, 64, 8)
    sh["h.0.mlp.fc_out"] = lora_pair(rng, 64, 4 * C, 8)
    write_adapter(j(out, "shape"), sh, 8, 16)
    # only shape-mismatched modules in common with a8's fc_in
    write_adapter(j(out, "onlyshape"), {"h.0.mlp.fc_in": sh["h.0.mlp.fc_in"]}, 8, 16)
    # GPT-2 style: fan_in_fan_out, module names with "transformer.", fused c_attn
    rng = np.random.default_rng(11)
    fm = {}
    for l in range(2):
        fm["transformer.h.%d.attn.c_attn" % l] = lora_pair(rng, 3 * C, C, 8)
        fm["transformer.h.%d.attn.c_proj" % l] = lora_pair(rng, C, C, 8)
        fm["transformer.h.%d.mlp.c_proj" % l] = lora_pair(rng, C, 4 * C, 8)
    write_adapter(j(out, "fanin"), fm, 8, 32, fan_in_fan_out=True,
                  target_modules=["c_attn", "c_proj"],
                  extra={"base_model.model.score.weight": np.ones((2, C), np.float32)})
    # bases: base_a has "transformer." in front of the adapter's names
    shapes = {}
    for name, (A, B) in a8.items():
        shapes[name] = (B.shape[0], A.shape[1])
    base_a = synth_base(12, shapes)
    write_safetensors(j(out, "base_a.safetensors"), base_a, {"format": "pt"})
    # the null tests' known answers
    write_adapter(j(out, "planted1"), planted_modules(15, 8), 8, 16)
    write_adapter(j(out, "planted2"), planted_modules(16, 8), 8, 16)
    weights = {n[:-len(".weight")]: W for n, W, _ in base_a if n.endswith(".weight")}
    write_adapter(j(out, "alignW"), aligned_modules(weights, 8), 8, 16)
    rng = np.random.default_rng(17)
    g8 = {n: (rng.normal(size=A.shape).astype(np.float32), rng.normal(size=B.shape).astype(np.float32))
          for n, (A, B) in sorted(a8.items())}
    write_adapter(j(out, "gauss8"), g8, 8, 16)
    # base_fanin: Conv1D layout [in, out], names without "transformer.", BF16
    rng = np.random.default_rng(13)
    t = []
    for name, (A, B) in fm.items():
        d, k = B.shape[0], A.shape[1]
        W = rng.normal(0.0, 0.02, size=(d, k))
        u, v = rng.normal(size=d), rng.normal(size=k)
        W += 0.3 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        short = name[len("transformer."):]
        t.append((short + ".weight", W.T.astype(np.float32), "BF16"))
    write_safetensors(j(out, "base_fanin.safetensors"), t, {"format": "pt"})


def gpt2_base(path, layers=12, kind="spiked", seed=0):
    """Streams a random GPT-2 small base (only the adapted weights)."""
    C2 = 768
    shapes = {"attn.c_attn": (C2, 3 * C2), "attn.c_proj": (C2, C2), "mlp.c_proj": (4 * C2, C2)}
    rng = np.random.default_rng(seed)
    tensors = []
    for l in range(layers):
        for name, (k, d) in shapes.items():   # Conv1D: weight [in, out]
            W = rng.normal(0.0, 0.02, size=(k, d)).astype(np.float32)
            if kind == "spiked":
                q = 32
                U, _ = np.linalg.qr(rng.normal(size=(k, q)))
                V, _ = np.linalg.qr(rng.normal(size=(d, q)))
                s = 12.0 * 0.85 ** np.arange(q)
                W += ((U * s) @ V.T).astype(np.float32)
            tensors.append(("transformer.h.%d.%s.weight" % (l, name), W, "F32"))
            tensors.append(("transformer.h.%d.%s.bias" % (l, name), np.zeros(d, np.float32), "F32"))
    write_safetensors(path, tensors, {"format": "pt", "note": "random GPT-2-shaped base (%s)" % kind})


# ---- issue 14: every kind of adapter ----

def peft_config(**over):
    cfg = {"alpha_pattern": {}, "base_model_name_or_path": "synthetic", "bias": "none",
           "fan_in_fan_out": False, "inference_mode": True, "lora_alpha": 16, "lora_dropout": 0.0,
           "modules_to_save": None, "peft_type": "LORA", "r": 4, "rank_pattern": {},
           "target_modules": ["q_proj"], "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False}
    cfg.update(over)
    return cfg


def write_peft(d, tensors, **over):
    """tensors: [(key, array, dtype)] written as they are (keys in full)."""
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(peft_config(**over), f, indent=2, sort_keys=True)


def kinds(out):
    rng = np.random.default_rng(14)
    P = "base_model.model."
    scales = {}

    def lin(name, d, k, r, keyname="", dt="F32"):
        A, B = lora_pair(rng, d, k, r, scale_b=0.3)
        nm = "." + keyname if keyname else ""
        return [(P + name + ".lora_A%s.weight" % nm, A, dt), (P + name + ".lora_B%s.weight" % nm, B, dt)]

    # DoRA: old saved form ...lora_magnitude_vector and newer ...lora_magnitude_vector.weight
    t = lin("h.0.attn.q_proj", 6, 5, 4) + lin("h.1.attn.q_proj", 6, 5, 4)
    t.append((P + "h.0.attn.q_proj.lora_magnitude_vector", rng.uniform(0.5, 2, 6).astype(np.float32), "F32"))
    t.append((P + "h.1.attn.q_proj.lora_magnitude_vector.weight", rng.uniform(0.5, 2, 6).astype(np.float32), "F32"))
    write_peft(os.path.join(out, "dora"), t, use_dora=True)
    # embedding LoRA: lora_embedding_A [r, vocab], lora_embedding_B [dim, r] (ParameterDict: no ".weight")
    t = [(P + "wte.lora_embedding_A", rng.normal(0, 1, (4, 50)).astype(np.float32), "F32"),
         (P + "wte.lora_embedding_B", rng.normal(0, 1, (12, 4)).astype(np.float32), "F32")]
    t += lin("h.0.attn.q_proj", 12, 12, 4)
    write_peft(os.path.join(out, "emb"), t, target_modules=["wte", "q_proj"])
    scales["emb"] = {"wte": 4.0, "h.0.attn.q_proj": 4.0}
    # PEFT Conv2d (3x3) and Conv1d (k=5): lora_A [r, in, k...], lora_B [out, r, 1...]
    t = [(P + "unet.conv_in.lora_A.weight", rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32), "F32"),
         (P + "unet.conv_in.lora_B.weight", rng.normal(0, 1, (8, 4, 1, 1)).astype(np.float32), "F32"),
         (P + "audio.conv1.lora_A.weight", rng.normal(0, 1, (4, 6, 5)).astype(np.float32), "F32"),
         (P + "audio.conv1.lora_B.weight", rng.normal(0, 1, (7, 4, 1)).astype(np.float32), "F32")]
    write_peft(os.path.join(out, "conv"), t, target_modules=["conv_in", "conv1"], lora_alpha=8)
    scales["conv"] = {"unet.conv_in": 2.0, "audio.conv1": 2.0}
    # kohya: Linear (alpha 8, r 4), 3x3 conv (alpha 2, r 2), Linear without alpha (scale 1)
    t = [("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", rng.normal(0, 1, (4, 10)), "F16"),
         ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", rng.normal(0, 1, (9, 4)), "F16"),
         ("lora_te_text_model_encoder_layers_0_mlp_fc1.alpha", np.array(8.0), "F16"),
         ("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", rng.normal(0, 1, (2, 3, 3, 3)), "F32"),
         ("lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", rng.normal(0, 1, (5, 2, 1, 1)), "F32"),
         ("lora_unet_down_blocks_0_resnets_0_conv1.alpha", np.array(1.0), "F32"),
         ("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", rng.normal(0, 1, (3, 6)), "BF16"),
         ("lora_unet_mid_block_attentions_0_proj_in.lora_up.weight", rng.normal(0, 1, (6, 3)), "BF16")]
    write_safetensors(os.path.join(out, "kohya.safetensors"), t, {"ss_network_dim": "4"})
    scales["kohya.safetensors"] = {"lora_te_text_model_encoder_layers_0_mlp_fc1": 2.0,
                                   "lora_unet_down_blocks_0_resnets_0_conv1": 0.5,
                                   "lora_unet_mid_block_attentions_0_proj_in": 1.0}
    # modules_to_save as save_pretrained writes them: "modules_to_save." and ".default" removed
    t = lin("model.layers.0.self_attn.q_proj", 6, 6, 4)
    t += [(P + "lm_head.weight", rng.normal(0, 1, (11, 6)).astype(np.float32), "F32"),
          (P + "model.embed_tokens.weight", rng.normal(0, 1, (11, 6)).astype(np.float32), "BF16")]
    write_peft(os.path.join(out, "mts"), t, modules_to_save=["lm_head", "embed_tokens"])
    scales["mts"] = {"model.layers.0.self_attn.q_proj": 4.0}
    # adapter names in keys (a model.state_dict() saved as is)
    write_peft(os.path.join(out, "named"), lin("h.0.attn.q_proj", 6, 5, 4, "default"))
    scales["named"] = {"h.0.attn.q_proj": 4.0}
    write_peft(os.path.join(out, "keys2"), lin("h.0.attn.q_proj", 6, 5, 4, "default") +
               lin("h.0.attn.q_proj", 6, 5, 4, "french"))
    scales["keys2:french"] = {"h.0.attn.q_proj": 4.0}
    # several adapters saved by save_pretrained: the default at the top, others in subfolders
    write_peft(os.path.join(out, "multi"), lin("h.0.attn.q_proj", 6, 5, 4))
    write_peft(os.path.join(out, "multi", "french"), lin("h.0.attn.q_proj", 6, 5, 2), r=2, lora_alpha=6)
    scales["multi:default"] = {"h.0.attn.q_proj": 4.0}
    scales["multi:french"] = {"h.0.attn.q_proj": 3.0}
    # F32/BF16/F16 in one file, rsLoRA, rank_pattern and alpha_pattern
    t = lin("h.0.attn.q_proj", 6, 5, 4, dt="F32") + lin("h.0.attn.v_proj", 6, 5, 2, dt="BF16") + \
        lin("h.0.mlp.fc", 8, 5, 4, dt="F16")
    write_peft(os.path.join(out, "mixed"), t, use_rslora=True, rank_pattern={"v_proj": 2},
               alpha_pattern={"mlp.fc": 2}, target_modules=["q_proj", "v_proj", "fc"])
    scales["mixed"] = {"h.0.attn.q_proj": 16 / 2.0, "h.0.attn.v_proj": 16 / np.sqrt(2), "h.0.mlp.fc": 2 / 2.0}
    # refusals
    write_peft(os.path.join(out, "ia3"), lin("h.0.attn.q_proj", 6, 5, 4), peft_type="IA3")
    write_peft(os.path.join(out, "loha"), lin("h.0.attn.q_proj", 6, 5, 4), peft_type="LOHA")
    os.makedirs(os.path.join(out, "pickle"), exist_ok=True)
    with open(os.path.join(out, "pickle", "adapter_config.json"), "w") as f:
        json.dump(peft_config(), f)
    with open(os.path.join(out, "pickle", "adapter_model.bin"), "wb") as f:
        f.write(b"\x80\x02}q\x00.")   # a pickle: must never be unpickled
    write_safetensors(os.path.join(out, "lycoris.safetensors"),
                      [("lora_unet_x.hada_w1_a", rng.normal(0, 1, (4, 4)), "F32"),
                       ("lora_unet_x.lora_down.weight", rng.normal(0, 1, (4, 4)), "F32"),
                       ("lora_unet_x.lora_up.weight", rng.normal(0, 1, (4, 4)), "F32")])
    with open(os.path.join(out, "kinds.json"), "w") as f:
        json.dump(scales, f, indent=1, sort_keys=True)


HOSTILE = "\n\x1b[2J\u009b31m<script>alert(1)</script>\x07"


def hostile_names(out):
    rng = np.random.default_rng(15)
    mods = {
        "h.0.attn.q_proj": lora_pair(rng, C, C, 4),
        "h.1.evil%s.v_proj" % HOSTILE: lora_pair(rng, C, C, 4),
    }
    d = os.path.join(out, "adapter")
    write_adapter(d, mods, 4, 8.0, target_modules=["q_proj", "v_proj"])
    st = os.path.join(d, "adapter_model.safetensors")
    tensors = [(n, a, "F32") for n, a in read_safetensors(st).items()]
    write_safetensors(st, tensors, {"format": "pt", "note" + HOSTILE: "x" + HOSTILE})
    cfg_path = os.path.join(d, "adapter_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = "base" + HOSTILE
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def kinds_base(path, seed=0):
    """The base of kinds' emb, conv and mts (see the usage); {name: array}."""
    rng = np.random.default_rng(seed)
    shapes = {"wte": (50, 12), "h.0.attn.q_proj": (12, 12), "unet.conv_in": (8, 3, 3, 3),
              "audio.conv1": (7, 6, 5), "model.layers.0.self_attn.q_proj": (6, 6), "lm_head": (9, 6),
              "model.embed_tokens": (11, 6), "h.1.attn.q_proj": (6, 5)}
    w = {n: rng.normal(0, 1, s).astype(np.float32) for n, s in shapes.items()}
    write_safetensors(path, [(n + ".weight", a, "F16" if n == "model.embed_tokens" else "F32")
                             for n, a in w.items()], {"format": "pt"})
    return w


def main(argv):
    if len(argv) >= 3 and argv[1] == "suite":
        suite(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "hostile-names":
        hostile_names(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "kinds":
        kinds(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "kinds-base":
        kinds_base(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "gpt2-base":
        opts = {"--layers": "12", "--kind": "spiked", "--seed": "0"}
        i = 3
        while i < len(argv):
            if argv[i] not in opts or i + 1 >= len(argv):
                print("make_adapters.py: bad option %s" % argv[i], file=sys.stderr)
                return 2
            opts[argv[i]] = argv[i + 1]
            i += 2
        gpt2_base(argv[2], int(opts["--layers"]), opts["--kind"], int(opts["--seed"]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
