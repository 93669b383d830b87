#!/usr/bin/python3
"""test_hf_folder.py — Hugging Face model folders (lib/hf_folder.c) read
through the driver modes of $LSC_BUILD/tests/test_hf_folder.

Generates folders with numpy (safetensors written by hand through
tests/make_adapters.py's writer; BF16 by round-to-nearest-even truncation
of float32; shards model-0000i-of-0000n.safetensors with
model.safetensors.index.json) and checks:
  - an unsharded F32 folder reads back bit-exactly; the same values in
    3 BF16 shards and in 3 F16 shards read back as numpy's own rounding
    of them (bit-exact) and within the dtype's unit roundoff of the F32 values;
  - config.json fields and defaults (--info); tied (no lm_head.weight) and
    untied folders, and an extra tensor, through --unclaimed;
  - every bad input exits 1 with one line naming the file: missing
    config.json, config not JSON, a field of the wrong type or range, an
    index naming a missing shard, an index tensor absent from its shard and
    a shard tensor absent from the index, a tensor in two shards, a
    truncated shard, NaN in a BF16 tensor (--check);
  - memory: a ~100 M-parameter BF16 folder in 4 shards (random weights, in
    a temporary directory deleted afterwards) read tensor by tensor; the
    sum of all elements matches numpy, and the peak RSS is reported
    against the raw tensor bytes and must stay under 1.3x.
Set LSC_QUICK=1 to skip the memory check.

Prints one PASS/FAIL/SKIP line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import functools
import json
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, skip  # noqa: E402
from make_adapters import write_safetensors, _to_bytes  # noqa: E402
import hf_driver  # noqa: E402

EXE = hf_driver.driver("test_hf_folder")


# ---- folders ----

def config(**over):
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16,
         "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
         "max_position_embeddings": 64, "vocab_size": 50, "tie_word_embeddings": False,
         "torch_dtype": "float32", "bos_token_id": 1}
    c.update(over)
    return c


def llama_tensors(cfg, rng, scale=0.02, tied=False):
    """[(name, float32 array)] in the HF Llama layout."""
    C, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or C // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * hd
    shapes = [("model.embed_tokens.weight", (V, C)), ("model.norm.weight", (C,))]
    if not tied:
        shapes.append(("lm_head.weight", (V, C)))
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        shapes += [(p + "input_layernorm.weight", (C,)), (p + "post_attention_layernorm.weight", (C,)),
                   (p + "self_attn.q_proj.weight", (cfg["num_attention_heads"] * hd, C)),
                   (p + "self_attn.k_proj.weight", (kv, C)), (p + "self_attn.v_proj.weight", (kv, C)),
                   (p + "self_attn.o_proj.weight", (C, cfg["num_attention_heads"] * hd)),
                   (p + "mlp.gate_proj.weight", (F, C)), (p + "mlp.up_proj.weight", (F, C)),
                   (p + "mlp.down_proj.weight", (C, F))]
    return [(n, (rng.standard_normal(s, dtype=np.float32) * np.float32(scale))) for n, s in shapes]


def write_folder(d, cfg, tensors, dtype="F32", shards=1):
    """config.json and the tensors: model.safetensors, or `shards` files
    model-0000i-of-0000n.safetensors with the index."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), [(n, a, dtype) for n, a in tensors],
                          {"format": "pt"})
        return
    groups = [tensors[i::shards] for i in range(shards)]
    wm, total = {}, 0
    for i, g in enumerate(groups):
        name = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(d, name), [(n, a, dtype) for n, a in g], {"format": "pt"})
        for n, a in g:
            wm[n] = name
            total += a.size * (2 if dtype in ("BF16", "F16") else 4)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def bf16_round(a):
    """float32 -> bf16 (round to nearest even) -> float32, in numpy."""
    u = np.frombuffer(_to_bytes(a, "BF16"), dtype="<u2").astype("<u4") << 16
    return u.view("<f4").reshape(a.shape)


# ---- the driver ----

