#!/usr/bin/python3
"""test_kinds_cli.py — every adapter kind of issue 14 analysed against its
base (analysis/base_match.c, amplify, spectrum, quanterr, subspace), on
adapters written by tests/make_adapters.py (`kinds`, PEFT's layout) and the
base its kinds_base writes, checked against numpy:
  - amplify --base on embedding LoRA: W is the TRANSPOSE of the [vocab, dim]
    table (s·B·A is [dim, vocab]); on conv LoRA (Conv2d 3x3, Conv1d k=5) the
    kernel [out, in, k...] read as [out, in·prod(k)]: delta/base singular
    values, base_fro, proj_delta = ‖U_Kᵀ W V_K‖_F and amplification vs numpy
    (1e-8), attributes kind / base_matrix / base_transposed, the output line
    says so; the Hugging Face folder base gives identical /modules; a
    llama2.c checkpoint's model.embed_tokens too;
  - spectrum --base on modules_to_save full tensors: singular values of
    dW = weight[:base rows] − W0 vs numpy, n_added_rows / added_rows_fro
    (lm_head saved with two added tokens), kind = "full tensor", update;
    without --base: one warning line naming them and no group; the LoRA
    module unchanged; a llama2.c base's lm_head too;
  - quanterr on a DoRA adapter: dW = m ⊙ (Wq + sBA)/‖·‖_row − Wq with
    Wq = W − E (E from --store-error): delta singular values, delta_fro,
    cos_delta_error, error_coef vs numpy; update / effective_update /
    dora_base attributes;
  - the spectrum plot title names what was analysed (DoRA effective update,
    DoRA factors only, full tensors);
  - subspace --allow-zero-update = the old --factor-only (hidden alias),
    without it a B = 0 module is degenerate; --help sets the two apart;
  - DIR:NAME with an unknown NAME lists every adapter, subfolders included.

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped".
"""
import json
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, skip, summary  # noqa: E402
import make_adapters as MA  # noqa: E402
from test_dora_cli import h5_modules, hf_folder, rel, same_modules  # noqa: E402

P = "base_model.model."


def amp_expect(dW, W, K):
    """amplify's numbers for the analysed matrices dW and W (both [d, k])."""
    U, S, Vt = np.linalg.svd(dW)
    proj = np.linalg.norm(U[:, :K].T @ W @ Vt[:K].T)
    return {"delta_singular_values": S[:K], "base_singular_values": np.linalg.svd(W, compute_uv=False)[:K],
            "base_fro": np.linalg.norm(W), "delta_fro": np.linalg.norm(dW), "proj_delta": proj,
            "amplification": np.linalg.norm(dW) / proj}


def check_amp(out, expect, label):
    g = h5_modules(out)
    for name, (dW, W, K, kind, transposed) in expect.items():
        if name not in g:
            check(False, "%s: module %s written" % (label, name))
            continue
        ds, at = g[name]
        e = amp_expect(dW, W, K)
        worst = max(rel(ds[n] if n in ds else at[n], e[n]) for n in e)
        check(worst <= 1e-8, "%s %s (%s): singular values, base_fro, proj_delta, amplification vs numpy "
                             "(max rel %.3g)" % (label, name, kind, worst))
        check(at.get("kind") == kind and at.get("base_transposed") == transposed and
              ("transposed" in at.get("base_matrix", "") if transposed else "reshaped" in at.get("base_matrix", "")),
              "%s %s: attributes kind = %s, base_transposed = %d, base_matrix says how (%s)"
              % (label, name, kind, transposed, at.get("base_matrix")))


# ---- amplify: embedding and conv LoRA ----

