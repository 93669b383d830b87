#!/usr/bin/python3
"""test_compare.py — `lorascope compare A1 A2 A3` on synthetic PEFT adapters
with planted shared directions, so that φ is known exactly, cross-checked
with an independent numpy implementation of φ (LoRA paper Eq. 4), the
principal angles and the normalised Grassmann distance.

The adapters (written with tests/make_adapters.py's write_adapter): ranks
4, 8 and 16 on the same base shape; in every module lora_A = diag(s)·E_S for
orthonormal rows E (a random rotation of R^k) and strictly decreasing s, so
that its top right-singular vectors are known: adapter 0 spans e0..e3,
adapter 1 spans e0, e1 (its two largest) then e4..e9, adapter 2 spans
e10..e25 in q_proj (orthogonal to both: φ = 0) and, in v_proj, e0..e3 as its
4 smallest of 16 directions. Known values: q_proj φ_01(4, 4) = 2/4, φ_02 =
φ_12 = 0, Grassmann(0, 2) = 1; v_proj φ_02(4, 4) = 0 (the top-4 of adapter
2 are e10..e13), principal angles (0, 2) all 0, Grassmann(0, 2) = 0 (the
full span of 2 contains that of 0). Adapters 0 and 1 also have a module
adapter 2 lacks (warned, skipped).

Checks: the exit status, the HDF5 layout and attributes, the known values,
every φ and angle against numpy, --i/--j, --factor B, --json and --csv
content against the HDF5 file, --plots files, and the error cases (one
adapter, shape mismatch, no common module, --i too large).

Prints one PASS/FAIL/SKIP line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import csv
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, skip, summary  # noqa: E402
from make_adapters import write_adapter  # noqa: E402

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

K, D = 48, 40          # in_features, out_features of every module
RANKS = (4, 8, 16)
LAYERS = 2


def planted_A(E, rows, r):
    """lora_A (r, K) whose right-singular vectors, in order, are E[rows]."""
    s = np.linspace(2.0, 1.0, r)          # strictly decreasing
    return (s[:, None] * E[rows]).astype(np.float32)


def make(tmp):
    rng = np.random.default_rng(7)
    E = np.linalg.qr(rng.normal(size=(K, K)))[0].T      # orthonormal rows
    span = {
        "q_proj": ([0, 1, 2, 3], [0, 1, 4, 5, 6, 7, 8, 9], list(range(10, 26))),
        "v_proj": ([0, 1, 2, 3], [0, 1, 4, 5, 6, 7, 8, 9], list(range(10, 22)) + [0, 1, 2, 3]),
    }
    paths = []
    for a, r in enumerate(RANKS):
        mods = {}
        for layer in range(LAYERS):
            for proj, rows in span.items():
                B = rng.normal(0.0, 0.1, size=(D, r)).astype(np.float32)
                mods["transformer.h.%d.attn.%s" % (layer, proj)] = (planted_A(E, rows[a], r), B)
        if a < 2:   # a module adapter 2 lacks
            mods["transformer.h.0.mlp.c_fc"] = (planted_A(E, span["q_proj"][a], r),
                                                rng.normal(size=(D, r)).astype(np.float32))
        p = os.path.join(tmp, "ad%d_r%d" % (a, r))
        write_adapter(p, mods, r, 2 * r)
        paths.append(p)
    return paths


def load(path):
    """{module: (A float64, B float64)} from an adapter folder."""
    from make_adapters import read_safetensors
    t = read_safetensors(os.path.join(path, "adapter_model.safetensors"))
    out = {}
    for name, arr in t.items():
        if name.endswith(".lora_A.weight"):
            m = name[len("base_model.model."):-len(".lora_A.weight")]
            out[m] = (np.asarray(arr, np.float64),
                      np.asarray(t[name.replace("lora_A", "lora_B")], np.float64))
    return out


def basis(A, B, factor):
    """Orthonormal rows (p, dim), by singular value (numpy's SVD)."""
    if factor == "A":
        return np.linalg.svd(A, full_matrices=False)[2]
    return np.linalg.svd(B, full_matrices=False)[0].T


def np_phi(Va, Vb, i, j):
    return float(np.linalg.norm(Va[:i] @ Vb[:j].T) ** 2 / min(i, j))


def np_angles(Va, Vb):
    s = np.linalg.svd(Va @ Vb.T, compute_uv=False)
    return np.sort(np.degrees(np.arccos(np.clip(s, 0.0, 1.0))))


def np_module(ads, name, factor, oi=0, oj=0):
    V = [basis(*ad[name], factor) for ad in ads]
    n = len(V)
    phi, gr, ang = np.zeros((n, n)), np.zeros((n, n)), {}
    for a in range(n):
        for b in range(n):
            k = min(len(V[a]), len(V[b]))
            i, j = (oi, oj) if oi else (k, k)
            phi[a, b] = np_phi(V[a], V[b], i, j)
            th = np.radians(np_angles(V[a], V[b]))
            gr[a, b] = math.sqrt(float(np.sum(th ** 2))) / (math.sqrt(k) * math.pi / 2)
            if a < b:
                ang[(a, b)] = np.degrees(th)
    np.fill_diagonal(gr, 0.0)
    return phi, gr, ang


def close(x, y, tol=1e-5):
    return np.allclose(np.asarray(x, float), np.asarray(y, float), atol=tol, rtol=0, equal_nan=True)


def check_known(f):
    g = f["modules/transformer.h.0.attn.q_proj"]
    phi, gr = g["phi"][()], g["grassmann"][()]
    check(close(np.diag(phi), 1.0) and close(np.diag(gr), 0.0), "diagonal: phi = 1, grassmann = 0")
    check(close(phi[0, 1], 0.5) and close(phi[1, 0], 0.5), "q_proj: adapters 0, 1 share 2 of 4: phi = 2/4")
    check(close([phi[0, 2], phi[2, 0], phi[1, 2], phi[2, 1]], 0.0), "q_proj: adapter 2 orthogonal: phi = 0")
    check(close(gr[0, 2], 1.0) and close(gr[1, 2], 1.0), "q_proj: orthogonal spans: grassmann = 1")
    pa = g["principal_angles"][()]
    check(pa.shape == (3, 8) and close(pa[0, :2], 0.0, 1e-3) and close(pa[0, 2:4], 90.0, 1e-3)
          and np.isnan(pa[0, 4:]).all(), "q_proj: principal angles (0, 1) = 0, 0, 90, 90, NaN padded")
    v = f["modules/transformer.h.1.attn.v_proj"]
    check(close(v["phi"][0, 2], 0.0) and close(v["grassmann"][0, 2], 0.0, 1e-6)
          and close(v["principal_angles"][1, :4], 0.0, 1e-3),
          "v_proj: span of 0 inside 2 (its smallest): phi(4, 4) = 0, angles 0, grassmann 0")
    check(list(g["ranks"][()]) == list(RANKS) and g.attrs["ranks"] == "4,8,16"
          and g.attrs["layer"] == 0 and g.attrs["proj"] == "q_proj" and g.attrs["i"] == 0
          and g.attrs["factor"] == "A" and "sqrt(k) pi/2" in g.attrs["definition"], "module attributes: ranks, layer, proj, i, factor, definition")


def check_numpy(f, ads, factor, oi=0, oj=0, tag=""):
    ok_phi = ok_gr = ok_ang = True
    for name in ads[2]:
        g = f["modules/" + name]
        phi, gr, ang = np_module(ads, name, factor, oi, oj)
        ok_phi &= close(g["phi"][()], phi)
        ok_gr &= close(g["grassmann"][()], gr, 1e-4)
        pa = g["principal_angles"][()]
        for q, (a, b) in enumerate(zip(f["pair_a"][()], f["pair_b"][()])):
            ok_ang &= close(pa[q, :len(ang[(a, b)])], ang[(a, b)], 2e-3)
    check(ok_phi, "phi of every module equals numpy's%s" % tag)
    check(ok_gr, "grassmann distance equals numpy's%s" % tag)
    check(ok_ang, "principal angles equal numpy's%s" % tag)


def check_tidy(f, out, csvfile):
    """--json and --csv are the HDF5 file's numbers (h5describe.c: grids flattened row-major)."""
    js = json.loads(out.strip().splitlines()[-1])
    mods = {m["module"]: m["values"] for m in js["modules"]}
    g = f["modules/transformer.h.1.attn.q_proj"]
    vals = mods.get("transformer.h.1.attn.q_proj", {})
    nanl = lambda xs: np.array([np.nan if x is None else x for x in xs])  # noqa: E731
    check(js["command"] == "compare" and js["n_modules"] == 4 and js["n_skipped"] == 1
          and close(nanl(vals.get("phi", [])), g["phi"][()].ravel())
          and close(nanl(vals.get("grassmann", [])), g["grassmann"][()].ravel())
          and close(nanl(vals.get("principal_angles", [])), g["principal_angles"][()].ravel()),
          "--json: per-module phi, grassmann and angles (flattened row-major) equal the HDF5 file")
    check(close(js["summary"].get("mean_offdiag_phi", np.nan), f.attrs["mean_offdiag_phi"])
          and close(f["mean_phi"][0, 1], np.nanmean([f["modules"][m]["phi"][0, 1] for m in f["modules"]])),
          "--json summary mean_offdiag_phi = the root attribute; /mean_phi = the mean over modules")
    rows = list(csv.DictReader(open(csvfile)))
    h = f["modules/transformer.h.0.attn.v_proj"]
    hit = [r for r in rows if r["module"] == "transformer.h.0.attn.v_proj" and r["quantity"] == "phi"
           and r["index"] == str(2 * 3 + 0)]
    check(len(hit) == 1 and hit[0]["layer"] == "0" and hit[0]["proj"] == "v_proj"
          and close(float(hit[0]["value"]), h["phi"][2, 0]), "--csv: phi[2][0] is the row index 6, with layer and proj")
    n_ok = True
    for m in f["modules"]:
        for q in ("phi", "grassmann", "principal_angles"):
            got = [float(r["value"]) for r in rows if r["module"] == m and r["quantity"] == q]
            n_ok &= len(got) == f["modules"][m][q].size and close(np.array(got), f["modules"][m][q][()].ravel())
    check(bool(n_ok), "--csv: every phi, grassmann and angle of every module")


def check_degenerate(tmp, paths):
    """An adapter whose module has B = 0: its row and column NaN, one warning."""
    from make_adapters import read_safetensors, write_safetensors
    z = os.path.join(tmp, "zeroB")
    shutil.copytree(paths[0], z)
    f = os.path.join(z, "adapter_model.safetensors")
    t = read_safetensors(f)
    key = "base_model.model.transformer.h.0.attn.q_proj.lora_B.weight"
    t[key] = np.zeros_like(t[key])
    write_safetensors(f, [(k, v, "F32") for k, v in t.items()], {"format": "pt"})
    o = os.path.join(tmp, "z.h5")
    rc, _, err = run("compare", paths[0], paths[1], z, "-o", o)
    with h5py.File(o, "r") as h:
        phi = h["modules/transformer.h.0.attn.q_proj/phi"][()]
        ok = np.isnan(phi[2]).all() and np.isnan(phi[:, 2]).all() and close(phi[0, 1], 0.5)
        ok &= close(h["modules/transformer.h.1.attn.q_proj/phi"][0, 2], 1.0)   # a copy of adapter 0
    check(rc == 0 and ok and "dW = 0" in err and z in err,
          "dW = 0 in one adapter: its row and column NaN, a warning naming it")


def check_errors(tmp, paths):
    rc, _, err = run("compare", paths[0], "-o", os.path.join(tmp, "e.h5"))
    check(rc == 2 and "expected 2" in err, "one adapter: usage error")
    bad = os.path.join(tmp, "shape")
    rng = np.random.default_rng(1)
    write_adapter(bad, {"transformer.h.0.attn.q_proj": (rng.normal(size=(4, K + 1)).astype(np.float32),
                                                        rng.normal(size=(D, 4)).astype(np.float32))}, 4, 8)
    rc, _, err = run("compare", paths[0], bad, "-o", os.path.join(tmp, "e.h5"))
    check(rc == 1 and "shape" in err and paths[0] in err and bad in err and len(err.strip().splitlines()) == 1,
          "shape mismatch: one line naming both files")
    other = os.path.join(tmp, "other")
    write_adapter(other, {"transformer.h.0.mlp.c_proj": (rng.normal(size=(4, K)).astype(np.float32),
                                                         rng.normal(size=(D, 4)).astype(np.float32))}, 4, 8)
    rc, _, err = run("compare", paths[0], paths[1], other, "-o", os.path.join(tmp, "e.h5"))
    check(rc == 1 and "no module in common" in err, "no common module: error")
    rc, _, err = run("compare", paths[0], paths[1], "--i", "5", "-o", os.path.join(tmp, "e.h5"))
    check(rc == 2 and "--i/--j 5" in err, "--i beyond the smallest rank: usage error")
    check(not os.path.exists(os.path.join(tmp, "e.h5")), "no output file after an error")


def main():
    if h5py is None:
        skip("compare", "h5py missing")
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc_compare_")
    try:
        paths = make(tmp)
        ads = [load(p) for p in paths]
        out_h5, csvf, figs = (os.path.join(tmp, x) for x in ("c.h5", "c.csv", "figs"))
        rc, out, err = run("compare", *paths, "-o", out_h5, "--json", "--csv", csvf, "--plots", figs)
        check(rc == 0, "compare of 3 adapters (ranks 4, 8, 16) exits 0")
        if rc != 0:
            print(err)
            return summary()
        check(err.count("warning") <= 1 and "transformer.h.0.mlp.c_fc" in err and "skipped" in err,
              "the module adapter 2 lacks: one warning line naming it")
        with h5py.File(out_h5, "r") as f:
            check(sorted(f["modules"].keys()) == sorted(ads[2].keys()), "HDF5: one group per common module")
            check([s.decode() if isinstance(s, bytes) else s for s in f["adapters"][()]] == paths
                  and " compare " in f.attrs["command"] and f.attrs["adapter3"] == paths[2]
                  and "adapter3_sha256" in f.attrs, "HDF5 root: the adapters and provenance")
            check_known(f)
            check_numpy(f, ads, "A")
            check_tidy(f, out, csvf)
        pngs = sorted(x for x in os.listdir(figs) if x.endswith(".png"))
        check(pngs == ["compare_layers.png", "compare_phi_q_proj.png", "compare_phi_v_proj.png"],
              "--plots: a heat map per projection and the per-layer summary")
        o2 = os.path.join(tmp, "c2.h5")
        rc, _, _ = run("compare", *paths, "-o", o2, "--i", "2", "--j", "4")
        with h5py.File(o2, "r") as f:
            check(rc == 0 and f["modules/transformer.h.0.attn.q_proj"].attrs["i"] == 2, "--i 2 --j 4 runs")
            check(close(f["modules/transformer.h.0.attn.q_proj/phi"][0, 1], 1.0), "--i 2 --j 4: phi_01 = 1")
            check_numpy(f, ads, "A", 2, 4, " (--i 2 --j 4)")
        o3 = os.path.join(tmp, "c3.h5")
        rc, _, _ = run("compare", *paths, "-o", o3, "--factor", "B")
        with h5py.File(o3, "r") as f:
            check(rc == 0, "--factor B runs")
            check_numpy(f, ads, "B", tag=" (--factor B)")
        check_degenerate(tmp, paths)
        check_errors(tmp, paths)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
