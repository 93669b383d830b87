"""test_diagnose.py — `lorascope diagnose` (issue 20, part 2) against an
independent numpy implementation and known answers.

  * planted spectra: ΔW = s·B·A with B = U·diag(σ)/s, A = Vᵀ (orthonormal U,
    V) has singular values σ: spike share σ₁²/Σσ², stable rank Σσ²/σ₁² and
    effective rank exp(H(σ²/Σσ²)) equal the closed forms ([3, 1, 1, 1]: 0.75,
    4/3, exp(H)), and the float32 factors' numpy SVD to ~1e-12.
  * a planted outlier: eleven modules with spike shares spread a little and
    one rank-1-dominated module: that one, and only it, is flagged; the
    robust z equals numpy's Iglewicz–Hoaglin z.
  * --base on a synthetic base whose W has a planted power-law spectrum
    (eigenvalues of WᵀW Pareto with α = 3): the base α within 2 SE of 3; α,
    SE, x_min, n_tail and the KS distance of W and of W + ΔW equal a numpy
    Clauset–Shalizi–Newman fit (brute force over every x_min); W stored
    transposed (fan_in_fan_out) gives the same.
  * the fixture adapters (GPT-Neo q/v, GPT-2 c_attn/c_proj): every module's
    ΔW spectrum and measures match numpy's dense SVD to ~1e-12; the
    stories260K llama2.c base with a synthetic adapter: W and W + ΔW's
    singular values and α match numpy.
  * degenerate modules (NaN in lora_A; lora_B = 0): NaN measures, a
    warning each, never flagged, left out of the others' robust z.
  * MAD = 0 (seven of ten modules rank 1): the mean-absolute-deviation
    fallback z; r = 1 everywhere (all equal): z = 0, nothing flagged.
  * --csv holds the file's numbers; bad input (missing base weight,
    misshapen base, --min-tail 1, no adapter): one line, exit != 0, no
    output file.
"""
import csv
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402
import make_adapters as mk  # noqa: E402
from testlib import check, fixtures_dir, run, skip, summary  # noqa: E402

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None


# ---- the numpy oracle ----

def measures(sv):
    e = np.asarray(sv, dtype=np.float64) ** 2
    s2 = e.sum()
    p = e / s2
    p = p[p > 0]
    return e.max() / s2, s2 / e.max(), np.exp(-np.sum(p * np.log(p)))


def csn(lam, min_tail=10):
    """Clauset–Shalizi–Newman: (alpha, se, xmin, ntail, ks), brute force."""
    x = np.sort(np.asarray(lam)[np.asarray(lam) > 0])
    best = None
    for j in range(len(x) - min_tail + 1):
        if j > 0 and x[j] == x[j - 1]:
            continue
        t = x[j:]
        nt = len(t)
        s = np.sum(np.log(t / x[j]))
        if s <= 0:
            continue
        a = 1 + nt / s
        P = 1 - (t / x[j]) ** (1 - a)
        i = np.arange(nt)
        D = max(np.max(P - i / nt), np.max((i + 1) / nt - P))
        if best is None or D < best[4]:
            best = (a, (a - 1) / np.sqrt(nt), x[j], nt, D)
    return best


def robust_z(x):
    x = np.asarray(x, dtype=np.float64)
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    if mad > 0:
        return 0.6745 * (x - med) / mad
    mean_ad = np.mean(np.abs(x - med))
    return (x - med) / (1.253314 * mean_ad) if mean_ad > 0 else np.zeros_like(x)


def orth(rng, n, p):
    q, _ = np.linalg.qr(rng.normal(size=(n, p)))
    return q


def planted(rng, d, k, sv, s):
    """(A, B) float32 with s·B·A = U diag(sv) Vᵀ."""
    r = len(sv)
    U, V = orth(rng, d, r), orth(rng, k, r)
    return V.T.astype(np.float32), (U * (np.asarray(sv) / s)).astype(np.float32)


def delta_of(A, B, s):
    return s * (B.astype(np.float64) @ A.astype(np.float64))


def diagnose(tmp, name, *args):
    h5 = os.path.join(tmp, name + ".h5")
    rc, so, se = run("diagnose", *args, "-o", h5, "--threads", "2")
    if rc != 0:
        print(se)
    return rc, so, se, h5


