"""test_extract.py — `lorascope extract` (issue 16): the best rank-R
approximation of a full fine-tuning update ΔW = W_ft − W_0 as a PEFT adapter.

  * a synthetic base / fine-tuned pair (F64 safetensors) with planted ΔW of
    known singular values: the reported relative Frobenius error equals
    sqrt(Σ_{i>R} σ_i²)/sqrt(Σ σ_i²) and the spectral one σ_{R+1}/σ_1 to 1e-6
    (extract.h5, stdout, --csv, --json); extract.h5's singular values are the
    planted ones; the adapter's s·B·A equals numpy's truncated SVD to float
    rounding, split B = U·√σ, A = √σ·Vᵀ, lora_alpha = r; `lorascope
    spectrum` of the adapter gives σ_1..σ_R; R = min(d, k) reproduces ΔW
    R beyond min(d, k) is clamped with one
    warning line and a rank_pattern entry; --targets selects.
  * a real pair: a tiny pretrained GPT and a short `train --full` run of it
    (and the same for the Llama architecture): module names as `train`
    writes a LoRA adapter's, errors and spectrum against numpy's SVD of the
    files' W_ft − W_0; at full rank `merge` gives W_ft back.
  * bad input (shape mismatch, missing file, R <= 0): one line, exit 1, no
    output directory.
"""
import csv
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_adapters import read_safetensors, write_safetensors  # noqa: E402
from testlib import ROOT, check, run, skip, summary  # noqa: E402

TXT = os.path.join(ROOT, "data", "fixtures", "tiny.txt")
PFX = "base_model.model."


def planted(rng, d, k, sv):
    """d×k matrix with singular values sv (descending) and random singular vectors."""
    U = np.linalg.qr(rng.normal(size=(d, len(sv))))[0]
    V = np.linalg.qr(rng.normal(size=(k, len(sv))))[0]
    return (U * sv) @ V.T


def rel_errors(sv, r):
    sv = np.asarray(sv, dtype=np.float64)
    fro = np.sqrt(np.sum(sv[r:] ** 2) / np.sum(sv ** 2))
    return fro, (sv[r] / sv[0] if r < len(sv) else 0.0)


def truncated(D, r):
    U, s, Vt = np.linalg.svd(D, full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r]


def adapter_delta(out, module):
    """s·B·A of one module of an adapter directory (float64), with r and alpha."""
    cfg = json.load(open(os.path.join(out, "adapter_config.json")))
    t = read_safetensors(os.path.join(out, "adapter_model.safetensors"))
    A, B = t[PFX + module + ".lora_A.weight"], t[PFX + module + ".lora_B.weight"]
    r = cfg["rank_pattern"].get(module, cfg["r"])
    alpha = cfg["alpha_pattern"].get(module, cfg["lora_alpha"])
    return (alpha / r) * (B @ A), A, B, r


def h5_modules(h5py, path):
    out = {}
    with h5py.File(path, "r") as f:
        for m, g in f["modules"].items():
            out[m] = dict(g.attrs)
            out[m]["sv"] = g["singular_values"][()]
    return out


# ---- synthetic pair with planted singular values ----

SV = {"h.0.attn.q_proj": [9.0, 6.0, 4.0, 2.5, 1.5, 1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01],
      "h.0.attn.v_proj": [3.0, 2.9, 2.0, 0.7, 0.3, 0.2, 0.05, 0.04, 0.01, 0.005, 0.001, 0.0005],
      "h.1.mlp.fc_in": [5.0, 4.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]}
SHAPE = {"h.0.attn.q_proj": (16, 12), "h.0.attn.v_proj": (16, 12), "h.1.mlp.fc_in": (40, 8)}


