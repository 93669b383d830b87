#!/usr/bin/python3
"""test_merge_kinds.py — `lorascope merge` for every mergeable kind (issue 14).

Tiny GPT and Llama bases (pretrain --profile tiny, 1 step), adapters written
with tests/make_adapters.py's writer in PEFT's key forms, and numpy computing
each merged tensor independently from the adapter and base files:
  - embedding LoRA: table [V, C] + s·Aᵀ·Bᵀ (PEFT's Embedding.get_delta_weight,
    transposed), with a plain LoRA module beside it: W0 + s·B·A;
  - DoRA: m ⊙ (W0 + s·B·A)/‖·‖_row;
  - modules_to_save full tensors: the saved tensor replaces the base's; added
    token rows grow vocab_size; a tied GPT head follows wte; a Llama lm_head
    different from the table unties it; an equal one, or none, keeps the tie;
  - the Llama merge as a Hugging Face folder with --shard-size, read back
    (config.json vocab_size and tie_word_embeddings, the same tensors);
  - the merged GPT and Llama (file and folder) with added tokens run:
    `generate --tokenizer` (a llama2.c tokenizer.bin whose added piece "ab"
    is one of the new ids) --dump-logits equals a numpy forward of the merged
    tensors (tests/llama_ref.py; gpt_logits here), over all 260 vocabulary
    columns, with the added token fed;
  - the summary line counts modules per kind;
  - refusals, one line, exit 1: conv LoRA, a saved tensor of another shape
    (names module and shapes), fewer rows, tokens added to lm_head only, a
    GPT head different from wte, a name the model lacks, --unmerge of full
    tensors; eval/generate given such an adapter unmerged say to merge first.
  - --unmerge of the embedding adapter gives the base back (1e-5).
"""
import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, run, summary  # noqa: E402
import make_adapters as MA  # noqa: E402
import llama_ref as L  # noqa: E402

P = "base_model.model."
C, V, VN = 48, 256, 260   # the tiny profile's width and vocabulary; vocabulary with added tokens
SS = os.path.join(ROOT, "data", "fixtures", "supersense_tiny.tsv")


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def one_error(rc, se, *words):
    lines = se.strip().splitlines()
    return rc == 1 and len(lines) == 1 and all(w in lines[0] for w in words)


def lin(rng, name, d, k, r=4):
    A, B = MA.lora_pair(rng, d, k, r, scale_b=0.3)
    return [(P + name + ".lora_A.weight", A, "F32"), (P + name + ".lora_B.weight", B, "F32")]


def emb(rng, name, r=4):
    return [(P + name + ".lora_embedding_A", rng.normal(0, 0.5, (r, V)).astype(np.float32), "F32"),
            (P + name + ".lora_embedding_B", rng.normal(0, 0.5, (C, r)).astype(np.float32), "F32")]


def full(name, W):
    return [(P + name + ".weight", W.astype(np.float32), "F32")]


def tensors(ad):
    return MA.read_safetensors(os.path.join(ad, "adapter_model.safetensors"))


def lora_dw(ad, name, s):
    t = tensors(ad)
    return s * t[P + name + ".lora_B.weight"] @ t[P + name + ".lora_A.weight"]


def emb_dw(ad, name, s):
    t = tensors(ad)
    return s * t[P + name + ".lora_embedding_A"].T @ t[P + name + ".lora_embedding_B"].T


def unchanged(base, merged, skip):
    return all(np.array_equal(base[n], merged[n]) for n in base if n not in skip)


def pretrain(t, arch):
    out = os.path.join(t, arch + ".safetensors")
    rc, _, se = run("pretrain", "--profile", "tiny", "--arch", arch, "--steps", "1", "--data",
                    os.path.join(ROOT, "data", "fixtures", "tiny.txt"), "--quiet", "-o", out)
    check(rc == 0, "pretrain a tiny %s base (%s)" % (arch, se.strip()))
    return out


def merge(base, ad, out, *extra):
    return run("merge", "--base", base, "--adapter", ad, "-o", out, *extra)


# ---- GPT ----

