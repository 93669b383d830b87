#!/usr/bin/python3
"""test_analysis_oracle.py — an independent numpy/h5py oracle for
`lorascope spectrum`, `subspace` and `amplify`.

Synthetic PEFT adapters and bases are written with numpy
(tests/make_adapters.py: F32, F16, BF16, rsLoRA with rank/alpha patterns,
fan_in_fan_out, an all-zero B, a NaN), the three subcommands run through
$LSC_BIN, and everything in the HDF5 files is recomputed here from the
safetensors bytes with dense numpy SVDs: singular values and their
summaries, φ(i, j) from its definition, the principal angles, the random
baselines (the C RNG is re-implemented, so phi_random and proj_random are
checked too: both only depend on the spans of the seeded Gaussian columns),
and the Table-7 projections. Any difference above 1e-6 relative fails.
The nulls (issue 12): every summary (phi11 and its null mean/q95/p,
proj_null mean/sd/q95/p, alignment excess, the --k set) recomputed from the
stored draws and numpy's SVDs; the draws themselves re-generated for a few
modules; their laws — phi11_null against the exact Beta(1/2, (dim-1)/2) CDF
(DKW, Bernstein), the null grid against an independent numpy sampler and
max(i, j)/dim, the rms of proj_null against K·|W|_F/sqrt(dk) — with bounds
that fail by chance with probability < 1e-6; known answers (a planted shared
direction, dW from W's own top directions: p = 1/(N+1); independent or
Gaussian adapters: p > 0.01 at the fixed seeds); the same null draws for
adapters of different rank under one --k.
Then the real PEFT fixtures (../shared/fixtures/peft; SKIP when absent):
module counts and shapes, spectra against numpy, subspace of modules with
differing shapes refused (a FAIL instead when CI=true). Prints one
PASS/FAIL/SKIP line per check and ends with "N passed, N failed, N skipped"
(tests/testlib.py).
"""
import json
import math
import os
import re
import shutil
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

sys.path.insert(0, HERE)
import make_adapters as mk  # noqa: E402
from testlib import LSC, check, fixtures_dir, run, summary  # noqa: E402

RTOL = 1e-6


