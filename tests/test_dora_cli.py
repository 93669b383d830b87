#!/usr/bin/python3
"""test_dora_cli.py — DoRA adapters in `lorascope spectrum`, `amplify` and
`subspace` (analysis/dora_update.c, lib/dora.c), against an independent
numpy computation of the effective update
    dW = m ⊙ (W0 + s·B·A) / ‖W0 + s·B·A‖_row − W0
(PEFT's DoraLinearLayer: the norm per output row after undoing
fan_in_fan_out). Writes, with tests/make_adapters.py's PEFT writer, a DoRA
adapter with Llama names (q_proj 32×32, v_proj 16×32, up_proj 80×32,
down_proj 32×80; r = 4, α = 8) and a GPT-2 Conv1D one (fan_in_fan_out: the
base stored [in, out]), their bases as one .safetensors file and as a
Hugging Face folder (config.json + model.safetensors). Checks:
  - spectrum --base: all min(d, k) singular values of every module = numpy's
    SVD of the effective dW (1e-8 relative to σ₁), attributes update /
    effective_update = 1, the text output says so; the HF folder base gives
    identical datasets; fan_in_fan_out too; a base without the module's
    weight: exit 1 naming it;
  - without --base: exit 1, one line "PATH: module M is DoRA: ... --base
    MODEL ... --factors-only ..."; with --factors-only: the singular values
    of s·B·A, effective_update = 0, update says NOT the effective update,
    and the text output too;
  - amplify --base: delta_singular_values (top r), delta_fro (the whole
    effective update), proj_delta = ‖U_rᵀ W V_r‖_F and amplification of the
    effective dW vs numpy (1e-8), update attributes, and identical /modules
    with the HF folder base; fan_in_fan_out too; --factors-only: s·B·A's;
  - subspace of two DoRA adapters on the same base: φ on the top-r right
    (--factor A) and left (--factor B) singular vectors of each effective dW
    vs numpy (1e-8), effective_update = 1; refused without --base (one line);
    --factors-only: effective_update = 0;
  - a llama2.c checkpoint as the base (tests/test_generate_llama.py's random
    model): spectrum and amplify of a DoRA adapter on its v_proj and
    down_proj give identical /modules to a .safetensors base of the same
    weights;
  - a plain LoRA adapter (make_adapters suite's a8): spectrum with --base and
    --factors-only gives exactly the datasets and attributes of a run without
    them, and no update attribute; amplify with --factors-only = without;

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped".
"""
import json
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402
import make_adapters as MA  # noqa: E402

P = "base_model.model."
LLAMA = {"model.layers.0.self_attn.q_proj": (32, 32), "model.layers.0.self_attn.v_proj": (16, 32),
         "model.layers.0.mlp.up_proj": (80, 32), "model.layers.0.mlp.down_proj": (32, 80)}
R, ALPHA = 4, 8.0
S = ALPHA / R


def dora_tensors(rng, shapes, base, ffo=False, shift=0.0):
    """PEFT keys of a DoRA adapter on base ({name: W as stored}); the
    magnitude near the row norms of W0 + sBA (as after some training)."""
    t, mods = [], {}
    for name, (d, k) in shapes.items():
        A = (rng.uniform(-1, 1, (R, k)) / np.sqrt(k)).astype(np.float32)
        B = rng.normal(0, 0.2, (d, R)).astype(np.float32)
        W0 = base[name].astype(np.float64)
        W0 = W0.T if ffo else W0
        V = W0 + S * (B.astype(np.float64) @ A.astype(np.float64))
        m = (np.linalg.norm(V, axis=1) * rng.uniform(0.7, 1.4 + shift, d)).astype(np.float32)
        t += [(P + name + ".lora_A.weight", A, "F32"), (P + name + ".lora_B.weight", B, "F32"),
              (P + name + ".lora_magnitude_vector", m, "F32")]
        mods[name] = (A, B, m)
    return t, mods


def effective(W0, A, B, m):
    V = W0.astype(np.float64) + S * (B.astype(np.float64) @ A.astype(np.float64))
    return (m.astype(np.float64) / np.linalg.norm(V, axis=1))[:, None] * V - W0.astype(np.float64)