def modules(h5):
    with h5py.File(h5, "r") as f:
        return {m: ({k: g[k][()] for k in g.keys()}, dict(g.attrs)) for m, g in f["modules"].items()}, \
            dict(f.attrs)


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


# ---- planted spectra and the outlier ----

def test_planted(tmp):
    rng = np.random.default_rng(3)
    r, alpha = 4, 8.0
    s = alpha / r
    mods, svs = {}, {}
    for i in range(12):
        sv = [1.2 + 0.01 * i * (1 + 0.3 * (i % 3)), 1.0, 0.9, 0.8]
        if i == 7:
            sv = [3.0, 1.0, 1.0, 1.0]   # the planted spike (and the known answer)
        name = "h.%d.attn.q_proj" % i
        svs[name] = sv
        mods[name] = planted(rng, 40, 24, sv, s)
    ad = os.path.join(tmp, "planted")
    mk.write_adapter(ad, mods, r, alpha)
    rc, so, se, h5 = diagnose(tmp, "planted", ad, "--csv", os.path.join(tmp, "planted.csv"))
    if not check(rc == 0, "planted: runs"):
        return
    got, root = modules(h5)
    a = got["h.7.attn.q_proj"][1]
    H = -(0.75 * np.log(0.75) + 3 * (1 / 12) * np.log(1 / 12))
    check(close(a["delta_spike_share"], 0.75, 1e-6) and close(a["delta_stable_rank"], 4 / 3, 1e-6) and
          close(a["delta_effective_rank"], np.exp(H), 1e-6),
          "planted [3,1,1,1]: spike 0.75, stable rank 4/3, effective rank exp(H) (float32 factors: 1e-6)")
    worst = 0.0
    for name, (A, B) in mods.items():
        sv = np.linalg.svd(delta_of(A, B, s), compute_uv=False)[:r]
        ds, at = got[name]
        m = measures(sv)
        worst = max(worst, np.max(np.abs(ds["delta_singular_values"] - sv)) / sv[0],
                    abs(at["delta_spike_share"] - m[0]), abs(at["delta_stable_rank"] - m[1]) / m[1],
                    abs(at["delta_effective_rank"] - m[2]) / m[2])
    check(worst <= 1e-12, "planted: singular values and measures = numpy of the float32 factors (max rel %.2e)" % worst)
    names = sorted(got)
    z = robust_z([got[n][1]["delta_spike_share"] for n in names])
    zc = np.array([got[n][1]["spike_z"] for n in names])
    flagged = [n for n in names if got[n][1]["spike_flag"] == 1]
    check(np.max(np.abs(z - zc)) <= 1e-9, "planted: spike_z = numpy's robust z (max diff %.2e)" % np.max(np.abs(z - zc)))
    check(flagged == ["h.7.attn.q_proj"] and root["n_flagged_spike"] == 1,
          "planted: the planted spike is the only module flagged (%s)" % flagged)
    check("SPIKE" in so and so.count("SPIKE") == 1, "planted: the table marks one SPIKE")
    with open(os.path.join(tmp, "planted.csv")) as f:
        rows = [row for row in csv.DictReader(f) if row["quantity"] == "delta_spike_share"]
    check(len(rows) == 12 and all(close(float(x["value"]), got[x["module"]][1]["delta_spike_share"], 1e-15)
                                  for x in rows), "planted: --csv delta_spike_share rows = the HDF5 file's")


# ---- a base with a planted power law ----

def powerlaw_base(rng, d, k, alpha):
    """W (d, k) whose WᵀW eigenvalues are Pareto(alpha) draws with x_min 1."""
    n = min(d, k)
    lam = (1 - rng.uniform(size=n)) ** (-1 / (alpha - 1))
    return (orth(rng, d, n) * np.sqrt(lam)) @ orth(rng, k, n).T