drive = functools.partial(hf_driver.drive, EXE)


def dump(d, name):
    rc, out, err = drive("--dump", d, name)
    if rc != 0:
        print("  dump %s %s: %s" % (d, name, err.strip()))
        return None
    return np.array([float(x) for x in out.split()], dtype=np.float32)


def info(d):
    rc, out, err = drive("--info", d)
    return dict(l.split("=", 1) for l in out.splitlines()) if rc == 0 else {"error": err.strip()}


def same_values(d, tensors, want, name):
    """Every tensor of d equals want(array) bit for bit."""
    bad = [n for n, a in tensors if not np.array_equal(dump(d, n), want(a).ravel())]
    check(not bad, "%s: every tensor read back exactly (%s)" % (name, ", ".join(bad[:3]) or "ok"))


# ---- values, sharding, dtypes ----

def test_values(T):
    rng = np.random.default_rng(13)
    cfg = config()
    ts = llama_tensors(cfg, rng)
    write_folder(os.path.join(T, "f32"), cfg, ts)
    same_values(os.path.join(T, "f32"), ts, lambda a: a, "unsharded F32")
    write_folder(os.path.join(T, "bf16"), cfg, ts, "BF16", 3)
    same_values(os.path.join(T, "bf16"), ts, bf16_round, "3 BF16 shards (numpy's RNE rounding)")
    write_folder(os.path.join(T, "f16"), cfg, ts, "F16", 3)
    same_values(os.path.join(T, "f16"), ts, lambda a: a.astype(np.float16).astype(np.float32),
                "3 F16 shards (numpy's float16)")
    for sub, rel in (("bf16", 2.0 ** -8), ("f16", 2.0 ** -11)):
        worst = 0.0
        for n, a in ts:
            got = dump(os.path.join(T, sub), n)
            m = np.abs(a.ravel()) > 1e-4   # F16 normals: away from the subnormal range
            worst = max(worst, float(np.max(np.abs(got[m] - a.ravel()[m]) / np.abs(a.ravel()[m]))))
        check(worst <= rel, "%s: within the unit roundoff of the F32 values (max rel %.3g <= %.3g)" % (sub, worst, rel))
    i1, i3 = info(os.path.join(T, "f32")), info(os.path.join(T, "bf16"))
    check(i1.get("n_shards") == "1" and i3.get("n_shards") == "3" and i1.get("n_tensors") == i3.get("n_tensors")
          == str(len(ts)), "shards: 1 and 3 shards, %d tensors each" % len(ts))
    n = sum(a.size for _, a in ts)
    check(i1.get("raw_bytes") == str(4 * n) and i3.get("raw_bytes") == str(2 * n) and i3.get("n_params") == str(n),
          "shards: raw_bytes 4n (F32) and 2n (BF16), n_params n")


def test_config_and_tying(T):
    rng = np.random.default_rng(5)
    cfg = config(tie_word_embeddings=True, head_dim=None, num_key_value_heads=None)
    del cfg["rope_theta"]
    ts = llama_tensors(config(num_key_value_heads=4), rng, tied=True)
    write_folder(os.path.join(T, "tied"), cfg, ts, "BF16", 2)
    i = info(os.path.join(T, "tied"))
    want = {"model_type": "llama", "architecture": "LlamaForCausalLM", "hidden_size": "16",
            "intermediate_size": "40", "num_hidden_layers": "2", "num_attention_heads": "4",
            "num_key_value_heads": "4", "head_dim": "4", "rope_theta": "10000", "rms_norm_eps": "1.0000000000000001e-05",
            "max_position_embeddings": "64", "vocab_size": "50", "tie_word_embeddings": "1", "qkv_bias": "0"}
    diff = {k: (v, i.get(k)) for k, v in want.items() if i.get(k) != v}
    check(not diff, "config: fields and defaults as config.json says (%s)" % (diff or "ok"))
    names = [n for n, _ in ts]
    rc, out, _ = drive("--unclaimed", os.path.join(T, "tied"), *names)
    check(rc == 0 and out == "", "tied: no lm_head.weight, nothing unclaimed")
    untied = llama_tensors(config(), rng) + [("model.layers.0.self_attn.rotary_emb.inv_freq",
                                              np.ones(2, np.float32))]
    write_folder(os.path.join(T, "untied"), config(model_type="qwen2"), untied, "F32", 3)
    i = info(os.path.join(T, "untied"))
    check(i.get("tie_word_embeddings") == "0" and i.get("qkv_bias") == "1",
          "untied: tie_word_embeddings 0; qwen2 has q/k/v biases")
    rc, out, _ = drive("--unclaimed", os.path.join(T, "untied"), *names)
    check(rc == 0 and sorted(out.split()) == ["lm_head.weight", "model.layers.0.self_attn.rotary_emb.inv_freq"],
          "untied: lm_head.weight and an extra tensor are unclaimed (%s)" % out.split())


