"""test_intruders.py — `lorascope intruders` (issue 17, point 1): intruder
dimensions of W = W0 + ΔW against W0 (Shuttleworth et al. 2024).

  * known answers: ΔW = U0·diag(σ' − σ)·V0ᵀ (W's singular directions are
    W0's, with other singular values, once in W0's order and once reversed)
    has no intruders at any k, ε; a planted rank-1 ΔW = s·u·v0ᵀ with W0 tall
    (24 × 16, full column rank), u orthogonal to W0's column space, v0 W0's
    last right singular vector (σ_min) and s = 3σ_1 has exactly one left
    intruder, at index 1 with σ = sqrt(s² + σ_min²) (its |cos| with W0's
    vectors is σ_min / σ ≈ 0.01), at every k and every ε >= 0.1 of the grid,
    and no right intruder (its right vector is v0).
  * random inputs (a LoRA adapter on a random base, one module stored
    transposed with fan_in_fan_out, and the same ΔW as a fully fine-tuned
    model through --finetuned): every cosine, σ, count and the default
    cell's intruders equal an independent numpy implementation.
  * the null: in [0, k], its p-value in (0, 1], the same with the same seed
    and different with another; on a random ΔW of small norm the count
    (0) is the null's within its spread.
  * bad input (missing base weight, shape mismatch, ADAPTER and --finetuned
    both): one line, exit != 0, no output file.
  * --plots: intruders.{png,svg,pdf} and the per-layer intruders_layers.
  * `lorascope collect`'s vintr verdict on constructed runs (3 seeds, LoRA and full): its effect
    is the mean paired difference of the merged intruders_total, n the seeds, the state "shown"
    exactly when the interval lies above 0; each side against its null (effect = mean of count −
    null_total_mean); the per-cell summary; a cell without merged outputs: one line, exit 1.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_adapters as mk  # noqa: E402
from testlib import check, run, skip, summary  # noqa: E402

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

KS = [2, 5, 10, 16]
EPS = [0.1, 0.3, 0.5, 0.7, 0.9]
KDEF, EDEF = 5, 0.5


def intr(tmp, out, *args, ok=True):
    h5 = os.path.join(tmp, out + ".h5")
    rc, so, se = run("intruders", *args, "-o", h5, "--k", ",".join(map(str, KS)),
                     "--eps", ",".join(map(str, EPS)), "--at", "%d,%g" % (KDEF, EDEF), "--null-draws", "20")
    if ok and rc != 0:
        print(se)
    return rc, so, se, h5


def oracle(W0, dW):
    """numpy: cos_left, cos_right, sigma, base_sigma (all min(d, k))."""
    U0, S0, V0t = np.linalg.svd(W0, full_matrices=False)
    U, S, Vt = np.linalg.svd(W0 + dW, full_matrices=False)
    cl = np.abs(U.T @ U0).max(axis=1)
    cr = np.abs(Vt @ V0t.T).max(axis=1)
    return cl, cr, S, S0


def grid(cos):
    return np.array([[np.sum(cos[:min(k, len(cos))] < e) for e in EPS] for k in KS], dtype=float)


def read(h5, m):
    with h5py.File(h5, "r") as f:
        g = f["modules"][m]
        return {k: g[k][()] for k in g.keys()}, dict(g.attrs), dict(f.attrs)


def adapter_of(dirname, name, dW, r):
    """An adapter of rank r whose s·B·A is dW (r = rank of dW): B = U·σ, A = Vᵀ, alpha = r."""
    U, S, Vt = np.linalg.svd(dW, full_matrices=False)
    mk.write_adapter(dirname, {name: (Vt[:r].astype(np.float32), (U[:, :r] * S[:r]).astype(np.float32))}, r, r)


# ---- known answers ----

def known_rotation(tmp):
    rng = np.random.default_rng(1)
    d, k = 24, 16
    U0 = np.linalg.qr(rng.normal(size=(d, k)))[0]
    V0 = np.linalg.qr(rng.normal(size=(k, k)))[0]
    s = 10.0 * 0.8 ** np.arange(k)
    W0 = ((U0 * s) @ V0.T).astype(np.float32)
    mk.write_safetensors(os.path.join(tmp, "rot_base.safetensors"), [("h.0.attn.q_proj.weight", W0, "F32")])
    U0, s, V0t = np.linalg.svd(W0.astype(np.float64), full_matrices=False)   # of the stored W0
    for tag, s2 in (("rescaled", s * (1.0 + 0.04 * np.arange(k))), ("reversed", s[::-1].copy())):
        a = os.path.join(tmp, "rot_" + tag)
        dW = (U0 * (s2 - s)) @ V0t
        adapter_of(a, "h.0.attn.q_proj", dW, k)
        rc, so, se, h5 = intr(tmp, "rot_" + tag, a, "--base", os.path.join(tmp, "rot_base.safetensors"))
        if not check(rc == 0, "known answer (%s singular values, same directions): runs %s" % (tag, se.strip()[:200])):
            continue
        ds, at, _ = read(h5, "h.0.attn.q_proj")
        check(at["n_intruders"] == 0 and not ds["count_left"].any() and not ds["count_right"].any() and
              ds["intruder_index"].size == 0 and ds["cos_left"].min() > 0.999,
              "known answer: W0 with its own singular directions and %s singular values has no intruders "
              "at any k, eps (min cos %.6f)" % (tag, ds["cos_left"].min()))


def known_planted(tmp):
    rng = np.random.default_rng(2)
    d, k = 24, 16
    U0 = np.linalg.qr(rng.normal(size=(d, k)))[0]
    V0 = np.linalg.qr(rng.normal(size=(k, k)))[0]
    W0 = ((U0 * (10.0 * 0.8 ** np.arange(k))) @ V0.T).astype(np.float32)
    mk.write_safetensors(os.path.join(tmp, "pl_base.safetensors"), [("h.0.attn.v_proj.weight", W0, "F32")])
    U0, s, V0t = np.linalg.svd(W0.astype(np.float64), full_matrices=True)
    u = U0[:, k]                     # orthogonal to W0's column space
    v = V0t[k - 1]                   # W0's last right singular vector
    sp = 3.0 * s[0]
    a = os.path.join(tmp, "planted")
    mk.write_adapter(a, {"h.0.attn.v_proj": (v[None, :].astype(np.float32), (sp * u[:, None]).astype(np.float32))},
                     1, 1)
    rc, so, se, h5 = intr(tmp, "planted", a, "--base", os.path.join(tmp, "pl_base.safetensors"))
    if not check(rc == 0, "known answer (planted orthogonal direction): runs %s" % se.strip()[:200]):
        return
    ds, at, root = read(h5, "h.0.attn.v_proj")
    sig = np.sqrt(sp ** 2 + s[k - 1] ** 2)
    check(at["n_intruders"] == 1 and list(ds["intruder_index"]) == [1] and
          abs(ds["intruder_sigma"][0] - sig) < 1e-4 * sig,
          "known answer: a planted s*u*v0^T with u orthogonal to W0's columns, s = 3 sigma_1, is exactly one intruder "
          "at k=%d, eps=%g: index 1, sigma = sqrt(s^2 + sigma_min^2) = %.5f (got %s, %s)"
          % (KDEF, EDEF, sig, list(ds["intruder_index"]), list(ds["intruder_sigma"])))
    check(np.array_equal(ds["count_left"], np.ones((len(KS), len(EPS)))),
          "known answer: planted direction: count_left = 1 at every k of %s and eps of %s" % (KS, EPS))
    check(abs(ds["cos_left"][0] - s[k - 1] / sig) < 1e-4 and ds["cos_left"][1:].min() > 0.999,
          "known answer: planted direction: its |cos| is sigma_min / sigma_1(W) = %.5f, every other one 1 (got %.5f)"
          % (s[k - 1] / sig, ds["cos_left"][0]))
    check(at["n_intruders_right"] == 0 and not ds["count_right"].any(),
          "known answer: planted direction: no right intruder (its right singular vector is W0's v_min)")
    check(root["intruders_total"] == 1 and 0 <= at["null_mean"] <= KDEF and 0 < at["p_value"] <= 1,
          "planted: intruders_total = 1; the null's mean in [0, k], p in (0, 1] (null mean %.3g, p %.3g)"
          % (at["null_mean"], at["p_value"]))


# ---- random inputs against numpy ----

def random_case(tmp):
    rng = np.random.default_rng(5)
    shapes = {"h.0.attn.q_proj": (20, 14), "h.1.attn.v_proj": (12, 18)}
    W0 = {m: (rng.normal(size=s) * 0.3 + 2.0 * np.outer(rng.normal(size=s[0]), rng.normal(size=s[1])) / 5)
          .astype(np.float32) for m, s in shapes.items()}
    mods, dWs = {}, {}
    for m, (d, k) in shapes.items():
        A = rng.normal(size=(4, k)).astype(np.float32)
        B = (rng.normal(size=(d, 4)) * 0.4).astype(np.float32)
        mods[m] = (A, B)
        dWs[m] = (8.0 / 4) * (B.astype(np.float64) @ A.astype(np.float64))
    a = os.path.join(tmp, "rand")
    mk.write_adapter(a, mods, 4, 8)
    # v_proj stored transposed (GPT-2 Conv1D) in a fan_in_fan_out base: a second adapter on it
    mk.write_safetensors(os.path.join(tmp, "rand_base.safetensors"),
                         [(m + ".weight", W0[m], "F32") for m in shapes])
    mk.write_safetensors(os.path.join(tmp, "rand_base_t.safetensors"),
                         [(m + ".weight", W0[m].T.copy(), "F32") for m in shapes])
    at = os.path.join(tmp, "rand_t")
    mk.write_adapter(at, mods, 4, 8, fan_in_fan_out=True)
    mk.write_safetensors(os.path.join(tmp, "rand_ft.safetensors"),
                         [(m + ".weight", W0[m].astype(np.float64) + dWs[m], "F64") for m in shapes])
    runs = [("adapter", [a, "--base", os.path.join(tmp, "rand_base.safetensors")]),
            ("adapter, fan_in_fan_out (base stored [k, d])", [at, "--base", os.path.join(tmp, "rand_base_t.safetensors")]),
            ("--finetuned", ["--base", os.path.join(tmp, "rand_base.safetensors"), "--finetuned",
                             os.path.join(tmp, "rand_ft.safetensors"), "--targets", "q,v"])]
    for tag, args in runs:
        rc, so, se, h5 = intr(tmp, "rand_" + str(abs(hash(tag)) % 1000), *args)
        if not check(rc == 0, "random inputs (%s): runs %s" % (tag, se.strip()[:200])):
            continue
        problems = []
        for m in shapes:
            ds, at_, _ = read(h5, m)
            cl, cr, S, S0 = oracle(W0[m].astype(np.float64), dWs[m])
            km = at_["k_max"]
            near = np.min(np.abs(np.subtract.outer(np.concatenate([cl[:km], cr[:km]]), EPS + [EDEF])))
            if km != min(max(KS), *shapes[m]):
                problems.append("%s k_max %d" % (m, km))
            for name, got, want, tol in (("cos_left", ds["cos_left"], cl[:km], 1e-5),
                                         ("cos_right", ds["cos_right"], cr[:km], 1e-5),
                                         ("sigma", ds["sigma"], S[:km], 1e-5 * S[0]),
                                         ("base_sigma", ds["base_sigma"], S0[:km], 1e-6 * S0[0])):
                if got.shape != want.shape or np.max(np.abs(got - want)) > tol:
                    problems.append("%s %s off by %.3g" % (m, name, np.max(np.abs(got - want))))
            if near < 1e-4:
                problems.append("%s: a cosine within 1e-4 of a threshold (test input)" % m)
            kd = min(KDEF, km)
            idx = [i + 1 for i in range(kd) if cl[i] < EDEF]
            if not (np.array_equal(ds["count_left"], grid(cl[:km])) and np.array_equal(ds["count_right"], grid(cr[:km]))
                    and at_["n_intruders"] == len(idx) and list(ds["intruder_index"]) == idx and
                    np.allclose(ds["intruder_sigma"], S[np.array(idx, dtype=int) - 1], rtol=1e-5) and
                    at_["n_intruders_right"] == np.sum(cr[:kd] < EDEF)):
                problems.append("%s counts/intruders" % m)
            if not (0 <= at_["null_mean"] <= kd and np.all((ds["null_count"] >= 0) & (ds["null_count"] <= kd))):
                problems.append("%s null out of [0, k]" % m)
        check(not problems, "random inputs (%s): every cosine, sigma, count grid and the default cell's intruders "
              "equal numpy's %s" % (tag, problems[:3]))


def null_checks(tmp):
    a = os.path.join(tmp, "rand")
    base = os.path.join(tmp, "rand_base.safetensors")
    r1 = intr(tmp, "n1", a, "--base", base, "--null-seed", "7")[3]
    r2 = intr(tmp, "n2", a, "--base", base, "--null-seed", "7", "--threads", "1")[3]
    r3 = intr(tmp, "n3", a, "--base", base, "--null-seed", "8")[3]
    m = "h.0.attn.q_proj"
    n1, n2, n3 = (read(h, m)[0]["null_count_mean"] for h in (r1, r2, r3))
    d1, d3 = read(r1, m)[0]["null_count"], read(r3, m)[0]["null_count"]
    check(np.array_equal(n1, n2) and not (np.array_equal(n1, n3) and np.array_equal(d1, d3)),
          "null: the same --null-seed gives the same draws (any --threads), another seed other draws")
    # a random dW of small norm: no intruders, and none in the null either
    rng = np.random.default_rng(9)
    d, k = 20, 14
    W0 = (rng.normal(size=(d, k))).astype(np.float32)
    mk.write_safetensors(os.path.join(tmp, "small_base.safetensors"), [("h.0.attn.q_proj.weight", W0, "F32")])
    s = os.path.join(tmp, "small")
    mk.write_adapter(s, {"h.0.attn.q_proj": ((rng.normal(size=(2, k)) * 1e-3).astype(np.float32),
                                             (rng.normal(size=(d, 2)) * 1e-3).astype(np.float32))}, 2, 2)
    rc, so, se, h5 = intr(tmp, "small", s, "--base", os.path.join(tmp, "small_base.safetensors"))
    if check(rc == 0, "null on a small random dW: runs"):
        ds, at, _ = read(h5, "h.0.attn.q_proj")
        check(abs(at["n_intruders"] - at["null_mean"]) <= 2 * at["null_sd"] + 0.5 and at["null_q95"] <= KDEF,
              "null: on a random dW of small norm the count (%d) equals the null's within its spread "
              "(mean %.3g, sd %.3g)" % (at["n_intruders"], at["null_mean"], at["null_sd"]))


def bad_input(tmp):
    base = os.path.join(tmp, "rand_base.safetensors")
    miss = os.path.join(tmp, "miss")
    rng = np.random.default_rng(3)
    mk.write_adapter(miss, {"h.5.attn.k_proj": mk.lora_pair(rng, 20, 14, 2)}, 2, 2)
    shp = os.path.join(tmp, "shp")
    mk.write_adapter(shp, {"h.0.attn.q_proj": mk.lora_pair(rng, 21, 14, 2)}, 2, 2)
    mk.write_safetensors(os.path.join(tmp, "bad_ft.safetensors"),
                         [("h.0.attn.q_proj.weight", np.zeros((20, 15), np.float32), "F32")])
    cases = [("missing base weight", [miss, "--base", base], "no base weight"),
             ("shape mismatch", [shp, "--base", base], "shape"),
             ("--finetuned of another shape", ["--base", base, "--finetuned", os.path.join(tmp, "bad_ft.safetensors"),
                                               "--targets", "q"], "shape"),
             ("ADAPTER and --finetuned both", [shp, "--base", base, "--finetuned", base], "either"),
             ("--eps outside (0, 1]", [shp, "--base", base, "--eps", "0.5,1.5"], "--eps")]
    for tag, args, word in cases:
        h5 = os.path.join(tmp, "bad.h5")
        rc, so, se = run("intruders", *args, "-o", h5)
        lines = [x for x in se.strip().splitlines() if x and not x.startswith("Try ")]
        check(rc != 0 and len(lines) == 1 and word in lines[0] and not os.path.exists(h5),
              "bad input (%s): one line naming it, exit %d, no output (%s)" % (tag, rc, lines[:2]))
    rc, _, _, _ = intr(tmp, "bad", miss, "--base", base, ok=False)
    check(rc == 1, "bad input: a missing base weight exits 1")
    # a weight wider than 16384 (the null would rotate R^16400 densely): skipped with one warning
    rng = np.random.default_rng(4)
    big = {"h.0.attn.q_proj.weight": rng.normal(size=(16400, 3)).astype(np.float32),
           "h.1.attn.q_proj.weight": rng.normal(size=(12, 10)).astype(np.float32)}
    mk.write_safetensors(os.path.join(tmp, "big0.safetensors"), [(k, v, "F32") for k, v in big.items()])
    mk.write_safetensors(os.path.join(tmp, "big1.safetensors"), [(k, v + 0.1, "F32") for k, v in big.items()])
    rc, so, se, h5 = intr(tmp, "big", "--base", os.path.join(tmp, "big0.safetensors"), "--finetuned",
                          os.path.join(tmp, "big1.safetensors"), "--targets", "q", ok=False)
    mods = list(h5py.File(h5, "r")["modules"]) if rc == 0 else []
    check(rc == 0 and mods == ["h.1.attn.q_proj"] and "h.0.attn.q_proj" in se and "not analysed" in se,
          "a module with a dimension above 16384 is skipped with a warning naming it, the others analysed (%s)"
          % se.strip()[:200])


def plots(tmp):
    figs = os.path.join(tmp, "figs")
    rc, so, se = run("intruders", os.path.join(tmp, "rand"), "--base", os.path.join(tmp, "rand_base.safetensors"),
                     "-o", os.path.join(tmp, "p.h5"), "--plots", figs, "--null-draws", "5")
    if not shutil.which("gnuplot"):
        skip("--plots figures", "no gnuplot")
        return
    check(rc == 0 and all(os.path.getsize(os.path.join(figs, s + e)) > 0 for s in ("intruders", "intruders_layers")
                          for e in (".png", ".svg", ".pdf")),
          "--plots: intruders (count against eps per k) and intruders_layers in PNG, SVG and PDF")


def fake_run(d, rid, kind, seed, acc, payload):
    """A finished run for collect: run.json, eval.json and the adapter (or model)."""
    os.makedirs(d, exist_ok=True)
    json.dump({"id": rid, "kind": kind, "targets": "q,v", "rank": 1 if kind == "lora" else 0, "seed": seed,
               "lr": 1e-3, "config_sha": "x", "train_seconds": 1.0}, open(os.path.join(d, "run.json"), "w"))
    json.dump({"accuracy": acc, "val_loss": 1.0, "perplexity": 2.7, "majority_accuracy": 0.1, "suffix_accuracy": 0.1,
               "n_items": 29}, open(os.path.join(d, "eval.json"), "w"))
    if kind == "full":
        shutil.copy(payload, os.path.join(d, "model.safetensors"))
    else:
        shutil.copytree(payload, os.path.join(d, "adapter"))


def collect_verdict(tmp):
    rng = np.random.default_rng(21)
    d, k = 20, 14
    W0 = (rng.normal(size=(d, k)) * 0.3).astype(np.float32)
    base = os.path.join(tmp, "v_base.safetensors")
    mk.write_safetensors(base, [("h.0.attn.q_proj.weight", W0, "F32")])
    man = ["attr\tstudy\tintruders"]
    for s in (1, 2, 3):
        a = os.path.join(tmp, "v_ad%d" % s)
        mk.write_adapter(a, {"h.0.attn.q_proj": ((rng.normal(size=(s, k))).astype(np.float32),
                                                 (rng.normal(size=(d, s)) * 0.5).astype(np.float32))}, s, s)
        ft = os.path.join(tmp, "v_ft%d.safetensors" % s)
        mk.write_safetensors(ft, [("h.0.attn.q_proj.weight", W0 + (0.02 * s * rng.normal(size=(d, k))).astype(np.float32),
                                   "F32")])
        fake_run(os.path.join(tmp, "runs", "l%d" % s), "l%d" % s, "lora", s, 0.2 + 0.01 * s, a)
        fake_run(os.path.join(tmp, "runs", "f%d" % s), "f%d" % s, "full", s, 0.3, ft)
        for c, args in (("qv_r1", [a]), ("full", ["--finetuned", ft, "--targets", "q"])):
            h5 = os.path.join(tmp, "v_%s_s%d.h5" % (c, s))
            rc, _, se = run("intruders", "--base", base, *args, "-o", h5, "--null-draws", "20", "--at", "5,0.5")
            if rc != 0:
                print(se)
            man.append("merge\tintr_%s_s%d\t%s" % (c, s, h5))
        man.append("run\tqv_r1\t%s" % os.path.join(tmp, "runs", "l%d" % s))
        man.append("run\tfull\t%s" % os.path.join(tmp, "runs", "f%d" % s))
    mf = os.path.join(tmp, "m.tsv")
    open(mf, "w").write("\n".join(man + ["vintr\tlvf\tfull qv_r1"]) + "\n")
    out = os.path.join(tmp, "study.h5")
    rc, so, se = run("collect", mf, "-o", out)
    if not check(rc == 0, "collect vintr: runs on constructed runs %s" % se.strip()[:300]):
        return
    cnt = {c: [] for c in ("qv_r1", "full")}
    nul = {c: [] for c in ("qv_r1", "full")}
    with h5py.File(out, "r") as f:
        for c in cnt:
            for s in (1, 2, 3):
                cnt[c].append(f["intr_%s_s%d" % (c, s)].attrs["intruders_total"])
                nul[c].append(f["intr_%s_s%d" % (c, s)].attrs["null_total_mean"])
        v = dict(f["verdicts/lvf"].attrs)
        vl, vf = dict(f["verdicts/lvf.lora_null"].attrs), dict(f["verdicts/lvf.full_null"].attrs)
        sm = dict(f["summary"].attrs)
    diff = np.array(cnt["qv_r1"]) - np.array(cnt["full"])
    check(abs(v["effect"] - diff.mean()) < 1e-9 and v["n"] == 3 and
          (v["state"] == 1) == (v["lo"] > 0 and v["effect"] > 0 and (v["lo"] < v["hi"] or v["p"] < 0.05)) and
          "paired" in v["test"],
          "collect vintr: effect = mean over seeds of LoRA minus full intruders_total (%.3g, got %.3g), n = 3, "
          "shown exactly when the paired t interval lies above 0 (state %d, lo %.3g)"
          % (diff.mean(), v["effect"], v["state"], v["lo"]))
    check(abs(vl["effect"] - np.mean(np.array(cnt["qv_r1"]) - nul["qv_r1"])) < 1e-9 and
          abs(vf["effect"] - np.mean(np.array(cnt["full"]) - nul["full"])) < 1e-9 and
          "Haar" in vl["null"],
          "collect vintr: each side against its random-rotation null (effect = mean of count - null_total_mean)")
    check(abs(sm["intr.qv_r1.count_mean"] - np.mean(cnt["qv_r1"])) < 1e-9 and
          abs(sm["intr.full.null_mean"] - np.mean(nul["full"])) < 1e-9 and
          abs(sm["intr.qv_r1.accuracy"] - 0.22) < 1e-9,
          "collect vintr: /summary intr.<cell>.count_mean, null_mean and accuracy per cell")
    # the accuracy-matched form: LoRA at 22 %, full fine-tuning at 30 % (8 points apart)
    open(mf, "w").write("\n".join(man + ["vintr\tm5\tfull qv_r1 match=5", "vintr\tm10\tfull qv_r1 match=10"]) + "\n")
    rc, so, se = run("collect", mf, "-o", os.path.join(tmp, "study_m.h5"))
    if check(rc == 0, "collect vintr match=: runs %s" % se.strip()[:300]):
        with h5py.File(os.path.join(tmp, "study_m.h5"), "r") as f:
            m5, m10 = dict(f["verdicts/m5"].attrs), dict(f["verdicts/m10"].attrs)
        check(m5["state"] == -1 and "no LoRA cell within 5 points" in m5["evidence"] and "30.0%" in m5["evidence"],
              "collect vintr match=5: accuracies 8 points apart -> not measured, saying why (%s)" % m5["evidence"])
        check(m10["state"] in (0, 1) and abs(m10["effect"] - diff.mean()) < 1e-9 and
              "matched within 10 points" in m10["evidence"] and "equal task accuracy" in m10["null"],
              "collect vintr match=10: within the tolerance -> the paired test, accuracies in its evidence (%s)"
              % m10["evidence"])
    open(mf, "w").write("\n".join(man + ["vintr\tbad\tfull qv_r1 match=x"]) + "\n")
    rc, so, se = run("collect", mf, "-o", os.path.join(tmp, "study_b.h5"))
    check(rc == 1 and "match=x" in se and len(se.strip().splitlines()) == 1,
          "collect vintr: match=x refused in one line (%s)" % se.strip()[:200])
    open(mf, "w").write("\n".join(man + ["vintr\tlvf\tfull qv_r9"]) + "\n")
    rc, so, se = run("collect", mf, "-o", os.path.join(tmp, "study2.h5"))
    lines = [x for x in se.strip().splitlines() if x]
    check(rc == 1 and len(lines) == 1 and "qv_r9" in lines[0],
          "collect vintr: a cell without runs: one line naming it, exit 1 (%s)" % lines[:2])


def main():
    if h5py is None:
        skip("intruders", "no h5py")
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc-intr-")
    try:
        known_rotation(tmp)
        known_planted(tmp)
        random_case(tmp)
        null_checks(tmp)
        bad_input(tmp)
        plots(tmp)
        collect_verdict(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