def test_amplify(T, K, base, scales):
    B0 = MA.read_safetensors(base)
    emb = MA.read_safetensors(os.path.join(K, "emb", "adapter_model.safetensors"))
    conv = MA.read_safetensors(os.path.join(K, "conv", "adapter_model.safetensors"))
    s_e, s_c = scales["emb"], scales["conv"]
    q = P + "h.0.attn.q_proj."
    exp_e = {"wte": (s_e["wte"] * emb[P + "wte.lora_embedding_B"] @ emb[P + "wte.lora_embedding_A"],
                     B0["wte.weight"].T, 4, "embedding LoRA", 1)}
    exp_lin = (s_e["h.0.attn.q_proj"] * emb[q + "lora_B.weight"] @ emb[q + "lora_A.weight"],
               B0["h.0.attn.q_proj.weight"], 4)
    exp_c = {}
    for name in ("unet.conv_in", "audio.conv1"):
        A, B = conv[P + name + ".lora_A.weight"], conv[P + name + ".lora_B.weight"]
        W = B0[name + ".weight"]
        exp_c[name] = (s_c[name] * B.reshape(B.shape[0], -1) @ A.reshape(A.shape[0], -1),
                       W.reshape(W.shape[0], -1), 4, "conv LoRA", 0)
    for ad, exp, tag in (("emb", exp_e, "embedding"), ("conv", exp_c, "conv")):
        out = os.path.join(T, "amp_%s.h5" % ad)
        rc, so, se = run("amplify", os.path.join(K, ad), "--base", base, "-o", out, "--null-draws", "10")
        check(rc == 0, "amplify --base on %s LoRA: exit 0 (%s)" % (tag, se.strip()))
        if rc != 0:
            continue
        check_amp(out, exp, "amplify")
        rows = so.splitlines()
        lines = [next((ln for ln in rows if ln.startswith(n + " ")), "") for n in exp]   # the table row
        word = "transposed" if ad == "emb" else "reshaped"
        check(all(word in ln for ln in lines),
              "amplify %s: each module's output line says the base was %s" % (tag, word))
        hf = os.path.join(T, "hf_base")
        hf_folder(hf, {n[:-len(".weight")]: a for n, a in B0.items()})
        out2 = os.path.join(T, "amp_%s_hf.h5" % ad)
        rc2, _, se2 = run("amplify", os.path.join(K, ad), "--base", hf, "-o", out2, "--null-draws", "10")
        check(rc2 == 0 and same_modules(h5_modules(out), h5_modules(out2)),
              "amplify %s: a Hugging Face folder base gives identical /modules (%s)" % (tag, se2.strip()))
    g = h5_modules(os.path.join(T, "amp_emb.h5"))
    if "h.0.attn.q_proj" in g:
        ds, at = g["h.0.attn.q_proj"]
        e = amp_expect(*exp_lin)
        check(rel(at["proj_delta"], e["proj_delta"]) <= 1e-8 and "kind" not in at and "base_matrix" not in at,
              "amplify: the emb adapter's Linear LoRA module as before (proj_delta vs numpy, no kind attribute)")


