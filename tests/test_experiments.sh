#!/bin/sh
# test_experiments.sh — the tiny profile end to end, from nothing: pretrain the base on the
# committed fixture, train every run of every study, analyse, collect, plot, regress against the
# committed baseline (experiments/baselines/tiny.json) and write the report, all in a scratch
# directory under $BUILD (so no cached run can hide a broken trainer). Then:
#   - an independent recomputation of a study file's means from the runs' train_log.h5 (h5py),
#     and `lorascope eval` of one adapter reproducing the accuracy and loss recorded for it
#   - `lorascope regress` catches a metric perturbed beyond its tolerance (exit 1, DRIFT), a
#     metric the results lack (MISSING) and a malformed baseline, and passes the intact one
#   - a second reproduce.sh only rebuilds the report (every run cached)
#   - a run deleted from the results is the only one retrained
# The results stay in $BUILD/test-experiments for tests/test_report.sh. LSC_QUICK=1 (make check)
# skips the pipeline. Takes about 3 minutes on 2 cores.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${LSC_BUILD:-build}
LSC=${LSC_BIN:-$ROOT/$BUILD/lorascope}
PY=/usr/bin/python3
. tests/lib.sh
tmpdir experiments

# ---- 0. the experiment subcommands on bad input and on a constructed case (fast, always run) ----
for c in collect regress report deltaspec; do
    expect_error 0 "" "$c --help exits 0" -- "$LSC" $c --help
    grep -q 'example' "$T/o"; verdict "$c --help shows an example"
