#!/usr/bin/python3
"""test_trajectory.py — `train --save-every N` and `lorascope trajectory`
(issue 16).

1. A synthetic RUN_DIR whose snapshots follow a planted monotone path:
   A_t = the final A's orthonormal rows rotated by θ_t = θ(1 − t/T) towards
   orthonormal directions outside its row space, B_t = (t/T)·B_final with
   B_final = U·diag(σ) (orthonormal U). Then exactly: ‖ΔW_t‖_F = s(t/T)‖σ‖,
   effective rank = exp(H(σ/Σσ)) for t > 0, φ(ΔW_t, ΔW_final) = cos²θ_t,
   φ(ΔW_t, ΔW_{t−1}) = cos²(θ_{t−1} − θ_t), NaN at t = 0 (B = 0), and the
   settle step follows from cos²θ_t and --settle. Checked against those
   values, an independent numpy φ (dense ΔW, numpy SVD), the CSV and JSON.
2. A real short run (a small random base, data/fixtures/tiny.txt): the
   snapshots on disk and in train_log.h5, the final adapter byte-identical
   with and without --save-every, --stop-at + --resume giving the same
   snapshots and adapter, stale snapshots removed by a fresh run, and
   trajectory on it against numpy.
3. Bad input: a RUN_DIR without snapshots, an empty snapshots directory,
   --settle out of range.
"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, run, skip, summary  # noqa: E402
from make_adapters import read_safetensors, write_adapter  # noqa: E402
from test_quanterr import make_base  # noqa: E402

TINY = os.path.join(ROOT, "data", "fixtures", "tiny.txt")

try:
    import h5py
except ImportError:
    h5py = None


# ---- independent numbers from the snapshot files ----

def load(d):
    """{module: (s, B, A)} of a PEFT directory, in float64."""
    cfg = json.load(open(os.path.join(d, "adapter_config.json")))
    t = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    out = {}
    for k, v in t.items():
        if k.endswith(".lora_A.weight"):
            name = k[len("base_model.model."):-len(".lora_A.weight")]
            A = np.asarray(v, dtype=np.float64)
            B = np.asarray(t[k.replace("lora_A", "lora_B")], dtype=np.float64)
            alpha = cfg.get("alpha_pattern", {}).get(name.split(".")[-1], cfg["lora_alpha"])
            out[name] = (alpha / A.shape[0], B, A)
    return out


def np_numbers(snapdirs):
    """{module: (norm, erank, phi_final, phi_prev)} from dense ΔW and numpy's SVD."""
    mats = [load(d) for d in snapdirs]
    res = {}
    for name in mats[-1]:
        dws = [s * B @ A for (s, B, A) in (m[name] for m in mats)]
        r = mats[-1][name][2].shape[0]
        bases, norms, eranks = [], [], []
        for dw in dws:
            _, S, Vt = np.linalg.svd(dw, full_matrices=False)
            zero = S[0] <= 1e-9 * max(1.0, np.abs(dw).max())
            bases.append(None if zero else Vt[:r])
            norms.append(np.linalg.norm(dw))
            p = S[:r] / S[:r].sum() if not zero else None
            eranks.append(float("nan") if zero else math.exp(-sum(x * math.log(x) for x in p if x > 0)))

        def phi(a, b):
            return float("nan") if a is None or b is None else np.linalg.norm(a @ b.T) ** 2 / r
        pf = [phi(v, bases[-1]) for v in bases]
        pp = [float("nan")] + [phi(bases[i], bases[i - 1]) for i in range(1, len(bases))]
        res[name] = (np.array(norms), np.array(eranks), np.array(pf), np.array(pp))
    return res


def close(a, b, tol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tol)))


# ---- 1. the planted path ----