def test_llama2c(T):
    import test_generate_llama as G
    _, w, _, v1 = G.random_model()
    l2c = os.path.join(T, "l2c.bin")
    with open(l2c, "wb") as f:
        f.write(v1)
    vocab, dim = w["embed"].shape
    st = os.path.join(T, "l2c_same.safetensors")
    MA.write_safetensors(st, [("model.embed_tokens.weight", w["embed"].astype(np.float32), "F32"),
                              ("lm_head.weight", w["lm_head"].astype(np.float32), "F32")], {"format": "pt"})
    rng = np.random.default_rng(3)
    A = rng.normal(0, 1, (4, vocab)).astype(np.float32)
    B = rng.normal(0, 0.1, (dim, 4)).astype(np.float32)
    head = rng.normal(0, 0.2, (vocab + 2, dim)).astype(np.float32)
    ad = os.path.join(T, "emb_l2c")
    MA.write_peft(ad, [(P + "model.embed_tokens.lora_embedding_A", A, "F32"),
                       (P + "model.embed_tokens.lora_embedding_B", B, "F32"),
                       (P + "lm_head.weight", head, "F32")],
                  target_modules=["embed_tokens"], modules_to_save=["lm_head"], r=4, lora_alpha=8)
    o1, o2 = os.path.join(T, "l2c_amp.h5"), os.path.join(T, "st_amp.h5")
    r1, _, e1 = run("amplify", ad, "--base", l2c, "-o", o1, "--null-draws", "10")
    r2, _, e2 = run("amplify", ad, "--base", st, "-o", o2, "--null-draws", "10")
    ok = r1 == 0 and r2 == 0 and same_modules(h5_modules(o1), h5_modules(o2))
    check(ok, "amplify embedding LoRA: llama2.c checkpoint base = .safetensors base (%s%s)" % (e1.strip(), e2.strip()))
    if ok:
        check_amp(o1, {"model.embed_tokens": (2.0 * B.astype(np.float64) @ A, w["embed"].T, 4, "embedding LoRA", 1)},
                  "amplify (llama2.c base)")
    o3, o4 = os.path.join(T, "l2c_spec.h5"), os.path.join(T, "st_spec.h5")
    r3, _, e3 = run("spectrum", ad, "--base", l2c, "-o", o3)
    r4, _, e4 = run("spectrum", ad, "--base", st, "-o", o4)
    g = h5_modules(o3) if r3 == 0 else {}
    ok = r3 == 0 and r4 == 0 and same_modules(g, h5_modules(o4)) and "lm_head" in g
    check(ok, "spectrum full lm_head: llama2.c checkpoint base = .safetensors base (%s%s)" % (e3.strip(), e4.strip()))
    if ok:
        sv = np.linalg.svd(head[:vocab].astype(np.float64) - w["lm_head"], compute_uv=False)
        check(rel(g["lm_head"][0]["singular_values"], sv) <= 1e-8 and g["lm_head"][1]["n_added_rows"] == 2,
              "spectrum full lm_head (llama2.c base): singular values of weight[:vocab] − W0 vs numpy, 2 added rows")


# ---- spectrum: modules_to_save full tensors ----