def write_base(path, shapes, rng, ffo=False):
    base = {}
    for name, (d, k) in shapes.items():
        base[name] = rng.normal(0, 0.3, (k, d) if ffo else (d, k)).astype(np.float32)
    MA.write_safetensors(path, [(n + ".weight", w, "F32") for n, w in base.items()], {"format": "pt"})
    return base


def hf_folder(d, base):
    os.makedirs(d, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
           "intermediate_size": 80, "num_hidden_layers": 1, "num_attention_heads": 4,
           "num_key_value_heads": 2, "vocab_size": 50, "rms_norm_eps": 1e-5}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    MA.write_safetensors(os.path.join(d, "model.safetensors"),
                         [(n + ".weight", w, "F32") for n, w in base.items()], {"format": "pt"})


def h5_modules(path):
    """{module: ({dataset: array}, {attr: value})} below /modules."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and any(isinstance(v, h5py.Dataset) for v in obj.values()):
                out[name] = ({k: v[()] for k, v in obj.items() if isinstance(v, h5py.Dataset)},
                             {k: v for k, v in obj.attrs.items()})
        f["modules"].visititems(visit)
    return out


def same_modules(a, b):
    if sorted(a) != sorted(b):
        return False
    for k in a:
        da, aa = a[k]
        db, ab = b[k]
        if sorted(da) != sorted(db) or any(not np.array_equal(da[n], db[n], equal_nan=True) for n in da):
            return False
        if sorted(aa) != sorted(ab):
            return False
        for n in aa:
            x, y = aa[n], ab[n]
            if isinstance(x, (float, np.floating)):
                if not (x == y or (np.isnan(x) and np.isnan(y))):
                    return False
            elif x != y:
                return False
    return True


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


# ---- spectrum ----

def test_spectrum(T, ad, mods, base, ffo_ad, ffo_mods, ffo_base):
    out = os.path.join(T, "spec.h5")
    rc, so, se = run("spectrum", ad, "-o", out, "--threads", "2")
    lines = se.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and "is DoRA: its effective update needs the base (--base MODEL), "
          "or --factors-only to analyse s·B·A" in se and ad in se and "model.layers.0" in se,
          "spectrum without --base: exit 1, one line naming the adapter, module and both ways out (%r)" % se)
    check(not os.path.exists(out), "refused: no output file")

    rc, so, se = run("spectrum", ad, "--base", base, "-o", out, "--threads", "2")
    check(rc == 0, "spectrum --base FILE: exit 0 (%s)" % se.strip())
    got = h5_modules(out)
    B0 = MA.read_safetensors(base)
    worst, attrs_ok = 0.0, True
    for name, (A, B, m) in mods.items():
        W0 = B0[name + ".weight"]
        sv = np.linalg.svd(effective(W0, A, B, m), compute_uv=False)
        g = got.get(name)
        if g is None or g[0]["singular_values"].shape != sv.shape:
            worst = np.inf
            continue
        worst = max(worst, np.max(np.abs(g[0]["singular_values"] - sv)) / sv[0])
        attrs_ok &= int(g[1].get("effective_update", -1)) == 1 and \
            g[1].get("update", b"") in ("DoRA effective: m ⊙ (W0 + sBA)/‖·‖_row − W0",
                                        "DoRA effective: m ⊙ (W0 + sBA)/‖·‖_row − W0".encode())
        attrs_ok &= abs(g[1]["delta_fro"] - np.sqrt(np.sum(sv ** 2))) <= 1e-8 * sv[0]
    check(worst <= 1e-8, "spectrum: all min(d, k) singular values of the effective dW = numpy's (max rel %.3g)" % worst)
    check(attrs_ok, "spectrum: update / effective_update = 1 and delta_fro per DoRA module")
    check("[DoRA effective update]" in so, "spectrum text output names the effective DoRA update")

    hf = os.path.join(T, "base_hf")
    hf_folder(hf, {n[:-len(".weight")]: w for n, w in B0.items()})
    out2 = os.path.join(T, "spec_hf.h5")
    rc, so, se = run("spectrum", ad, "--base", hf, "-o", out2, "--threads", "1")
    check(rc == 0 and same_modules(h5_modules(out2), got),
          "spectrum --base HF folder = --base .safetensors (identical /modules) (%s)" % se.strip())

    out3 = os.path.join(T, "spec_ffo.h5")
    rc, so, se = run("spectrum", ffo_ad, "--base", ffo_base, "-o", out3)
    F0 = dict(MA.read_safetensors(ffo_base))
    worst = 0.0
    g3 = h5_modules(out3) if rc == 0 else {}
    for name, (A, B, m) in ffo_mods.items():
        sv = np.linalg.svd(effective(F0[name + ".weight"].T, A, B, m), compute_uv=False)
        g = g3.get(name)
        worst = max(worst, np.inf if g is None else np.max(np.abs(g[0]["singular_values"] - sv)) / sv[0])
    check(rc == 0 and worst <= 1e-8, "spectrum, fan_in_fan_out (base [in, out]): effective dW's singular "
          "values = numpy's (max rel %.3g) %s" % (worst, se.strip()))

    rc, so, se = run("spectrum", ad, "--base", ffo_base, "-o", os.path.join(T, "spec_missing.h5"))
    check(rc == 1 and "no base weight for DoRA module" in se and ffo_base in se,
          "spectrum with a base lacking the module's weight: exit 1 naming the base and module (%s)" % se.strip())
    out4 = os.path.join(T, "spec_fo.h5")
    rc, so, se = run("spectrum", ad, "--factors-only", "-o", out4)
    g4 = h5_modules(out4) if rc == 0 else {}
    worst, attrs_ok = 0.0, rc == 0
    for name, (A, B, m) in mods.items():
        sv = np.linalg.svd(S * (B.astype(np.float64) @ A.astype(np.float64)), compute_uv=False)[:R]
        g = g4.get(name)
        if g is None:
            worst = np.inf
            continue
        worst = max(worst, np.max(np.abs(g[0]["singular_values"] - sv)) / sv[0])
        u = g[1].get("update", "")
        u = u.decode() if isinstance(u, bytes) else u
        attrs_ok &= int(g[1].get("effective_update", -1)) == 0 and "NOT the effective DoRA update" in u
    check(worst <= 1e-8, "spectrum --factors-only: the r singular values of s·B·A (max rel %.3g)" % worst)
    check(attrs_ok, "spectrum --factors-only: effective_update = 0, update says NOT the effective update")
    check("NOT the effective DoRA update" in so, "spectrum --factors-only: the text output says so")


def amp_oracle(W, dW, K):
    U, sv, Vt = np.linalg.svd(dW, full_matrices=False)
    pd = np.linalg.norm(U[:, :K].T @ W @ Vt[:K].T)
    fro = np.linalg.norm(dW)
    return sv[:K], fro, pd, fro / pd


def check_amp(out, mods, W0s, effective, what):
    g = h5_modules(out)
    worst, attrs_ok = 0.0, True
    for name, (A, B, m) in mods.items():
        W = W0s[name]
        dW = effective(W, A, B, m) if effective else S * (B.astype(np.float64) @ A.astype(np.float64))
        sv, fro, pd, amp = amp_oracle(W, dW, R)
        x = g.get(name)
        if x is None:
            return check(False, "%s: module %s written" % (what, name))
        d, a = x
        worst = max(worst, rel(d["delta_singular_values"], sv), abs(a["delta_fro"] - fro) / fro,
                    abs(a["proj_delta"] - pd) / pd, abs(a["amplification"] - amp) / amp)
        attrs_ok &= int(a.get("effective_update", -1)) == (1 if effective else 0)
    check(worst <= 1e-8, "%s: top-r singular values, delta_fro, proj_delta, amplification = numpy's "
          "(max rel %.3g)" % (what, worst))
    check(attrs_ok, "%s: effective_update = %d per DoRA module" % (what, 1 if effective else 0))
    return g


def test_amplify(T, ad, mods, base, ffo_ad, ffo_mods, ffo_base):
    B0 = {n[:-len(".weight")]: w for n, w in MA.read_safetensors(base).items()}
    F0 = {n[:-len(".weight")]: w.T for n, w in MA.read_safetensors(ffo_base).items()}
    out = os.path.join(T, "amp.h5")
    rc, so, se = run("amplify", ad, "--base", base, "-o", out, "--null-draws", "20")
    check(rc == 0 and "[DoRA effective update]" in so, "amplify --base: exit 0, text names the effective "
          "update (%s)" % se.strip())
    g = check_amp(out, mods, B0, effective, "amplify DoRA effective") if rc == 0 else {}
    out2 = os.path.join(T, "amp_hf.h5")
    rc, so, se = run("amplify", ad, "--base", os.path.join(T, "base_hf"), "-o", out2, "--null-draws", "20")
    check(rc == 0 and same_modules(h5_modules(out2), g), "amplify --base HF folder = --base .safetensors")
    out3 = os.path.join(T, "amp_ffo.h5")
    rc, so, se = run("amplify", ffo_ad, "--base", ffo_base, "-o", out3, "--null-draws", "20")
    check(rc == 0, "amplify fan_in_fan_out: exit 0 (%s)" % se.strip())
    if rc == 0:
        check_amp(out3, ffo_mods, F0, effective, "amplify DoRA effective, fan_in_fan_out")
    out4 = os.path.join(T, "amp_fo.h5")
    rc, so, se = run("amplify", ad, "--base", base, "--factors-only", "-o", out4, "--null-draws", "20")
    check(rc == 0 and "NOT the effective DoRA update" in so, "amplify --factors-only: exit 0, text says "
          "NOT the effective update")
    if rc == 0:
        check_amp(out4, mods, B0, None, "amplify --factors-only (s·B·A)")


def phi_oracle(dW1, dW2, factor):
    def basis(dW):
        U, sv, Vt = np.linalg.svd(dW, full_matrices=False)
        return Vt[:R] if factor == "A" else U[:, :R].T
    G = basis(dW1) @ basis(dW2).T
    C = np.cumsum(np.cumsum(G ** 2, axis=0), axis=1)
    mn = np.minimum.outer(np.arange(1, R + 1), np.arange(1, R + 1))
    return C / mn


def test_subspace(T, ad, mods, base, ad2, mods2):
    B0 = {n[:-len(".weight")]: w for n, w in MA.read_safetensors(base).items()}
    out = os.path.join(T, "sub.h5")
    rc, so, se = run("subspace", ad, ad2, "-o", out, "--null-draws", "10")
    check(rc == 1 and len(se.strip().splitlines()) == 1 and "is DoRA: its effective update needs the base" in se,
          "subspace without --base: exit 1, one line (%s)" % se.strip())
    for factor in ("A", "B"):
        out = os.path.join(T, "sub%s.h5" % factor)
        rc, so, se = run("subspace", ad, ad2, "--base", base, "--factor", factor, "-o", out,
                         "--null-draws", "10")
        g = h5_modules(out) if rc == 0 else {}
        worst, attrs_ok = 0.0, rc == 0 and "[DoRA effective update]" in so
        for name in mods:
            want = phi_oracle(effective(B0[name], *mods[name]), effective(B0[name], *mods2[name]), factor)
            x = g.get(name)
            if x is None:
                worst = np.inf
                continue
            worst = max(worst, float(np.max(np.abs(x[0]["phi"] - want))))
            attrs_ok &= int(x[1].get("effective_update", -1)) == 1
        check(worst <= 1e-8, "subspace --base --factor %s: phi of the effective updates' top-r singular "
              "vectors = numpy's (max abs diff %.3g) %s" % (factor, worst, se.strip()))
        check(attrs_ok, "subspace --factor %s: effective_update = 1, text names the effective update" % factor)
    out = os.path.join(T, "sub_fo.h5")
    rc, so, se = run("subspace", ad, ad2, "--factors-only", "-o", out, "--null-draws", "10")
    g = h5_modules(out) if rc == 0 else {}
    check(rc == 0 and len(g) == len(mods) and
          all(int(a.get("effective_update", -1)) == 0 for _, a in g.values()) and
          "NOT the effective DoRA update" in so, "subspace --factors-only: effective_update = 0, text says so")


def test_llama2c_base(T):
    import test_generate_llama as G
    cfg, w, v0, v1 = G.random_model()
    l2c = os.path.join(T, "l2c.bin")
    with open(l2c, "wb") as f:
        f.write(v1)
    W = {"model.layers.0.self_attn.v_proj": w["wv"][0], "model.layers.1.mlp.down_proj": w["w2"][1]}
    st = os.path.join(T, "l2c_same.safetensors")
    MA.write_safetensors(st, [(n + ".weight", a.astype(np.float32), "F32") for n, a in W.items()],
                         {"format": "pt"})
    rng = np.random.default_rng(7)
    t, _ = dora_tensors(rng, {n: a.shape for n, a in W.items()}, W)
    ad = os.path.join(T, "dora_l2c")
    MA.write_peft(ad, t, use_dora=True, r=R, lora_alpha=ALPHA, target_modules=["v_proj", "down_proj"])
    for cmd, extra in (("spectrum", []), ("amplify", ["--null-draws", "10"])):
        o1, o2 = os.path.join(T, cmd + "_l2c.h5"), os.path.join(T, cmd + "_st.h5")
        r1, _, e1 = run([cmd, ad, "--base", l2c, "-o", o1] + extra)
        r2, _, e2 = run([cmd, ad, "--base", st, "-o", o2] + extra)
        g1 = h5_modules(o1) if r1 == 0 else {}
        check(r1 == 0 and r2 == 0 and len(g1) == 2 and same_modules(g1, h5_modules(o2)),
              "%s --base llama2.c checkpoint = --base .safetensors of the same weights (%s%s)"
              % (cmd, e1.strip(), e2.strip()))


def test_lora_unchanged(T, a8, base_a):
    o1, o2 = os.path.join(T, "l1.h5"), os.path.join(T, "l2.h5")
    r1 = run("spectrum", a8, "-o", o1)[0]
    r2 = run("spectrum", a8, "--base", base_a, "--factors-only", "-o", o2)[0]
    g1, g2 = h5_modules(o1), h5_modules(o2)
    check(r1 == 0 and r2 == 0 and same_modules(g1, g2) and
          not any("update" in a or "effective_update" in a for _, a in g1.values()),
          "LoRA adapter: spectrum with --base/--factors-only = without (identical datasets and "
          "attributes, no update attribute)")
    o3, o4 = os.path.join(T, "l3.h5"), os.path.join(T, "l4.h5")
    r3 = run("amplify", a8, "--base", base_a, "-o", o3, "--null-draws", "20")[0]
    r4 = run("amplify", a8, "--base", base_a, "--factors-only", "-o", o4, "--null-draws", "20")[0]
    g3 = h5_modules(o3)
    check(r3 == 0 and r4 == 0 and same_modules(g3, h5_modules(o4)) and
          not any("update" in a for _, a in g3.values()),
          "LoRA adapter: amplify with --factors-only = without, no update attribute")


def main():
    with tempfile.TemporaryDirectory() as T:
        rng = np.random.default_rng(2024)
        base = os.path.join(T, "base.safetensors")
        B0 = write_base(base, LLAMA, rng)
        ad = os.path.join(T, "dora")
        t, mods = dora_tensors(rng, LLAMA, B0)
        MA.write_peft(ad, t, use_dora=True, r=R, lora_alpha=ALPHA,
                      target_modules=["q_proj", "v_proj", "up_proj", "down_proj"])
        gpt = {"transformer.h.0.attn.c_attn": (96, 32), "transformer.h.0.attn.c_proj": (32, 32)}
        ffo_base = os.path.join(T, "base_ffo.safetensors")
        F0 = write_base(ffo_base, gpt, rng, ffo=True)
        ffo_ad = os.path.join(T, "dora_ffo")
        t, ffo_mods = dora_tensors(rng, gpt, F0, ffo=True)
        MA.write_peft(ffo_ad, t, use_dora=True, r=R, lora_alpha=ALPHA, fan_in_fan_out=True,
                      target_modules=["c_attn", "c_proj"])
        test_spectrum(T, ad, mods, base, ffo_ad, ffo_mods, ffo_base)
        test_amplify(T, ad, mods, base, ffo_ad, ffo_mods, ffo_base)
        ad2 = os.path.join(T, "dora2")
        t, mods2 = dora_tensors(rng, LLAMA, B0, shift=0.3)
        MA.write_peft(ad2, t, use_dora=True, r=R, lora_alpha=ALPHA,
                      target_modules=["q_proj", "v_proj", "up_proj", "down_proj"])
        test_subspace(T, ad, mods, base, ad2, mods2)
        test_llama2c_base(T)
        suite = os.path.join(T, "suite")
        MA.suite(suite)
        test_lora_unchanged(T, os.path.join(suite, "a8"), os.path.join(suite, "base_a.safetensors"))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
