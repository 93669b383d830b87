#!/usr/bin/python3
"""test_model_hf.py — Llama-family models loaded from Hugging Face folders
(lib/model_hf.c) through the driver modes of $LSC_BUILD/tests/test_model_hf,
against tests/llama_ref.py (float64 numpy, RoPE layout "half").

Folders are written with numpy (tests/test_hf_folder.py's writer: BF16 by
round-to-nearest-even, shards model-0000i-of-0000n.safetensors behind
model.safetensors.index.json). Checks:
  - logits of `test_model_hf --logits` equal llama_ref's to 1e-4 relative
    (max |diff| / max |logit|) for: unsharded F32 untied with GQA and
    head_dim != hidden/heads; 3 BF16 shards tied (no head_dim key); Qwen2
    (q/k/v biases) in 2 F32 shards, GQA, untied; Mistral BF16 with a
    rotary_emb.inv_freq buffer (silently fine) and a tied lm_head equal to
    the embedding (ignored);
  - lsc_gpt_save_hf of a loaded model loads back bit for bit (--resave),
    unsharded and at a small shard_bytes (several shards, each holding at
    most shard_bytes of tensor data unless one tensor is larger, the
    index's total_size right);
  - every bad input exits 1 with one line holding the expected fragment:
    truncated shard, index naming a missing file, config/tensor shape
    mismatch, missing tensor, unsupported architecture, BF16 NaN, an
    unknown extra tensor (error; counted with --allow-extra), tied with a
    differing lm_head;
  - `lorascope generate` on a folder with 6 unknown tensors (and a RoPE
    inv_freq buffer, not counted) prints one warning naming the first four
    and counting the rest; without unknown tensors, no warning.
The llama2.c-layout round trip (rope_half 0 -> save_hf -> same logits)
is checked in C (build/tests/test_model_hf without arguments).

Memory (not in the default run; about a minute and 1 GB of /tmp):
    /usr/bin/python3 tests/test_model_hf.py --rss
writes a 168 M-parameter random BF16 folder in 4 shards (hidden 1024, 8
layers, intermediate 2816, vocab 32000, untied), loads it with
lsc_gpt_load_hf in a forked child and prints its peak RSS against the raw
tensor bytes and against the float buffer (check: < 1.15 x the buffer).

Prints one PASS/FAIL/SKIP line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check  # noqa: E402
from test_hf_folder import bf16_round, config, llama_tensors, write_folder  # noqa: E402
import hf_driver  # noqa: E402
import llama_ref  # noqa: E402

EXE = hf_driver.driver("test_model_hf")
TOKENS = [3, 17, 0, 29, 8, 8, 35, 1, 22, 49]


drive = functools.partial(hf_driver.drive, EXE)


def with_biases(cfg, ts, rng):
    """Qwen2's q/k/v biases added after each layer's projections."""
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    out = list(ts)
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d.self_attn." % l
        for w, n in (("q", cfg["num_attention_heads"]), ("k", cfg["num_key_value_heads"]),
                     ("v", cfg["num_key_value_heads"])):
            out.append((p + w + "_proj.bias", rng.standard_normal(n * hd, dtype=np.float32) * np.float32(0.1)))
    return out


def reference(cfg, ts, tied):
    """llama_ref's config and weights from HF tensors (as the loader sees them)."""
    d = dict(ts)
    L = cfg["num_hidden_layers"]

    def stack(leaf):
        return np.stack([d["model.layers.%d.%s" % (l, leaf)] for l in range(L)]).astype(np.float64)

    w = {"embed": d["model.embed_tokens.weight"].astype(np.float64), "attn_norm": stack("input_layernorm.weight"),
         "wq": stack("self_attn.q_proj.weight"), "wk": stack("self_attn.k_proj.weight"),
         "wv": stack("self_attn.v_proj.weight"), "wo": stack("self_attn.o_proj.weight"),
         "ffn_norm": stack("post_attention_layernorm.weight"), "w1": stack("mlp.gate_proj.weight"),
         "w2": stack("mlp.down_proj.weight"), "w3": stack("mlp.up_proj.weight"),
         "norm": d["model.norm.weight"].astype(np.float64)}
    w["lm_head"] = w["embed"] if tied else d["lm_head.weight"].astype(np.float64)
    bias = "model.layers.0.self_attn.q_proj.bias" in d
    if bias:
        w["bq"], w["bk"], w["bv"] = (stack("self_attn.%s_proj.bias" % x) for x in "qkv")
    c = {"n_layers": L, "n_heads": cfg["num_attention_heads"], "n_kv_heads": cfg["num_key_value_heads"],
         "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"],
         "rope_theta": cfg["rope_theta"], "rms_norm_eps": cfg["rms_norm_eps"], "rope": "half", "bias": bias}
    return llama_ref.Llama(c, w)