def planted(root, T=50, every=10, theta=1.0):
    """RUN_DIR root with root.snapshots/step-*; returns the known values per module."""
    rng = np.random.default_rng(7)
    mods = {"h.0.attn.q_proj": (16, 24, 3, [3.0, 2.0, 1.0]), "h.1.attn.v_proj": (20, 24, 2, [1.5, 0.5])}
    known, finals = {}, {}
    for name, (d, k, r, sig) in mods.items():
        Q, _ = np.linalg.qr(rng.normal(size=(k, 2 * r)))
        Af, Uo = Q[:, :r].T, Q[:, r:].T           # final rows, orthonormal rotation partners
        U, _ = np.linalg.qr(rng.normal(size=(d, r)))
        finals[name] = (Af, Uo, U @ np.diag(sig))
        p = np.array(sig) / sum(sig)
        known[name] = {"r": r, "sig": np.array(sig), "erank": math.exp(-float(np.sum(p * np.log(p))))}
    steps = list(range(0, T + 1, every))
    for t in steps:
        th = theta * (1 - t / T)
        modules = {}
        for name, (Af, Uo, Bf) in finals.items():
            modules[name] = ((math.cos(th) * Af + math.sin(th) * Uo).astype(np.float32),
                             (t / T * Bf).astype(np.float32))
        # alpha = 2r per module (s = 2): one config r, the other rank through rank_pattern
        write_adapter(os.path.join(root + ".snapshots", "step-%06d" % t), modules, r=3, alpha=6,
                      rank_pattern={"v_proj": 2}, alpha_pattern={"v_proj": 4})
    os.makedirs(root, exist_ok=True)
    ths = [theta * (1 - t / T) for t in steps]
    for name, kv in known.items():
        s = 2.0
        kv["norm"] = np.array([s * t / T * np.linalg.norm(kv["sig"]) for t in steps])
        kv["erank_t"] = np.array([float("nan")] + [kv["erank"]] * (len(steps) - 1))
        kv["phi_final"] = np.array([float("nan")] + [math.cos(x) ** 2 for x in ths[1:]])
        kv["phi_prev"] = np.array([float("nan"), float("nan")] +
                                  [math.cos(ths[i - 1] - ths[i]) ** 2 for i in range(2, len(steps))])
    return steps, known


def settle_of(steps, phi, thr):
    i = len(steps)
    while i > 0 and phi[i - 1] >= thr:
        i -= 1
    return steps[i] if i < len(steps) else -1


def test_planted(tmp):
    root = os.path.join(tmp, "planted")
    steps, known = planted(root)
    out = os.path.join(tmp, "planted.h5")
    csvp = os.path.join(tmp, "planted.csv")
    rc, so, se = run("trajectory", root, "-o", out, "--csv", csvp, "--json", "--threads", "2")
    check(rc == 0, "trajectory on the planted path (exit 0) %s" % se.strip()[:300])
    if rc != 0:
        return
    js = json.loads(so.strip().splitlines()[-1])
    check(js["command"] == "trajectory" and js["n_modules"] == 2 and js["summary"]["n_snapshots"] == len(steps),
          "--json: command, 2 modules, %d snapshots" % len(steps))
    ref = np_numbers([os.path.join(root + ".snapshots", "step-%06d" % t) for t in steps])
    jm = {m["module"]: m["values"] for m in js["modules"]}
    rows = list(csv.DictReader(open(csvp)))
    for name, kv in known.items():
        tag = name
        v = jm[name]
        nan = lambda xs: [float("nan") if x is None else x for x in xs]  # noqa: E731
        check(v["steps"] == steps, "%s: steps %s" % (tag, steps))
        check(close(v["norm"], kv["norm"], 1e-5), "%s: norm = s(t/T)|sigma| (known)" % tag)
        check(close(nan(v["effective_rank"]), kv["erank_t"], 1e-5), "%s: effective rank exp(H(sigma)) = %.4f, "
              "NaN at step 0" % (tag, kv["erank"]))
        check(close(nan(v["phi_final"]), kv["phi_final"], 1e-5), "%s: phi_final = cos^2 theta_t (known), NaN at 0"
              % tag)
        pf = np.array(nan(v["phi_final"]))[1:]
        check(bool(np.all(np.diff(pf) > 0)) and abs(pf[-1] - 1) < 1e-9, "%s: phi_final rises monotonically to 1" % tag)
        check(close(nan(v["phi_prev"]), kv["phi_prev"], 1e-5), "%s: phi_prev = cos^2(theta_{t-1} - theta_t) "
              "(known), NaN at the first two snapshots" % tag)
        n_, e_, f_, p_ = ref[name]
        check(close(v["norm"], n_, 1e-5) and close(nan(v["effective_rank"]), e_, 1e-5) and
              close(nan(v["phi_final"]), f_, 1e-5) and close(nan(v["phi_prev"]), p_, 1e-5),
              "%s: every number = an independent numpy phi/norm/effective rank (dense dW)" % tag)
        check(v["settle_step"] == settle_of(steps, kv["phi_final"], 0.9) == 40,
              "%s: settle_step 40 at --settle 0.9 (cos^2 0.2 = 0.96; cos^2 0.4 = 0.85)" % tag)
        crow = [r for r in rows if r["module"] == name and r["quantity"] == "phi_final"]
        check(len(crow) == len(steps) and close([float(r["value"]) for r in crow], nan(v["phi_final"]), 1e-12) and
              crow[0]["layer"] == name.split(".")[1] and crow[0]["proj"] == name.split(".")[-1],
              "%s: --csv phi_final rows (layer, proj) = the JSON values" % tag)
        if h5py is None:
            continue
        with h5py.File(out, "r") as f:
            g = f["modules"][name]
            ok = (list(g["steps"][:]) == steps and close(g["norm"][:], v["norm"], 0) and
                  close(g["phi_final"][:], nan(v["phi_final"]), 0) and close(g["phi_prev"][:], nan(v["phi_prev"]), 0)
                  and close(g["effective_rank"][:], nan(v["effective_rank"]), 0))
            check(ok, "%s: HDF5 datasets = the JSON values" % tag)
            a = g.attrs
            check(a["layer"] == int(name.split(".")[1]) and a["proj"] == name.split(".")[-1] and
                  a["rank"] == kv["r"] and abs(a["scale"] - 2.0) < 1e-12 and a["settle_step"] == 40 and
                  "definition" in g["phi_final"].attrs and "NaN" in g["phi_final"].attrs["definition"],
                  "%s: attributes layer, proj, rank, scale, settle_step; definitions" % tag)
            check(f.attrs["n_snapshots"] == len(steps) and f.attrs["final_step"] == 50 and
                  abs(f.attrs["settle"] - 0.9) < 1e-12 and "command" in f.attrs and "snapshots_sha256" in f.attrs,
                  "root: n_snapshots, final_step, settle, provenance")
    rc, so, _ = run("trajectory", root + ".snapshots", "-o", out, "--settle", "0.8", "--json")
    js = json.loads(so.strip().splitlines()[-1]) if rc == 0 else {"modules": []}
    check(rc == 0 and all(m["values"]["settle_step"] == 30 for m in js["modules"]) and len(js["modules"]) == 2,
          "--settle 0.8: settle_step 30; RUN_DIR.snapshots accepted as the argument")
    plots = os.path.join(tmp, "figs")
    rc, so, se = run("trajectory", root, "-o", out, "--plots", plots)
    if shutil.which("gnuplot") is None:
        skip("--plots", "no gnuplot")
    else:
        figs = ["trajectory_layer%d.%s" % (l, e) for l in (0, 1) for e in ("png", "svg")]
        check(rc == 0 and all(os.path.getsize(os.path.join(plots, x)) > 1000 for x in figs),
              "--plots: one figure per layer (PNG + SVG) %s" % se.strip()[:200])