def maxrel(a, b, floor=0.0):
    """max |a−b| / max(|a|, |b|, floor); NaN positions must agree."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return np.inf
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        return np.inf
    a, b = a[~na], b[~nb]
    if a.size == 0:
        return 0.0
    den = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    den[den == 0] = 1.0
    return float(np.max(np.abs(a - b) / den))


def same(a, b, floor=0.0, tol=RTOL):
    return maxrel(a, b, floor) <= tol


# ---- an independent reading of a PEFT adapter ----

def load_adapter(d):
    with open(os.path.join(d, "adapter_config.json")) as f:
        cfg = json.load(f)
    t = mk.read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    mods = {}
    for key, arr in t.items():
        m = re.match(r"^base_model\.model\.(.*)\.lora_A\.weight$", key)
        if m:
            name = m.group(1)
            mods[name] = (arr, t["base_model.model.%s.lora_B.weight" % name])
    out = {}
    for name, (A, B) in mods.items():
        r = cfg["r"]
        alpha = cfg["lora_alpha"]
        for k, v in (cfg.get("rank_pattern") or {}).items():
            if re.match(r"(.*\.)?(%s)$" % k, name):
                r = v
        for k, v in (cfg.get("alpha_pattern") or {}).items():
            if re.match(r"(.*\.)?(%s)$" % k, name):
                alpha = v
        s = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        out[name] = {"A": A, "B": B, "r": r, "alpha": alpha, "s": s,
                     "d": B.shape[0], "k": A.shape[1]}
    return cfg, out


# ---- the C RNG, re-implemented (rng.c, analysis_common.c) ----

M64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        z = (seed + 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        self.s = z if z else 0x2545F4914F6CDD1D

    def u64(self):
        x = self.s
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        self.s = x
        return (x * 0x2545F4914F6CDD1D) & M64

    def uniform(self):
        return (self.u64() >> 11) / 9007199254740992.0

    def normal(self):
        u1 = self.uniform()
        u2 = self.uniform()
        if u1 < 1e-300:
            u1 = 1e-300
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586476925 * u2)

    def gauss(self, n, p):
        """(n, p) filled row by row, as lsc_random_orthonormal does."""
        return np.array([self.normal() for _ in range(n * p)]).reshape(n, p)


def module_seed(seed, name):
    h = 0xcbf29ce484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001b3) & M64
    return (seed ^ ((h * 0x9E3779B97F4A7C15) & M64)) & 0x7FFFFFFFFFFFFFFF


def random_cols(rng, n, p):
    """an orthonormal basis of the span of p seeded Gaussian columns (the
    nested spans are what φ and ‖UᵀWV‖ depend on)."""
    q, _ = np.linalg.qr(rng.gauss(n, p))
    return q


# ---- oracles ----

def pad(x, n1, n2):
    """NaN-pad a (p1, p2) grid to the documented [r1, r2] (r > dim)."""
    out = np.full((n1, n2), np.nan)
    out[:x.shape[0], :x.shape[1]] = x
    return out


def phi_def(V1, V2):
    """φ(i, j) straight from Eq. 4; V1 (p1, n), V2 (p2, n) orthonormal rows."""
    p1, p2 = V1.shape[0], V2.shape[0]
    out = np.empty((p1, p2))
    for i in range(1, p1 + 1):
        for j in range(1, p2 + 1):
            out[i - 1, j - 1] = np.linalg.norm(V1[:i] @ V2[:j].T) ** 2 / min(i, j)
    return out


def delta_svd(m, uv=False, dense=True):
    """SVD of dW = s·B·A: the dense numpy SVD (the oracle proper), or, for
    the big real modules, numpy's QR of B and Aᵀ and the SVD of the r×r core
    (another implementation of the same identity; spot-checked against the
    dense one on one module of each shape)."""
    if dense:
        dW = m["s"] * (m["B"] @ m["A"])
        if not uv:
            return np.linalg.svd(dW, compute_uv=False)
        return np.linalg.svd(dW, full_matrices=False)
    qb, rb = np.linalg.qr(m["B"])
    qa, ra = np.linalg.qr(m["A"].T)
    u, s, vt = np.linalg.svd(m["s"] * rb @ ra.T)
    if not uv:
        return s
    return qb @ u, s, vt @ qa.T


def top_base(W, K):
    """W's top-K singular triplets from the eigen-decomposition of WᵀW (or
    WWᵀ), not an SVD: an independent route to proj_base."""
    d, k = W.shape
    if k <= d:
        ev, V = np.linalg.eigh(W.T @ W)
        idx = np.argsort(ev)[::-1][:K]
        V = V[:, idx]
        S = np.sqrt(np.maximum(ev[idx], 0))
        U = (W @ V) / S
        return U, S, V.T
    U, S, Vt = top_base(W.T, K)
    return Vt.T, S, U.T


def spectrum_summary(sv):
    s2 = sv ** 2
    tot = s2.sum()
    if not sv[0] > 0:
        return {"delta_fro": 0.0, "stable_rank": np.nan, "rank90": 0, "effective_rank": np.nan}
    p = sv / sv.sum()
    p = p[p > 0]
    return {"delta_fro": math.sqrt(tot), "stable_rank": tot / sv[0] ** 2,
            "rank90": int(np.argmax(np.cumsum(s2) >= 0.9 * tot)) + 1,
            "effective_rank": math.exp(-(p * np.log(p)).sum())}


def check_root(f, cmd, inputs, tag):
    a = f.attrs
    ok = (isinstance(a.get("lorascope_version"), str) and a.get("format_version") == 1
          and isinstance(a.get("format_version"), (np.integer, int))
          and cmd in a.get("command", "") and "seed" in a and "git_commit" in a
          and a.get("wall_time_s", -1) >= 0)
    for role, path in inputs.items():
        ok = ok and a.get(role) == path and a.get(role + "_sha256") == mk.sha256_path(path)
    check(ok, "%s: root attributes (version, format_version=1, command, inputs + sha256, seed, "
              "git_commit, wall_time_s)" % tag)


def check_spectrum(h5, adir, tag, dense_all=True):
    _, mods = load_adapter(adir)
    shapes_seen = set()
    with h5py.File(h5, "r") as f:
        check_root(f, "spectrum", {"adapter": adir}, tag)
        names = sorted(f["modules"].keys())
        check(names == sorted(mods), "%s: every module present (%d)" % (tag, len(mods)))
        worst_sv = worst_attr = 0.0
        meta_ok = True
        for name in names:
            g = f["modules"][name]
            m = mods[name]
            sv = g["singular_values"][()]
            meta_ok &= (g.attrs["r"] == m["r"] and g.attrs["in_features"] == m["k"]
                        and g.attrs["out_features"] == m["d"] and sv.shape == (m["r"],)
                        and sv.dtype == np.float64)
            meta_ok &= same(g.attrs["alpha"], m["alpha"], tol=1e-12) and \
                same(g.attrs["scaling"], m["s"], tol=1e-12)
            if not np.all(np.isfinite(m["A"])) or not np.all(np.isfinite(m["B"])):
                meta_ok &= bool(np.all(np.isnan(sv))) and g.attrs["n_nonfinite"] > 0
                continue
            dense = dense_all or (m["d"], m["k"]) not in shapes_seen
            shapes_seen.add((m["d"], m["k"]))
            ref = delta_svd(m, dense=dense)[:m["r"]]
            ref = np.concatenate([ref, np.zeros(m["r"] - ref.size)])
            if not dense_all and dense:
                # the QR-core route of the fixtures agrees with dense numpy
                meta_ok &= same(delta_svd(m, dense=False), ref, floor=1e-9 * ref[0])
            worst_sv = max(worst_sv, maxrel(sv, ref, floor=1e-6 * max(ref[0], 1e-300)))
            sm = spectrum_summary(ref)
            for key in ("delta_fro", "stable_rank", "effective_rank"):
                worst_attr = max(worst_attr, maxrel(g.attrs[key], sm[key]))
            meta_ok &= g.attrs["rank90"] == sm["rank90"]
            meta_ok &= g.attrs["degenerate"] == (0 if ref[0] > 0 else 1)
        check(worst_sv <= RTOL, "%s: singular values == numpy (max rel %.1e)" % (tag, worst_sv))
        check(worst_attr <= RTOL, "%s: delta_fro, stable_rank, effective_rank == numpy (max rel %.1e)"
              % (tag, worst_attr))
        check(meta_ok, "%s: r, alpha, scaling, in/out features, rank90, degenerate, NaN handling" % tag)
    return mods


def factor_rows(m, factor):
    M = m["A"] if factor == "A" else m["B"].T
    return np.linalg.svd(M, full_matrices=False)[2]


def check_subspace(h5, a1, a2, factor, tag, seed=1234, expect_skip=()):
    _, m1 = load_adapter(a1)
    _, m2 = load_adapter(a2)
    with h5py.File(h5, "r") as f:
        check_root(f, "subspace", {"adapter1": a1, "adapter2": a2}, tag)
        check(f.attrs["factor"] == factor and f.attrs["seed"] == seed,
              "%s: factor and seed recorded" % tag)
        common = sorted(set(m1) & set(m2))
        want = [n for n in common if n not in expect_skip]
        check(sorted(f["modules"].keys()) == want,
              "%s: compared modules = common minus skipped (%d)" % (tag, len(want)))
        worst = worst_rand = worst_ang = 0.0
        meta = True
        for name in want:
            g = f["modules"][name]
            x, y = m1[name], m2[name]
            dim = x["k"] if factor == "A" else x["d"]
            meta &= (g.attrs["r1"] == x["r"] and g.attrs["r2"] == y["r"] and g.attrs["factor"] == factor
                     and g.attrs["dim"] == dim and g["phi"].shape == (x["r"], y["r"])
                     and g["phi_random"].shape == (x["r"], y["r"])
                     and g["principal_angles_deg"].shape == (min(x["r"], y["r"]),))
            # random baseline: regenerate the seeded Gaussians
            rs = int(g.attrs["random_seed"])
            meta &= rs == module_seed(seed, name)
            rng = Rng(rs)
            p1, p2 = min(x["r"], dim), min(y["r"], dim)
            Q1 = random_cols(rng, dim, p1)
            Q2 = random_cols(rng, dim, p2)
            worst_rand = max(worst_rand, maxrel(g["phi_random"][()], pad(phi_def(Q1.T, Q2.T), x["r"], y["r"]),
                                                floor=1e-9))
            finite = all(np.all(np.isfinite(v)) for v in (x["A"], x["B"], y["A"], y["B"]))
            zero = not (np.any(x["B"]) and np.any(x["A"]) and np.any(y["B"]) and np.any(y["A"]))
            if not finite or zero:
                meta &= bool(np.all(np.isnan(g["phi"][()])))
                meta &= g.attrs["degenerate"] == (1 if finite else 0)
                continue
            V1, V2 = factor_rows(x, factor), factor_rows(y, factor)
            ref = pad(phi_def(V1, V2), x["r"], y["r"])
            worst = max(worst, maxrel(g["phi"][()], ref, floor=1e-9))
            cs = np.clip(np.linalg.svd(V1 @ V2.T, compute_uv=False), 0, 1)
            ang = np.sort(np.degrees(np.arccos(cs)))
            ang = np.concatenate([ang, np.full(min(x["r"], y["r"]) - ang.size, np.nan)])
            got = g["principal_angles_deg"][()]
            meta &= np.array_equal(np.isnan(got), np.isnan(ang))
            worst_ang = max(worst_ang, float(np.nanmax(np.abs(got - ang))))
            meta &= g.attrs["degenerate"] == (1 if max(x["r"], y["r"]) > dim else 0)
        check(worst <= RTOL, "%s: phi == Eq. 4 from numpy SVDs (max rel %.1e)" % (tag, worst))
        check(worst_rand <= RTOL, "%s: phi_random == the seeded random subspaces (max rel %.1e)"
              % (tag, worst_rand))
        # arccos is ill-conditioned near 0 degrees: compare absolutely
        check(worst_ang <= 1e-4, "%s: principal angles == numpy (max abs %.1e deg)" % (tag, worst_ang))
        check(meta, "%s: r1, r2, factor, dim, shapes, random_seed, degenerate" % tag)


def check_amplify(h5, adir, base, tag, rank=0, seed=1234, expect=None, dense=True):
    cfg, mods = load_adapter(adir)
    bt = mk.read_safetensors(base)
    fifo = bool(cfg.get("fan_in_fan_out"))
    with h5py.File(h5, "r") as f:
        check_root(f, "amplify", {"adapter": adir, "base": base}, tag)
        names = sorted(f["modules"].keys())
        if expect is not None:
            check(len(names) == expect, "%s: %d modules analysed" % (tag, expect))
        worst = 0.0
        meta = True
        for name in names:
            g = f["modules"][name]
            m = mods[name]
            bname = g.attrs["base_tensor"]
            cands = [name + ".weight"]
            for pre in ("transformer.", "model."):
                if name.startswith(pre):
                    cands.append(name[len(pre):] + ".weight")
            if len(cands) == 1:
                cands += ["transformer." + name + ".weight", "model." + name + ".weight"]
            meta &= bname == next(c for c in cands if c in bt)
            W = bt[bname].T if fifo else bt[bname]
            meta &= W.shape == (m["d"], m["k"]) and g.attrs["base_transposed"] == int(fifo)
            K = min(rank or m["r"], m["r"], m["d"], m["k"])
            meta &= g.attrs["rank"] == K and g.attrs["r"] == m["r"]
            U, S, Vt = delta_svd(m, uv=True, dense=dense)
            if dense:
                Uw, Sw, Vw = np.linalg.svd(W, full_matrices=False)
            else:
                Uw, Sw, Vw = top_base(W, K)
            rng = Rng(int(g.attrs["random_seed"]))
            meta &= int(g.attrs["random_seed"]) == module_seed(seed, name)
            Ur = random_cols(rng, m["d"], K)
            Vr = random_cols(rng, m["k"], K)
            ref = {
                "delta_fro": np.linalg.norm(S),
                "base_fro": np.linalg.norm(W),
                "proj_base": np.linalg.norm(Uw[:, :K].T @ W @ Vw[:K].T),
                "proj_random": np.linalg.norm(Ur.T @ W @ Vr),
                "proj_random_expected": K * np.linalg.norm(W) / math.sqrt(m["d"] * m["k"]),
            }
            if S[0] > 0:
                ref["proj_delta"] = np.linalg.norm(U[:, :K].T @ W @ Vt[:K].T)
                ref["amplification"] = ref["delta_fro"] / ref["proj_delta"]
                meta &= g.attrs["degenerate"] == 0
            else:
                meta &= g.attrs["degenerate"] == 1 and np.isnan(g.attrs["proj_delta"]) \
                    and np.isnan(g.attrs["amplification"])
            for key, v in ref.items():
                worst = max(worst, maxrel(g.attrs[key], v))
            worst = max(worst, maxrel(g["base_singular_values"][()], Sw[:K]))
            worst = max(worst, maxrel(g["delta_singular_values"][()], S[:K], floor=1e-6 * S[0]))
        check(worst <= RTOL, "%s: delta_fro, base_fro, proj_delta/base/random, amplification, "
                             "singular values == numpy (max rel %.1e)" % (tag, worst))
        check(meta, "%s: base tensor lookup, transposition, rank, random_seed, degenerate" % tag)


# ---- the nulls (issue 12) ----

def null_summary(x, obs):
    """mean, sd (ddof 1), q95 (numpy's linear quantile), one-sided MC p."""
    x = np.asarray(x, dtype=np.float64)
    p = np.nan if np.isnan(obs) else (1.0 + np.sum(x >= obs)) / (1.0 + x.size)
    return {"mean": x.mean(), "sd": x.std(ddof=1), "q95": np.quantile(x, 0.95), "p": p}


def phi_grid(G):
    """φ(i, j) = ‖G[:i, :j]‖² / min(i, j) for a Gram matrix G (p1, p2)."""
    c = np.cumsum(np.cumsum(G ** 2, axis=0), axis=1)
    i = np.arange(1, G.shape[0] + 1)[:, None]
    j = np.arange(1, G.shape[1] + 1)[None, :]
    return c / np.minimum(i, j)


def phi_null_draws(seed, name, n, p1, p2, ndraws, gdraws):
    """The C draws re-generated: phi11 from v₁²/‖v‖² of Gaussian v (stream
    "<name>/null"), grids from the first rows of a random frame of the
    smaller subspace (stream "<name>/null-grid")."""
    rng = Rng(module_seed(seed, name + "/null"))
    phi11 = np.empty(ndraws)
    for t in range(ndraws):
        v = np.array([rng.normal() for _ in range(n)])
        phi11[t] = v[0] ** 2 / (v @ v)
    rng = Rng(module_seed(seed, name + "/null-grid"))
    p = min(p1, p2)
    grids = []
    for t in range(gdraws):
        Q = random_cols(rng, n, p)
        G = Q[:p1, :] if p == p2 else Q[:p2, :].T
        grids.append(phi_grid(G))
    return phi11, np.array(grids)


def check_subspace_nulls(h5, a1, a2, factor, tag, null_seed=1234, reproduce=()):
    """Every null attribute of every module against the stored draws and
    the definitions; for the modules in reproduce, the draws themselves."""
    _, m1 = load_adapter(a1)
    _, m2 = load_adapter(a2)
    worst, meta = 0.0, True
    with h5py.File(h5, "r") as f:
        N = int(f.attrs["null_draws"])
        meta &= int(f.attrs["null_seed"]) == null_seed and f.attrs["grid_null_draws"] == min(N, 200)
        for name in f["modules"]:
            g = f["modules"][name]
            x, y = m1[name], m2[name]
            dim = x["k"] if factor == "A" else x["d"]
            r1, r2 = x["r"], y["r"]
            p1, p2 = min(r1, dim), min(r2, dim)
            draws = g["phi11_null"][()]
            phi11 = g["phi"][0, 0]
            sm = null_summary(draws, phi11)
            meta &= draws.shape == (N,) and g.attrs["null_draws"] == N and g.attrs["grid_null_draws"] == min(N, 200)
            meta &= np.array_equal(np.isnan(g.attrs["phi11"]), np.isnan(phi11)) and \
                np.array_equal(np.isnan(g.attrs["phi11_p"]), np.isnan(sm["p"]))
            meta &= int(g.attrs["null_seed"]) == module_seed(null_seed, name + "/null")
            meta &= int(g.attrs["grid_null_seed"]) == module_seed(null_seed, name + "/null-grid")
            meta &= bool(np.all((draws >= 0) & (draws <= 1)))
            worst = max(worst, maxrel(g.attrs["phi11"], phi11), maxrel(g.attrs["phi11_null_mean"], sm["mean"]),
                        maxrel(g.attrs["phi11_null_q95"], sm["q95"]), maxrel(g.attrs["phi11_p"], sm["p"]),
                        maxrel(g.attrs["phi11_expected"], 1.0 / dim),
                        maxrel(g.attrs["r_over_dim"], max(r1, r2) / dim))
            mean, q95 = g["phi_null_mean"][()], g["phi_null_q95"][()]
            meta &= mean.shape == (r1, r2) and q95.shape == (r1, r2)
            meta &= bool(np.all(np.isnan(mean[p1:, :]))) and bool(np.all(np.isnan(mean[:, p2:])))
            meta &= bool(np.all(np.isfinite(mean[:p1, :p2]))) and bool(np.all(q95[:p1, :p2] >= mean[:p1, :p2]))
            if name in reproduce:
                d11, grids = phi_null_draws(null_seed, name, dim, p1, p2, N, min(N, 200))
                worst = max(worst, maxrel(draws, d11, floor=1e-9),
                            maxrel(mean, pad(grids.mean(axis=0), r1, r2), floor=1e-9),
                            maxrel(q95, pad(np.quantile(grids, 0.95, axis=0), r1, r2), floor=1e-9))
    check(worst <= RTOL, "%s: phi11, its null mean/q95/p from the stored draws, 1/dim, r/dim%s (max rel %.1e)"
          % (tag, ", the draws and grids re-generated for " + ",".join(reproduce) if reproduce else "", worst))
    check(meta, "%s: null shapes, NaN padding, draws in [0, 1], null_draws, seeds" % tag)


def beta_half_cdf(n):
    """The exact CDF of Beta(1/2, (n-1)/2), the law of (u·v)² for uniform unit
    u, v in R^n: F(x) = 2∫_0^√x (1−s²)^((n−3)/2) ds / B(1/2, (n−1)/2),
    tabulated by the trapezoid rule on 2·10^5 steps (error < 1e-9)."""
    b = (n - 1) / 2.0
    s = np.linspace(0.0, 1.0, 200001)
    y = (1.0 - s ** 2) ** (b - 1.0)
    c = np.concatenate([[0.0], np.cumsum((y[1:] + y[:-1]) / 2.0 * np.diff(s))])
    lbeta = math.lgamma(0.5) + math.lgamma(b) - math.lgamma(b + 0.5)
    c *= 2.0 / math.exp(lbeta)
    return lambda x: np.interp(np.sqrt(np.clip(x, 0.0, 1.0)), s, c)


def phi11_law(h5, tag, delta=1e-6):
    """phi11_null against Beta(1/2, (dim−1)/2), bounds failing by chance with
    probability < delta over all modules: Kolmogorov–Smirnov through the DKW
    inequality (P(sup|F̂−F| > ε) <= 2exp(−2Nε²)), the q95 attribute within the
    DKW band, the mean within Bernstein's bound around 1/dim."""
    with h5py.File(h5, "r") as f:
        names = list(f["modules"])
        dl = delta / (3 * len(names))
        worst_ks = worst_q = worst_m = 0.0
        ok = True
        for name in names:
            g = f["modules"][name]
            x = np.sort(g["phi11_null"][()])
            N, n = x.size, int(g.attrs["dim"])
            F = beta_half_cdf(n)
            eps = math.sqrt(math.log(2.0 / dl) / (2.0 * N))
            Fx = F(x)
            ks = max(np.max(np.arange(1, N + 1) / N - Fx), np.max(Fx - np.arange(N) / N))
            ok &= ks <= eps
            worst_ks = max(worst_ks, ks / eps)
            # q95 between the exact quantiles at 0.95 ± ε
            grid = np.linspace(0, 1, 400001)
            Fg = F(grid)
            lo, hi = np.interp(0.95 - eps, Fg, grid), np.interp(min(0.95 + eps, 1.0), Fg, grid)
            q = g.attrs["phi11_null_q95"]
            ok &= lo <= q <= hi
            worst_q = max(worst_q, abs(q - np.interp(0.95, Fg, grid)) / (hi - lo) * 2)
            mu = 1.0 / n
            a, b = 0.5, (n - 1) / 2.0
            var = a * b / ((a + b) ** 2 * (a + b + 1))
            L = math.log(2.0 / dl)
            t = math.sqrt(2 * var * L / N) + 2 * L / (3 * N)
            ok &= abs(x.mean() - mu) <= t
            worst_m = max(worst_m, abs(x.mean() - mu) / t)
    check(ok, "%s: phi11_null ~ Beta(1/2, (dim-1)/2): KS <= DKW bound (worst %.2f of it), q95 in the DKW band "
              "(%.2f of half-width), mean = 1/dim within Bernstein (%.2f of it); P(false FAIL) < 1e-6"
          % (tag, worst_ks, worst_q, worst_m))


def phi_grid_law(h5, tag, draws=20000, z=6.0):
    """phi_null_mean against an independent numpy sampler (both subspaces
    random, Gaussian + QR, no fixed axes), cell by cell: |C mean − numpy mean|
    <= z·sd·sqrt(1/n_C + 1/n_np), and the numpy means against max(i, j)/dim."""
    rng = np.random.default_rng(2024)
    worst = worst_th = 0.0
    with h5py.File(h5, "r") as f:
        for name in list(f["modules"])[:2]:
            g = f["modules"][name]
            n, nc = int(g.attrs["dim"]), int(g.attrs["grid_null_draws"])
            p1, p2 = min(int(g.attrs["r1"]), n), min(int(g.attrs["r2"]), n)
            Z1 = np.linalg.qr(rng.normal(size=(draws, n, p1)))[0]
            Z2 = np.linalg.qr(rng.normal(size=(draws, n, p2)))[0]
            G = np.einsum("tni,tnj->tij", Z1, Z2)
            c = np.cumsum(np.cumsum(G ** 2, axis=1), axis=2)
            ph = c / np.minimum.outer(np.arange(1, p1 + 1), np.arange(1, p2 + 1))
            m, sd = ph.mean(axis=0), ph.std(axis=0)
            tol = z * sd * math.sqrt(1.0 / nc + 1.0 / draws)
            worst = max(worst, float(np.max(np.abs(g["phi_null_mean"][:p1, :p2] - m) / tol)))
            th = np.maximum.outer(np.arange(1, p1 + 1), np.arange(1, p2 + 1)) / n
            worst_th = max(worst_th, float(np.max(np.abs(m - th) / (z * sd / math.sqrt(draws)))))
    check(worst <= 1.0 and worst_th <= 1.0, "%s: phi_null_mean == an independent numpy sampler of two random "
          "subspaces (worst %.2f of a %g-sigma bound), whose mean is max(i, j)/dim (%.2f)" % (tag, worst, z, worst_th))


def proj_null_draws(seed, name, W, K, ndraws):
    """The C draws of ‖UᵀWV‖_F re-generated (stream "<name>/null/K=<K>",
    U (d, K) then V (k, K) a draw; the norm depends on their spans only)."""
    rng = Rng(module_seed(seed, "%s/null/K=%d" % (name, K)))
    out = np.empty(ndraws)
    for t in range(ndraws):
        U = random_cols(rng, W.shape[0], K)
        V = random_cols(rng, W.shape[1], K)
        out[t] = np.linalg.norm(U.T @ W @ V)
    return out


def amp_null_ref(g, W, K, name_draws, pname, obs_attr):
    """The reference values of one null set, the expected rms, the summary
    and the draws. The p-value is taken against the file's observed value
    (checked against numpy elsewhere): with K = d = k every draw is ‖W‖_F and
    only rounding orders them."""
    draws = g[name_draws][()]
    sm = null_summary(draws, g.attrs[obs_attr])
    exp = K * np.linalg.norm(W) / math.sqrt(W.shape[0] * W.shape[1])
    ref = {name_draws + "_mean": sm["mean"], name_draws + "_sd": sm["sd"], name_draws + "_q95": sm["q95"],
           pname: sm["p"]}
    return ref, exp, sm, draws


def check_amplify_nulls(h5, adir, base, tag, kf=0, null_seed=1234, reproduce=()):
    """The null attributes from the stored draws and numpy's SVDs; the _k
    set of --k from its definition; for modules in reproduce, the draws."""
    cfg, mods = load_adapter(adir)
    bt = mk.read_safetensors(base)
    fifo = bool(cfg.get("fan_in_fan_out"))
    worst, meta = 0.0, True
    with h5py.File(h5, "r") as f:
        N = int(f.attrs["null_draws"])
        meta &= int(f.attrs["null_seed"]) == null_seed and int(f.attrs["k"]) == kf
        for name in f["modules"]:
            g = f["modules"][name]
            m = mods[name]
            W = bt[g.attrs["base_tensor"]]
            W = W.T if fifo else W
            K = int(g.attrs["rank"])
            U, S, Vt = delta_svd(m, uv=True)
            Sw = np.linalg.svd(W, compute_uv=False)
            dfro = np.linalg.norm(S)
            deg = not S[0] > 0

            def pdel(k):
                return np.nan if deg else np.linalg.norm(U[:, :k].T @ W @ Vt[:k].T)

            pd = pdel(K)
            ref, exp, sm, draws = amp_null_ref(g, W, K, "proj_null", "proj_p", "proj_delta")
            ref["alignment_excess"] = pd / exp
            ref["amplification_null"] = np.nan if deg else dfro / sm["mean"]
            meta &= draws.shape == (N,) and g.attrs["null_draws"] == N
            meta &= int(g.attrs["null_seed"]) == module_seed(null_seed, "%s/null/K=%d" % (name, K))
            if name in reproduce:
                worst = max(worst, maxrel(draws, proj_null_draws(null_seed, name, W, K, N)))
            if kf:
                skipped = kf > min(m["r"], m["d"], m["k"])
                meta &= g.attrs["k_fixed"] == kf and g.attrs["k_skipped"] == int(skipped)
                if skipped:
                    meta &= "proj_delta_k" not in g.attrs and "proj_null_k" not in g
                else:
                    pk = pdel(kf)
                    rk, expk, smk, dk = amp_null_ref(g, W, kf, "proj_null_k", "proj_k_p", "proj_delta_k")
                    ref.update(rk)
                    ref.update({"proj_delta_k": pk, "proj_base_k": np.linalg.norm(Sw[:kf]),
                                "proj_random_expected_k": expk, "alignment_excess_k": pk / expk,
                                "amplification_k": dfro / pk,
                                "amplification_null_k": np.nan if deg else dfro / smk["mean"]})
                    meta &= int(g.attrs["null_seed_k"]) == module_seed(null_seed, "%s/null/K=%d" % (name, kf))
                    if name in reproduce:
                        worst = max(worst, maxrel(dk, proj_null_draws(null_seed, name, W, kf, N)))
            else:
                meta &= "k_fixed" not in g.attrs and "proj_null_k" not in g
            for key, v in ref.items():
                # an sd of rounding noise (K = d = k) is compared absolutely
                worst = max(worst, maxrel(g.attrs[key], v, floor=1e-3 * exp if key.endswith("_sd") else 0.0))
    check(worst <= RTOL, "%s: proj_null mean/sd/q95/p, alignment_excess, amplification_null%s%s == numpy "
          "(max rel %.1e)" % (tag, ", the _k set of --k %d" % kf if kf else "",
                              ", the draws re-generated for " + ",".join(reproduce) if reproduce else "", worst))
    check(meta, "%s: null draws' shape, null_draws, seeds, k_fixed/k_skipped" % tag)


def proj_null_rms(h5, tag, z=6.0):
    """The rms of the draws is proj_random_expected = K·‖W‖_F/√(dk) exactly:
    mean(x²) within z standard errors of its square."""
    worst = 0.0
    with h5py.File(h5, "r") as f:
        for name in f["modules"]:
            g = f["modules"][name]
            x2 = g["proj_null"][()] ** 2
            e2 = g.attrs["proj_random_expected"] ** 2
            worst = max(worst, abs(x2.mean() - e2) / (z * x2.std(ddof=1) / math.sqrt(x2.size)))
    check(worst <= 1.0, "%s: rms of proj_null == proj_random_expected (worst %.2f of a %g-sigma bound)"
          % (tag, worst, z))


def json_last(out):
    lines = [l for l in out.strip().splitlines() if l.strip()]
    try:
        j = json.loads(lines[-1])
    except (ValueError, IndexError):
        return None
    return j


def main():
    if not os.access(LSC, os.X_OK):
        check(False, "program %s exists (set LSC_BIN)" % LSC)
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc_oracle_")
    try:
        synthetic(tmp)
        fixtures(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


# the subspace runs whose null draws are re-generated here, by module: the
# grid from a frame of p2 (a8 vs a4) or p1 columns (a8 vs r64, NaN-padded)
REPRODUCE = {("a8", "a4", "A"): ("h.0.attn.q_proj",), ("a8", "a4", "B"): ("h.0.mlp.fc_in",),
             ("a8", "r64", "A"): ("h.0.attn.q_proj",)}


def nulls(tmp, j, o):
    """The nulls' known answers, laws and options (issue 12)."""
    # subspace: a planted shared top direction beats every null draw; two
    # independent adapters do not
    for fac in ("A", "B"):
        h5 = o("planted_%s.h5" % fac)
        rc, out, err = run("subspace", j("planted1"), j("planted2"), "-o", h5, "--factor", fac)
        if check(rc == 0, "subspace planted1 planted2 --factor %s: exit 0" % fac):
            check_subspace_nulls(h5, j("planted1"), j("planted2"), fac, "subspace planted --factor " + fac)
            with h5py.File(h5, "r") as f:
                g = [f["modules"][n] for n in f["modules"]]
                lo = min(x.attrs["phi11"] for x in g)
                ps = {float(x.attrs["phi11_p"]) for x in g}
            check(lo > 0.9 and ps == {1.0 / 1001}, "subspace planted --factor %s: phi11 ~ 1 (min %.3f), "
                  "phi11_p = 1/(N+1) for every module (%s)" % (fac, lo, sorted(ps)))
    with h5py.File(o("sub_a8_a4_A.h5"), "r") as f:
        ps = [float(f["modules"][n].attrs["phi11_p"]) for n in f["modules"]]
    check(min(ps) > 0.01, "subspace of two independent adapters: phi11_p > 0.01 everywhere (min %.3f)" % min(ps))
    rc, out, err = run("subspace", j("a8"), j("a4"), "-o", o("law.h5"), "--null-draws", 20000)
    if check(rc == 0, "subspace --null-draws 20000: exit 0"):
        phi11_law(o("law.h5"), "subspace --null-draws 20000")
        phi_grid_law(o("law.h5"), "subspace --null-draws 20000")
        check("null_mean" in out and "p(1,1)" in out, "subspace: the null's columns on stdout")
    rc, out, err = run("subspace", j("a8"), j("a4"), "-o", o("ns.h5"), "--null-draws", 50, "--null-seed", 99)
    if check(rc == 0, "subspace --null-draws 50 --null-seed 99: exit 0"):
        check_subspace_nulls(o("ns.h5"), j("a8"), j("a4"), "A", "subspace --null-seed 99", null_seed=99,
                             reproduce=("h.1.attn.v_proj",))
        with h5py.File(o("ns.h5"), "r") as f, h5py.File(o("sub_a8_a4_A.h5"), "r") as f0:
            same_phi = all(np.array_equal(f["modules"][n]["phi_random"][()], f0["modules"][n]["phi_random"][()])
                           for n in f["modules"])
        check(same_phi, "subspace --null-seed: phi_random (of --seed) unchanged")

    # amplify: dW from W's own top directions beats every draw; Gaussian
    # factors do not; the rms of the null is K·|W|/sqrt(dk)
    base = j("base_a.safetensors")
    rc, out, err = run("amplify", j("alignW"), "--base", base, "-o", o("alignW.h5"), "--k", 4)
    if check(rc == 0, "amplify alignW --k 4: exit 0"):
        check_amplify_nulls(o("alignW.h5"), j("alignW"), base, "amplify alignW --k 4", kf=4)
        with h5py.File(o("alignW.h5"), "r") as f:
            g = [f["modules"][n] for n in f["modules"]]
            ps = {float(x.attrs[k]) for x in g for k in ("proj_p", "proj_k_p")}
            ex = min(x.attrs["alignment_excess"] for x in g)
            pb = max(abs(x.attrs["proj_delta"] / x.attrs["proj_base"] - 1) for x in g)
        check(ps == {1.0 / 201} and ex > 4 and pb < 1e-3, "amplify: dW from W's top-8 directions: proj_p = "
              "proj_k_p = 1/(N+1) (%s), alignment_excess >> 1 (min %.2f), proj_delta = proj_base (%.1e)"
              % (sorted(ps), ex, pb))
    rc, out, err = run("amplify", j("gauss8"), "--base", base, "-o", o("gauss8.h5"), "--k", 4)
    if check(rc == 0, "amplify gauss8 --k 4: exit 0"):
        check_amplify_nulls(o("gauss8.h5"), j("gauss8"), base, "amplify gauss8 --k 4", kf=4,
                            reproduce=("h.0.attn.q_proj",))
        with h5py.File(o("gauss8.h5"), "r") as f:
            ps = [float(f["modules"][n].attrs[k]) for n in f["modules"] for k in ("proj_p", "proj_k_p")]
        check(min(ps) > 0.01, "amplify: dW of Gaussian factors: proj_p, proj_k_p > 0.01 (min %.3f)" % min(ps))
        check("null_mean" in out and "excess" in out, "amplify: the null table on stdout")
    rc, out, err = run("amplify", j("a8"), "--base", base, "-o", o("rms.h5"), "--null-draws", 4000)
    if check(rc == 0, "amplify --null-draws 4000: exit 0"):
        proj_null_rms(o("rms.h5"), "amplify --null-draws 4000")
    # the same --k and seed: the same draws for adapters of different rank
    rc1 = run("amplify", j("a8"), "--base", base, "-o", o("k8.h5"), "--k", 4)[0]
    rc2, out, err = run("amplify", j("a4"), "--base", base, "-o", o("k4.h5"), "--k", 4)
    if check(rc1 == 0 and rc2 == 0, "amplify a8 and a4 --k 4: exit 0"):
        check_amplify_nulls(o("k4.h5"), j("a4"), base, "amplify a4 --k 4", kf=4)
        with h5py.File(o("k8.h5"), "r") as f8, h5py.File(o("k4.h5"), "r") as f4:
            ok = all(np.array_equal(f8["modules"][n]["proj_null_k"][()], f4["modules"][n]["proj_null_k"][()])
                     and np.array_equal(f4["modules"][n]["proj_null"][()], f4["modules"][n]["proj_null_k"][()])
                     for n in f8["modules"])
        check(ok, "amplify --k 4: r=8 and r=4 adapters get the same null draws per module")
    # --k above --rank: W's top-K values computed for the fixed K on their own
    rc, out, err = run("amplify", j("a8"), "--base", base, "-o", o("kr.h5"), "--rank", 2, "--k", 5)
    if check(rc == 0, "amplify a8 --rank 2 --k 5: exit 0"):
        check_amplify_nulls(o("kr.h5"), j("a8"), base, "amplify a8 --rank 2 --k 5", kf=5)
    rc, out, err = run("amplify", j("a4"), "--base", base, "-o", o("kskip.h5"), "--k", 6, "--null-draws", 20,
                       "--null-seed", 5)
    if check(rc == 0 and "h.0.attn.q_proj" in err and "--k 6" in err and "skipped" in err,
             "amplify a4 --k 6: exit 0, modules with r < K warned as skipped"):
        check_amplify_nulls(o("kskip.h5"), j("a4"), base, "amplify a4 --k 6 --null-seed 5", kf=6, null_seed=5)


def synthetic(tmp):
    S = os.path.join(tmp, "suite")
    mk.suite(S)
    j = lambda *p: os.path.join(S, *p)  # noqa: E731
    o = lambda n: os.path.join(tmp, n)  # noqa: E731

    # ---- spectrum ----
    for ad in ("a8", "f16", "rslora", "zeroB", "nanA", "fanin", "r64"):
        rc, out, err = run("spectrum", j(ad), "-o", o("spec_%s.h5" % ad), "--json")
        if not check(rc == 0, "spectrum %s: exit 0 (%s)" % (ad, err.strip()[:200])):
            continue
        mods = check_spectrum(o("spec_%s.h5" % ad), j(ad), "spectrum " + ad)
        js = json_last(out)
        check(js is not None and js.get("n_modules") == len(mods) and js.get("wall_s", -1) >= 0
              and js.get("peak_rss_mb", 0) > 0, "spectrum %s: --json last line" % ad)
        if ad == "zeroB":
            check("h.1.attn.v_proj" in err and "dW = 0" in err, "spectrum zeroB: warning names the module")
        if ad == "nanA":
            check("h.0.attn.q_proj" in err and "NaN" in err, "spectrum nanA: NaN reported for the module")
    # ---- subspace ----
    cases = [("a8", "a4", "A", ()), ("a8", "a4", "B", ()), ("a8", "a8", "A", ()),
             ("rslora", "a8", "A", ()), ("a8", "zeroB", "A", ()), ("a8", "nanA", "B", ()),
             ("a8", "shape", "A", ("h.0.mlp.fc_in",)), ("a8", "shape", "B", ("h.0.mlp.fc_out",)),
             ("a8", "r64", "A", ()), ("r64", "a4", "B", ())]
    for a1, a2, fac, skip in cases:
        tag = "subspace %s %s --factor %s" % (a1, a2, fac)
        h5 = o("sub_%s_%s_%s.h5" % (a1, a2, fac))
        rc, out, err = run("subspace", j(a1), j(a2), "-o", h5, "--factor", fac)
        if not check(rc == 0, "%s: exit 0" % tag):
            continue
        check_subspace(h5, j(a1), j(a2), fac, tag, expect_skip=skip)
        check_subspace_nulls(h5, j(a1), j(a2), fac, tag, reproduce=REPRODUCE.get((a1, a2, fac), ()))
        if skip:
            check(all(s in err for s in skip) and "differ" in err, "%s: skipped modules warned" % tag)
    with h5py.File(o("sub_a8_a8_A.h5"), "r") as f:
        worst = max(float(np.max(np.abs(np.diag(f["modules"][n]["phi"][()]) - 1.0))) for n in f["modules"])
    check(worst < 1e-12, "subspace of an adapter with itself: phi(i, i) = 1 (max err %.1e)" % worst)
    with h5py.File(o("sub_a8_zeroB_A.h5"), "r") as f:
        g = f["modules"]["h.1.attn.v_proj"]
        check(g.attrs["degenerate"] == 1 and np.all(np.isnan(g["phi"][()])),
              "subspace with an all-zero B: phi NaN, degenerate = 1")
    # a different seed changes only the random baseline
    rc, out, err = run("subspace", j("a8"), j("a4"), "-o", o("sub_seed.h5"), "--seed", "7")
    if check(rc == 0, "subspace --seed 7: exit 0"):
        check_subspace(o("sub_seed.h5"), j("a8"), j("a4"), "A", "subspace --seed 7", seed=7)
        check_subspace_nulls(o("sub_seed.h5"), j("a8"), j("a4"), "A", "subspace --seed 7", null_seed=7)
    # --pair across module names (q against v of one adapter)
    rc, out, err = run("subspace", j("a8"), j("a8"), "-o", o("pair.h5"), "--pair",
                       "h.0.attn.q_proj:h.0.attn.v_proj")
    if check(rc == 0, "subspace --pair q_proj:v_proj: exit 0"):
        _, m = load_adapter(j("a8"))
        with h5py.File(o("pair.h5"), "r") as f:
            g = f["modules"]["h.0.attn.q_proj:h.0.attn.v_proj"]
            ref = phi_def(factor_rows(m["h.0.attn.q_proj"], "A"), factor_rows(m["h.0.attn.v_proj"], "A"))
            check(same(g["phi"][()], ref, floor=1e-9) and g.attrs["module1"] == "h.0.attn.q_proj"
                  and g.attrs["module2"] == "h.0.attn.v_proj", "subspace --pair: phi == numpy, names recorded")
    rc, out, err = run("subspace", j("a8"), j("onlyshape"), "-o", o("none.h5"))
    check(rc == 1 and not os.path.exists(o("none.h5")) and "differ" in err and
          len(err.strip().splitlines()) == 1, "subspace with nothing comparable: exit 1, one line, no file")

    # ---- amplify ----
    cases = [("a8", "base_a.safetensors", 0), ("a8", "base_a.safetensors", 3),
             ("fanin", "base_fanin.safetensors", 0), ("zeroB", "base_a.safetensors", 0),
             ("rslora", "base_a.safetensors", 0), ("f16", "base_a.safetensors", 2),
             ("r64", "base_a.safetensors", 0)]
    for ad, base, rank in cases:
        tag = "amplify %s %s%s" % (ad, base, " --rank %d" % rank if rank else "")
        h5 = o("amp_%s_%d.h5" % (ad, rank))
        args = ["amplify", j(ad), "--base", j(base), "-o", h5]
        if rank:
            args += ["--rank", rank]
        rc, out, err = run(*args)
        if check(rc == 0, "%s: exit 0 (%s)" % (tag, err.strip()[:200])):
            check_amplify(h5, j(ad), j(base), tag, rank=rank, expect=4 if ad == "r64" else 6)
            check_amplify_nulls(h5, j(ad), j(base), tag, reproduce=("h.0.mlp.fc_out",) if ad == "fanin" else ())
    nulls(tmp, j, o)

    # ---- plots ----
    pd = o("figs")
    r1 = run("spectrum", j("a8"), "-o", o("p1.h5"), "--plots", pd)[0]
    r2 = run("subspace", j("a8"), j("a4"), "-o", o("p2.h5"), "--plots", pd, "--module",
             "h.1.attn.q_proj")[0]
    r3 = run("amplify", j("a8"), "--base", j("base_a.safetensors"), "-o", o("p3.h5"), "--plots", pd)[0]
    ok = r1 == 0 and r2 == 0 and r3 == 0
    for stem in ("spectrum", "phi_h.1.attn.q_proj", "amplify"):
        png, svg = os.path.join(pd, stem + ".png"), os.path.join(pd, stem + ".svg")
        ok = ok and os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        ok = ok and os.path.exists(svg) and b"<svg" in open(svg, "rb").read(4096)
    for dat in ("spectrum.dat", "phi_h.1.attn.q_proj.dat", "phi_random_h.1.attn.q_proj.dat",
                "amplify.dat"):
        ok = ok and os.path.getsize(os.path.join(pd, dat)) > 0
    check(ok, "--plots: PNG + SVG figures and their gnuplot data for all three subcommands")


def fixtures(tmp):
    fx = fixtures_dir("real PEFT fixtures (GPT-2, GPT-Neo)", "peft/gpt2-tigrinya-r8-cattn-cproj",
                      "peft/gptneo125m-r8-qv")
    if fx is None:
        return
    gpt2 = os.path.join(fx, "peft", "gpt2-tigrinya-r8-cattn-cproj")
    neo = os.path.join(fx, "peft", "gptneo125m-r8-qv")
    o = lambda n: os.path.join(tmp, n)  # noqa: E731
    # GPT-2: 12 fused c_attn (768 -> 2304), 12 attn.c_proj (768 -> 768),
    # 12 mlp.c_proj (3072 -> 768) = 36 modules, 72 tensors
    rc, out, err = run("spectrum", gpt2, "-o", o("g.h5"), "--json")
    if check(rc == 0, "fixture GPT-2: spectrum exit 0"):
        mods = check_spectrum(o("g.h5"), gpt2, "fixture GPT-2 spectrum", dense_all=False)
        kinds = {}
        for name, m in mods.items():
            kind = name.split(".", 3)[3]
            kinds.setdefault(kind, set()).add((m["d"], m["k"]))
            kinds.setdefault(kind + "#", set()).add(name)
        check(len(mods) == 36 and len(kinds["attn.c_attn#"]) == 12 and len(kinds["attn.c_proj#"]) == 12
              and len(kinds["mlp.c_proj#"]) == 12, "fixture GPT-2: 36 modules = 12 c_attn + 12 attn.c_proj "
                                                    "+ 12 mlp.c_proj")
        check(kinds["attn.c_attn"] == {(2304, 768)} and kinds["attn.c_proj"] == {(768, 768)}
              and kinds["mlp.c_proj"] == {(768, 3072)}, "fixture GPT-2: shapes (out, in) per kind")
        js = json_last(out)
        check(js is not None and js.get("n_modules") == 36, "fixture GPT-2: --json n_modules = 36")
    rc, out, err = run("spectrum", neo, "-o", o("n.h5"))
    if check(rc == 0, "fixture GPT-Neo: spectrum exit 0"):
        mods = check_spectrum(o("n.h5"), neo, "fixture GPT-Neo spectrum", dense_all=False)
        q = [n for n in mods if n.endswith(".q_proj")]
        v = [n for n in mods if n.endswith(".v_proj")]
        check(len(mods) == 24 and len(q) == 12 and len(v) == 12, "fixture GPT-Neo: 12 q_proj + 12 v_proj")
    for fac in ("A", "B"):
        rc, out, err = run("subspace", neo, neo, "-o", o("nn%s.h5" % fac), "--factor", fac)
        if check(rc == 0, "fixture GPT-Neo subspace with itself --factor %s: exit 0" % fac):
            check_subspace(o("nn%s.h5" % fac), neo, neo, fac, "fixture GPT-Neo self --factor " + fac)
    # modules of the GPT-2 adapter whose compared dimension differs: refused
    for fac, pair in (("A", "transformer.h.0.attn.c_proj:transformer.h.0.mlp.c_proj"),
                      ("B", "transformer.h.0.attn.c_attn:transformer.h.0.mlp.c_proj")):
        rc, out, err = run("subspace", gpt2, gpt2, "-o", o("bad.h5"), "--factor", fac, "--pair", pair)
        check(rc == 1 and "differ" in err and len(err.strip().splitlines()) == 1
              and not os.path.exists(o("bad.h5")),
              "fixture GPT-2: subspace %s --factor %s (differing shapes) refused: exit 1, one line, "
              "no file" % (pair, fac))
    # the same two c_proj modules share their output space: --factor B works
    rc, out, err = run("subspace", gpt2, gpt2, "-o", o("ok.h5"), "--factor", "B", "--pair",
                       "transformer.h.0.attn.c_proj:transformer.h.0.mlp.c_proj")
    if check(rc == 0, "fixture GPT-2: attn.c_proj vs mlp.c_proj --factor B (both 768 outputs): exit 0"):
        _, m = load_adapter(gpt2)
        with h5py.File(o("ok.h5"), "r") as f:
            g = f["modules"]["transformer.h.0.attn.c_proj:transformer.h.0.mlp.c_proj"]
            ref = phi_def(factor_rows(m["transformer.h.0.attn.c_proj"], "B"),
                          factor_rows(m["transformer.h.0.mlp.c_proj"], "B"))
            check(same(g["phi"][()], ref, floor=1e-9), "fixture GPT-2: that phi == numpy")
    rc, out, err = run("subspace", gpt2, neo, "-o", o("gn.h5"))
    check(rc == 1 and "no module in common" in err and not os.path.exists(o("gn.h5")),
          "fixture GPT-2 vs GPT-Neo: no common module, exit 1")
    # amplify on the real GPT-2 adapter with a random one-layer GPT-2 base
    base = o("gpt2_base_l1.safetensors")
    mk.gpt2_base(base, layers=1, kind="spiked", seed=1)
    rc, out, err = run("amplify", gpt2, "--base", base, "-o", o("ga.h5"))
    if check(rc == 0 and "skipped" in err, "fixture GPT-2: amplify on a 1-layer base, other layers skipped"):
        check_amplify(o("ga.h5"), gpt2, base, "fixture GPT-2 amplify", expect=3, dense=False)
        with h5py.File(o("ga.h5"), "r") as f:
            methods = {f["modules"][n].attrs["topk_method"] for n in f["modules"]}
        check(methods == {"iterative"}, "fixture GPT-2 amplify: W's top-r by subspace iteration (%s)"
              % ",".join(sorted(methods)))


if __name__ == "__main__":
    sys.exit(main())