def synthetic_pair(tmp, rng):
    W0, DW = {}, {}
    for m, (d, k) in SHAPE.items():
        W0[m + ".weight"] = rng.normal(size=(d, k))
        DW[m] = planted(rng, d, k, np.array(SV[m]))
    W0["wte.weight"] = rng.normal(size=(20, 12))
    W0["h.0.ln_1.weight"] = np.ones(12)
    Wf = dict(W0)
    for m in SHAPE:
        Wf[m + ".weight"] = W0[m + ".weight"] + DW[m]
    Wf["wte.weight"] = W0["wte.weight"] + 1.0   # not a target: ignored
    write_safetensors(f"{tmp}/w0.safetensors", [(n, a, "F64") for n, a in W0.items()])
    write_safetensors(f"{tmp}/wft.safetensors", [(n, a, "F64") for n, a in Wf.items()])
    # the ΔW the program sees: the difference of the stored float64 values
    return {m: Wf[m + ".weight"] - W0[m + ".weight"] for m in SHAPE}


def check_rank3(tmp, h5py, DW):
    R = 3
    out = f"{tmp}/ex3"
    rc, so, se = run("extract", "--base", f"{tmp}/w0.safetensors", "--finetuned", f"{tmp}/wft.safetensors",
                     "--rank", R, "-o", out, "--csv", f"{tmp}/ex3.csv", "--json")
    if not check(rc == 0 and os.path.isfile(f"{out}/extract.h5"), f"extract --rank 3 on the planted pair ({se.strip()[:200]})"):
        return
    got = h5_modules(h5py, f"{out}/extract.h5")
    check(sorted(got) == sorted(SV), f"extract.h5 has exactly the target modules ({sorted(got)})")
    worst = worst_sv = 0.0
    for m, sv in SV.items():
        fro, spec = rel_errors(sv, R)
        a = got[m]
        worst = max(worst, abs(a["rel_fro_error"] - fro), abs(a["rel_spectral_error"] - spec))
        worst_sv = max(worst_sv, np.max(np.abs(a["sv"] - np.array(sv))))
        ok_attrs = a["rank"] == R and a["in_features"] == SHAPE[m][1] and a["out_features"] == SHAPE[m][0]
        check(ok_attrs and abs(a["delta_fro"] - np.linalg.norm(DW[m])) < 1e-9,
              f"{m}: rank, in/out_features, delta_fro = numpy ||dW||_F")
    check(worst < 1e-6, f"relative errors = sqrt(sum_{{i>R}} s_i^2)/sqrt(sum s_i^2) and s_(R+1)/s_1 "
                        f"of the planted values (max diff {worst:.2g})")
    check(worst_sv < 1e-9, f"extract.h5 singular_values = the planted ones (max diff {worst_sv:.2g})")
    # stdout lines, --json, --csv: the same numbers
    lines = {ln.split()[0]: ln.split() for ln in so.splitlines() if ln.startswith("  h.")}
    ok = all(abs(float(lines[m][3]) - got[m]["rel_fro_error"]) < 1e-5 * max(got[m]["rel_fro_error"], 1e-3) and
             abs(float(lines[m][5]) - got[m]["rel_spectral_error"]) < 1e-5 * max(got[m]["rel_spectral_error"], 1e-3)
             for m in SV)
    check(ok, "stdout prints each module's rel_fro_error and rel_spectral_error")
    j = json.loads(so.strip().splitlines()[-1])
    jm = {e["module"]: e["values"] for e in j["modules"]}
    ok = j["command"] == "extract" and j["n_modules"] == 3 and all(
        jm[m]["rel_fro_error"] == got[m]["rel_fro_error"] and jm[m]["rel_spectral_error"] == got[m]["rel_spectral_error"]
        and jm[m]["rank"] == R for m in SV)
    ok = ok and abs(j["summary"]["max_rel_fro_error"] - max(a["rel_fro_error"] for a in got.values())) == 0
    check(ok, "--json: per-module errors and rank equal extract.h5's; summary max_rel_fro_error")
    rows = list(csv.DictReader(open(f"{tmp}/ex3.csv")))
    cm = {(r["module"], r["quantity"]): float(r["value"]) for r in rows}
    check(all(cm[(m, "rel_fro_error")] == got[m]["rel_fro_error"] and
              cm[(m, "rel_spectral_error")] == got[m]["rel_spectral_error"] for m in SV) and
          all(r["layer"] == m.split(".")[1] for r in rows for m in [r["module"]] if m),
          "--csv: tidy rows equal extract.h5's, with the layer index")
    check_adapter(out, DW, R)
    rc, _, se = run("spectrum", out, "-o", f"{tmp}/spec3.h5")
    ok = rc == 0
    if ok:
        with h5py.File(f"{tmp}/spec3.h5", "r") as f:
            diffs = [np.max(np.abs(f["modules"][m]["singular_values"][()][:R] - np.array(SV[m][:R])) / SV[m][0])
                     for m in SV]
        ok = max(diffs) < 1e-6
    check(ok, f"lorascope spectrum of the extracted adapter = the top-3 planted singular values ({se.strip()[:200]})")