# ---- 2. a real short run ----

def train(base, out, *extra):
    args = ["train", "--base", base, "--data", TINY, "--targets", "q,v,fc_in", "--rank", "4", "--steps", "8",
            "--batch", "4", "--ctx", "32", "--lr", "3e-2", "--threads", "1", "--quiet", "-o", out] + list(extra)
    return run(*args)


def same_file(a, b):
    return os.path.exists(a) and os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read()


def test_run(tmp):
    if not os.path.exists(TINY):
        skip("train --save-every end to end", "no " + TINY)
        return
    base = os.path.join(tmp, "base.safetensors")
    make_base(base)
    a, b, c = (os.path.join(tmp, x) for x in ("plain", "snap", "resumed"))
    rc0, _, e0 = train(base, a)
    os.makedirs(b + ".snapshots/step-000099", exist_ok=True)   # a stale snapshot of an earlier run
    rc1, _, e1 = train(base, b, "--save-every", "3")
    check(rc0 == 0 and rc1 == 0, "train with and without --save-every 3 %s %s" % (e0.strip()[:200], e1.strip()[:200]))
    names = sorted(os.listdir(b + ".snapshots"))
    want = ["step-%06d" % t for t in (0, 3, 6, 8)]
    check(names == want, "snapshots at steps 0, 3, 6 and the last, 8 (the stale step-000099 removed): %s" % names)
    check(same_file(os.path.join(a, "adapter_model.safetensors"), os.path.join(b, "adapter_model.safetensors")) and
          same_file(os.path.join(a, "adapter_config.json"), os.path.join(b, "adapter_config.json")),
          "final adapter byte-identical with and without --save-every")
    check(same_file(os.path.join(b, "adapter_model.safetensors"),
                    os.path.join(b + ".snapshots", "step-000008", "adapter_model.safetensors")),
          "the last snapshot is the final adapter")
    s0 = load(os.path.join(b + ".snapshots", "step-000000"))
    check(all(not B.any() and A.any() for (_, B, A) in s0.values()), "step 0 snapshot: A0, B = 0")
    rc2, _, _ = train(base, c, "--save-every", "3", "--stop-at", "4")
    mid = sorted(os.listdir(c + ".snapshots")) if os.path.isdir(c + ".snapshots") else []
    rc3, _, e3 = train(base, c, "--save-every", "3", "--resume")
    ok = rc3 == 0 and sorted(os.listdir(c + ".snapshots")) == want and all(
        same_file(os.path.join(b + ".snapshots", n, "adapter_model.safetensors"),
                  os.path.join(c + ".snapshots", n, "adapter_model.safetensors")) for n in want)
    check(rc2 == 0 and mid == want[:2] and ok and
          same_file(os.path.join(b, "adapter_model.safetensors"), os.path.join(c, "adapter_model.safetensors")),
          "--stop-at 4 (snapshots 0, 3) + --resume: the same snapshots and final adapter %s" % e3.strip()[:200])
    if h5py is not None:
        with h5py.File(os.path.join(b, "train_log.h5"), "r") as f:
            check(list(f["snapshots/step"][:]) == [0, 3, 6, 8] and f["snapshots"].attrs["save_every"] == 3,
                  "train_log.h5 /snapshots/step = [0, 3, 6, 8], save_every 3")
    else:
        skip("train_log.h5 /snapshots", "no h5py")
    rc, so, se = run("trajectory", b, "-o", os.path.join(tmp, "real.h5"), "--json")
    check(rc == 0, "trajectory on the real run %s" % se.strip()[:200])
    if rc != 0:
        return
    js = json.loads(so.strip().splitlines()[-1])
    ref = np_numbers([os.path.join(b + ".snapshots", n) for n in want])
    ok = len(js["modules"]) == 6
    for m in js["modules"]:
        v = {q: [float("nan") if x is None else x for x in xs] if isinstance(xs, list) else xs
             for q, xs in m["values"].items()}
        n_, e_, f_, p_ = ref[m["module"]]
        ok &= (close(v["norm"], n_, 1e-4 * max(1, n_.max())) and close(v["effective_rank"], e_, 1e-4) and
               close(v["phi_final"], f_, 1e-4) and close(v["phi_prev"], p_, 1e-4) and v["steps"] == [0, 3, 6, 8]
               and v["norm"][0] == 0 and math.isnan(v["phi_final"][0]) and abs(v["phi_final"][-1] - 1) < 1e-9)
    check(ok, "real run: 6 modules, norm/effective rank/phi = numpy on the snapshot files; phi_final NaN at 0, 1 at the end")


