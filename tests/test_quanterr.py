#!/usr/bin/python3
"""test_quanterr.py — QLoRA end to end on a tiny model, cross-checked with numpy.

Writes a small random GPT base with its own safetensors writer, then runs
  lorascope quantize / dequantize         (the NF4 file and deq(Q(W)))
  lorascope train --quant nf4             (QLoRA, a few steps on data/fixtures/tiny.txt)
  lorascope train --base BASE-nf4         (the same run from the quantised file)
  lorascope train                         (fp32 LoRA, same seed: the comparison)
  lorascope eval / merge on the NF4 base
  lorascope quanterr BASE ADAPTER --compare FP32 --store-error
and recomputes, independently in numpy from the files (E = W − deq from the
dequantize output, dW = s·B·A from adapter_model.safetensors), every number
quanterr writes: E itself, its singular values, the φ grids (input and output
side, QLoRA and fp32 adapter and their difference D), ‖UᵀEV‖_F, cos and
⟨·, E⟩/‖E‖², within 1e-6 relative. Also the HDF5 layout (provenance, groups)
and the command's error paths.

Prints one PASS/FAIL/SKIP line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import LSC, ROOT, check, run, skip, summary  # noqa: E402

TINY = os.path.join(ROOT, "data", "fixtures", "tiny.txt")


# ---- safetensors, from the format description ----

def st_write(path, tensors, meta):
    hdr, off, blobs = {}, 0, []
    for name, arr in tensors:
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dt = {"F32": np.float32, "U8": np.uint8}.get(t["dtype"])
        if dt is None:
            continue
        out[name] = np.frombuffer(data[base + a:base + b], dtype=dt).reshape(t["shape"])
    return out


def make_base(path, L=2, C=32, V=256, T=32, seed=3):
    rng = np.random.default_rng(seed)
    ts = [("wte.weight", rng.normal(0, 0.02, (V, C))), ("wpe.weight", rng.normal(0, 0.02, (T, C)))]
    for l in range(L):
        p = "h.%d." % l
        ts += [(p + "ln_1.weight", np.ones(C)), (p + "ln_1.bias", np.zeros(C))]
        for m in ("q", "k", "v", "o"):
            s = 0.02 / np.sqrt(2 * L) if m == "o" else 0.02
            ts += [(p + "attn.%s_proj.weight" % m, rng.normal(0, s, (C, C))),
                   (p + "attn.%s_proj.bias" % m, np.zeros(C))]
        ts += [(p + "ln_2.weight", np.ones(C)), (p + "ln_2.bias", np.zeros(C)),
               (p + "mlp.fc_in.weight", rng.normal(0, 0.02, (4 * C, C))), (p + "mlp.fc_in.bias", np.zeros(4 * C)),
               (p + "mlp.fc_out.weight", rng.normal(0, 0.02 / np.sqrt(2 * L), (C, 4 * C))),
               (p + "mlp.fc_out.bias", np.zeros(C))]
    ts += [("ln_f.weight", np.ones(C)), ("ln_f.bias", np.zeros(C))]
    meta = {"format": "pt", "lsc_format": "lorascope-gpt", "lsc_format_version": "1", "n_layer": str(L),
            "n_head": "2", "n_embd": str(C), "n_ctx": str(T), "vocab_size": str(V)}
    st_write(path, ts, meta)


def adapter(dirname):
    cfg = json.load(open(os.path.join(dirname, "adapter_config.json")))
    t = st_read(os.path.join(dirname, "adapter_model.safetensors"))
    mods = {}
    for k in t:
        if k.endswith(".lora_A.weight"):
            name = k[len("base_model.model."):-len(".lora_A.weight")]
            A = t[k].astype(np.float64)
            B = t[k.replace("lora_A", "lora_B")].astype(np.float64)
            r = A.shape[0]
            mods[name] = (cfg["lora_alpha"] / r, B, A)
    return mods


def phi_grid(X, Y):
    """X (p, n), Y (K, n) orthonormal rows: φ(i, j) = ‖X[:i] Y[:j]ᵀ‖² / min(i, j)."""
    G2 = (X @ Y.T) ** 2
    c = G2.cumsum(0).cumsum(1)
    i = np.arange(1, X.shape[0] + 1)[:, None]
    j = np.arange(1, Y.shape[0] + 1)[None, :]
    return c / np.minimum(i, j)


def rel(a, b, floor=1e-12):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


def main():
    try:
        import h5py
    except ImportError:
        skip("QLoRA end to end and quanterr", "h5py missing")
        return summary()
    if not os.access(LSC, os.X_OK):
        check(False, "lorascope binary at %s" % LSC)
        return summary()
    tmp = tempfile.mkdtemp(prefix="lsc_test_quanterr.")
    try:
        return body(tmp, h5py)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def body(tmp, h5py):
    base = os.path.join(tmp, "base.safetensors")
    nf4 = os.path.join(tmp, "base-nf4.safetensors")
    deq = os.path.join(tmp, "base-deq.safetensors")
    make_base(base)
    rc, out, err = run("quantize", base, "-o", nf4)
    check(rc == 0, "quantize the base (blocksize 64, double quant): %s" % (out.splitlines()[0] if rc == 0 else err))
    rc, _, err = run("dequantize", nf4, "-o", deq)
    check(rc == 0, "dequantize it back: deq(Q(W)) %s" % err.strip())

    common = ["--data", TINY, "--targets", "q,v,fc_in", "--rank", "4", "--alpha", "8", "--steps", "6",
              "--batch", "4", "--ctx", "32", "--seed", "5", "--eval-batches", "2", "--quiet"]
    q1, q2, f1 = (os.path.join(tmp, n) for n in ("qlora", "qlora-file", "lora"))
    rc, out, err = run("train", "--base", base, "--quant", "nf4", "-o", q1, *common)
    check(rc == 0, "train --quant nf4 (QLoRA on the fp32 base) %s" % err.strip()[:300])
    rc2, _, err2 = run("train", "--base", nf4, "-o", q2, *common)
    check(rc2 == 0, "train --base BASE-nf4.safetensors (the quantised file) %s" % err2.strip()[:300])
    rc3, _, err3 = run("train", "--base", base, "-o", f1, *common)
    check(rc3 == 0, "train fp32 LoRA with the same seed %s" % err3.strip()[:300])
    if rc or rc2 or rc3:
        return summary()
    a1 = open(os.path.join(q1, "adapter_model.safetensors"), "rb").read()
    a2 = open(os.path.join(q2, "adapter_model.safetensors"), "rb").read()
    af = open(os.path.join(f1, "adapter_model.safetensors"), "rb").read()
    check(a1 == a2, "--quant nf4 on the fp32 file = training on the quantised file (identical adapters)")
    check(a1 != af, "the QLoRA and the fp32 LoRA adapters differ (the base differs)")

    # eval and merge accept the NF4 base; merge writes deq(W) + s·B·A
    rc, out, err = run("eval", "--base", nf4, "--adapter", q1, "--data", TINY, "--ctx", "32", "--windows", "8",
                       "--json")
    ev = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
    check(rc == 0 and np.isfinite(ev.get("val_loss", np.nan)), "eval on the NF4 base with the QLoRA adapter "
          "(val_loss %s)" % ev.get("val_loss"))
    merged = os.path.join(tmp, "merged.safetensors")
    rc, _, err = run("merge", "--base", nf4, "--adapter", q1, "-o", merged)
    ok = rc == 0
    if ok:
        mt, dt, mods = st_read(merged), st_read(deq), adapter(q1)
        s, B, A = mods["h.1.mlp.fc_in"]
        want = dt["h.1.mlp.fc_in.weight"].astype(np.float64) + s * B @ A
        e = rel(mt["h.1.mlp.fc_in.weight"], want)
        ok = e < 1e-6 and mt["h.0.attn.k_proj.weight"].dtype == np.float32 and \
            np.array_equal(mt["h.0.attn.k_proj.weight"], dt["h.0.attn.k_proj.weight"])
    check(ok, "merge on the NF4 base writes fp32 W = deq(W_nf4) + s·B·A (%s)" % (err.strip() or "ok"))
    rc, out, err = run("eval", "--base", merged, "--data", TINY, "--ctx", "32", "--windows", "8", "--json")
    em = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
    check(rc == 0 and abs(em.get("val_loss", 0) - ev.get("val_loss", 1)) < 1e-4 * abs(ev.get("val_loss", 1)),
          "the merged model's loss = the QLoRA model's (%s vs %s)" % (em.get("val_loss"), ev.get("val_loss")))

    # ---- quanterr ----
    h5 = os.path.join(tmp, "qe.h5")
    plots = os.path.join(tmp, "figs")
    rc, out, err = run("quanterr", base, q1, "--compare", f1, "-o", h5, "--store-error", "--top", "8",
                       "--plots", plots)
    if not check(rc == 0 and os.path.exists(h5), "quanterr runs %s" % err.strip()[:300]):
        return summary()
    if shutil.which("gnuplot"):
        check(os.path.exists(os.path.join(plots, "quanterr.png")) and
              os.path.exists(os.path.join(plots, "quanterr.svg")), "figures quanterr.png and .svg")
    else:
        skip("figures quanterr.png and .svg", "gnuplot is not installed")
    # without --compare the figure leaves the fp32 series out (gnuplot must not fail on them)
    plots1 = os.path.join(tmp, "figs1")
    rc, out, err = run("quanterr", base, q1, "-o", os.path.join(tmp, "qe1.h5"), "--plots", plots1)
    check(rc == 0 and "warning" not in err, "quanterr --plots without --compare: exit %d %s" % (rc, err.strip()[:300]))
    if shutil.which("gnuplot"):
        check(os.path.exists(os.path.join(plots1, "quanterr.png")), "figure quanterr.png without --compare")
    else:
        skip("figure quanterr.png without --compare", "gnuplot is not installed")
    W = st_read(base)
    D = st_read(deq)
    mq, mf = adapter(q1), adapter(f1)
    worst = {}

    def track(key, v):
        worst[key] = max(worst.get(key, 0.0), v)

    with h5py.File(h5, "r") as f:
        root = f.attrs
        check(all(k in root for k in ("lorascope_version", "format_version", "command", "base", "base_sha256",
                                      "adapter", "adapter_sha256", "compare", "blocksize", "double_quant",
                                      "mean_phi_right", "mean_cos_diff_error")) and
              int(root["blocksize"]) == 64 and int(root["double_quant"]) == 1,
              "root provenance attributes (inputs with sha256, parameters, means)")
        names = sorted(f["modules"].keys())
        check(names == sorted(mq.keys()) and len(names) == 6, "one group per adapted module: %s" % names)
        means = {"phi_right": [], "cos_diff_error": []}
        for name in names:
            g = f["modules"][name]
            Wm = W[name + ".weight"].astype(np.float64)
            E = Wm - D[name + ".weight"].astype(np.float64)
            d, k = E.shape
            track("E", rel(g["error"][()], E))
            track("error_fro", rel(g.attrs["error_fro"], np.linalg.norm(E)))
            track("error_rel", rel(g.attrs["error_rel"], np.linalg.norm(E) / np.linalg.norm(Wm)))
            Ue, Se, Vte = np.linalg.svd(E, full_matrices=False)
            track("sv", rel(g["error_singular_values"][()], Se))
            s, B, A = mq[name]
            dW = s * B @ A
            sf, Bf, Af = mf[name]
            dF = sf * Bf @ Af
            p, K = 4, int(g.attrs["top"])
            Ud, Sd, Vtd = np.linalg.svd(dW, full_matrices=False)
            Uf, Sf, Vtf = np.linalg.svd(dF, full_matrices=False)
            Dd = dW - dF
            Ux, Sx, Vtx = np.linalg.svd(Dd, full_matrices=False)
            track("delta_sv", rel(g["delta_singular_values"][()], Sd[:p]))
            for key, X, Y in (("phi_right", Vtd[:p], Vte[:K]), ("phi_left", Ud[:, :p].T, Ue[:, :K].T),
                              ("phi_right_compare", Vtf[:p], Vte[:K]), ("phi_left_compare", Uf[:, :p].T, Ue[:, :K].T),
                              ("phi_right_diff", Vtx[:p], Vte[:K]), ("phi_left_diff", Ux[:, :p].T, Ue[:, :K].T)):
                grid = phi_grid(X, Y)
                track("phi grids", float(np.max(np.abs(g[key][()] - grid))))
                track("phi attrs", abs(g.attrs[key] - grid[p - 1, p - 1]))
            track("phi_adapters", abs(g.attrs["phi_right_adapters"] - np.sum((Vtd[:p] @ Vtf[:p].T) ** 2) / p))
            track("proj", rel(g.attrs["proj_error_delta"], np.linalg.norm(Ud[:, :p].T @ E @ Vtd[:p].T)))
            track("proj", rel(g.attrs["proj_error_compare"], np.linalg.norm(Uf[:, :p].T @ E @ Vtf[:p].T)))
            track("proj", rel(g.attrs["proj_error_diff"], np.linalg.norm(Ux[:, :p].T @ E @ Vtx[:p].T)))
            track("proj", rel(g.attrs["proj_error_top"], np.sqrt(np.sum(Se[:p] ** 2))))
            track("proj", rel(g.attrs["proj_error_random_expected"], p * np.linalg.norm(E) / np.sqrt(d * k)))
            ne = np.linalg.norm(E)
            for key, X in (("cos_delta_error", dW), ("cos_compare_error", dF), ("cos_diff_error", Dd)):
                track("cos", abs(g.attrs[key] - np.sum(X * E) / (np.linalg.norm(X) * ne)))
            for key, X in (("error_coef", dW), ("compare_error_coef", dF), ("diff_error_coef", Dd)):
                track("coef", abs(g.attrs[key] - np.sum(X * E) / ne ** 2))
            track("coef", rel(g.attrs["compensated_best"], np.sum(Se[:p] ** 2) / ne ** 2))
            track("diff_fro", rel(g.attrs["diff_fro"], np.linalg.norm(Dd)))
            ok_rand = np.all((g["phi_right_random"][()] >= -1e-12) & (g["phi_right_random"][()] <= 1 + 1e-12)) \
                and abs(g.attrs["phi_right_expected"] - p / k) < 1e-15 and abs(g.attrs["phi_left_expected"] - p / d) < 1e-15
            track("random", 0.0 if ok_rand else 1.0)
            means["phi_right"].append(g.attrs["phi_right"])
            means["cos_diff_error"].append(g.attrs["cos_diff_error"])
        check(worst["E"] < 1e-6, "E = W - deq(Q(W)) stored by quanterr = numpy's from the dequantize file "
              "(rel %.1e)" % worst["E"])
        check(worst["error_fro"] < 1e-6 and worst["error_rel"] < 1e-6, "‖E‖_F and ‖E‖/‖W‖ (rel %.1e)" %
              max(worst["error_fro"], worst["error_rel"]))
        check(worst["sv"] < 1e-6, "singular values of E = numpy's (rel %.1e)" % worst["sv"])
        check(worst["delta_sv"] < 1e-6, "singular values of dW = s·B·A = numpy's (rel %.1e)" % worst["delta_sv"])
        check(worst["phi grids"] < 1e-6 and worst["phi attrs"] < 1e-6,
              "φ grids dW/fp32 dW/D vs E, input and output side = numpy's (max abs %.1e)" % worst["phi grids"])
        check(worst["phi_adapters"] < 1e-6, "φ between the QLoRA and the fp32 update (abs %.1e)" % worst["phi_adapters"])
        check(worst["proj"] < 1e-6, "‖UᵀEV‖_F for dW, fp32 dW, D, E's own top-r, random expectation (rel %.1e)"
              % worst["proj"])
        check(worst["cos"] < 1e-6 and worst["coef"] < 1e-6,
              "cos(·, E) and ⟨·, E⟩/‖E‖² for dW, fp32 dW and D (abs %.1e)" % max(worst["cos"], worst["coef"]))
        check(worst["diff_fro"] < 1e-6, "‖dW − dW_fp32‖_F (rel %.1e)" % worst["diff_fro"])
        check(worst["random"] == 0.0, "random baselines: φ in [0, 1], E[φ] = p/k and p/d")
        check(abs(root["mean_phi_right"] - np.mean(means["phi_right"])) < 1e-12 and
              abs(root["mean_cos_diff_error"] - np.mean(means["cos_diff_error"])) < 1e-12,
              "root means are the means over modules")

    # error paths
    rc, _, err = run("quanterr", nf4, q1, "-o", os.path.join(tmp, "x.h5"))
    check(rc == 1 and "already NF4" in err and nf4 in err and not os.path.exists(os.path.join(tmp, "x.h5")),
          "an NF4 file as BASE: exit 1, says it needs the fp32 W (%s)" % err.strip())
    rc, _, err = run("quanterr", base, q1, "-o", os.path.join(tmp, "x.h5"), "--blocksize", "48")
    check(rc == 2 and "blocksize" in err, "--blocksize 48: usage error (%s)" % err.strip())
    rc, _, err = run("quanterr", base, "-o", os.path.join(tmp, "x.h5"))
    check(rc == 2, "missing ADAPTER: usage error (%s)" % err.strip())
    rc, out, _ = run("quanterr", "--help")
    check(rc == 0 and "example" in out and "--compare" in out, "--help prints usage with an example")
    rc, _, err = run("quanterr", base, os.path.join(tmp, "nope"), "-o", os.path.join(tmp, "x.h5"))
    check(rc == 1 and "nope" in err, "a missing adapter directory: exit 1 naming it (%s)" % err.strip())

    return summary()


if __name__ == "__main__":
    sys.exit(main())