def check_adapter(out, DW, R):
    cfg = json.load(open(os.path.join(out, "adapter_config.json")))
    check(cfg["peft_type"] == "LORA" and cfg["r"] == R and cfg["lora_alpha"] == R and
          sorted(cfg["target_modules"]) == ["fc_in", "q_proj", "v_proj"] and cfg["rank_pattern"] == {},
          "adapter_config.json: r = lora_alpha = R (scale 1), target_modules the targets found")
    worst = worst_split = 0.0
    for m in SV:
        got, A, B, r = adapter_delta(out, m)
        want = truncated(DW[m], R)
        worst = max(worst, np.max(np.abs(got - want)) / np.max(np.abs(want)))
        s = np.array(SV[m][:R])
        worst_split = max(worst_split, np.max(np.abs(np.linalg.norm(B, axis=0) - np.sqrt(s)) / np.sqrt(s)),
                          np.max(np.abs(np.linalg.norm(A, axis=1) - np.sqrt(s)) / np.sqrt(s)))
    check(worst < 2e-6, f"s·B·A = numpy's truncated SVD of dW to float rounding (max rel. diff {worst:.2g})")
    check(worst_split < 1e-6, f"balanced split: |B[:, j]| = |A[j, :]| = sqrt(s_j) (max rel. diff {worst_split:.2g})")


def check_full_rank(tmp, h5py, DW):
    out = f"{tmp}/ex12"
    rc, so, se = run("extract", "--base", f"{tmp}/w0.safetensors", "--finetuned", f"{tmp}/wft.safetensors",
                     "--rank", 12, "-o", out, "--targets", "q,v_proj")
    check(rc == 0 and se.count("\n") == 0, f"extract --rank 12 --targets q,v_proj: no warning ({se.strip()[:200]})")
    if rc != 0:
        return
    got = h5_modules(h5py, f"{out}/extract.h5")
    check(sorted(got) == ["h.0.attn.q_proj", "h.0.attn.v_proj"], "--targets q,v_proj selects those two")
    worst = max(np.max(np.abs(adapter_delta(out, m)[0] - DW[m])) / np.max(np.abs(DW[m])) for m in got)
    check(worst < 2e-6 and all(a["rel_fro_error"] == 0 and a["rel_spectral_error"] == 0 for a in got.values()),
          f"R = min(d, k) reproduces dW (max rel. diff {worst:.2g}), errors 0")
    # clamping: fc_in is 40 x 8
    out = f"{tmp}/ex10"
    rc, so, se = run("extract", "--base", f"{tmp}/w0.safetensors", "--finetuned", f"{tmp}/wft.safetensors",
                     "--rank", 10, "-o", out)
    lines = se.strip().splitlines()
    check(rc == 0 and len(lines) == 1 and "warning" in lines[0] and "h.1.mlp.fc_in" in lines[0],
          f"--rank 10 > min(40, 8): one warning line naming the module ({se.strip()[:200]})")
    if rc == 0:
        cfg = json.load(open(f"{out}/adapter_config.json"))
        got = h5_modules(h5py, f"{out}/extract.h5")
        d, _, _, r = adapter_delta(out, "h.1.mlp.fc_in")
        check(cfg["r"] == 10 and cfg["rank_pattern"] == {"h.1.mlp.fc_in": 8} and
              cfg["alpha_pattern"] == {"h.1.mlp.fc_in": 8} and got["h.1.mlp.fc_in"]["rank"] == 8 and
              np.max(np.abs(d - DW["h.1.mlp.fc_in"])) < 1e-5,
              "clamped module: rank 8, rank_pattern/alpha_pattern entries, s·B·A = dW")
        rc, _, se = run("spectrum", out, "-o", f"{tmp}/spec10.h5")
        check(rc == 0, f"spectrum reads the adapter with a rank_pattern ({se.strip()[:200]})")


