#!/usr/bin/python3
"""test_surgery.py — adapter surgery (issue 20): `lorascope resize`,
`combine` and `recommend-ranks` against independent numpy computations.

Known answers: adapters with planted spectra (dW = U diag(sigma) V^T with
chosen sigma, split over B and A with a non-unit PEFT scale), so the kept
rank, the singular values and both relative errors are known in closed
form; the output's dW is rebuilt from its files with PEFT's own scaling rule
(re.match(r"(.*\\.)?(KEY)$", name) over rank_pattern / alpha_pattern,
alpha/r or alpha/sqrt(r)) and compared with numpy's truncated SVD of the
dense dW. Also the real PEFT adapters of ../shared/fixtures resized to half
rank and back, and bad inputs (one line, exit 1 or 2, nothing written).
"""
import json
import math
import os
import re
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, skip, summary, run, fixtures_dir  # noqa: E402
from make_adapters import write_adapter, read_safetensors, write_safetensors  # noqa: E402

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None


# ---- PEFT's reading of an adapter, independently of lorascope ----

def pattern_key(keys, name):
    """PEFT's get_pattern_key: the first key k with re.match(r"(.*\\.)?(k)$", name)."""
    for k in keys:
        if re.match(r"(.*\.)?(%s)$" % k, name):
            return k
    return None


def peft_deltas(d):
    """{module: dW (float64, [out, in])} as PEFT would build them from DIR d."""
    cfg = json.load(open(os.path.join(d, "adapter_config.json")))
    t = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    out = {}
    for key in t:
        if not key.endswith(".lora_A.weight"):
            continue
        name = key[len("base_model.model."):-len(".lora_A.weight")]
        A = t[key].astype(np.float64)
        B = t[key.replace("lora_A", "lora_B")].astype(np.float64)
        r, alpha = cfg["r"], cfg["lora_alpha"]
        rk = pattern_key(list(cfg.get("rank_pattern") or {}), name)
        if rk is not None:
            r = cfg["rank_pattern"][rk]
        ak = pattern_key(list(cfg.get("alpha_pattern") or {}), name)
        if ak is not None:
            alpha = cfg["alpha_pattern"][ak]
        s = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        out[name] = (s * (B @ A), r, A, B, s)
    return out


def truncated(dW, K):
    U, S, Vt = np.linalg.svd(dW, full_matrices=False)
    return (U[:, :K] * S[:K]) @ Vt[:K], S


def rel(a, b):
    n = np.linalg.norm(b)
    return np.linalg.norm(a - b) / n if n > 0 else np.linalg.norm(a - b)


def planted(rng, d, k, sigma, s):
    """A (r, k), B (d, r) with s·B·A = U diag(sigma) V^T, U, V random orthonormal."""
    r = len(sigma)
    U, _ = np.linalg.qr(rng.standard_normal((d, r)))
    V, _ = np.linalg.qr(rng.standard_normal((k, r)))
    # an unbalanced split (B carries sigma times a random invertible mix, A its inverse)
    M = rng.standard_normal((r, r)) + 3 * np.eye(r)
    B = (U * sigma) @ M / s
    A = np.linalg.solve(M, V.T)
    return A.astype(np.float32), B.astype(np.float32)