def gpt(t, rng):
    base = pretrain(t, "gpt")
    B0 = MA.read_safetensors(base)
    # embedding LoRA on wte beside a plain LoRA on q_proj (alpha 16, r 4: s = 4)
    ad = os.path.join(t, "g_emb")
    MA.write_peft(ad, emb(rng, "wte") + lin(rng, "h.0.attn.q_proj", C, C), target_modules=["wte", "q_proj"])
    out = os.path.join(t, "g_emb.safetensors")
    rc, so, se = merge(base, ad, out)
    check(rc == 0 and "merged 2 modules" in so and "(LoRA 1, embedding LoRA 1)" in so,
          "GPT embedding LoRA + LoRA: exit 0, summary counts per kind (%r %s)" % (so.strip(), se.strip()))
    M = MA.read_safetensors(out)
    e = rel(M["wte.weight"], B0["wte.weight"] + emb_dw(ad, "wte", 4.0))
    check(e < 1e-5, "GPT wte = W0 + s·Aᵀ·Bᵀ (numpy, rel %.1e)" % e)
    q = "h.0.attn.q_proj.weight"
    check(rel(M[q], B0[q] + lora_dw(ad, "h.0.attn.q_proj", 4.0)) < 1e-5, "GPT q_proj = W0 + s·B·A (numpy)")
    check(unchanged(B0, M, {"wte.weight", q}), "GPT: every other tensor unchanged")
    # --unmerge of the embedding adapter gives the base back
    rc, so, se = merge(out, ad, os.path.join(t, "g_back.safetensors"), "--unmerge")
    Bk = MA.read_safetensors(os.path.join(t, "g_back.safetensors")) if rc == 0 else {}
    check(rc == 0 and "subtracted 2 modules" in so and rel(Bk["wte.weight"], B0["wte.weight"]) < 1e-5,
          "GPT --unmerge of embedding LoRA + LoRA gives the base back (%s)" % se.strip())

    # DoRA on v_proj: m ⊙ (W0 + s·B·A) / ‖·‖_row
    ad = os.path.join(t, "g_dora")
    mag = rng.uniform(0.5, 2.0, C).astype(np.float32)
    MA.write_peft(ad, lin(rng, "h.1.attn.v_proj", C, C) +
                  [(P + "h.1.attn.v_proj.lora_magnitude_vector", mag, "F32")], use_dora=True, target_modules=["v_proj"])
    rc, so, se = merge(base, ad, os.path.join(t, "g_dora.safetensors"))
    v = "h.1.attn.v_proj.weight"
    Vm = B0[v] + lora_dw(ad, "h.1.attn.v_proj", 4.0)
    want = mag[:, None] * Vm / np.linalg.norm(Vm, axis=1, keepdims=True)
    got = MA.read_safetensors(os.path.join(t, "g_dora.safetensors"))[v] if rc == 0 else np.zeros(1)
    check(rc == 0 and "(DoRA 1)" in so and rel(got, want) < 1e-5,
          "GPT DoRA merged = m ⊙ V/‖V‖_row (numpy) (%s)" % se.strip())
    rc, so, se = merge(base, ad, os.path.join(t, "x.safetensors"), "--unmerge")
    check(one_error(rc, se, "DoRA", "cannot be undone"), "--unmerge of DoRA: one line, exit 1 (%s)" % se.strip())

    # modules_to_save: wte with 4 added tokens; the tied head follows
    ad = os.path.join(t, "g_mts")
    W = rng.normal(0, 0.1, (VN, C))
    MA.write_peft(ad, full("wte", W) + lin(rng, "h.0.attn.q_proj", C, C), modules_to_save=["wte"])
    out = os.path.join(t, "g_mts.safetensors")
    rc, so, se = merge(base, ad, out)
    M = MA.read_safetensors(out) if rc == 0 else {}
    meta = st_metadata(out) if rc == 0 else {}
    check(rc == 0 and "(LoRA 1, full tensor 1; vocab 256 -> 260)" in so,
          "GPT full wte with added tokens: exit 0, summary says vocab 256 -> 260 (%r %s)" % (so.strip(), se.strip()))
    check(rc == 0 and meta.get("vocab_size") == "260" and np.array_equal(M["wte.weight"], W.astype(np.float32)),
          "GPT: vocab_size 260 in the file, wte = the saved tensor exactly")
    check(rc == 0 and unchanged(B0, M, {"wte.weight", q}) and
          rel(M[q], B0[q] + lora_dw(ad, "h.0.attn.q_proj", 4.0)) < 1e-5,
          "GPT: q_proj merged beside it, every other tensor unchanged")
    if rc == 0:
        generate_vs_numpy(t, out, lambda toks: gpt_logits(M, toks), "the merged GPT (head tied to the new wte)")
    same = os.path.join(t, "g_same")
    MA.write_peft(same, full("wte", W) + full("lm_head", W), modules_to_save=["wte", "lm_head"])
    rc, so, se = merge(base, same, os.path.join(t, "g_same.safetensors"))
    check(rc == 0 and "vocab 256 -> 260" in so and "untied" not in so,
          "GPT: a saved lm_head equal to wte keeps the tie (%s)" % se.strip())
    diff = os.path.join(t, "g_diff")
    MA.write_peft(diff, full("wte", W) + full("lm_head", W + 1.0), modules_to_save=["wte", "lm_head"])
    rc, so, se = merge(base, diff, os.path.join(t, "x.safetensors"))
    check(one_error(rc, se, "lm_head", "GPT"), "GPT: an lm_head different from wte: one line, exit 1 (%s)" % se.strip())
    return base