def check_unchanged(tmp, h5py):
    t = read_safetensors(f"{tmp}/w0.safetensors")
    f = dict(t)
    f["h.0.attn.q_proj.weight"] = t["h.0.attn.q_proj.weight"] + 1.0 / 1024
    write_safetensors(f"{tmp}/wz.safetensors", [(n, a, "F64") for n, a in f.items()])
    rc, so, se = run("extract", "--base", f"{tmp}/w0.safetensors", "--finetuned", f"{tmp}/wz.safetensors",
                     "--rank", 2, "-o", f"{tmp}/exz", "--json")
    ok = rc == 0 and len(se.strip().splitlines()) == 1 and "2 module(s) unchanged" in se
    if ok:
        got = h5_modules(h5py, f"{tmp}/exz/extract.h5")
        j = json.loads(so.strip().splitlines()[-1])
        ok = (np.isnan(got["h.0.attn.v_proj"]["rel_fro_error"]) and got["h.0.attn.v_proj"]["delta_fro"] == 0 and
              abs(got["h.0.attn.q_proj"]["rel_fro_error"]) < 1e-12 and j["summary"]["mean_rel_fro_error"] is not None
              and abs(j["summary"]["mean_rel_fro_error"]) < 1e-12)
    check(ok, f"unchanged modules (dW = 0): errors NaN, one warning, the summary over the others ({se.strip()[:200]})")


def check_bad_input(tmp, rng):
    w0 = f"{tmp}/w0.safetensors"
    t = read_safetensors(w0)
    t["h.0.attn.q_proj.weight"] = rng.normal(size=(16, 13))
    write_safetensors(f"{tmp}/wbad.safetensors", [(n, a, "F64") for n, a in t.items()])
    cases = [("shape mismatch", ["--finetuned", f"{tmp}/wbad.safetensors", "--rank", "2"], "another shape"),
             ("missing file", ["--finetuned", f"{tmp}/nope.safetensors", "--rank", "2"], "nope.safetensors"),
             ("--rank 0", ["--finetuned", f"{tmp}/wft.safetensors", "--rank", "0"], "--rank 0"),
             ("--rank -3", ["--finetuned", f"{tmp}/wft.safetensors", "--rank", "-3"], "--rank -3")]
    for i, (what, args, needle) in enumerate(cases):
        out = f"{tmp}/bad{i}"
        rc, so, se = run(["extract", "--base", w0, "-o", out] + args)
        lines = se.strip().splitlines()
        check(rc == 1 and len(lines) == 1 and needle in lines[0] and not os.path.exists(out) and
              not any(n.startswith(f"bad{i}.tmp") for n in os.listdir(tmp)),
              f"bad input ({what}): one line, exit 1, nothing written ({se.strip()[:200]})")
    rc, _, se = run("extract", "--base", w0, "--finetuned", f"{tmp}/wft.safetensors", "-o", f"{tmp}/x")
    check(rc == 2 and "--rank" in se, "no --rank: usage error")


# ---- real pairs: a short train --full ----