def test_full(T, K, base, scales):
    B0 = MA.read_safetensors(base)
    ad = os.path.join(K, "mts")
    Wt = MA.read_safetensors(os.path.join(ad, "adapter_model.safetensors"))
    o0 = os.path.join(T, "mts0.h5")
    rc, so, se = run("spectrum", ad, "-o", o0)
    warn = [ln for ln in se.splitlines() if "lm_head" in ln]
    g0 = h5_modules(o0) if rc == 0 else {}
    check(rc == 0 and len(warn) == 1 and "model.embed_tokens" in warn[0] and "--base" in warn[0] and
          sorted(g0) == ["model.layers.0.self_attn.q_proj"],
          "spectrum without --base: full tensors named in one line saying a base is needed, not written (%s)"
          % se.strip())
    o1 = os.path.join(T, "mts1.h5")
    rc, so, se = run("spectrum", ad, "--base", base, "-o", o1)
    g1 = h5_modules(o1) if rc == 0 else {}
    check(rc == 0 and sorted(g1) == ["lm_head", "model.embed_tokens", "model.layers.0.self_attn.q_proj"],
          "spectrum --base: the two full tensors are analysed too (%s)" % se.strip())
    if rc != 0:
        return
    for name, added in (("lm_head", 2), ("model.embed_tokens", 0)):
        Wa = Wt[P + name + ".weight"]
        W0 = B0[name + ".weight"]
        n0 = W0.shape[0]
        sv = np.linalg.svd(Wa[:n0] - W0, compute_uv=False)
        ds, at = g1[name]
        check(rel(ds["singular_values"], sv) <= 1e-8 and abs(at["delta_fro"] - np.linalg.norm(sv)) <= 1e-8 * np.linalg.norm(sv),
              "spectrum %s: singular values of weight[:%d] − W0 vs numpy (rel %.3g)" % (name, n0, rel(ds["singular_values"], sv)))
        afro = np.linalg.norm(Wa[n0:]) if added else 0.0
        check(at["n_added_rows"] == added and abs(at["added_rows_fro"] - afro) <= 1e-6 * max(afro, 1) and
              at["base_rows"] == n0 and at["kind"] == "full tensor" and "weight[:base_rows] − W0" in at["update"] and
              at["r"] == 0, "spectrum %s: n_added_rows = %d, added_rows_fro, base_rows, kind = full tensor, update"
              % (name, added))
    line = [ln for ln in so.splitlines() if ln.startswith("lm_head ")]
    check(len(line) == 1 and "2 added-token rows" in line[0] and "full tensor" in line[0],
          "spectrum: the lm_head line says full tensor and 2 added-token rows excluded")
    check(same_modules({"q": g0["model.layers.0.self_attn.q_proj"]}, {"q": g1["model.layers.0.self_attn.q_proj"]}),
          "spectrum: the LoRA module of mts identical with and without --base")
    # amplify: full tensors with --rank K (top-K directions of weight[:rows] − W0); skipped without
    o2, o3 = os.path.join(T, "amp_mts.h5"), os.path.join(T, "amp_mts3.h5")
    rc, so, se = run("amplify", ad, "--base", base, "-o", o2, "--null-draws", "10")
    skipped = [ln for ln in so.splitlines() if "2 full tensors" in ln and "--rank K" in ln]
    check(rc == 0 and len(skipped) == 1 and not se.strip() and
          sorted(h5_modules(o2)) == ["model.layers.0.self_attn.q_proj"],
          "amplify without --rank: the full tensors not analysed, one output line asking for --rank K (%s)"
          % se.strip())
    rc, _, se = run("amplify", ad, "--base", base, "-o", o3, "--null-draws", "10", "--rank", "3")
    g3 = h5_modules(o3) if rc == 0 else {}
    ok = rc == 0 and "lm_head" in g3 and "model.embed_tokens" in g3
    check(ok, "amplify --rank 3: the full tensors analysed (%s)" % se.strip())
    for name, added in (("lm_head", 2), ("model.embed_tokens", 0)) if ok else ():
        W0 = B0[name + ".weight"].astype(np.float64)
        dW = Wt[P + name + ".weight"][:W0.shape[0]] - W0
        ds, at = g3[name]
        e = amp_expect(dW, W0, 3)
        worst = max(rel(ds[n] if n in ds else at[n], e[n]) for n in e)
        check(worst <= 1e-8 and at["kind"] == "full tensor" and at["n_added_rows"] == added and
              at["rank"] == 3 and at["out_features"] == W0.shape[0],
              "amplify %s (full tensor): top-3 singular values, delta_fro, proj_delta, amplification of "
              "weight[:rows] − W0 vs numpy (max rel %.3g), kind, n_added_rows = %d" % (name, worst, added))
    bad = os.path.join(T, "bad_base.safetensors")
    MA.write_safetensors(bad, [("lm_head.weight", np.zeros((13, 6), np.float32), "F32"),
                               ("model.embed_tokens.weight", np.zeros((11, 6), np.float32), "F32")])
    rc, so, se = run("spectrum", ad, "--base", bad, "-o", os.path.join(T, "bad.h5"))
    check(rc == 1 and len(se.strip().splitlines()) == 1 and "lm_head" in se and "13" in se,
          "spectrum: a base lm_head with more rows than the saved one: exit 1, one line (%s)" % se.strip())


def test_full_only(T, K, base):
    """An adapter of modules_to_save tensors alone: analysed with a base, one clear line without."""
    ad = os.path.join(T, "fullonly")
    Wt = MA.read_safetensors(os.path.join(K, "mts", "adapter_model.safetensors"))
    MA.write_peft(ad, [(P + n + ".weight", Wt[P + n + ".weight"], "F32") for n in ("lm_head", "model.embed_tokens")],
                  modules_to_save=["lm_head", "embed_tokens"])
    o = os.path.join(T, "fullonly.h5")
    rc, so, se = run("spectrum", ad, "--base", base, "-o", o)
    g = h5_modules(o) if rc == 0 else {}
    B0 = MA.read_safetensors(base)
    W0 = B0["lm_head.weight"]
    sv = np.linalg.svd(Wt[P + "lm_head.weight"][:W0.shape[0]] - W0, compute_uv=False)
    check(rc == 0 and sorted(g) == ["lm_head", "model.embed_tokens"] and rel(g["lm_head"][0]["singular_values"], sv) <= 1e-8,
          "spectrum --base on an adapter of full tensors only: both analysed, lm_head vs numpy (%s)" % se.strip())
    for args, what in ((("spectrum", ad, "-o", o + "x"), "spectrum without --base"),
                       (("amplify", ad, "--base", base, "-o", o + "y"), "amplify without --rank"),
                       (("subspace", ad, ad, "-o", o + "z"), "subspace")):
        rc, so, se = run(*args)
        err = [ln for ln in se.splitlines() if "warning" not in ln]
        check(rc == 1 and len(err) == 1 and "full tensors" in err[0] and "(null)" not in se and
              not os.path.exists(args[-1]), "%s on full tensors only: exit 1, one line, no output (%s)"
              % (what, se.strip()))


