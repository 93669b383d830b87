#!/usr/bin/python3
"""test_generate_llama.py — the C Llama forward on llama2.c checkpoints against the numpy reference
(tests/llama_ref.py, interleaved RoPE), through `lorascope generate --dump-logits FILE` (the logits
of a full forward over the generated sequence, one line per position: the input token, then V
logits):
  - stories260K (shared fixtures, GQA 8/4, tied): the greedy sequence from BOS and one from a
    prompt; logits within 1e-4 relative (to the largest |logit|) of the reference's, and the
    sequence is the reference's own greedy argmax at every position;
  - a random untied model with GQA written here as a legacy v0 file and as an export.py version 1
    file (byte-level: vocab 200, no tokenizer): both give the reference's logits;
  - negative control: the reference with the other RoPE layout is NOT within the tolerance.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as L  # noqa: E402
from testlib import LSC, check, fixtures_dir, summary  # noqa: E402

TOL = 1e-4


def run(*args):
    """(exit status, stdout bytes, stderr text): a random model prints arbitrary bytes."""
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    p = subprocess.run([LSC] + [str(a) for a in args], capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def dumped(path):
    a = np.loadtxt(path, ndmin=2)
    return a[:, 0].astype(int), a[:, 1:]


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def stories(fx, t):
    d = os.path.join(fx, "llama2c", "stories260K")
    base, tok = os.path.join(d, "stories260K.bin"), os.path.join(d, "tok512.bin")
    cfg, w = L.read_llama2c(base)
    ref = L.Llama(cfg, w)
    for tag, extra in (("greedy from BOS", []), ("prompt 'Lily and Tom'", ["--prompt", "Lily and Tom"])):
        out = os.path.join(t, "logits.txt")
        rc, _, err = run(["generate", "--base", base, "--tokenizer", tok, "--temperature", "0", "--steps", "48",
                          "--dump-logits", out] + extra)
        if not check(rc == 0, "stories260K %s: generate --dump-logits exits 0 (%s)" % (tag, err.strip())):
            continue
        toks, got = dumped(out)
        want = ref.logits(toks)
        e = rel(got, want)
        check(len(toks) == 49 and toks[0] == 1 and e < TOL,
              "stories260K %s: %d positions, C logits = numpy reference (rel %.1e < %g)" % (tag, len(toks), e, TOL))
        start = 1 if not extra else len(toks) - 30   # the prompt is at most 14 tokens: the last 30 are generated
        am = np.argmax(want, axis=1)
        check(all(toks[i + 1] == am[i] for i in range(start - 1, len(toks) - 1)),
              "stories260K %s: every generated token is the reference's argmax" % tag)
        if not extra:
            bad = L.Llama(dict(cfg, rope="half"), w).logits(toks)
            check(rel(got, bad) > 100 * TOL, "negative control: the rotate_half reference differs (rel %.1e)"
                  % rel(got, bad))


def random_model():
    rng = np.random.default_rng(5)
    dim, hid, nl, nh, nkv, vocab, seq = 32, 56, 2, 4, 2, 200, 64
    hd, kvd = dim // nh, (dim // nh) * nkv
    w = {"embed": rng.normal(size=(vocab, dim)), "attn_norm": 1 + 0.1 * rng.normal(size=(nl, dim)),
         "wq": rng.normal(size=(nl, dim, dim)) / 5, "wk": rng.normal(size=(nl, kvd, dim)) / 5,
         "wv": rng.normal(size=(nl, kvd, dim)) / 5, "wo": rng.normal(size=(nl, dim, dim)) / 5,
         "ffn_norm": 1 + 0.1 * rng.normal(size=(nl, dim)), "w1": rng.normal(size=(nl, hid, dim)) / 5,
         "w2": rng.normal(size=(nl, dim, hid)) / 7, "w3": rng.normal(size=(nl, hid, dim)) / 5,
         "norm": 1 + 0.1 * rng.normal(size=dim), "lm_head": rng.normal(size=(vocab, dim)) / 5}
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}
    hdr = (dim, hid, nl, nh, nkv, vocab, seq)
    f32 = lambda *ks: b"".join(w[k].astype("<f4").tobytes() for k in ks)  # noqa: E731
    rope = np.zeros(seq * hd // 2, dtype="<f4").tobytes()
    v0 = (struct.pack("<7i", *hdr[:5], -vocab, seq) + f32("embed", "attn_norm", "wq", "wk", "wv", "wo",
                                                          "ffn_norm", "w1", "w2", "w3", "norm")
          + rope + rope + f32("lm_head"))
    head = struct.pack("<Ii7iB", 0x616B3432, 1, *hdr, 0)
    v1 = (head + b"\0" * (256 - len(head)) + f32("attn_norm", "ffn_norm", "norm", "embed", "wq", "wk", "wv",
                                                 "wo", "w1", "w2", "w3", "lm_head"))
    cfg = {"dim": dim, "hidden_dim": hid, "n_layers": nl, "n_heads": nh, "n_kv_heads": nkv,
           "vocab_size": vocab, "seq_len": seq, "head_dim": hd, "rope_theta": 10000.0,
           "rms_norm_eps": 1e-5, "rope": "interleaved", "tied": False, "bias": False}
    return cfg, w, v0, v1


def untied(t):
    cfg, w, v0, v1 = random_model()
    ref = L.Llama(cfg, w)
    for tag, data in (("v0 (negative vocab, wcls)", v0), ("version 1 (ak42, shared 0)", v1)):
        base, out = os.path.join(t, "rand.bin"), os.path.join(t, "logits.txt")
        open(base, "wb").write(data)
        rc, _, err = run("generate", "--base", base, "--prompt", "a random model", "--tokens", "20",
                         "--temperature", "0", "--dump-logits", out)
        if not check(rc == 0, "random untied GQA model, %s: generate exits 0 (%s)" % (tag, err.strip())):
            continue
        toks, got = dumped(out)
        e = rel(got, ref.logits(toks))
        check(len(toks) == 34 and e < TOL, "random untied GQA model, %s: %d positions, logits = reference "
              "(rel %.1e)" % (tag, len(toks), e))


def main():
    with tempfile.TemporaryDirectory() as t:
        untied(t)
        fx = fixtures_dir("stories260K logits against the numpy reference", "llama2c/stories260K/stories260K.bin")
        if fx:
            stories(fx, t)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