def check_real(tmp, h5py, arch):
    base, full = f"{tmp}/{arch}-base.safetensors", f"{tmp}/{arch}-full"
    rc, _, se = run("pretrain", "--profile", "tiny", "--arch", arch, "--steps", "8", "--data", TXT, "-o", base,
                    "--quiet", "--threads", "1")
    if rc == 0:
        rc, _, se = run("train", "--base", base, "--task", "lm", "--data", TXT, "--full", "--steps", "6",
                        "--batch", "4", "--ctx", "32", "-o", full, "--quiet", "--threads", "1")
    if not check(rc == 0, f"{arch}: pretrain tiny + train --full ({se.strip()[:200]})"):
        return
    targets = "q,k,v,o,fc_in,fc_out" if arch == "gpt" else "q,k,v,o,gate,up,down"
    rc, _, se = run("train", "--base", base, "--task", "lm", "--data", TXT, "--rank", "2", "--targets", targets,
                    "--steps", "1", "--batch", "2", "--ctx", "16", "-o", f"{tmp}/{arch}-lora", "--quiet")
    rc2, so, se2 = run("extract", "--base", base, "--finetuned", f"{full}/model.safetensors", "--rank", "4",
                       "-o", f"{tmp}/{arch}-ex")
    if not check(rc == 0 and rc2 == 0, f"{arch}: a LoRA run and extract of the full run ({(se + se2).strip()[:200]})"):
        return
    lora = {k[:k.index(".lora_")] for k in read_safetensors(f"{tmp}/{arch}-lora/adapter_model.safetensors")}
    ex = read_safetensors(f"{tmp}/{arch}-ex/adapter_model.safetensors")
    check({k[:k.index(".lora_")] for k in ex} == lora,
          f"{arch}: the extracted adapter's keys name the modules as train's LoRA adapter does ({len(lora)} modules)")
    w0, wf = read_safetensors(base), read_safetensors(f"{full}/model.safetensors")
    got = h5_modules(h5py, f"{tmp}/{arch}-ex/extract.h5")
    worst = worst_ba = 0.0
    for m, a in got.items():
        D = wf[m + ".weight"] - w0[m + ".weight"]
        s = np.linalg.svd(D, compute_uv=False)
        fro, spec = rel_errors(s, 4)
        worst = max(worst, abs(a["rel_fro_error"] - fro), abs(a["rel_spectral_error"] - spec),
                    np.max(np.abs(a["sv"] - s)) / s[0])
        want = truncated(D, 4)
        worst_ba = max(worst_ba, np.max(np.abs(adapter_delta(f"{tmp}/{arch}-ex", m)[0] - want)) / np.max(np.abs(want)))
    check(worst < 1e-9 and worst_ba < 1e-5,
          f"{arch}: errors and spectra = numpy's SVD of the files' W_ft - W_0 (max diff {worst:.2g}); "
          f"s·B·A = truncated SVD (max rel. diff {worst_ba:.2g})")
    rc, _, se = run("spectrum", f"{tmp}/{arch}-ex", "-o", f"{tmp}/{arch}-spec.h5")
    ok = rc == 0
    if ok:
        with h5py.File(f"{tmp}/{arch}-spec.h5", "r") as f:
            ok = all(np.max(np.abs(f["modules"][m]["singular_values"][()][:4] - a["sv"][:4])) < 1e-5 * a["sv"][0]
                     for m, a in got.items())
    check(ok, f"{arch}: spectrum of the extracted adapter = the top-4 singular values of W_ft - W_0 ({se.strip()[:200]})")
    rc, _, se = run("subspace", f"{tmp}/{arch}-ex", f"{tmp}/{arch}-lora", "-o", f"{tmp}/{arch}-sub.h5")
    ok = rc == 0
    if ok:
        with h5py.File(f"{tmp}/{arch}-sub.h5", "r") as f:
            ok = sorted(f["modules"]) == sorted(got)
    check(ok, f"{arch}: subspace compares the extracted adapter with a LoRA adapter, every module ({se.strip()[:200]})")
    # full rank (C = 48 = min(d, k) of every module): merge gives W_ft back
    rc, _, se = run("extract", "--base", base, "--finetuned", f"{full}/model.safetensors", "--rank", "48",
                    "-o", f"{tmp}/{arch}-ex48")
    if rc == 0:
        rc, _, se = run("merge", "--base", base, "--adapter", f"{tmp}/{arch}-ex48", "-o", f"{tmp}/{arch}-merged.safetensors")
    worst = np.inf
    if rc == 0:
        mg = read_safetensors(f"{tmp}/{arch}-merged.safetensors")
        worst = max(np.max(np.abs(mg[m + ".weight"] - wf[m + ".weight"])) for m in got)
    check(worst < 1e-5, f"{arch}: merge --base W0 --adapter (extract --rank 48 = full rank) gives W_ft back "
                        f"(max |diff| {worst:.2g}) ({se.strip()[:200]})")