def h5mods(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name, g in f["modules"].items():
            def walk(prefix, grp):
                if "singular_values" in grp:
                    out[prefix] = (dict(grp.attrs), grp["singular_values"][()])
                for kk, v in grp.items():
                    if isinstance(v, h5py.Group):
                        walk(prefix + "/" + kk, v)
            walk(name, g)
        root = dict(f.attrs)
    return out, root


# ---- resize on planted spectra ----

SIG1 = np.array([10.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.1])
SIG2 = np.array([4.0, 3.9, 0.5, 0.4, 0.01, 0.005])


def make_planted(tmp, rslora=False):
    rng = np.random.default_rng(7)
    # module a: r=8 (config r), alpha 16; module b: r=6 through rank_pattern, alpha 3
    sa = 16 / math.sqrt(8) if rslora else 16 / 8
    sb = 3 / math.sqrt(6) if rslora else 3 / 6
    A1, B1 = planted(rng, 40, 30, SIG1, sa)
    A2, B2 = planted(rng, 24, 50, SIG2, sb)
    d = os.path.join(tmp, "planted" + ("_rs" if rslora else ""))
    write_adapter(d, {"h.0.attn.q_proj": (A1, B1), "h.10.attn.q_proj": (A2, B2)}, 8, 16,
                  use_rslora=rslora, rank_pattern={"h.10.attn.q_proj": 6},
                  alpha_pattern={"h.10.attn.q_proj": 3})
    return d


def test_resize_planted(tmp, rslora):
    tag = "rslora" if rslora else "lora"
    src = make_planted(tmp, rslora)
    ref = peft_deltas(src)
    check(abs(np.linalg.svd(ref["h.0.attn.q_proj"][0], compute_uv=False)[:8] - SIG1).max() < 1e-4,
          "resize/%s: the planted adapter has the planted spectrum (numpy)" % tag)
    out = os.path.join(tmp, "rs3_" + tag)
    rc, so, se = run("resize", src, "--rank", 3, "-o", out, "--threads", 2)
    check(rc == 0, "resize/%s --rank 3: exit 0 (%s)" % (tag, se.strip()[:200]))
    if rc != 0:
        return
    got = peft_deltas(out)
    mods, root = h5mods(os.path.join(out, "resize.h5"))
    for name, sig in (("h.0.attn.q_proj", SIG1), ("h.10.attn.q_proj", SIG2)):
        dW = ref[name][0]
        best, S = truncated(dW, 3)
        dW3, r3, A3, B3, s3 = got[name]
        check(r3 == 3 and A3.shape[0] == 3 and B3.shape[1] == 3,
              "resize/%s %s: rank 3 in the file and by PEFT's rule" % (tag, name))
        e = rel(dW3, best)
        check(e < 1e-5, "resize/%s %s: s'B'A' = numpy's truncated SVD (rel %.2e)" % (tag, name, e))
        # balanced split: B'^T B' = A' A'^T = diag(sigma_3) (scale 1)
        G1, G2 = B3.T @ B3 * s3, A3 @ A3.T * s3
        ok = np.allclose(G1, np.diag(sig[:3]), atol=1e-5 * sig[0]) and \
            np.allclose(G2, np.diag(sig[:3]), atol=1e-5 * sig[0])
        check(ok and abs(s3 - 1.0) < 1e-12, "resize/%s %s: split B'=U sqrt(S), A'=sqrt(S) V^T, scale 1"
              % (tag, name))
        attrs, sv = mods[name]
        check(np.abs(sv - sig).max() < 1e-5 * sig[0],
              "resize/%s %s: stored singular values = the planted ones" % (tag, name))
        want_fro = math.sqrt((sig[3:] ** 2).sum() / (sig ** 2).sum())
        dense_fro = rel(dW3, dW)
        check(abs(attrs["rel_fro_error"] - want_fro) < 1e-6 and abs(dense_fro - want_fro) < 1e-5,
              "resize/%s %s: rel_fro_error %.6g = closed form %.6g = dense %.6g"
              % (tag, name, attrs["rel_fro_error"], want_fro, dense_fro))
        dense_spec = np.linalg.norm(dW - dW3, 2) / np.linalg.norm(dW, 2)
        check(abs(attrs["rel_spectral_error"] - sig[3] / sig[0]) < 1e-6 and
              abs(dense_spec - sig[3] / sig[0]) < 1e-5,
              "resize/%s %s: rel_spectral_error = sigma_4/sigma_1 = dense" % (tag, name))
    check(root.get("rule") in (b"rank", "rank") and float(root.get("value")) == 3.0,
          "resize/%s: rule and value in the root attributes" % tag)
    csv = open(os.path.join(out, "resize.csv")).read().splitlines()
    check(len(csv) == 3 and csv[0].startswith("module,"), "resize/%s: resize.csv has a row per module" % tag)
    # exact identity: resize to the original rank
    out8 = os.path.join(tmp, "rs8_" + tag)
    rc, so, se = run("resize", src, "--rank", 64, "-o", out8)
    got8 = peft_deltas(out8) if rc == 0 else {}
    worst = max(rel(got8[n][0], ref[n][0]) for n in ref) if rc == 0 else 1.0
    check(rc == 0 and worst < 1e-6 and got8["h.0.attn.q_proj"][1] == 8 and got8["h.10.attn.q_proj"][1] == 6,
          "resize/%s to the original rank reproduces dW (max rel %.2e) with per-module ranks 8, 6" % (tag, worst))


def test_rules(tmp):
    src = make_planted(tmp)
    ref = peft_deltas(src)
    for opt, val in (("--energy", 0.9), ("--energy", 0.999), ("--sv-ratio", 15), ("--sv-ratio", 3)):
        out = os.path.join(tmp, "rule%s%s" % (opt, val))
        rc, so, se = run("resize", src, opt, val, "-o", out)
        if not check(rc == 0, "resize %s %s: exit 0 (%s)" % (opt, val, se.strip()[:200])):
            continue
        got = peft_deltas(out)
        cfg = json.load(open(os.path.join(out, "adapter_config.json")))
        ok = True
        for name, sig in (("h.0.attn.q_proj", SIG1), ("h.10.attn.q_proj", SIG2)):
            if opt == "--energy":
                c = np.cumsum(sig ** 2) / (sig ** 2).sum()
                K = int(np.argmax(c >= val - 1e-12)) + 1
            else:
                K = max(1, int((sig > sig[0] / val).sum()))
            best, _ = truncated(ref[name][0], K)
            ok &= got[name][1] == K and rel(got[name][0], best) < 1e-5
        keys = list(cfg["rank_pattern"])
        uniq = all(sum(1 for n in got if re.match(r"(.*\.)?(%s)$" % k, n)) == 1 for k in keys)
        check(ok and uniq and cfg["use_rslora"] is False,
              "resize %s %s: numpy's K per module, truncated dW, each pattern key matches one module"
              % (opt, val))


def test_pattern_keys(tmp):
    """Names where a plain name as key would also match another module."""
    rng = np.random.default_rng(3)
    mods = {}
    for name in ("q_proj", "layers.1.q_proj", "x.layers.1.q_proj", "layers.11.q_proj"):
        A, B = planted(rng, 12, 10, np.array([3.0, 2.0, 1.0, 0.5]) * (1 + len(name) % 3), 1.0)
        mods[name] = (A, B)
    src = os.path.join(tmp, "keys")
    write_adapter(src, mods, 4, 4)
    out = os.path.join(tmp, "keys_e")
    rc, so, se = run("resize", src, "--sv-ratio", 2.5, "-o", out)
    if not check(rc == 0, "resize: nested module names: exit 0 (%s)" % se.strip()[:200]):
        return
    ref, got = peft_deltas(src), peft_deltas(out)
    worst = 0.0
    for n in ref:
        S = np.linalg.svd(ref[n][0], compute_uv=False)
        K = max(1, int((S > S[0] / 2.5).sum()))
        worst = max(worst, rel(got[n][0], truncated(ref[n][0], K)[0]) if got[n][1] == K else 1.0)
    check(worst < 1e-5, "resize: nested names get their own ranks back through PEFT's rule (rel %.1e)" % worst)


# ---- the real fixtures ----

def test_fixtures(tmp):
    fx = fixtures_dir("resize fixtures", "peft/gpt2-tigrinya-r8-cattn-cproj", "peft/gptneo125m-r8-qv")
    if not fx:
        return
    for sub in ("gpt2-tigrinya-r8-cattn-cproj", "gptneo125m-r8-qv"):
        src = os.path.join(fx, "peft", sub)
        half, back = os.path.join(tmp, sub + "_r4"), os.path.join(tmp, sub + "_back")
        rc1, _, se1 = run("resize", src, "--rank", 4, "-o", half, "--threads", 2)
        rc2, _, se2 = run("resize", half, "--rank", 8, "-o", back, "--threads", 2)
        if not check(rc1 == 0 and rc2 == 0, "resize %s: to r=4 and back to 8: exit 0 (%s%s)"
                     % (sub, se1.strip()[:100], se2.strip()[:100])):
            continue
        ref, h, b = peft_deltas(src), peft_deltas(half), peft_deltas(back)
        mods, _ = h5mods(os.path.join(half, "resize.h5"))
        worst_err, worst_back, worst_best = 0.0, 0.0, 0.0
        for n, (dW, *_rest) in ref.items():
            reported = mods[n][0]["rel_fro_error"]
            worst_err = max(worst_err, abs(rel(b[n][0], dW) - reported))
            worst_back = max(worst_back, rel(b[n][0], h[n][0]))
            worst_best = max(worst_best, rel(h[n][0], truncated(dW, 4)[0]))
        check(worst_err < 1e-5, "resize %s: half rank and back is within the reported error "
              "(|dense - reported| <= %.1e)" % (sub, worst_err))
        check(worst_back < 1e-6 and worst_best < 1e-5,
              "resize %s: back to 8 keeps the rank-4 dW (%.1e) = numpy's truncation (%.1e)"
              % (sub, worst_back, worst_best))


# ---- combine ----

def make_pair(tmp):
    """a (r=4) and b (r=3 on one module through rank_pattern) on the same two modules;
    c: the same names, b's first module orthogonal to a's (row and column spaces)."""
    rng = np.random.default_rng(11)
    shapes = {"h.0.attn.q_proj": (20, 16), "h.1.mlp.fc_in": (24, 12)}
    a, b, c = {}, {}, {}
    for name, (d, k) in shapes.items():
        a[name] = planted(rng, d, k, np.array([5.0, 2.0, 1.0, 0.3]), 8 / 4)
        rb = 3 if name == "h.0.attn.q_proj" else 4
        b[name] = planted(rng, d, k, np.array([3.0, 1.5, 0.7, 0.2])[:rb], (4 / rb) if rb == 3 else 1.0)
        # orthogonal to a: project a's spaces out of fresh factors
        Aa, Ba = a[name]
        Qa, _ = np.linalg.qr(Aa.T.astype(np.float64))
        Qb, _ = np.linalg.qr(Ba.astype(np.float64))
        A2 = rng.standard_normal((2, k))
        B2 = rng.standard_normal((d, 2))
        A2 = A2 - (A2 @ Qa) @ Qa.T
        B2 = B2 - Qb @ (Qb.T @ B2)
        c[name] = (A2.astype(np.float32), B2.astype(np.float32))
    pa, pb, pc = (os.path.join(tmp, x) for x in ("ca", "cb", "cc"))
    write_adapter(pa, a, 4, 8)
    write_adapter(pb, b, 4, 4, rank_pattern={"h.0.attn.q_proj": 3}, alpha_pattern={"h.0.attn.q_proj": 4})
    write_adapter(pc, c, 2, 2)
    return pa, pb, pc


def top_frames(dW, r):
    U, S, Vt = np.linalg.svd(dW, full_matrices=False)
    return U[:, :r], Vt[:r]


def test_combine(tmp):
    pa, pb, pc = make_pair(tmp)
    A, B = peft_deltas(pa), peft_deltas(pb)
    out = os.path.join(tmp, "comb")
    rc, so, se = run("combine", pa + ":0.7", pb + ":-1.5", "-o", out, "--threads", 2)
    if not check(rc == 0, "combine a:0.7 b:-1.5: exit 0 (%s)" % se.strip()[:200]):
        return
    got = peft_deltas(out)
    mods, root = h5mods(os.path.join(out, "combine.h5"))
    for name in A:
        want = 0.7 * A[name][0] - 1.5 * B[name][0]
        # float32 factors: the rounding scales with |w s| |B| |A| of each input, not |dW|
        scale = sum(abs(w * X[name][4]) * np.linalg.norm(X[name][3]) * np.linalg.norm(X[name][2])
                    for w, X in ((0.7, A), (1.5, B)))
        e = np.linalg.norm(got[name][0] - want) / scale
        check(e < 1e-6 and got[name][1] == A[name][1] + B[name][1],
              "combine %s: exact: PEFT's dW = 0.7 dW_a - 1.5 dW_b (err/(|wsB||A|) %.1e), rank r_a + r_b = %d"
              % (name, e, got[name][1]))
        attrs, sv = mods[name]
        with h5py.File(os.path.join(out, "combine.h5"), "r") as f:
            g = f["modules"][name]
            cos, p11i, p11o, phi = (g[x][()] for x in ("cosine", "phi11_in", "phi11_out", "phi_in"))
        da, db = A[name][0], B[name][0]
        want_cos = (da * db).sum() / (np.linalg.norm(da) * np.linalg.norm(db))
        Ua, Va = top_frames(da, A[name][1])
        Ub, Vb = top_frames(db, B[name][1])
        p = min(A[name][1], B[name][1])
        want_phi = (np.linalg.norm(Va[:p] @ Vb[:p].T) ** 2) / p
        check(abs(cos[0, 1] - want_cos) < 1e-6 and abs(cos[0, 0] - 1) < 1e-9 and abs(cos[1, 0] - want_cos) < 1e-6,
              "combine %s: cosine %.6f = numpy's dense %.6f" % (name, cos[0, 1], want_cos))
        check(abs(p11i[0, 1] - (Va[0] @ Vb[0]) ** 2) < 1e-6 and abs(p11o[0, 1] - (Ua[:, 0] @ Ub[:, 0]) ** 2) < 1e-6
              and abs(phi[0, 1] - want_phi) < 1e-6,
              "combine %s: phi11_in %.4g, phi11_out %.4g, phi_in %.4g = numpy's SVDs"
              % (name, p11i[0, 1], p11o[0, 1], phi[0, 1]))
        check(attrs["rel_fro_error"] == 0 and attrs["rel_spectral_error"] == 0,
              "combine %s: exact: errors 0" % name)
    # re-compressed
    out2 = os.path.join(tmp, "comb2")
    rc, so, se = run("combine", pa + ":0.7", pb + ":-1.5", "--rank", 2, "-o", out2)
    if check(rc == 0, "combine --rank 2: exit 0 (%s)" % se.strip()[:200]):
        got2 = peft_deltas(out2)
        mods2, _ = h5mods(os.path.join(out2, "combine.h5"))
        worst, werr = 0.0, 0.0
        for name in A:
            want = 0.7 * A[name][0] - 1.5 * B[name][0]
            best, _ = truncated(want, 2)
            worst = max(worst, rel(got2[name][0], best))
            werr = max(werr, abs(mods2[name][0]["rel_fro_error"] - rel(got2[name][0], want)))
        check(worst < 1e-5 and werr < 1e-5 and all(got2[n][1] == 2 for n in A),
              "combine --rank 2: numpy's truncated sum (rel %.1e), reported error = dense (%.1e)" % (worst, werr))
    # known answers: with itself cos = phi = 1; with an orthogonal update 0
    out3 = os.path.join(tmp, "comb3")
    rc, so, se = run("combine", pa, pa, pc, "-o", out3)
    if check(rc == 0, "combine a a c: exit 0 (%s)" % se.strip()[:200]):
        with h5py.File(os.path.join(out3, "combine.h5"), "r") as f:
            g = f["modules"]["h.0.attn.q_proj"]
            cos, p11, phi = g["cosine"][()], g["phi11_in"][()], g["phi_in"][()]
        check(abs(cos[0, 1] - 1) < 1e-6 and abs(p11[0, 1] - 1) < 1e-6 and abs(phi[0, 1] - 1) < 1e-6,
              "combine: an adapter with itself: cosine = phi11 = phi = 1")
        check(abs(cos[0, 2]) < 1e-6 and p11[0, 2] < 1e-10 and phi[0, 2] < 1e-10,
              "combine: orthogonal updates: cosine = phi11 = phi = 0 (%.1e %.1e %.1e)"
              % (cos[0, 2], p11[0, 2], phi[0, 2]))
    # mismatches
    rng = np.random.default_rng(5)
    other = os.path.join(tmp, "cother")
    write_adapter(other, {"h.0.attn.q_proj": planted(rng, 20, 16, np.array([1.0]), 1.0),
                          "h.2.mlp.fc_in": planted(rng, 24, 12, np.array([1.0]), 1.0)}, 1, 1)
    shape = os.path.join(tmp, "cshape")
    write_adapter(shape, {"h.0.attn.q_proj": planted(rng, 20, 15, np.array([1.0]), 1.0),
                          "h.1.mlp.fc_in": planted(rng, 24, 12, np.array([1.0]), 1.0)}, 1, 1)
    out4 = os.path.join(tmp, "comb4")
    rc, so, se = run("combine", pa, other, "-o", out4)
    one_line_fail(rc, se, 1, "combine: mismatched modules")
    rc, so, se = run("combine", pa, shape, "-o", out4)
    one_line_fail(rc, se, 1, "combine: mismatched shapes")
    check("20 x 15" in se and not os.path.exists(out4), "combine: the shapes named, nothing written")
    rc, so, se = run("combine", pa, "-o", out4)
    one_line_fail(rc, se, 2, "combine: one adapter is a usage error")


# ---- recommend-ranks ----

def test_recommend(tmp):
    src = make_planted(tmp)
    ref = peft_deltas(src)
    pj = os.path.join(tmp, "ranks.json")
    plots = os.path.join(tmp, "rplots")
    for E in (0.9, 0.99):
        args = ["recommend-ranks", src, "--energy", E, "--pattern", pj]
        if E == 0.9 and shutil.which("gnuplot"):
            args += ["--plots", plots]
        rc, so, se = run(*args)
        if not check(rc == 0, "recommend-ranks --energy %g: exit 0 (%s)" % (E, se.strip()[:200])):
            continue
        pat = json.load(open(pj))
        ok = True
        for name, (dW, *_r) in ref.items():
            S = np.linalg.svd(dW, compute_uv=False)
            c = np.cumsum(S ** 2) / (S ** 2).sum()
            K = int(np.argmax(c >= E - 1e-12)) + 1
            k = pattern_key(list(pat), name)
            ok &= k is not None and pat[k] == K and ("r=%d" % ref[name][1]) in so and ("-> %d" % K) in so
        uniq = all(sum(1 for n in ref if re.match(r"(.*\.)?(%s)$" % k, n)) == 1 for k in pat)
        check(ok and uniq, "recommend-ranks --energy %g: numpy's K per module in the JSON and on stdout" % E)
    if shutil.which("gnuplot"):
        dat = open(os.path.join(plots, "recommend.dat")).read().split("\n")
        check(dat[0].split() == ["layer", "attn.q_proj"] and os.path.getsize(os.path.join(plots, "recommend.png")) > 0,
              "recommend-ranks --plots: recommend.dat per layer and the figure")
        rows = {int(x.split()[0]): x.split()[1] for x in dat[1:] if x.strip()}
        check(rows[0] == "3" and rows[10] == "2" and rows[5] == "NaN",
              "recommend-ranks --plots: layer 0 needs 3, layer 10 needs 2, layer 5 none (NaN)")
    else:
        skip("recommend-ranks --plots", "gnuplot not installed")
    rc, so, se = run("recommend-ranks", src, "--energy", 0)
    one_line_fail(rc, se, 2, "recommend-ranks --energy 0: usage error")
    # a full fine-tuning delta: W_ft - W_0 with a planted spectrum (extract's inputs)
    rng = np.random.default_rng(4)
    sig = {"h.0.attn.q_proj": np.array([6.0, 2.0, 1.0, 0.1]), "h.1.attn.v_proj": np.array([3.0, 2.9, 2.8, 0.2, 0.1])}
    base, ft = [], []
    for name, sg in sig.items():
        W0 = rng.standard_normal((20, 16)).astype(np.float32)
        A, B = planted(rng, 20, 16, sg, 1.0)
        base.append((name + ".weight", W0, "F32"))
        ft.append((name + ".weight", (W0.astype(np.float64) + B.astype(np.float64) @ A).astype(np.float32), "F32"))
    fb, fm = os.path.join(tmp, "fbase.safetensors"), os.path.join(tmp, "fft.safetensors")
    write_safetensors(fb, base)
    write_safetensors(fm, ft)
    fj = os.path.join(tmp, "franks.json")
    rc, so, se = run("recommend-ranks", "--full-base", fb, "--full-model", fm, "--energy", 0.95, "--pattern", fj)
    if check(rc == 0, "recommend-ranks --full-base/--full-model: exit 0 (%s)" % se.strip()[:200]):
        pat = json.load(open(fj))
        ok = True
        tb, tf = read_safetensors(fb), read_safetensors(fm)
        for name in sig:
            S = np.linalg.svd(tf[name + ".weight"] - tb[name + ".weight"], compute_uv=False)
            c = np.cumsum(S ** 2) / (S ** 2).sum()
            ok &= pat.get(pattern_key(list(pat), name)) == int(np.argmax(c >= 0.95)) + 1
        check(ok and pat[pattern_key(list(pat), "h.0.attn.q_proj")] == 2 and
              pat[pattern_key(list(pat), "h.1.attn.v_proj")] == 3,
              "recommend-ranks on W_ft - W_0: numpy's K (2 and 3 for the planted spectra)")
    rc, so, se = run("recommend-ranks", src, "--full-base", fb)
    one_line_fail(rc, se, 2, "recommend-ranks: ADAPTER with --full-base alone is a usage error")


# ---- train --rank-pattern-file ----

def test_train_pattern(tmp):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    txt = os.path.join(root, "data", "fixtures", "tiny.txt")
    base = os.path.join(tmp, "base.safetensors")
    rc, so, se = run("pretrain", "--profile", "tiny", "--steps", 3, "--data", txt, "-o", base, "--quiet",
                     "--threads", 1)
    if not check(rc == 0, "train --rank-pattern-file: a tiny base (%s)" % se.strip()[:200]):
        return
    rj = os.path.join(tmp, "train_ranks.json")
    pat = {"h.0.attn.q_proj": 2, "h.1.attn.v_proj": 3, "q_proj": 1, "h.0.mlp.fc_in": 0}
    json.dump(pat, open(rj, "w"))
    common = ["train", "--base", base, "--task", "lm", "--data", txt, "--steps", 2, "--batch", 2, "--quiet",
              "--threads", 1]
    out = os.path.join(tmp, "trained")
    rc, so, se = run(common + ["--rank-pattern-file", rj, "-o", out])
    if not check(rc == 0, "train --rank-pattern-file: exit 0 (%s)" % se.strip()[:200]):
        return
    got = peft_deltas(out)
    want = {"h.0.attn.q_proj": 2, "h.1.attn.q_proj": 1, "h.1.attn.v_proj": 3}
    ranks = {n: v[1] for n, v in got.items()}
    shapes = {n: v[2].shape[0] for n, v in got.items()}
    check(ranks == want and shapes == want,
          "train --rank-pattern-file: the adapter has the file's ranks by PEFT's rule and in its tensors (%s)" % ranks)
    cfg = json.load(open(os.path.join(out, "adapter_config.json")))
    check(sorted(cfg["target_modules"]) == sorted(want),
          "train --rank-pattern-file: target_modules lists exactly the adapted modules (PEFT adds no other)")
    # the file's content is part of the run's identity: --resume with other bytes is refused
    open(rj, "w").write(json.dumps(pat, indent=1))
    rc, so, se = run(common + ["--rank-pattern-file", rj, "-o", out, "--resume"])
    check(rc == 1 and "different run configuration" in se,
          "train --resume with another rank-pattern file (same ranks, other bytes) is refused")
    # recommend-ranks' output is accepted directly
    pj = os.path.join(tmp, "rec.json")
    rc1, _, se1 = run("recommend-ranks", out, "--energy", 0.5, "--pattern", pj)
    rc2, _, se2 = run(common + ["--rank-pattern-file", pj, "-o", os.path.join(tmp, "trained2")])
    if check(rc1 == 0 and rc2 == 0, "train accepts recommend-ranks --pattern's JSON (%s%s)"
             % (se1.strip()[:100], se2.strip()[:100])):
        rec = json.load(open(pj))
        got2 = peft_deltas(os.path.join(tmp, "trained2"))
        check({n: v[1] for n, v in got2.items()} == {n: rec[pattern_key(list(rec), n)] for n in want},
              "train --rank-pattern-file rec.json: each module has recommend-ranks' rank")
    bad = os.path.join(tmp, "bad_ranks.json")
    for text in ('{"h.0.attn.q_proj": -1}', '[1, 2]', '{"(?<=x)q": 2}'):
        open(bad, "w").write(text)
        rc, so, se = run(common + ["--rank-pattern-file", bad, "-o", os.path.join(tmp, "trained3")])
        one_line_fail(rc, se, 1, "train --rank-pattern-file %s: refused" % text)


# ---- bad input ----

def one_line_fail(rc, se, want_rc, name):
    """exit want_rc and one message line (a usage error may add the "Try ... --help" hint)."""
    lines = [x for x in se.splitlines() if x.strip() and not x.startswith("Try 'lorascope")]
    check(rc == want_rc and len(lines) == 1, "%s: exit %d, one line (%r)" % (name, rc, se.strip()[:160]))


def test_bad(tmp):
    src = make_planted(tmp)
    out = os.path.join(tmp, "bad_out")
    rc, so, se = run("resize", os.path.join(tmp, "nope"), "--rank", 2, "-o", out)
    one_line_fail(rc, se, 1, "resize: missing adapter")
    check(not os.path.exists(out), "resize: nothing written after a failure")
    rc, so, se = run("resize", src, "-o", out)
    one_line_fail(rc, se, 2, "resize: no rank rule")
    rc, so, se = run("resize", src, "--rank", 2, "--energy", 0.5, "-o", out)
    one_line_fail(rc, se, 2, "resize: two rank rules")
    for opt, val in (("--rank", 0), ("--rank", 2.5), ("--energy", 1.5), ("--energy", 0), ("--sv-ratio", 0.5)):
        rc, so, se = run("resize", src, opt, val, "-o", out)
        one_line_fail(rc, se, 2, "resize %s %s: out of range" % (opt, val))
    # DoRA: refused with one line
    rng = np.random.default_rng(1)
    A, B = planted(rng, 8, 6, np.array([2.0, 1.0]), 1.0)
    dora = os.path.join(tmp, "dora")
    write_adapter(dora, {"h.0.attn.q_proj": (A, B)}, 2, 2,
                  extra={"base_model.model.h.0.attn.q_proj.lora_magnitude_vector": np.ones(8)})
    cfg = json.load(open(os.path.join(dora, "adapter_config.json")))
    cfg["use_dora"] = True
    json.dump(cfg, open(os.path.join(dora, "adapter_config.json"), "w"))
    rc, so, se = run("resize", dora, "--rank", 1, "-o", out)
    one_line_fail(rc, se, 1, "resize: DoRA refused")
    check("DoRA" in se and not os.path.exists(out), "resize: DoRA named, nothing written")
    # the other kinds issue 14 reads: refused with one line; the mixed one (F32/BF16/F16,
    # rsLoRA, rank_pattern, alpha_pattern) resized to its own ranks gives PEFT's dW back
    kinds = os.path.join(tmp, "kinds")
    import subprocess
    subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_adapters.py"),
                    "kinds", kinds], check=True, capture_output=True)
    for k, what in (("emb", "embedding LoRA"), ("conv", "conv LoRA"), ("mts", "full tensor")):
        rc, so, se = run("resize", os.path.join(kinds, k), "--rank", 1, "-o", out)
        one_line_fail(rc, se, 1, "resize: %s refused" % what)
        check(what in se and not os.path.exists(out), "resize: %s named, nothing written" % what)
    mixed = os.path.join(kinds, "mixed")
    rc, so, se = run("resize", mixed, "--rank", 100000, "-o", os.path.join(tmp, "mixed_full"))
    if check(rc == 0, "resize kinds/mixed to its own ranks: exit 0 (%s)" % se.strip()[:200]):
        ref, got = peft_deltas(mixed), peft_deltas(os.path.join(tmp, "mixed_full"))
        worst = max(rel(got[n][0], ref[n][0]) for n in ref)
        check(sorted(ref) == sorted(got) and worst < 1e-6 and all(got[n][1] == ref[n][1] for n in ref),
              "resize kinds/mixed (rsLoRA, patterns, BF16/F16): PEFT's dW and ranks back (rel %.1e)" % worst)
    # an existing OUT is left whole when the run fails
    os.makedirs(out)
    open(os.path.join(out, "keep"), "w").write("x")
    rc, so, se = run("resize", os.path.join(tmp, "nope"), "--rank", 2, "-o", out)
    check(rc == 1 and os.path.exists(os.path.join(out, "keep")), "resize: a failed run leaves OUT untouched")


def main():
    if h5py is None:
        skip("surgery", "h5py not installed")
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc_test_surgery.")
    try:
        test_resize_planted(tmp, False)
        test_resize_planted(tmp, True)
        test_rules(tmp)
        test_pattern_keys(tmp)
        test_fixtures(tmp)
        test_bad(tmp)
        test_combine(tmp)
        test_recommend(tmp)
        test_train_pattern(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