def norms_near_one(ts, rng):
    """RMSNorm weights 1 + noise (the writer draws them around 0)."""
    return [(n, (1 + rng.standard_normal(a.shape, dtype=np.float32) * np.float32(0.1)) if "norm" in n else a)
            for n, a in ts]


def compare(d, cfg, ts, tied, name, dtype):
    rc, out, err = drive("--logits", d, *TOKENS)
    if not check(rc == 0, "%s: loads (%s)" % (name, err.strip() or "ok")):
        return
    got = np.array([float(x) for x in out.split()]).reshape(len(TOKENS), cfg["vocab_size"])
    rnd = {"BF16": bf16_round, "F16": lambda a: a.astype(np.float16).astype(np.float32)}.get(dtype, lambda a: a)
    seen = [(n, rnd(a)) for n, a in ts]
    want = reference(cfg, seen, tied).logits(TOKENS)
    rel = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    check(rel <= 1e-4, "%s: logits = llama_ref's (max rel %.2g <= 1e-4)" % (name, rel))


def test_logits(T):
    rng = np.random.default_rng(11)
    cases = [("f32 unsharded untied GQA head_dim 6", config(head_dim=6, num_key_value_heads=2), False, "F32", 1, None),
             ("bf16 3 shards tied", config(tie_word_embeddings=True, num_key_value_heads=4), True, "BF16", 3, None),
             ("qwen2 biases 2 F32 shards GQA untied",
              config(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_theta=1e6), False, "F32", 2,
              "bias"),
             ("f16 2 shards untied MQA", config(num_key_value_heads=1), False, "F16", 2, None),
             ("mistral bf16 inv_freq + equal tied lm_head",
              config(architectures=["MistralForCausalLM"], model_type="mistral", tie_word_embeddings=True),
              True, "BF16", 1, "extras")]
    for name, cfg, tied, dtype, shards, extra in cases:
        ts = norms_near_one(llama_tensors(cfg, rng, scale=0.3, tied=tied), rng)
        if extra == "bias":
            ts = with_biases(cfg, ts, rng)
        write = list(ts)
        if extra == "extras":
            write += [("model.layers.0.self_attn.rotary_emb.inv_freq", np.ones(2, np.float32)),
                      ("lm_head.weight", dict(ts)["model.embed_tokens.weight"])]
        d = os.path.join(T, name.replace(" ", "_"))
        write_folder(d, cfg, write, dtype, shards)
        compare(d, cfg, ts, tied, name, dtype)
        if extra == "extras":
            rc, out, err = drive("--load", d)
            check(rc == 0 and "n_extra=0" in out.split() and "untied=0" in out.split(),
                  "%s: inv_freq and the equal lm_head are no extras (%s)" % (name, (out + err).split()))


def shard_data(d):
    """{shard file: bytes of tensor data} of a sharded folder, and the index."""
    ix = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    sizes = {}
    for f in sorted(set(ix["weight_map"].values())):
        with open(os.path.join(d, f), "rb") as fp:
            n = int.from_bytes(fp.read(8), "little")
            hdr = json.loads(fp.read(n))
        sizes[f] = [v["data_offsets"][1] - v["data_offsets"][0] for k, v in hdr.items() if k != "__metadata__"]
    return sizes, ix


def test_resave(T):
    rng = np.random.default_rng(3)
    cfg = config(architectures=["Qwen2ForCausalLM"], model_type="qwen2", num_key_value_heads=2)
    d = os.path.join(T, "src")
    write_folder(d, cfg, with_biases(cfg, llama_tensors(cfg, rng), rng), "BF16", 3)
    rc, out, err = drive("--resave", d, os.path.join(T, "one"), 1 << 30)
    check(rc == 0 and out.strip() == "same=1" and os.path.exists(os.path.join(T, "one", "model.safetensors")),
          "save_hf: one model.safetensors loads back bit for bit (%s)" % (out + err).strip())
    saved = json.load(open(os.path.join(T, "one", "config.json")))
    check(saved.get("architectures") == ["Qwen2ForCausalLM"] and saved.get("torch_dtype") == "float32" and
          saved.get("num_key_value_heads") == 2 and saved.get("tie_word_embeddings") is False,
          "save_hf: config.json says Qwen2, float32, 2 kv heads, untied")
    rc, out, err = drive("--resave", d, os.path.join(T, "many"), 4000)
    sizes, ix = shard_data(os.path.join(T, "many")) if rc == 0 else ({}, {})
    total = sum(sum(v) for v in sizes.values())
    check(rc == 0 and out.strip() == "same=1" and len(sizes) > 3, "save_hf: 4000-byte shards (%d) load back bit for "
          "bit (%s)" % (len(sizes), (out + err).strip()))
    over = [f for f, v in sizes.items() if sum(v) > 4000 and len(v) > 1]
    check(not over and ix.get("metadata", {}).get("total_size") == total and
          not os.path.exists(os.path.join(T, "many", "model.safetensors")),
          "save_hf: each shard <= 4000 bytes unless one tensor, total_size %s = %d" %
          (ix.get("metadata", {}).get("total_size"), total))