def check_hf_folders(tmp, h5py, rng):
    """Hugging Face folders (a sharded base, an unsharded fine-tuned one; and a folder against a
    plain file): the same modules, singular values and errors as numpy on the folders' tensors."""
    from test_hf_folder import config, llama_tensors, write_folder
    cfg = config()
    base = llama_tensors(cfg, rng, scale=0.5)
    ft, want = [], {}
    for n, a in base:
        if ".self_attn." in n or ".mlp." in n:
            d, k = a.shape
            D = planted(rng, d, k, [3.0, 1.0, 0.25])
            want[n[:-len(".weight")]] = np.linalg.svd(D.astype(np.float32).astype(np.float64), compute_uv=False)
            a = (a + D).astype(np.float32)
        ft.append((n, a))
    write_folder(os.path.join(tmp, "hf_base"), cfg, base, shards=3)
    write_folder(os.path.join(tmp, "hf_ft"), cfg, ft, shards=1)
    for tag, b in (("folder against folder", os.path.join(tmp, "hf_base")),
                   ("file against folder", os.path.join(tmp, "hf_ft0.safetensors"))):
        if b.endswith(".safetensors"):
            write_safetensors(b, [(n, a, "F32") for n, a in base], {"format": "pt"})
        out = os.path.join(tmp, "hf_ex_" + str(len(tag)))
        rc, so, se = run("extract", "--base", b, "--finetuned", os.path.join(tmp, "hf_ft"), "--rank", 2, "-o", out)
        if not check(rc == 0, "extract on Hugging Face folders (%s) exits 0 %s" % (tag, se.strip()[:300])):
            continue
        got = h5_modules(h5py, os.path.join(out, "extract.h5"))
        ok = sorted(got) == sorted(want) and len(got) == 2 * 7
        for m, w in want.items():
            if m not in got:
                continue
            # W_ft - W_0 in float64 of the float32 tensors, as extract computes it
            Wb = dict(base)[m + ".weight"].astype(np.float64)
            Wf = dict(ft)[m + ".weight"].astype(np.float64)
            sv = np.linalg.svd(Wf - Wb, compute_uv=False)
            fro, spec = rel_errors(sv, 2)
            ok &= np.allclose(got[m]["sv"], sv, rtol=1e-9, atol=1e-9) and \
                abs(got[m]["rel_fro_error"] - fro) < 1e-9 and abs(got[m]["rel_spectral_error"] - spec) < 1e-9
        check(bool(ok), "%s: every Llama module (q, k, v, o, gate, up, down of 2 layers) with numpy's "
              "singular values and errors of W_ft - W_0" % tag)
    bad = os.path.join(tmp, "hf_bad")
    os.makedirs(bad, exist_ok=True)
    rc, _, se = run("extract", "--base", bad, "--finetuned", os.path.join(tmp, "hf_ft"), "--rank", 2,
                    "-o", os.path.join(tmp, "hf_bad_out"))
    check(rc == 1 and "config.json" in se and len(se.strip().splitlines()) == 1,
          "a folder without config.json: one line naming it, exit 1 (%s)" % se.strip()[:200])


def main():
    try:
        import h5py
    except ImportError:
        skip("extract", "h5py is not installed")
        return summary()
    rc, so, _ = run("extract", "--help")
    check(rc == 0 and "example" in so and "lora_alpha = R" in so, "extract --help names the split and has an example")
    rng = np.random.default_rng(16)
    with tempfile.TemporaryDirectory(prefix="lsc_extract.") as tmp:
        DW = synthetic_pair(tmp, rng)
        check_rank3(tmp, h5py, DW)
        check_full_rank(tmp, h5py, DW)
        check_unchanged(tmp, h5py)
        check_bad_input(tmp, rng)
        check_hf_folders(tmp, h5py, rng)
        if os.path.exists(TXT):
            check_real(tmp, h5py, "gpt")
            check_real(tmp, h5py, "llama")
        else:
            skip("extract of a train --full run", "data/fixtures/tiny.txt missing")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