done
expect_error 2 "need MANIFEST" "collect without arguments: usage error" -- "$LSC" collect
expect_error 1 "$T/nothere.tsv: cannot open" "collect: missing manifest named" -- "$LSC" collect "$T/nothere.tsv" -o "$T/s.h5"
printf 'run\tonly-two-fields\n' >"$T/m1.tsv"
expect_error 1 "m1.tsv:1: expected kind<TAB>name<TAB>value" "collect: malformed manifest line named with its line number" -- "$LSC" collect "$T/m1.tsv" -o "$T/s.h5"
printf 'attr\tstudy\tx\nbogus\ta\tb\n' >"$T/m2.tsv"
expect_error 1 "m2.tsv:2: unknown line kind 'bogus'" "collect: unknown line kind" -- "$LSC" collect "$T/m2.tsv" -o "$T/s.h5"
mkdir -p "$T/emptyrun"
printf 'run\tcell\t%s\n' "$T/emptyrun" >"$T/m3.tsv"
expect_error 1 "emptyrun/run.json: missing or not JSON" "collect: an unfinished run is refused" -- "$LSC" collect "$T/m3.tsv" -o "$T/s.h5"
printf 'not hdf5' >"$T/junk.h5"
printf 'merge\tA\t%s\n' "$T/junk.h5" >"$T/m4.tsv"
expect_error 1 "junk.h5: not an HDF5 file" "collect: merging a file that is not HDF5" -- "$LSC" collect "$T/m4.tsv" -o "$T/s.h5"
[ ! -e "$T/s.h5" ] && [ -z "$(ls "$T" | grep 'tmp')" ]; verdict "collect leaves no output or temporary file after a failure"
expect_error 2 "missing --current" "regress without --current: usage error" -- "$LSC" regress --baseline x.json
expect_error 1 "$T/none: cannot open" "regress: missing results directory" -- "$LSC" regress --baseline experiments/baselines/tiny.json --current "$T/none"
mkdir -p "$T/emptydir"
expect_error 1 "no study files" "regress: a directory without study files" -- "$LSC" regress --baseline experiments/baselines/tiny.json --current "$T/emptydir"
printf '{"format": "lorascope-baseline", "format_version": 7, "metrics": {}}' >"$T/v7.json"
expect_error 1 "format_version must be 1" "regress: unknown baseline version" -- "$LSC" regress --baseline "$T/v7.json" --current "$T/emptydir"
printf '{ not json' >"$T/bad.json"
expect_error 1 "bad.json: not valid JSON" "regress: a baseline that is not JSON" -- "$LSC" regress --baseline "$T/bad.json" --current "$T/emptydir"
expect_error 1 "not an HDF5 file" "regress --print of a file that is not HDF5" -- "$LSC" regress --print "$T/junk.h5"
expect_error 1 "$T/none: not a directory" "report: missing directory" -- "$LSC" report "$T/none"
expect_error 1 "no study files" "report: a directory without study files" -- "$LSC" report "$T/emptydir"
expect_error 2 "need --base" "deltaspec without arguments: usage error" -- "$LSC" deltaspec
expect_error 2 "unknown target 'x'" "deltaspec: unknown target" -- "$LSC" deltaspec --base a --finetuned b -o c --targets q,x
# a constructed case with a known answer: W_ft = W_0 + a rank-2 update; numpy is the oracle
$PY - "$T" <<'EOF'
import json, struct, sys
import numpy as np
T = sys.argv[1]
def save(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
rng = np.random.default_rng(3)
W0 = {"h.0.attn.q_proj.weight": rng.normal(size=(16, 12)), "h.0.attn.v_proj.weight": rng.normal(size=(16, 12)),
      "h.0.ln_1.weight": np.ones(12), "wte.weight": rng.normal(size=(20, 12))}
D = rng.normal(size=(16, 2)) @ rng.normal(size=(2, 12))
Wf = dict(W0); Wf["h.0.attn.q_proj.weight"] = W0["h.0.attn.q_proj.weight"] + D
Wf["h.0.attn.v_proj.weight"] = W0["h.0.attn.v_proj.weight"] + 0.01 * rng.normal(size=(16, 12))
save(T + "/w0.safetensors", W0); save(T + "/wft.safetensors", Wf)
bad = dict(W0); bad["h.0.attn.q_proj.weight"] = rng.normal(size=(16, 13))
save(T + "/wbad.safetensors", bad)
EOF
expect_error 0 "" "deltaspec on a constructed pair" -- "$LSC" deltaspec --base "$T/w0.safetensors" --finetuned "$T/wft.safetensors" -o "$T/ds.h5" --targets q,v
$PY - "$T" <<'EOF'
import sys, numpy as np, h5py, struct, json
T = sys.argv[1]
def load(p):
    d = open(p, "rb").read(); n = struct.unpack("<Q", d[:8])[0]; h = json.loads(d[8:8 + n])
    return {k: np.frombuffer(d[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"]).astype(np.float64)
            for k, v in h.items()}
a, b = load(T + "/w0.safetensors"), load(T + "/wft.safetensors")
f = h5py.File(T + "/ds.h5", "r")
assert sorted(f["modules"]) == ["h.0.attn.q_proj", "h.0.attn.v_proj"], list(f["modules"])
for m in f["modules"]:
    s = np.linalg.svd(b[m + ".weight"] - a[m + ".weight"], compute_uv=False)
    g = f["modules"][m]
    assert np.allclose(g["singular_values"][()], s, rtol=1e-6, atol=1e-9 * s[0]), m
    e = s**2 / (s**2).sum(); k90 = int(np.searchsorted(np.cumsum(e), 0.9) + 1)
    p = s / s.sum(); er = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
    assert g.attrs["rank90"] == k90, (m, g.attrs["rank90"], k90)
    assert abs(g.attrs["effective_rank"] - er) < 1e-6 * er
    assert abs(g.attrs["stable_rank"] - (s**2).sum() / s[0]**2) < 1e-6
    assert abs(g.attrs["delta_fro"] - np.sqrt((s**2).sum())) < 1e-6 * s[0]
assert f["modules/h.0.attn.q_proj"].attrs["rank90"] <= 2      # a rank-2 update
assert f["modules/h.0.attn.v_proj"].attrs["rank90"] > 5        # a dense random one
assert f.attrs["format_version"] == 1 and "base_sha256" in f.attrs and "finetuned_sha256" in f.attrs
EOF
verdict "deltaspec matches numpy's SVD (singular values, rank90, effective and stable rank) and finds the rank-2 update"
expect_error 1 "of another shape" "deltaspec: a weight whose shape differs is refused" -- "$LSC" deltaspec --base "$T/w0.safetensors" --finetuned "$T/wbad.safetensors" -o "$T/ds2.h5"
expect_error 1 "no weights of types fc_in" "deltaspec: no weight of the asked types" -- "$LSC" deltaspec --base "$T/w0.safetensors" --finetuned "$T/wft.safetensors" -o "$T/ds3.h5" --targets fc_in
[ ! -e "$T/ds2.h5" ] && [ ! -e "$T/ds3.h5" ]; verdict "deltaspec writes nothing on failure"

if [ -n "${LSC_QUICK:-}" ]; then
    skip "the tiny pipeline end to end" "LSC_QUICK is set: make check skips the 3-minute tiny pipeline"
    finish
fi

OUT=$ROOT/$BUILD/test-experiments
rm -rf "$OUT"
mkdir -p "$OUT"
export LSC_RESULTS_ROOT=$OUT/results LSC_FIGS_ROOT=$OUT/figures LSC_CACHE=$OUT/cache
export LSC_BIN=$LSC PROFILE=tiny BUILD
R=$OUT/results/tiny

# ---- 1. the pipeline ----
start=$(date +%s)
sh experiments/reproduce.sh >"$OUT/reproduce.log" 2>&1; rc=$?
secs=$(( $(date +%s) - start ))
echo "tiny pipeline: exit $rc in ${secs}s (log $OUT/reproduce.log)"
[ $rc = 0 ]; verdict "PROFILE=tiny experiments/reproduce.sh exits 0 (regression check within tolerance)"
if [ $rc != 0 ]; then
    tail -n 30 "$OUT/reproduce.log" | sed 's/^/    /'
fi
grep -q 'within tolerance' "$OUT/reproduce.log"; verdict "the regression check ran and passed"
for s in lr_sweep table5_targets table6_rank fig3_subspace_ranks fig4_subspace_seeds table7_amplify lora_vs_full qlora forget; do
    [ -s "$R/$s.h5" ] && "$LSC" regress --print "$R/$s.h5" >/dev/null 2>&1
    verdict "study file $s.h5 written with /summary metrics"
done
# rsLoRA (issue 17): the study file, its metrics and verdict, the α/r runs shared with the rank study
"$LSC" regress --print "$R/rslora.h5" >"$OUT/rslora.txt" 2>&1
lacks=
for m in rs_qv_r16.val_loss rs_qv_r16.final_train_loss qv_r16.final_dev_loss stall.state stall.gain_a \
        spec_rs.q.effective_rank spec_r.v.rank90 phi_rs.q.phi_11 phi_r.v.phi_11; do
    grep -q "^$m " "$OUT/rslora.txt" || lacks="$lacks $m"
done
[ -z "$lacks" ] || echo "    rslora.h5 lacks /summary$lacks"
[ -z "$lacks" ]; verdict "study file rslora.h5 written with its metrics (cells, spectra, phi, the stall verdict)"
grep -q '^stall -1 ' "$R/work/rslora/verdicts.dat" && grep -q 'Learning stalls at high rank with α/r' "$R/report.md"
verdict "the rsLoRA verdict line is in the verdict table and the report"
$PY - "$R" <<'EOF2'
import sys, os, math, h5py, numpy as np
R = sys.argv[1]
f, t6 = h5py.File(R + "/rslora.h5", "r"), h5py.File(R + "/table6_rank.h5", "r")
assert f["runs/lora-qv-r16-s1"].attrs["dir"] == t6["runs/lora-qv-r16-s1"].attrs["dir"], "a/r runs are the rank study's"
loss = lambda c, s: h5py.File(os.path.join(f["runs"][c % s].attrs["dir"], "train_log.h5"), "r").attrs["label_loss"]
d = [(loss("lora-qv-r1-s%d", s) - loss("rslora-qv-r16-s%d", s)) - (loss("lora-qv-r1-s%d", s) - loss("lora-qv-r16-s%d", s))
     for s in (1, 2)]
v = f["verdicts/stall"].attrs
assert abs(v["effect"] - np.mean(d)) < 1e-9 and v["n"] == 2, (v["effect"], d)
m = "modules/h.%d.attn.q_proj" % int(f.attrs["mid_layer"])
assert abs(f["spec_rs/" + m].attrs["scale"] - 8 / math.sqrt(16)) < 1e-9 and abs(f["spec_r/" + m].attrs["scale"] - 0.5) < 1e-9
EOF2
verdict "rslora: stall effect = the paired gain difference from train_log.h5, spectrum scales α/√r and α/r"
[ -s "$R/report.html" ] && [ -s "$R/report.md" ]; verdict "report.html and report.md written"
sed -n 3p "$R/report.md" | grep -q 'Too small for verdicts'; verdict "the tiny report says in its first line that it is too small for verdicts"
! grep -q 'no verdict in the study file' "$R/report.md"; verdict "every finding of the report has its verdicts in the study files"
n_png=$(ls "$OUT/figures/tiny/"*.png 2>/dev/null | wc -l)
n_svg=$(ls "$OUT/figures/tiny/"*.svg 2>/dev/null | wc -l)
[ "$n_png" -ge 13 ] && [ "$n_png" = "$n_svg" ]; verdict "figures rendered as PNG and SVG ($n_png + $n_svg)"
grep -q 'run [0-9]*/[0-9]* ' "$OUT/reproduce.log"; verdict "progress lines name the run and the total"
[ -z "$(ls -d "$R"/runs/.tmp.* 2>/dev/null)" ]; verdict "no temporary run directories left behind"
if [ $rc != 0 ]; then finish; fi
nruns=$(ls -d "$R"/runs/*/ | wc -l)
echo "runs: $nruns; $secs s"

# ---- 2. an independent check of collect: means over seeds from the runs' own train_log.h5 ----
$PY - "$R" <<'EOF' >"$OUT/oracle.log" 2>&1
import sys, json, os, math
import h5py
R = sys.argv[1]
bad = 0
for study in ("table5_targets", "table6_rank"):
    f = h5py.File(os.path.join(R, study + ".h5"), "r")
    assert f.attrs["format_version"] == 1 and "git_commit" in f.attrs and "seeds" in f.attrs
    for cell, g in f["cells"].items():
        accs = []
        for rid in g.attrs["runs"].split(","):
            d = f["runs"][rid].attrs["dir"]
            accs.append(float(h5py.File(os.path.join(d, "train_log.h5"), "r").attrs["accuracy"]))
        m = sum(accs) / len(accs)
        if abs(m - g.attrs["accuracy_mean"]) > 1e-12 or abs(f["summary"].attrs[cell + ".accuracy"] - m) > 1e-12:
            print("mismatch", study, cell, m, g.attrs["accuracy_mean"]); bad += 1
        if list(g["accuracy"][()]) != accs:
            print("per-seed accuracies differ", study, cell); bad += 1
f = h5py.File(os.path.join(R, "fig3_subspace_ranks.h5"), "r")
mods = list(f["p1/A/modules"])
assert len(mods) >= 2 and all("phi" in f["p1/A/modules"][m] for m in mods), "all layers in the file"
import numpy as np
mid = int(f.attrs["mid_layer"]); L = int(f.attrs["n_layer"])
# the figure layer is the one at relative depth 0.5 ((i+1)/L nearest, ties to the shallower)
want = min(range(L), key=lambda i: (abs((i + 1) / L - float(f.attrs["layer_depth"])), i))
if mid != want:
    print("mid_layer", mid, "but relative depth picks", want); bad += 1
for key in ("A.q", "A.v", "B.q"):
    fac, t = key.split(".")
    g = f["p1"][fac]["modules"]["h.%d.attn.%s_proj" % (mid, t)]
    if abs(g["phi"][0, 0] - f["summary"].attrs[key + ".phi_11"]) > 1e-12:
        print("phi_11 of the figure layer", key); bad += 1
# step 0 (LoRA issue 12): each study keeps the grids of the runs' initial adapters (/p<k>/init_A)
# beside the trained ones; two ranks or two seeds never share A0, so phi(r1, r2) of every module
# is at the random level (about 1/3 at tiny's d=48), far from the 1.0 of a shared subspace
for study in ("fig3_subspace_ranks", "fig4_subspace_seeds"):
    f = h5py.File(os.path.join(R, study + ".h5"), "r")
    g = f["p1"]["init_A"]["modules"]
    worst = max(float(g[m]["phi"][()][-1, -1]) for m in g)
    if len(g) != len(f["p1"]["A"]["modules"]) or not worst < 0.9:
        print("step-0 grids", study, len(g), worst); bad += 1
    if abs(g["h.%d.attn.q_proj" % mid]["phi"][0, 0] - f["summary"].attrs["init.A.q.phi_11"]) > 1e-12:
        print("init.A.q.phi_11 is not the figure layer's", study); bad += 1
    # every layer and projection has its verdict; the verdict's mean is the pairs' phi(1,1) mean
    for l in range(L):
        for t in "qv":
            v = f["verdicts"]["phi.A.%s.L%d" % (t, l)].attrs
            pairs = sorted(k for k in f if k.startswith("p") and k[1:].isdigit())
            m = np.mean([f[k]["A"]["modules"]["h.%d.attn.%s_proj" % (l, t)]["phi"][0, 0] for k in pairs])
            if v["state"] not in (-1, 0, 1) or abs(f["summary"].attrs["phi.A.%s.L%d.phi11_mean" % (t, l)] - m) > 1e-12:
                print("phi verdict", study, l, t, v["state"], m); bad += 1
            if v["state"] == 1 and not v["p"] < 0.05:
                print("shown with p >= 0.05", study, l, t); bad += 1
# Table 7: alignment and amplification verdicts for every layer, the null draws merged
f = h5py.File(os.path.join(R, "table7_amplify.h5"), "r")
for l in range(L):
    for t in "qv":
        g = f["p1"]["r4"]["modules"]["h.%d.attn.%s_proj" % (l, t)]
        if "proj_null" not in g or "proj_null_k" not in g or not g.attrs["alignment_excess"] > 0:
            print("table7 nulls missing", l, t); bad += 1
        for vn in ("align.%s.L%d.r4" % (t, l), "amp.%s.L%d" % (t, l)):
            if f["verdicts"][vn].attrs["state"] not in (-1, 0, 1):
                print("table7 verdict", vn); bad += 1
# Tables 5/6: the paired verdicts recomputed from the cells (accuracy points, paired by seed)
for study, vn in (("table5_targets", "qv_beats_q"), ("table6_rank", "sat.qv")):
    f = h5py.File(os.path.join(R, study + ".h5"), "r")
    v = f["verdicts"][vn].attrs
    metric = v["metric"]
    a = {int(s_): x for s_, x in zip(f["cells"][v["cell_a"]]["seeds"][()], f["cells"][v["cell_a"]][metric][()])}
    b = {int(s_): x for s_, x in zip(f["cells"][v["cell_b"]]["seeds"][()], f["cells"][v["cell_b"]][metric][()])}
    d = [100 * (a[k] - b[k]) for k in sorted(a) if k in b]
    if abs(np.mean(d) - v["effect"]) > 1e-9 or v["n"] != len(d):
        print("paired effect", study, vn, np.mean(d), v["effect"]); bad += 1
    if v["state"] == 1 and not (v["lo"] > (-v["margin"] * 100 if "margin" in v else 0)):
        print("shown with an interval that does not support it", study, vn); bad += 1
# the lr sweep: the rule (highest dev rank accuracy, ties to the smaller lr) recomputed
f = h5py.File(os.path.join(R, "lr_sweep.h5"), "r")
cells = {float(c[2:]): f["cells"][c].attrs["dev_rank_accuracy_mean"] for c in f["cells"]}
best = min(cells, key=lambda lr: (-cells[lr], lr))
if abs(float(f.attrs["selected_lr"]) - best) > 1e-15 or abs(float(open(os.path.join(R, "lr_selected")).read()) - best) > 1e-15:
    print("lr rule", cells, f.attrs["selected_lr"]); bad += 1
# every run evaluated the same test items (paired), has rank accuracy and ‖ΔW‖/‖W‖
items = None
for rd in sorted(os.listdir(os.path.join(R, "runs"))):
    lg = h5py.File(os.path.join(R, "runs", rd, "train_log.h5"), "r")
    it = list(lg["eval/test/item"][()])
    if items is None:
        items = it
    if it != items or not 0 <= lg.attrs["rank_accuracy"] <= 1:
        print("test items or rank accuracy", rd); bad += 1
    if rd.startswith("lora") and not lg.attrs["dw_ratio_median"] > 0:
        print("dw ratio", rd); bad += 1
# the step-0 adapter a run keeps: A0 as drawn, B = 0
import json, struct
with open(os.path.join(R, "runs", "lora-qv-r4-s1", "init", "adapter_model.safetensors"), "rb") as fh:
    n = struct.unpack("<Q", fh.read(8))[0]
    hdr = json.loads(fh.read(n))
    data = fh.read()
for name, t in hdr.items():
    if name == "__metadata__":
        continue
    a, b = t["data_offsets"]
    x = np.frombuffer(data[a:b], dtype=np.float32)
    if ("lora_B" in name) != (not np.any(x)):
        print("step-0 adapter:", name, "B must be zero and A not"); bad += 1
print("oracle mismatches:", bad)
sys.exit(1 if bad else 0)
EOF
verdict "means over seeds, phi summaries (trained and step 0), verdict inputs, the lr rule and the paired test items agree with an independent h5py recomputation; step-0 A0 not shared"

# every HDF5 file kind of the pipeline describes itself to h5py alone (issue 16)
$PY - "$R" "$OUT/cache" <<'EOF' >"$OUT/describe.log" 2>&1
import glob, os, sys
import h5py
R, cache = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(R, "*.h5")) + glob.glob(os.path.join(R, "runs", "*", "train_log.h5")) +
               glob.glob(os.path.join(cache, "*.train_log.h5")))
bad, n = [], 0
for fn in files:
    with h5py.File(fn, "r") as f:
        def visit(name, o):
            global n
            if isinstance(o, h5py.Dataset):
                n += 1
                for a in ("units", "definition"):
                    v = o.attrs.get(a)
                    if not isinstance(v, str) or not v:
                        bad.append("%s:%s without %s" % (os.path.basename(fn), name, a))
        f.visititems(visit)
print(len(files), "files,", n, "datasets,", len(bad), "without units/definition")
print("\n".join(bad[:20]))
sys.exit(1 if bad or len(files) < 10 else 0)
EOF
drc=$?
[ $drc = 0 ]; verdict "every dataset of the study files, the runs' and the base's train_log.h5 has units and a definition ($(head -n1 "$OUT/describe.log"))"
[ $drc = 0 ] || sed -n '2,12p' "$OUT/describe.log" | sed 's/^/    /'

# the metrics train kept agree with an independent `lorascope eval` of the same adapter
run=$R/runs/lora-qv-r4-s1
base=$(sed -n 's/.*"base": "\(.*\)".*/\1/p' "$run/run.json")
"$LSC" eval --base "$base" --adapter "$run/adapter" --task supersense \
    --task-file data/fixtures/supersense_tiny.tsv --threads 1 --json-out "$OUT/eval.json" >"$OUT/eval.log" 2>&1 &&
$PY - "$OUT/eval.json" "$R/table5_targets.h5" <<'EOF'
import json, sys, h5py
e = json.load(open(sys.argv[1]))
r = h5py.File(sys.argv[2], "r")["runs/lora-qv-r4-s1"].attrs
assert abs(e["accuracy"] - r["accuracy"]) < 1e-12, (e["accuracy"], r["accuracy"])
assert abs(e["val_loss"] - r["val_loss"]) < 1e-5 * max(1, abs(e["val_loss"])), (e["val_loss"], r["val_loss"])
assert e["items"] == r["n_items"]
EOF
verdict "lorascope eval of a run's adapter reproduces the accuracy and loss in the study file"

# learning vs forgetting (issue 17): forget.h5's cells, verdicts and one forgetting value recomputed
# from the two eval JSONs the study cached (the run's and the base's, the same windows)
$PY - "$R" <<'EOF' >"$OUT/forget.log" 2>&1
import json, math, os, sys
import h5py
R = sys.argv[1]
f = h5py.File(os.path.join(R, "forget.h5"), "r")
sm = f["summary"].attrs
W = os.path.join(R, "work", "forget")
cells = [c for c in f["cells"] if c == "full" or c.startswith("qkvo_r")]
assert "full" in cells and len(cells) >= 3, cells
for c in cells:
    assert len(f["cells"][c]["forgetting"][()]) == 2 and math.isfinite(sm[c + ".forgetting"]), c
run = json.load(open(os.path.join(W, "eval_qkvo_r4_s1.json")))
base = json.load(open(os.path.join(W, "eval_base.json")))
full = json.load(open(os.path.join(W, "eval_full_s1.json")))
assert run["ctx"] == base["ctx"] == full["ctx"] and run["windows"] == base["windows"] == full["windows"]
assert abs(run["results"][0]["val_loss"] - base["val_loss"]) < 1e-9, "the adapter's eval scored the base alike"
g = f["cells"]["qkvo_r4"]
i = list(g["forgetting_seeds"][()]).index(1)
want = run["val_loss"] - base["val_loss"]
assert abs(g["forgetting"][i] - want) < 1e-12, (g["forgetting"][i], want)
i = list(f["cells"]["full"]["forgetting_seeds"][()]).index(1)
assert abs(f["cells"]["full"]["forgetting"][i] - (full["val_loss"] - base["val_loss"])) < 1e-12
for v in ("forget.pooled", "learn.pooled", "forget.r4", "learn.r4"):
    a = f["verdicts"][v].attrs
    assert a["state"] in (-1, 0, 1) and a["verdict"] and a["test"] and a["null"], v
    assert sm[v + ".state"] == a["state"]
print("forget ok: r4 seed 1 forgetting %.6f" % want)
EOF
[ $? = 0 ]; verdict "forget.h5: forgetting per cell and seed, its verdicts, and qkvo_r4 seed 1's forgetting = its eval JSON's loss − the base's ($(tail -n 1 "$OUT/forget.log"))"
[ -s "$OUT/figures/tiny/forget_pareto.png" ] && grep -q 'Learning vs forgetting' "$R/report.md"; verdict "the forgetting Pareto figure and its report section"

# ---- 3. regress: intact, perturbed, missing, malformed ----
BASE=experiments/baselines/tiny.json
"$LSC" regress --baseline "$BASE" --current "$R" >"$OUT/regress_ok.log" 2>&1; rc=$?
[ $rc = 0 ]; verdict "regress against the committed baseline exits 0"
# perturb one accuracy metric by 5 tolerances
$PY - "$BASE" "$OUT/perturbed.json" >/dev/null <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
name = sorted(k for k in b["metrics"] if k.endswith(".accuracy"))[0]
m = b["metrics"][name]
tol = max(m["abs_tol"], m["rel_tol"] * abs(m["value"]))
m["value"] = m["value"] + 5 * tol + 0.01
open(sys.argv[2], "w").write(json.dumps(b, indent=1))
print(name)
EOF
pname=$($PY -c "import json,sys; b=json.load(open('$BASE')); print(sorted(k for k in b['metrics'] if k.endswith('.accuracy'))[0])")
"$LSC" regress --baseline "$OUT/perturbed.json" --current "$R" >"$OUT/regress_bad.log" 2>&1; rc=$?
[ $rc = 1 ] && grep "^$pname " "$OUT/regress_bad.log" | grep -q DRIFT && grep -q REGRESSION "$OUT/regress_bad.log"
verdict "a metric perturbed beyond its tolerance is caught (exit 1, DRIFT on $pname)"
n_drift=$(grep -c ' DRIFT$' "$OUT/regress_bad.log")
[ "$n_drift" = 1 ]; verdict "only the perturbed metric drifts ($n_drift)"
# a tolerance just wide enough lets the same perturbation pass: the check is not trivially failing
$PY - "$OUT/perturbed.json" "$OUT/widened.json" "$pname" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1])); m = b["metrics"][sys.argv[3]]
m["abs_tol"] = 1.0
open(sys.argv[2], "w").write(json.dumps(b))
EOF
"$LSC" regress --baseline "$OUT/widened.json" --current "$R" >/dev/null 2>&1; rc=$?
[ $rc = 0 ]; verdict "the same value within a wider tolerance passes"
$PY - "$BASE" "$OUT/missing.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["metrics"]["table6_rank/q_r999.accuracy"] = {"value": 0.5, "abs_tol": 0.05, "rel_tol": 0}
open(sys.argv[2], "w").write(json.dumps(b))
EOF
"$LSC" regress --baseline "$OUT/missing.json" --current "$R" >"$OUT/regress_missing.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'q_r999.accuracy.*MISSING' "$OUT/regress_missing.log"; verdict "a metric absent from the results fails as MISSING"
printf '{"format": "something else", "metrics": {}}' >"$OUT/notbaseline.json"
"$LSC" regress --baseline "$OUT/notbaseline.json" --current "$R" >/dev/null 2>"$OUT/err"; rc=$?
[ $rc = 1 ] && grep -q 'not a lorascope baseline' "$OUT/err"; verdict "a file that is not a baseline is refused with a message"
"$LSC" regress --current "$R" >/dev/null 2>&1; rc=$?
[ $rc = 2 ]; verdict "regress without --baseline is a usage error (exit 2)"

# ---- 4. a second reproduce only rebuilds the report ----
h5sum=$(sha256sum "$R/table6_rank.h5" | cut -c1-64)
start=$(date +%s)
sh experiments/reproduce.sh >"$OUT/reproduce2.log" 2>&1; rc=$?
secs2=$(( $(date +%s) - start ))
ntrained=$(grep -c 'trained + evaluated' "$OUT/reproduce2.log")
[ $rc = 0 ] && [ "$ntrained" = 0 ] && [ "$(sha256sum "$R/table6_rank.h5" | cut -c1-64)" = "$h5sum" ]
verdict "a second reproduce retrains nothing and keeps the study files (${secs2}s)"
grep -q 'up to date' "$OUT/reproduce2.log" && [ -s "$R/report.html" ]; verdict "the second reproduce rebuilt the report from up-to-date studies"

# ---- 5. Ctrl-C loses at most the runs in progress ----
rm -rf "$R/runs/lora-q-r2-s1" "$R/runs/lora-q-r4-s1" "$R/runs/lora-qkvo-r8-s1"
n_before=$(ls -d "$R"/runs/*/ | wc -l)
$PY - "$ROOT" "$OUT/interrupt.log" <<'EOF' >"$OUT/interrupt.out" 2>&1
import os, signal, subprocess, sys, time, glob
root, log = sys.argv[1], sys.argv[2]
def dfl():                      # a terminal's Ctrl-C: SIGINT (default action) to the process group
    signal.signal(signal.SIGINT, signal.SIG_DFL)
p = subprocess.Popen(["sh", "experiments/reproduce.sh"], cwd=root, start_new_session=True,
                     preexec_fn=dfl, stdout=open(log, "w"), stderr=subprocess.STDOUT)
runs = os.path.join(os.environ["LSC_RESULTS_ROOT"], "tiny", "runs")
t0 = time.time()
while not glob.glob(os.path.join(runs, ".tmp.*")) and time.time() - t0 < 120 and p.poll() is None:
    time.sleep(0.05)
time.sleep(0.5)                 # in the middle of training
os.killpg(p.pid, signal.SIGINT)
print("exit", p.wait())
time.sleep(1)
EOF
grep -q '^exit 130' "$OUT/interrupt.out" && grep -q 'interrupted; finished runs are kept' "$OUT/interrupt.log"
verdict "Ctrl-C stops reproduce.sh (exit 130) with a message"
[ -z "$(ls -d "$R"/runs/.tmp.* 2>/dev/null)" ]; verdict "Ctrl-C leaves no half-built run directory"
n_after=$(ls -d "$R"/runs/*/ | wc -l)
[ "$n_after" -ge "$n_before" ] && [ "$n_after" -lt $((n_before + 3)) ]; verdict "finished runs survive Ctrl-C ($n_before before, $n_after after)"
sh experiments/reproduce.sh >"$OUT/reproduce4.log" 2>&1; rc=$?
ntrained=$(grep -c 'trained + evaluated' "$OUT/reproduce4.log")
[ $rc = 0 ] && [ "$ntrained" = $((n_before + 3 - n_after)) ]
verdict "the next reproduce trains only what the interruption lost ($ntrained) and passes the regression check"

# ---- 6. only a deleted run is redone ----
victim=$(ls -d "$R"/runs/lora-q-r2-s1 2>/dev/null)
if [ -n "$victim" ]; then
    rm -rf "$victim"
    sh experiments/reproduce.sh >"$OUT/reproduce3.log" 2>&1; rc=$?
    ntrained=$(grep -c 'trained + evaluated' "$OUT/reproduce3.log")
    [ $rc = 0 ] && [ "$ntrained" = 1 ] && grep -q 'lora-q-r2-s1: trained' "$OUT/reproduce3.log"
    verdict "after deleting one run only that run is retrained ($ntrained)"
else
    bad "run lora-q-r2-s1 not found"
fi

finish