def check_base(got, name, W, dW, tag):
    ds, at = got[name]
    ok = True
    for p, M in (("base", W), ("merged", W + dW)):
        sv = np.linalg.svd(M, compute_uv=False)
        fit = csn(sv ** 2)
        m = measures(sv)
        ok &= np.max(np.abs(ds[p + "_singular_values"] - sv)) <= 1e-12 * sv[0]
        ok &= close(at[p + "_spike_share"], m[0], 1e-12) and close(at[p + "_effective_rank"], m[2], 1e-12)
        ok &= close(at[p + "_alpha"], fit[0], 1e-9) and close(at[p + "_alpha_se"], fit[1], 1e-9)
        ok &= close(at[p + "_alpha_xmin"], fit[2], 1e-9) and at[p + "_alpha_ntail"] == fit[3]
        ok &= close(at[p + "_alpha_ks"], fit[4], 1e-9)
        if not ok:
            print("  %s %s: alpha %r vs %r, xmin %r vs %r, ntail %r vs %r" % (name, p, at[p + "_alpha"], fit[0],
                  at[p + "_alpha_xmin"], fit[2], at[p + "_alpha_ntail"], fit[3]))
    ok &= close(at["alpha_change"], at["merged_alpha"] - at["base_alpha"], 1e-15)
    return check(ok, "%s %s: W and W + dW singular values, measures and alpha fit = numpy" % (tag, name))


def test_base(tmp):
    rng = np.random.default_rng(11)
    d, k, r, alpha = 150, 120, 4, 8.0
    s = alpha / r
    W = powerlaw_base(rng, d, k, 3.0)
    A, B = mk.lora_pair(rng, d, k, r, 0.3)
    dW = delta_of(A, B, s)
    Wf = W.astype(np.float32).astype(np.float64)
    for tr in (0, 1):
        sub = os.path.join(tmp, "pl%d" % tr)
        os.makedirs(sub)
        name = "transformer.h.0.attn.c_attn" if tr else "model.layers.0.self_attn.q_proj"
        mk.write_safetensors(os.path.join(sub, "base.safetensors"),
                             [(name + ".weight", (W.T if tr else W).astype(np.float32), "F32")])
        mk.write_adapter(os.path.join(sub, "ad"), {name: (A, B)}, r, alpha, fan_in_fan_out=bool(tr))
        rc, so, se, h5 = diagnose(sub, "out", os.path.join(sub, "ad"), "--base",
                                  os.path.join(sub, "base.safetensors"))
        if not check(rc == 0, "power-law base (transposed %d): runs" % tr):
            continue
        got, root = modules(h5)
        at = got[name][1]
        if tr == 0:
            check(abs(at["base_alpha"] - 3.0) <= 2 * at["base_alpha_se"],
                  "power-law base: alpha %.3f within 2 SE (%.3f) of the planted 3 (n_tail %d of %d)"
                  % (at["base_alpha"], at["base_alpha_se"], at["base_alpha_ntail"], min(d, k)))
        check_base(got, name, Wf, dW, "power-law base (transposed %d):" % tr)
        check(root["min_tail"] == 10 and "Clauset" in str(root["definition_alpha"]),
              "power-law base: the file records min_tail and the definitions")


# ---- fixtures ----