def gpt_logits(M, toks, L=2, NH=2):
    """numpy GPT forward (pre-LN, GELU-tanh, LM head tied to wte) over toks: (T, V) logits."""
    def ln(x, n):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * M[n + ".weight"] + M[n + ".bias"]

    def lin(x, n):
        return x @ M[n + ".weight"].T + M[n + ".bias"]
    T = len(toks)
    x = M["wte.weight"][toks] + M["wpe.weight"][:T]
    hs = C // NH
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        h = ln(x, "h.%d.ln_1" % l)
        q, k, v = (lin(h, "h.%d.attn.%s_proj" % (l, w)).reshape(T, NH, hs) for w in "qkv")
        a = np.einsum("thd,shd->hts", q, k) / np.sqrt(hs) + mask
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = x + lin(np.einsum("hts,shd->thd", a, v).reshape(T, C), "h.%d.attn.o_proj" % l)
        f = lin(ln(x, "h.%d.ln_2" % l), "h.%d.mlp.fc_in" % l)
        f = 0.5 * f * (1 + np.tanh(np.sqrt(2 / np.pi) * (f + 0.044715 * f ** 3)))
        x = x + lin(f, "h.%d.mlp.fc_out" % l)
    return ln(x, "ln_f") @ M["wte.weight"].T


def generate_vs_numpy(t, merged, forward, what):
    """generate --tokenizer (prompt "ab" = the added id 256) --dump-logits vs forward(tokens)."""
    tok = os.path.join(t, "tok.bin")
    tokenizer(tok, VN)
    out = os.path.join(t, "logits.txt")
    rc, so, se = run("generate", "--base", merged, "--tokenizer", tok, "--prompt", "ab", "--steps", "8",
                     "--temperature", "0", "--dump-logits", out)
    if not check(rc == 0, "generate on %s with added tokens: exit 0 (%s)" % (what, se.strip())):
        return
    a = np.loadtxt(out, ndmin=2)
    toks, got = a[:, 0].astype(int), a[:, 1:]
    want = forward(list(toks))
    check(256 in toks and got.shape[1] == VN and rel(got, want) < 1e-4,
          "%s: the added token fed (tokens %s), %d logits = numpy reference (rel %.1e)"
          % (what, list(toks), got.shape[1], rel(got, want)))


def st_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


# ---- Llama ----

def tokenizer(path, vocab):
    """llama2.c tokenizer.bin: ids 10 "a", 11 "b", 12 " ", the added id 256 "ab" (merged by score)."""
    pieces = [b"<t%d>" % i for i in range(vocab)]
    pieces[0], pieces[1], pieces[2] = b"<unk>", b"\n<s>\n", b"\n</s>\n"
    pieces[10], pieces[11], pieces[12], pieces[256] = b"a", b"b", b" ", b"ab"
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(p) for p in pieces)))
        for i, p in enumerate(pieces):
            f.write(struct.pack("<fi", 5.0 if i == 256 else 0.0, len(p)) + p)