# ---- 3. bad input ----

def test_bad(tmp):
    d = os.path.join(tmp, "nosnap")
    os.makedirs(d, exist_ok=True)
    rc, so, se = run("trajectory", d, "-o", os.path.join(tmp, "x.h5"))
    check(rc == 1 and len(se.strip().splitlines()) == 1 and "no snapshots" in se and d in se,
          "RUN_DIR without snapshots: one line naming it, exit 1 (%r)" % se.strip())
    os.makedirs(d + ".snapshots/step-000001.tmp.abcdef", exist_ok=True)
    rc, so, se = run("trajectory", d, "-o", os.path.join(tmp, "x.h5"))
    check(rc == 1 and len(se.strip().splitlines()) == 1 and "no snapshots" in se,
          "a snapshots directory with only a temporary: one line, exit 1 (%r)" % se.strip())
    check(not os.path.exists(os.path.join(tmp, "x.h5")), "no output file after a failure")
    rc, _, se = run("trajectory", d, "-o", os.path.join(tmp, "x.h5"), "--settle", "1.5")
    check(rc == 2 and "--settle" in se, "--settle 1.5: usage error")
    rc, _, se = run("train", "--base", "b", "--full", "--save-every", "2", "-o", os.path.join(tmp, "f"))
    check(rc == 2 and "--save-every" in se, "train --full --save-every: usage error")
    nf = os.path.join(tmp, "nonfinite")
    rng = np.random.default_rng(3)
    A = rng.normal(size=(2, 8)).astype(np.float32)
    B = rng.normal(size=(6, 2)).astype(np.float32)
    An = A.copy()
    An[0, 0] = np.nan
    for t, (a_, b_) in ((0, (A, 0 * B)), (5, (An, B)), (10, (A, B))):
        write_adapter(os.path.join(nf + ".snapshots", "step-%06d" % t), {"h.0.attn.q_proj": (a_, b_)}, r=2, alpha=2)
    rc, so, se = run("trajectory", nf, "-o", os.path.join(tmp, "nf.h5"), "--json")
    v = json.loads(so.strip().splitlines()[-1])["modules"][0]["values"] if rc == 0 else {}
    check(rc == 0 and "NaN/Inf" in se and v["norm"][1] is None and v["phi_final"][1] is None and
          v["phi_prev"][2] is None and abs(v["phi_final"][2] - 1) < 1e-9,
          "a snapshot with NaN in A: a warning, its numbers NaN, the others computed")
    rc, so, _ = run("trajectory", "--help")
    check(rc == 0 and "settle_step" in so and "example" in so, "trajectory --help defines settle_step, has an example")


def main():
    tmp = tempfile.mkdtemp(prefix="lsc_traj_")
    try:
        test_planted(tmp)
        test_run(tmp)
        test_bad(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