def test_fixtures(tmp):
    fx = fixtures_dir("diagnose fixtures", "peft/gptneo125m-r8-qv", "peft/gpt2-tigrinya-r8-cattn-cproj",
                      "llama2c/stories260K/stories260K.bin")
    if not fx:
        return
    for sub in ("peft/gptneo125m-r8-qv", "peft/gpt2-tigrinya-r8-cattn-cproj"):
        ad = os.path.join(fx, sub)
        rc, so, se, h5 = diagnose(tmp, os.path.basename(sub), ad)
        if not check(rc == 0, "fixture %s: runs" % sub):
            continue
        import json
        cfg = json.load(open(os.path.join(ad, "adapter_config.json")))
        s = cfg["lora_alpha"] / cfg["r"]
        t = mk.read_safetensors(os.path.join(ad, "adapter_model.safetensors"))
        got, _ = modules(h5)
        worst, n = 0.0, 0
        for name, (ds, at) in got.items():
            A = t["base_model.model.%s.lora_A.weight" % name]
            B = t["base_model.model.%s.lora_B.weight" % name]
            sv = np.linalg.svd(s * B @ A, compute_uv=False)[:A.shape[0]]
            m = measures(sv)
            worst = max(worst, np.max(np.abs(ds["delta_singular_values"] - sv)) / sv[0],
                        abs(at["delta_spike_share"] - m[0]), abs(at["delta_stable_rank"] - m[1]) / m[1],
                        abs(at["delta_effective_rank"] - m[2]) / m[2])
            n += 1
        check(n == len(got) and n in (24, 36) and worst <= 1e-12,
              "fixture %s: %d modules' dW spectra and measures = numpy (max rel %.2e)" % (sub, n, worst))
    # the stories260K base with a synthetic adapter
    base = os.path.join(fx, "llama2c/stories260K/stories260K.bin")
    cfg, w = llama_ref.read_llama2c(base)
    rng = np.random.default_rng(5)
    mods, mats = {}, {}
    for l in range(cfg["n_layers"]):
        for nm, key in (("self_attn.q_proj", "wq"), ("self_attn.v_proj", "wv"), ("mlp.down_proj", "w2")):
            W = w[key][l]
            name = "model.layers.%d.%s" % (l, nm)
            mods[name] = mk.lora_pair(rng, W.shape[0], W.shape[1], 4, 0.2)
            mats[name] = W
    ad = os.path.join(tmp, "ad260")
    mk.write_adapter(ad, mods, 4, 8.0)
    rc, so, se, h5 = diagnose(tmp, "s260", ad, "--base", base)
    if not check(rc == 0, "stories260K base: runs"):
        return
    got, root = modules(h5)
    ok = all(check_base(got, n, mats[n], delta_of(*mods[n], 2.0), "stories260K") for n in sorted(mods))
    check(ok and len(got) == 15, "stories260K base: all 15 modules = numpy")
    z = robust_z([got[n][1]["alpha_change"] for n in sorted(got)])
    zc = np.array([got[n][1]["alpha_change_z"] for n in sorted(got)])
    check(np.max(np.abs(z - zc)) <= 1e-9 and root["n_flagged_alpha"] == int(np.sum(np.abs(z) > 3.5)),
          "stories260K base: alpha_change_z = numpy's robust z, flags |z| > 3.5")


# ---- bad input ----

def no_output(tmp, stem):
    return not [f for f in os.listdir(tmp) if f.startswith(stem)]


def test_bad(tmp):
    rng = np.random.default_rng(2)
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    A, B = mk.lora_pair(rng, 16, 12, 2)
    mk.write_adapter(os.path.join(bad, "ad"), {"model.layers.0.self_attn.q_proj": (A, B)}, 2, 4)
    mk.write_safetensors(os.path.join(bad, "other.safetensors"),
                         [("model.layers.0.self_attn.k_proj.weight", np.zeros((16, 12), np.float32), "F32")])
    mk.write_safetensors(os.path.join(bad, "shape.safetensors"),
                         [("model.layers.0.self_attn.q_proj.weight", np.zeros((16, 13), np.float32), "F32")])
    cases = [("missing base weight", ["--base", os.path.join(bad, "other.safetensors")], 1),
             ("misshapen base weight", ["--base", os.path.join(bad, "shape.safetensors")], 1),
             ("missing base file", ["--base", os.path.join(bad, "nope.safetensors")], 1),
             ("--min-tail 1", ["--min-tail", "1"], 2),
             ("--z -1", ["--z", "-1"], 2)]
    for what, extra, code in cases:
        h5 = os.path.join(bad, "o.h5")
        rc, so, se = run("diagnose", os.path.join(bad, "ad"), *extra, "-o", h5, "--csv", os.path.join(bad, "o.csv"))
        lines = [x for x in se.splitlines() if x.strip() and not x.startswith("Try 'lorascope")]
        check(rc == code and len(lines) == 1 and no_output(bad, "o."),
              "bad input, %s: exit %d, one line, no output (%r)" % (what, rc, lines[:2]))
    rc, so, se = run("diagnose", os.path.join(bad, "nothere"), "-o", os.path.join(bad, "o.h5"))
    check(rc != 0 and len(se.strip().splitlines()) == 1 and no_output(bad, "o."),
          "bad input, no such adapter: exit %d, one line, no output" % rc)


# ---- degenerate modules ----