def llama_weights(M, cfg_n_layer):
    stack = lambda fmt: np.stack([M[fmt % l] for l in range(cfg_n_layer)])  # noqa: E731
    pre = "model.layers.%d."
    w = {"embed": M["model.embed_tokens.weight"], "attn_norm": stack(pre + "input_layernorm.weight"),
         "wq": stack(pre + "self_attn.q_proj.weight"), "wk": stack(pre + "self_attn.k_proj.weight"),
         "wv": stack(pre + "self_attn.v_proj.weight"), "wo": stack(pre + "self_attn.o_proj.weight"),
         "ffn_norm": stack(pre + "post_attention_layernorm.weight"), "w1": stack(pre + "mlp.gate_proj.weight"),
         "w2": stack(pre + "mlp.down_proj.weight"), "w3": stack(pre + "mlp.up_proj.weight"),
         "norm": M["model.norm.weight"]}
    w["lm_head"] = M.get("lm_head.weight", w["embed"])
    return w


def llama_runs(t, merged, M, what):
    cfg = {"n_layers": 2, "n_heads": 2, "n_kv_heads": 2, "head_dim": 24, "rope_theta": 10000.0,
           "rms_norm_eps": 9.99999975e-06, "rope": "half"}
    generate_vs_numpy(t, merged, L.Llama(cfg, llama_weights(M, 2)).logits, what)


def llama(t, rng):
    base = pretrain(t, "llama")
    B0 = MA.read_safetensors(base)
    E, q, g = "model.embed_tokens", "model.layers.0.self_attn.q_proj", "model.layers.1.mlp.gate_proj"
    ad = os.path.join(t, "l_emb")
    MA.write_peft(ad, emb(rng, E) + lin(rng, g, 128, C), target_modules=["embed_tokens", "gate_proj"])
    out = os.path.join(t, "l_emb.safetensors")
    rc, so, se = merge(base, ad, out)
    M = MA.read_safetensors(out) if rc == 0 else {}
    check(rc == 0 and "(LoRA 1, embedding LoRA 1)" in so and
          rel(M[E + ".weight"], B0[E + ".weight"] + emb_dw(ad, E, 4.0)) < 1e-5 and
          rel(M[g + ".weight"], B0[g + ".weight"] + lora_dw(ad, g, 4.0)) < 1e-5 and
          unchanged(B0, M, {E + ".weight", g + ".weight"}),
          "Llama embedding LoRA + LoRA on gate_proj = numpy; the rest unchanged (%s)" % se.strip())

    # embed_tokens and a different lm_head, 4 added tokens: vocab 260, head untied
    ad = os.path.join(t, "l_mts")
    We, Wh = rng.normal(0, 0.3, (VN, C)), rng.normal(0, 0.3, (VN, C))
    We[:V] = B0[E + ".weight"]
    MA.write_peft(ad, full(E, We) + full("lm_head", Wh) + lin(rng, q, C, C),
                  modules_to_save=["embed_tokens", "lm_head"])
    out = os.path.join(t, "l_mts.safetensors")
    rc, so, se = merge(base, ad, out)
    check(rc == 0 and "(LoRA 1, full tensor 2; vocab 256 -> 260; lm_head untied from the embedding)" in so,
          "Llama full embed_tokens + lm_head with added tokens: summary (%r %s)" % (so.strip(), se.strip()))
    if rc != 0:
        return
    M, meta = MA.read_safetensors(out), st_metadata(out)
    check(meta.get("vocab_size") == "260" and meta.get("untied") == "1" and
          np.array_equal(M[E + ".weight"], We.astype(np.float32)) and
          np.array_equal(M["lm_head.weight"], Wh.astype(np.float32)),
          "Llama: vocab_size 260, untied, embed_tokens and lm_head = the saved tensors")
    check(rel(M[q + ".weight"], B0[q + ".weight"] + lora_dw(ad, q, 4.0)) < 1e-5 and
          unchanged(B0, M, {E + ".weight", q + ".weight"}), "Llama: q_proj = W0 + s·B·A, the rest unchanged")
    llama_runs(t, out, M, "the merged Llama .safetensors")

    for name, tens in (("embed_tokens alone", full(E, We)),
                       ("an lm_head equal to it", full(E, We) + full("lm_head", We))):
        d = os.path.join(t, "l_tied")
        MA.write_peft(d, tens, modules_to_save=["embed_tokens", "lm_head"])
        rc, so, se = merge(base, d, os.path.join(t, "l_tied.safetensors"))
        T = MA.read_safetensors(os.path.join(t, "l_tied.safetensors")) if rc == 0 else {}
        check(rc == 0 and "vocab 256 -> 260" in so and "untied" not in so and "lm_head.weight" not in T and
              st_metadata(os.path.join(t, "l_tied.safetensors")).get("untied") == "0" and
              np.array_equal(T[E + ".weight"], We.astype(np.float32)),
              "tied Llama, %s saved: vocab 260, the head stays tied to the new table (%s)" % (name, se.strip()))

    hf = os.path.join(t, "l_hf")
    rc, so, se = merge(base, ad, hf, "--hf", "--shard-size", "60000")
    ok = rc == 0 and os.path.isfile(os.path.join(hf, "model.safetensors.index.json"))
    Hm = {}
    if ok:
        cfg = json.load(open(os.path.join(hf, "config.json")))
        idx = json.load(open(os.path.join(hf, "model.safetensors.index.json")))
        for shard in sorted(set(idx["weight_map"].values())):
            Hm.update(MA.read_safetensors(os.path.join(hf, shard)))
        ok = (cfg["vocab_size"] == VN and cfg["tie_word_embeddings"] is False and
              len(set(idx["weight_map"].values())) > 1)
    check(ok and set(Hm) == set(M) and all(np.array_equal(Hm[n], M[n]) for n in M),
          "--hf --shard-size: config.json vocab_size 260, untied, shards hold the .safetensors output's tensors (%s)"
          % se.strip())
    if ok:
        llama_runs(t, hf, Hm, "the --hf folder")
    llama_refusals(t, rng, base, B0)