# ---- quanterr on DoRA ----

def test_quanterr_dora(T):
    rng = np.random.default_rng(11)
    d, k, r, s = 48, 64, 4, 2.0
    W = rng.normal(0, 0.3, (d, k)).astype(np.float32)
    base = os.path.join(T, "qbase.safetensors")
    MA.write_safetensors(base, [("h.0.attn.q_proj.weight", W, "F32")], {"format": "pt"})
    A = (rng.uniform(-1, 1, (r, k)) / np.sqrt(k)).astype(np.float32)
    B = rng.normal(0, 0.2, (d, r)).astype(np.float32)
    m = (np.linalg.norm(W + s * B @ A, axis=1) * rng.uniform(0.8, 1.2, d)).astype(np.float32)
    ad = os.path.join(T, "qdora")
    q = P + "h.0.attn.q_proj."
    MA.write_peft(ad, [(q + "lora_A.weight", A, "F32"), (q + "lora_B.weight", B, "F32"),
                       (q + "lora_magnitude_vector", m, "F32")], use_dora=True, r=r, lora_alpha=8)
    out = os.path.join(T, "qdora.h5")
    rc, so, se = run("quanterr", base, ad, "-o", out, "--top", "8", "--store-error")
    check(rc == 0 and "DoRA effective update" in so, "quanterr on a DoRA adapter: exit 0, the line says the "
                                                     "effective update (%s)" % se.strip())
    if rc != 0:
        return
    ds, at = h5_modules(out)["h.0.attn.q_proj"]
    E = ds["error"]
    Wq = W.astype(np.float64) - E
    V = Wq + s * (B.astype(np.float64) @ A.astype(np.float64))
    dW = (m.astype(np.float64) / np.linalg.norm(V, axis=1))[:, None] * V - Wq
    sv = np.linalg.svd(dW, compute_uv=False)
    inner = float(np.sum(dW * E))
    want = {"delta_singular_values": sv[:r], "delta_fro": np.linalg.norm(dW),
            "cos_delta_error": inner / (np.linalg.norm(dW) * np.linalg.norm(E)),
            "error_coef": inner / np.linalg.norm(E) ** 2}
    worst = max(rel(ds[n] if n in ds else at[n], v) for n, v in want.items())
    check(worst <= 1e-7, "quanterr DoRA: delta singular values, delta_fro, cos_delta_error, error_coef of "
                         "m*(Wq + sBA)/|.|_row - Wq vs numpy (max rel %.3g)" % worst)
    # the LoRA reading would differ: s·B·A's singular values are not these
    lora = np.linalg.svd(s * B.astype(np.float64) @ A, compute_uv=False)[:r]
    check(rel(ds["delta_singular_values"], lora) > 1e-3, "quanterr DoRA: not the s·B·A values (LoRA reading)")
    check(at.get("effective_update") == 1 and at.get("update", "").startswith("DoRA effective") and
          "deq(Q(W))" in at.get("dora_base", ""),
          "quanterr DoRA: attributes update, effective_update = 1, dora_base")


# ---- plot titles, subspace options, adapter names ----

def svg_title(d):
    p = os.path.join(d, "spectrum.svg")
    if not os.path.exists(p):
        return None
    with open(p, encoding="utf-8", errors="replace") as f:
        return f.read()