# ---- bad input ----

def expect_bad(d, needles, name):
    """`--load d` exits 1 with one line of stderr holding every needle."""
    rc, _, err = drive("--load", d)
    one = err.strip().splitlines()
    check(rc == 1 and len(one) == 1 and all(n in one[0] for n in needles),
          "bad input: %s (exit %d: %s)" % (name, rc, err.strip()))


def test_bad(T):
    cfg = config()
    ts = llama_tensors(cfg, np.random.default_rng(7))

    def fresh(sub, tensors=ts, c=cfg):   # 3 BF16 shards
        shutil.rmtree(os.path.join(T, sub), ignore_errors=True)
        write_folder(os.path.join(T, sub), c, tensors, "BF16", 3)
        return os.path.join(T, sub)

    d = fresh("trunc")
    p = os.path.join(d, "model-00002-of-00003.safetensors")
    os.truncate(p, os.path.getsize(p) - 10)
    expect_bad(d, ["trunc/model-00002-of-00003.safetensors", "outside the data area"], "truncated shard")
    d = fresh("noshard")
    os.remove(os.path.join(d, "model-00003-of-00003.safetensors"))
    expect_bad(d, ["model.safetensors.index.json", "names shard 'model-00003-of-00003.safetensors', which does "
                   "not exist"], "index naming a missing file")
    d = fresh("shape", c=config(intermediate_size=48))
    expect_bad(d, ["model.layers.0.mlp.gate_proj.weight' has shape (40, 16), config.json needs (48, 16)"],
               "config/tensor shape mismatch")
    d = fresh("missing", tensors=[(n, a) for n, a in ts if n != "model.layers.1.mlp.up_proj.weight"])
    expect_bad(d, ["tensor 'model.layers.1.mlp.up_proj.weight' is missing (expected in", ".safetensors)"],
               "missing tensor")
    d = fresh("neox", c=config(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox"))
    expect_bad(d, ["neox/config.json", "architectures [\"GPTNeoXForCausalLM\"]", "is not supported",
                   "LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM"], "unsupported architecture")
    d = fresh("ropescale", c=config(rope_scaling={"rope_type": "llama3", "factor": 8.0}))
    expect_bad(d, ["ropescale/config.json: rope_scaling is not supported"], "rope_scaling refused, not ignored")
    d = fresh("gelu", c=config(hidden_act="gelu_pytorch_tanh"))
    expect_bad(d, ["gelu/config.json: hidden_act \"gelu_pytorch_tanh\" is not supported"], "another activation refused")
    d = fresh("silu", c=config(hidden_act="silu", rope_scaling=None))
    rc, _, err = drive("--load", d)
    check(rc == 0, "hidden_act silu and rope_scaling null load " + err.strip())
    nan = [(n, a.copy()) for n, a in ts]
    bad = next(i for i, (n, _) in enumerate(nan) if n == "model.layers.1.self_attn.v_proj.weight")
    nan[bad][1].ravel()[7] = np.nan
    d = fresh("nan", tensors=nan)
    expect_bad(d, ["tensor 'model.layers.1.self_attn.v_proj.weight' (BF16) has NaN at element 7"], "BF16 NaN")
    extra = ts + [("model.layers.0.mlp.extra_proj.weight", np.ones((2, 2), np.float32)),
                  ("model.layers.0.self_attn.rotary_emb.inv_freq", np.ones(2, np.float32))]
    d = fresh("extra", tensors=extra)
    expect_bad(d, ["1 tensor not in the Llama table: 'model.layers.0.mlp.extra_proj.weight'"], "unknown extra tensor")
    rc, out, err = drive("--load", d, "--allow-extra")
    check(rc == 0 and "n_extra=1" in out.split(), "unknown extra tensor: counted with allow_extra (%s)" %
          (out + err).split()[:1])
    tied = [(n, a) for n, a in ts]   # has lm_head.weight, random: differs from the embedding
    d = fresh("tieddiff", c=config(tie_word_embeddings=True), tensors=tied)
    expect_bad(d, ["tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight"],
               "tied with a differing lm_head")


# ---- the ignored-tensor warning ----

def test_warning(T):
    """A command on a folder with extra tensors warns once, naming the first
    four in the folder's order and counting the rest; RoPE's inv_freq
    buffers are not counted; a folder without extras gives no warning."""
    lsc = os.path.join(os.path.dirname(os.path.dirname(EXE)), "lorascope")
    cfg = config()
    ts = llama_tensors(cfg, np.random.default_rng(5))
    extras = ["model.layers.0.mlp.extra_%d.weight" % i for i in range(6)]
    d = os.path.join(T, "warn")
    write_folder(d, cfg, ts + [(n, np.ones((2, 2), np.float32)) for n in extras] +
                 [("model.layers.1.self_attn.rotary_emb.inv_freq", np.ones(2, np.float32))])
    p = subprocess.run([lsc, "generate", "--base", d, "--prompt", "!#", "--tokens", "2"], capture_output=True,
                       text=True)
    warn = [l for l in p.stderr.splitlines() if "warning" in l]
    want = ("lorascope generate: warning: %s: 6 tensors not part of the llama model ignored: %s and 2 more" %
            (d, ", ".join("'%s'" % n for n in extras[:4])))
    check(p.returncode == 0 and warn == [want], "warning names the ignored tensors (%s)" % (warn or p.stderr.strip()))
    d = os.path.join(T, "nowarn")
    write_folder(d, cfg, ts + [("model.layers.1.self_attn.rotary_emb.inv_freq", np.ones(2, np.float32))])
    p = subprocess.run([lsc, "generate", "--base", d, "--prompt", "!#", "--tokens", "2"], capture_output=True,
                       text=True)
    check(p.returncode == 0 and "warning" not in p.stderr, "no warning without extra tensors (%s)" %
          (p.stderr.strip() or "none"))


# ---- memory ----

class _Shape:
    """Stands in for an array in llama_tensors: its shapes without the data."""
    def __init__(self, shape):
        self.shape = shape

    def __mul__(self, _):
        return self


class _ShapeRng:
    def standard_normal(self, shape, dtype=None):
        return _Shape(shape)


def rss():
    T = tempfile.mkdtemp(prefix="lsc_model_hf_rss.")
    try:
        C, F, V, L = 1024, 2816, 32000, 8
        cfg = config(hidden_size=C, intermediate_size=F, num_hidden_layers=L, num_attention_heads=16,
                     num_key_value_heads=16, vocab_size=V, torch_dtype="bfloat16", max_position_embeddings=4096)
        shapes = [(n, a.shape) for n, a in llama_tensors(cfg, _ShapeRng())]
        rng = np.random.default_rng(1)
        hf_driver.write_bf16_shards(T, cfg, shapes,
                                    lambda n, s: rng.standard_normal(s, dtype=np.float32) * np.float32(0.02))
        rc, out, err = drive("--rss", T)
        if not check(rc == 0, "rss: the folder loads in a child (%s)" % (err.strip() or "ok")):
            return
        r = {k: int(v) for k, v in (l.split("=", 1) for l in out.split())}
        peak = r["child_ru_maxrss_bytes"]
        print("  rss: %d parameters in 4 BF16 shards; raw tensor bytes %.1f MB, float buffer %.1f MB; child peak "
              "RSS (ru_maxrss) %.1f MB = %.3f x raw = %.3f x the float buffer (VmHWM %.1f MB)" %
              (r["n_params"], r["raw_bytes"] / 1e6, r["float_bytes"] / 1e6, peak / 1e6, peak / r["raw_bytes"],
               peak / r["float_bytes"], r["child_vmhwm_bytes"] / 1e6))
        check(r["n_params"] >= 100_000_000 and r["float_bytes"] == 4 * r["n_params"],
              "rss: >= 100 M parameters, all in the float buffer")
        check(peak < 1.15 * r["float_bytes"], "rss: peak RSS %.3f x the float buffer (< 1.15)" %
              (peak / r["float_bytes"]))
    finally:
        shutil.rmtree(T, ignore_errors=True)


def main():
    if sys.argv[1:] == ["--rss"]:
        return hf_driver.run_main(EXE, "lsc_model_hf.", [], [rss])
    return hf_driver.run_main(EXE, "lsc_model_hf.", [test_logits, test_resave, test_bad, test_warning])


if __name__ == "__main__":
    sys.exit(main())