def test_degenerate(tmp):
    rng = np.random.default_rng(9)
    mods = {"h.%d.attn.q_proj" % i: mk.lora_pair(rng, 20, 16, 2, 0.1) for i in range(6)}
    A, B = mods["h.2.attn.q_proj"]
    A = A.copy()
    A[0, 3] = np.nan
    mods["h.2.attn.q_proj"] = (A, B)
    mods["h.4.attn.q_proj"] = (mods["h.4.attn.q_proj"][0], np.zeros((20, 2), np.float32))
    ad = os.path.join(tmp, "degen")
    mk.write_adapter(ad, mods, 2, 4.0)
    rc, so, se, h5 = diagnose(tmp, "degen", ad)
    if not check(rc == 0, "degenerate: a NaN module and a zero module: exit 0"):
        return
    got, root = modules(h5)
    nan_m, zero_m = got["h.2.attn.q_proj"][1], got["h.4.attn.q_proj"][1]
    check(np.isnan(nan_m["delta_spike_share"]) and np.isnan(nan_m["spike_z"]) and nan_m["spike_flag"] == 0 and
          "h.2.attn.q_proj has 1 NaN/Inf" in se, "degenerate: NaN factors: NaN measures, no z, no flag, a warning")
    check(zero_m["delta_fro"] == 0 and np.isnan(zero_m["delta_stable_rank"]) and zero_m["spike_flag"] == 0 and
          "h.4.attn.q_proj has dW = 0" in se, "degenerate: dW = 0: NaN measures, no flag, a warning")
    rest = sorted(n for n in got if n not in ("h.2.attn.q_proj", "h.4.attn.q_proj"))
    z = robust_z([got[n][1]["delta_spike_share"] for n in rest])
    check(np.allclose(z, [got[n][1]["spike_z"] for n in rest], rtol=0, atol=1e-9),
          "degenerate: the robust z of the other four leaves the NaN modules out")


# ---- MAD = 0 ----

def test_mad_zero(tmp):
    """Seven of ten modules have a rank-1 dW (spike share 1): MAD = 0, so z
    uses 1.253314·mean|x − median|; r = 1 everywhere: all equal, z = 0."""
    rng = np.random.default_rng(4)
    mods = {}
    for i in range(10):
        A, B = mk.lora_pair(rng, 20, 16, 2, 0.1)
        if i < 7:
            B[:, 1] = 0.0
        mods["h.%d.attn.v_proj" % i] = (A, B)
    ad = os.path.join(tmp, "mad0")
    mk.write_adapter(ad, mods, 2, 4.0)
    rc, so, se, h5 = diagnose(tmp, "mad0", ad)
    if check(rc == 0, "MAD = 0: runs"):
        got, _ = modules(h5)
        names = sorted(got)
        x = np.array([got[n][1]["delta_spike_share"] for n in names])
        zc = np.array([got[n][1]["spike_z"] for n in names])
        med = np.median(x)
        check(np.sum(x == 1.0) == 7 and np.median(np.abs(x - med)) == 0 and
              np.allclose(zc, (x - med) / (1.253314 * np.mean(np.abs(x - med))), rtol=0, atol=1e-9),
              "MAD = 0: z = (x - median) / (1.253314 mean|x - median|) (z of the others %s)"
              % np.round(zc[x < 1], 2).tolist())
    one = {n: (A[:1], B[:, :1]) for n, (A, B) in mods.items()}
    ad1 = os.path.join(tmp, "r1")
    mk.write_adapter(ad1, one, 1, 1.0)
    rc, so, se, h5 = diagnose(tmp, "r1", ad1)
    if check(rc == 0, "r = 1: runs"):
        got, root = modules(h5)
        check(all(g[1]["delta_spike_share"] == 1.0 and g[1]["spike_z"] == 0.0 for g in got.values()) and
              root["n_flagged_spike"] == 0, "r = 1: every spike share 1, MAD = mean AD = 0: z = 0, nothing flagged")


def main():
    if h5py is None:
        skip("diagnose", "h5py missing")
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc-diag-")
    try:
        test_planted(tmp)
        test_base(tmp)
        test_fixtures(tmp)
        test_bad(tmp)
        test_degenerate(tmp)
        test_mad_zero(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
