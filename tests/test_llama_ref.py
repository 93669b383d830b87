#!/usr/bin/python3
"""test_llama_ref.py — the numpy Llama reference (tests/llama_ref.py) is itself checked before the
C implementation of issue 13 is compared with it:
  - Karpathy's stories260K (llama2.c file, 5 layers, GQA 8/4 heads, tied classifier) greedy from
    BOS for 256 steps reproduces the published sample of stories260K.md byte for byte;
  - the Hugging Face rotate_half layout on q/k rows permuted as HF's conversion script does gives
    the same logits as the interleaved layout on the original rows (so the reference's two RoPE
    layouts agree with each other, not only with themselves);
  - grouped-query attention equals multi-head attention with the key/value heads repeated;
  - a truncated checkpoint is refused.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as L  # noqa: E402
from testlib import check, fixtures_dir, summary  # noqa: E402


def published_sample(md):
    """The text of the first ``` block after the `run ... -t 0.0` command line."""
    text = open(md, encoding="utf-8").read()
    start = text.index("-t 0.0\n") + len("-t 0.0\n")
    return text[start:text.index("```", start)]


def stories260k(fx):
    d = os.path.join(fx, "llama2c", "stories260K")
    cfg, w = L.read_llama2c(os.path.join(d, "stories260K.bin"))
    check(cfg["n_layers"] == 5 and cfg["n_heads"] == 8 and cfg["n_kv_heads"] == 4 and cfg["dim"] == 64
          and cfg["hidden_dim"] == 172 and cfg["vocab_size"] == 512 and cfg["tied"],
          "stories260K header: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, shared classifier")
    pieces, _, _ = L.read_llama2c_tokenizer(os.path.join(d, "tok512.bin"), cfg["vocab_size"])
    toks = L.Llama(cfg, w).greedy(256)
    out, prev = b"", 1
    for t in toks:
        out += L.decode(pieces, prev, t)
        prev = t
    want = published_sample(os.path.join(d, "stories260K.md"))
    check(out.decode("utf-8") + "\n" == want,
          "stories260K greedy (256 steps from BOS) = the published sample, byte for byte (%d tokens)" % len(toks))


def random_model(rng, rope="interleaved", n_heads=4, n_kv=2, bias=False):
    dim, hid, nl, vocab = 32, 48, 2, 40
    hd = dim // n_heads
    w = {"embed": rng.normal(size=(vocab, dim)), "attn_norm": 1 + 0.1 * rng.normal(size=(nl, dim)),
         "wq": rng.normal(size=(nl, dim, dim)) / 6, "wk": rng.normal(size=(nl, n_kv * hd, dim)) / 6,
         "wv": rng.normal(size=(nl, n_kv * hd, dim)) / 6, "wo": rng.normal(size=(nl, dim, dim)) / 6,
         "ffn_norm": 1 + 0.1 * rng.normal(size=(nl, dim)), "w1": rng.normal(size=(nl, hid, dim)) / 6,
         "w2": rng.normal(size=(nl, dim, hid)) / 7, "w3": rng.normal(size=(nl, hid, dim)) / 6,
         "norm": 1 + 0.1 * rng.normal(size=dim)}
    w["lm_head"] = rng.normal(size=(vocab, dim)) / 6
    if bias:
        w["bq"], w["bk"], w["bv"] = (0.1 * rng.normal(size=(nl, n))
                                     for n in (dim, n_kv * hd, n_kv * hd))
    cfg = {"dim": dim, "hidden_dim": hid, "n_layers": nl, "n_heads": n_heads, "n_kv_heads": n_kv,
           "vocab_size": vocab, "seq_len": 64, "head_dim": hd, "rope_theta": 10000.0,
           "rms_norm_eps": 1e-5, "rope": rope, "tied": False, "bias": bias}
    return cfg, w


def hf_permute(wt, heads):
    """HF's convert_llama_weights_to_hf permute: interleaved rows -> rotate_half rows, per head."""
    out, d_in = wt.shape
    return wt.reshape(heads, out // heads // 2, 2, d_in).transpose(0, 2, 1, 3).reshape(out, d_in)


def layouts():
    rng = np.random.default_rng(7)
    cfg, w = random_model(rng, bias=True)
    toks = rng.integers(0, cfg["vocab_size"], size=12)
    a = L.Llama(cfg, w).logits(toks)
    w2 = dict(w)
    w2["wq"] = np.stack([hf_permute(m, cfg["n_heads"]) for m in w["wq"]])
    w2["wk"] = np.stack([hf_permute(m, cfg["n_kv_heads"]) for m in w["wk"]])
    w2["bq"] = np.stack([hf_permute(b[:, None], cfg["n_heads"])[:, 0] for b in w["bq"]])
    w2["bk"] = np.stack([hf_permute(b[:, None], cfg["n_kv_heads"])[:, 0] for b in w["bk"]])
    b = L.Llama(dict(cfg, rope="half"), w2).logits(toks)
    err = np.abs(a - b).max() / np.abs(a).max()
    check(err < 1e-12, "rotate_half on HF-permuted q/k (with biases) = interleaved on the original rows (%.1e)" % err)
    c = L.Llama(dict(cfg, rope="half"), w).logits(toks)
    check(np.abs(a - c).max() > 1e-3, "the two layouts differ on the same rows (the permutation matters)")
    # GQA: 2 kv heads shared by 4 query heads = MHA with every kv head repeated
    w3 = dict(w)
    w3["wk"] = np.stack([np.repeat(m.reshape(2, -1, m.shape[1]), 2, axis=0).reshape(-1, m.shape[1]) for m in w["wk"]])
    w3["wv"] = np.stack([np.repeat(m.reshape(2, -1, m.shape[1]), 2, axis=0).reshape(-1, m.shape[1]) for m in w["wv"]])
    w3["bk"] = np.stack([np.repeat(v.reshape(2, -1), 2, axis=0).reshape(-1) for v in w["bk"]])
    w3["bv"] = np.stack([np.repeat(v.reshape(2, -1), 2, axis=0).reshape(-1) for v in w["bv"]])
    d = L.Llama(dict(cfg, n_kv_heads=4), w3).logits(toks)
    check(np.abs(a - d).max() / np.abs(a).max() < 1e-12, "grouped-query attention = MHA with repeated kv heads")
    # causality: the logits of a prefix do not depend on what follows
    e = L.Llama(cfg, w).logits(toks[:5])
    check(np.abs(a[:5] - e).max() < 1e-12, "causal: a prefix's logits ignore the later tokens")


def truncated(fx):
    src = os.path.join(fx, "llama2c", "stories260K", "stories260K.bin")
    with tempfile.TemporaryDirectory() as t:
        p = os.path.join(t, "cut.bin")
        open(p, "wb").write(open(src, "rb").read()[:5000])
        try:
            L.read_llama2c(p)
            ok = False
        except ValueError as ex:
            ok = "truncated" in str(ex)
        check(ok, "a truncated llama2.c file is refused")


def main():
    layouts()
    fx = fixtures_dir("stories260K oracle", "llama2c/stories260K/stories260K.bin")
    if fx:
        stories260k(fx)
        truncated(fx)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