def llama_refusals(t, rng, base, B0):
    E = "model.embed_tokens"
    cases = [
        ("wide", full(E, rng.normal(0, 1, (VN, 40))), ["embed_tokens", "[260, 40]", "[256, 48]"],
         "a saved table of another width"),
        ("short", full(E, rng.normal(0, 1, (250, C))), ["embed_tokens", "[250, 48]", "[256, 48]"],
         "a saved table with fewer rows"),
        ("headonly", full("lm_head", rng.normal(0, 1, (VN, C))), ["adds tokens", "lm_head", "embed_tokens"],
         "tokens added to lm_head only"),
        ("score", full("score", rng.normal(0, 1, (2, C))), ["score", "not a tensor"], "a tensor the model lacks"),
    ]
    for name, tens, words, what in cases:
        d = os.path.join(t, "r_" + name)
        MA.write_peft(d, tens, modules_to_save=[name])
        rc, so, se = merge(base, d, os.path.join(t, "x.safetensors"))
        check(one_error(rc, se, *words), "refused, one line naming module and shapes: %s (%s)" % (what, se.strip()))
    d = os.path.join(t, "l_mts")
    rc, so, se = merge(base, d, os.path.join(t, "x.safetensors"), "--unmerge")
    check(one_error(rc, se, "full tensor", "cannot be undone"), "--unmerge of full tensors: one line (%s)" % se.strip())


# ---- conv, and the unmerged adapters in eval/generate ----

def refusals(t, gbase):
    kd = os.path.join(t, "kinds")
    MA.kinds(kd)
    rc, so, se = merge(gbase, os.path.join(kd, "conv"), os.path.join(t, "x.safetensors"))
    check(one_error(rc, se, "conv LoRA", "analysis-only", "cannot be merged"), "conv LoRA: one line, exit 1 (%s)"
          % se.strip())
    for ad in ("g_mts", "g_emb", "g_dora"):
        p = os.path.join(t, ad)
        rc, so, se = run("eval", "--base", gbase, "--adapter", p, "--task", "supersense", "--task-file", SS)
        check(one_error(rc, se, "lorascope merge"), "eval of %s unmerged: one line saying to merge first (%s)"
              % (ad, se.strip()))
        rc, so, se = run("generate", "--base", gbase, "--adapter", p, "--prompt", "x", "--tokens", "2")
        check(one_error(rc, se, "lorascope merge"), "generate of %s unmerged: one line saying to merge first (%s)"
              % (ad, se.strip()))


def main():
    rng = np.random.default_rng(1414)
    with tempfile.TemporaryDirectory() as t:
        gbase = gpt(t, rng)
        llama(t, rng)
        refusals(t, gbase)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