def test_titles(T, K):
    base = os.path.join(T, "dora_base.safetensors")
    rng = np.random.default_rng(4)
    MA.write_safetensors(base, [("h.0.attn.q_proj.weight", rng.normal(0, 1, (6, 5)).astype(np.float32), "F32"),
                                ("h.1.attn.q_proj.weight", rng.normal(0, 1, (6, 5)).astype(np.float32), "F32")])
    ad = os.path.join(K, "dora")
    d1, d2 = os.path.join(T, "figs_eff"), os.path.join(T, "figs_fac")
    r1, _, e1 = run("spectrum", ad, "--base", base, "-o", os.path.join(T, "t1.h5"), "--plots", d1)
    r2, _, e2 = run("spectrum", ad, "--factors-only", "-o", os.path.join(T, "t2.h5"), "--plots", d2)
    s1, s2 = svg_title(d1), svg_title(d2)
    if r1 == 0 and r2 == 0 and (s1 is None or s2 is None):
        skip("spectrum plot titles", "no figure written (gnuplot missing?)")
        return
    check(r1 == 0 and s1 is not None and "DoRA effective update" in s1 and "s·B·A" not in s1,
          "spectrum --base on DoRA: the plot title says the effective DoRA update, not s·B·A (%s)" % e1.strip())
    check(r2 == 0 and s2 is not None and "NOT the effective update" in s2,
          "spectrum --factors-only on DoRA: the plot title says factors only, NOT the effective update (%s)" % e2.strip())


def test_subspace_opts(T):
    rng = np.random.default_rng(9)
    mk = lambda d, zero: MA.write_peft(d, [  # noqa: E731
        (P + "h.0.attn.q_proj.lora_A.weight", rng.normal(0, 1, (4, 10)).astype(np.float32), "F32"),
        (P + "h.0.attn.q_proj.lora_B.weight", (0 if zero else 1) * rng.normal(0, 1, (8, 4)).astype(np.float32), "F32")])
    a, b = os.path.join(T, "sa"), os.path.join(T, "sb")
    mk(a, True)
    mk(b, True)
    outs = {}
    for tag, extra in (("none", []), ("new", ["--allow-zero-update"]), ("old", ["--factor-only"])):
        o = os.path.join(T, "ss_%s.h5" % tag)
        rc, _, se = run(["subspace", a, b, "-o", o, "--null-draws", "10"] + extra)
        outs[tag] = h5_modules(o) if rc == 0 else None
    n, new, old = outs["none"], outs["new"], outs["old"]
    check(n is not None and n["h.0.attn.q_proj"][1]["degenerate"] == 1,
          "subspace of two B = 0 adapters without the option: degenerate")
    check(new is not None and new["h.0.attn.q_proj"][1]["degenerate"] == 0 and
          np.all(np.isfinite(new["h.0.attn.q_proj"][0]["phi"])),
          "subspace --allow-zero-update: A compared, not degenerate")
    check(new is not None and old is not None and same_modules(new, old),
          "subspace --factor-only (old spelling) = --allow-zero-update")
    rc, so, _ = run("subspace", "--help")
    opt_lines = [ln.split()[0] for ln in so.splitlines() if ln.startswith("  --")]
    check(rc == 0 and "--allow-zero-update" in opt_lines and "--factors-only" in opt_lines and
          "--factor-only" not in opt_lines and "DoRA adapters" in so,
          "subspace --help: --allow-zero-update and --factors-only listed apart, --factor-only no longer an entry")


def test_names(K):
    rc, _, se = run("spectrum", os.path.join(K, "multi") + ":nope", "-o", "/nonexistent/x.h5")
    check(rc == 1 and len(se.strip().splitlines()) == 1 and "'nope'" in se and "default" in se and "french" in se,
          "DIR:NAME with an unknown NAME: one line listing every adapter, subfolders included (%s)" % se.strip())


def main():
    with tempfile.TemporaryDirectory() as T:
        K = os.path.join(T, "kinds")
        os.makedirs(K)
        MA.kinds(K)
        with open(os.path.join(K, "kinds.json")) as f:
            scales = json.load(f)
        base = os.path.join(T, "kinds_base.safetensors")
        MA.kinds_base(base)
        test_amplify(T, K, base, scales)
        test_llama2c(T)
        test_full(T, K, base, scales)
        test_full_only(T, K, base)
        test_quanterr_dora(T)
        test_titles(T, K)
        test_subspace_opts(T)
        test_names(K)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