# ---- bad input ----

def expect_bad(d, needle, file_, name, args=("--info",), extra=()):
    rc, out, err = drive(*(list(args[:1]) + [d] + list(args[1:]) + list(extra)))
    lines = err.strip().splitlines()
    ok = rc == 1 and len(lines) == 1 and needle in lines[0] and file_ in lines[0]
    check(ok, "bad input: %s (exit %d: %s)" % (name, rc, err.strip()))


def test_bad(T):
    rng = np.random.default_rng(7)
    cfg = config()
    ts = llama_tensors(cfg, rng)

    def fresh(sub, shards=3, dtype="BF16", tensors=ts, c=cfg):
        d = os.path.join(T, sub)
        shutil.rmtree(d, ignore_errors=True)
        write_folder(d, c, tensors, dtype, shards)
        return d

    d = fresh("noconfig")
    os.remove(os.path.join(d, "config.json"))
    expect_bad(d, "missing", "noconfig/config.json", "missing config.json")
    d = fresh("notjson")
    open(os.path.join(d, "config.json"), "w").write("{\"hidden_size\": 16,")
    expect_bad(d, "not a JSON object", "notjson/config.json", "config.json not JSON")
    d = fresh("wrongtype", c=config(hidden_size="16"))
    expect_bad(d, "hidden_size", "wrongtype/config.json", "a field of the wrong type")
    d = fresh("huge", c=config(num_hidden_layers=1e300))
    expect_bad(d, "num_hidden_layers", "huge/config.json", "a field out of range (1e300)")
    d = fresh("noshard")
    os.remove(os.path.join(d, "model-00002-of-00003.safetensors"))
    expect_bad(d, "does not exist", "model-00002-of-00003.safetensors", "index names a missing shard")
    d = fresh("absent")
    ix = os.path.join(d, "model.safetensors.index.json")
    j = json.load(open(ix))
    j["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00003.safetensors"
    json.dump(j, open(ix, "w"))
    expect_bad(d, "model.layers.9.mlp.up_proj.weight", "model-00001-of-00003.safetensors",
               "index lists a tensor absent from its shard")
    d = fresh("unlisted")
    ix = os.path.join(d, "model.safetensors.index.json")
    j = json.load(open(ix))
    del j["weight_map"]["model.norm.weight"]
    json.dump(j, open(ix, "w"))
    expect_bad(d, "not listed", "model.norm.weight", "a shard tensor the index does not list")
    d = fresh("dup")
    extra = [(n, a, "BF16") for n, a in ts[0::3]] + [("model.norm.weight", ts[1][1], "BF16")]  # norm: shard 2
    write_safetensors(os.path.join(d, "model-00001-of-00003.safetensors"), extra, {"format": "pt"})
    expect_bad(d, "duplicate tensor 'model.norm.weight'", "model-0000", "a tensor in two shards")
    d = fresh("trunc")
    p = os.path.join(d, "model-00003-of-00003.safetensors")
    os.truncate(p, os.path.getsize(p) - 10)
    expect_bad(d, "", "model-00003-of-00003.safetensors", "truncated shard")
    d = fresh("trunc1", shards=1, dtype="F32")
    p = os.path.join(d, "model.safetensors")
    os.truncate(p, 100)
    expect_bad(d, "", "trunc1/model.safetensors", "truncated model.safetensors")
    nan = [(n, a.copy()) for n, a in ts]
    nan[5][1].ravel()[7] = np.nan
    d = fresh("nan", tensors=nan)
    expect_bad(d, "NaN at element 7", nan[5][0], "NaN in a BF16 tensor (--check)", args=("--check",))
    expect_bad(d, "BF16", "model-0000", "NaN in a BF16 tensor (--check NAME)", args=("--check", nan[5][0]))
    rc, out, _ = drive("--check", d, nan[4][0])
    check(rc == 0 and out.strip() == "finite", "finite check passes a clean BF16 tensor")


# ---- memory ----

def test_memory():
    if os.environ.get("LSC_QUICK"):
        skip("memory: 100 M-parameter BF16 folder", "LSC_QUICK")
        return
    T = tempfile.mkdtemp(prefix="lsc_hf_mem.")
    try:
        cfg = config(hidden_size=768, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=12,
                     num_key_value_heads=12, vocab_size=32000, torch_dtype="bfloat16")
        rng = np.random.default_rng(1)
        C, F, V = 768, 2048, 32000
        shapes = [("model.embed_tokens.weight", (V, C)), ("lm_head.weight", (V, C)), ("model.norm.weight", (C,))]
        for l in range(8):
            p = "model.layers.%d." % l
            shapes += [(p + n, s) for n, s in (("input_layernorm.weight", (C,)),
                                               ("post_attention_layernorm.weight", (C,)),
                                               ("self_attn.q_proj.weight", (C, C)), ("self_attn.k_proj.weight", (C, C)),
                                               ("self_attn.v_proj.weight", (C, C)), ("self_attn.o_proj.weight", (C, C)),
                                               ("mlp.gate_proj.weight", (F, C)), ("mlp.up_proj.weight", (F, C)),
                                               ("mlp.down_proj.weight", (C, F)))]
        want_sum = [0.0]

        def make(n, s):
            a = rng.standard_normal(s, dtype=np.float32) * np.float32(0.02)
            want_sum[0] += float(np.sum(bf16_round(a), dtype=np.float64))
            return a
        hf_driver.write_bf16_shards(T, cfg, shapes, make)
        want_sum = want_sum[0]
        rc, out, err = drive("--mem", T)
        r = dict(l.split("=", 1) for l in out.splitlines()) if rc == 0 else {}
        if not check(rc == 0, "memory: every tensor of the folder read (%s)" % err.strip()):
            return
        n = int(r["n_params"])
        print("  memory: %d parameters in 4 BF16 shards, raw %.1f MB, largest tensor as float32 %.1f MB, "
              "peak RSS (VmHWM) %.1f MB = %s x raw (getrusage ru_maxrss %.1f MB, which includes this Python's peak "
              "carried across fork+exec)" % (n, int(r["raw_bytes"]) / 1e6, int(r["largest_f32_bytes"]) / 1e6,
                                             float(r["peak_rss_bytes"]) / 1e6, r["ratio"],
                                             float(r["ru_maxrss_bytes"]) / 1e6))
        check(n >= 100_000_000 and int(r["raw_bytes"]) == 2 * n, "memory: >= 100 M parameters, 2 bytes each")
        s = float(r["sum"])
        check(abs(s - want_sum) <= 1e-9 * n * 0.02, "memory: sum of all elements %.9g = numpy's %.9g" % (s, want_sum))
        check(float(r["ratio"]) < 1.3, "memory: peak RSS %s x the raw tensor bytes (< 1.3)" % r["ratio"])
    finally:
        shutil.rmtree(T, ignore_errors=True)


def main():
    return hf_driver.run_main(EXE, "lsc_hf.", [test_values, test_config_and_tying, test_bad], [test_memory])


if __name__ == "__main__":
    sys.exit(main())
