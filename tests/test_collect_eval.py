#!/usr/bin/env python3
"""test_collect_eval.py — `lorascope collect`'s evalj line and its vforget / vlearn verdicts (issue 17,
analysis/collect_eval.c) on crafted inputs with known answers: eval JSONs whose losses are chosen
(forgetting = run loss − base loss per seed; mean, sd, 95 % t-interval recomputed with numpy and the
t quantile), run directories whose accuracies are chosen (vlearn), and the verdicts' effects,
intervals and states against a numpy paired t-test. Bad input: a missing or malformed JSON, another
task, other windows, a base that scored differently, a malformed field — one line naming the file or
the line, exit 1, no study file.
"""
import json
import math
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402

# two-sided 95 % t quantiles by degrees of freedom (1..4)
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305, 4: 2.776445105}


def eval_json(path, loss, base_loss=None, task="lm", ctx=64, windows=32, base="b.safetensors"):
    """A `lorascope eval --json-out` file: the base alone (base_loss None) or base then adapter."""
    res = [{"model": "base", "val_loss": loss if base_loss is None else base_loss}]
    if base_loss is not None:
        res.append({"model": path + ".adapter", "val_loss": loss})
    j = {"task": task, "base": base, "model": res[-1]["model"], "val_loss": loss, "perplexity": math.exp(loss),
         "ctx": ctx, "windows": windows, "results": res, "wall_seconds": 0.1}
    with open(path, "w") as f:
        json.dump(j, f)
    return path


def fake_run(d, rid, cell, seed, acc, kind="lora"):
    """A finished run directory: run.json, eval.json (its accuracy) and an adapter or model file."""
    rd = os.path.join(d, rid)
    os.makedirs(os.path.join(rd, "adapter"), exist_ok=True)
    with open(os.path.join(rd, "run.json"), "w") as f:
        json.dump({"id": rid, "kind": kind, "targets": "q,k,v,o" if kind == "lora" else "", "rank": 4,
                   "seed": seed, "lr": 0.01, "train_seconds": 1, "cpu_seconds": 1}, f)
    with open(os.path.join(rd, "eval.json"), "w") as f:
        json.dump({"accuracy": acc, "val_loss": 1.0, "perplexity": math.e, "items": 29, "majority_accuracy": 0.2,
                   "suffix_accuracy": 0.1}, f)
    with open(os.path.join(rd, "adapter", "x"), "w") as f:
        f.write(rid)
    with open(os.path.join(rd, "model.safetensors"), "w") as f:
        f.write(rid)
    return rd


def paired(a, b):
    d = np.asarray(a) - np.asarray(b)
    n = len(d)
    m = d.mean()
    se = d.std(ddof=1) / math.sqrt(n)
    return m, m - T975[n - 1] * se, m + T975[n - 1] * se


def main():
    d = tempfile.mkdtemp(prefix="lsc_test_collect_eval.")
    base = eval_json(os.path.join(d, "base.json"), 1.50)
    # forgetting: full {0.30, 0.34, 0.29}, LoRA r4 {0.05, 0.07, 0.06}, LoRA r8 {0.09, 0.08, 0.10}
    forget = {"full": [0.30, 0.34, 0.29], "qkvo_r4": [0.05, 0.07, 0.06], "qkvo_r8": [0.09, 0.08, 0.10]}
    acc = {"full": [0.60, 0.66, 0.62], "qkvo_r4": [0.50, 0.52, 0.47], "qkvo_r8": [0.55, 0.53, 0.54]}
    lines = ["attr\tstudy\tforget_test"]
    for cell, fs in forget.items():
        fields = [base]
        for s, f in zip((1, 2, 3), fs):
            p = os.path.join(d, "%s_s%d.json" % (cell, s))
            if cell == "full":
                eval_json(p, 1.50 + f, base="runs/full/model.safetensors")
            else:
                eval_json(p, 1.50 + f, base_loss=1.50)
            fields.append("%d:%s" % (s, p))
            rd = fake_run(d, "%s-s%d" % (cell, s), cell, s, acc[cell][s - 1], "full" if cell == "full" else "lora")
            lines.append("run\t%s\t%s" % (cell, rd))
        lines.append("evalj\t%s\t%s" % (cell, "\t".join(fields)))
    lines += ["vforget\tforget.r4\tfull qkvo_r4", "vforget\tforget.pooled\tfull qkvo_r4 qkvo_r8",
              "vforget\tforget.reversed\tqkvo_r4 full", "vlearn\tlearn.pooled\tfull qkvo_r4 qkvo_r8"]
    man = os.path.join(d, "m.tsv")
    with open(man, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(d, "s.h5")
    rc, so, se = run("collect", man, "-o", out, "--verdict-dat", os.path.join(d, "v.dat"))
    check(rc == 0, "collect with evalj, vforget and vlearn lines exits 0 (%s)" % se.strip()[:200])
    if rc != 0:
        return summary()
    f = h5py.File(out, "r")
    ok = True
    for cell, fs in forget.items():
        g = f["cells"][cell]
        x = np.array(fs)
        lo = x.mean() - T975[2] * x.std(ddof=1) / math.sqrt(3)
        ok &= np.allclose(g["forgetting"][()], x, atol=1e-12) and list(g["forgetting_seeds"][()]) == [1, 2, 3]
        ok &= abs(g.attrs["forgetting_mean"] - x.mean()) < 1e-12 and abs(g.attrs["forgetting_lo95"] - lo) < 1e-9
        ok &= abs(g.attrs["forgetting_std"] - x.std(ddof=1)) < 1e-12
        ok &= abs(f["summary"].attrs[cell + ".forgetting"] - x.mean()) < 1e-12
        ok &= abs(f["summary"].attrs[cell + ".forgetting_hi95"] - (2 * x.mean() - lo)) < 1e-9
        ok &= abs(f["summary"].attrs[cell + ".lm_loss"] - (1.5 + x.mean())) < 1e-12
        ok &= abs(g.attrs["base_lm_loss"] - 1.5) < 1e-15
        ok &= all(a in g["forgetting"].attrs for a in ("units", "definition"))
    check(ok, "evalj: per-seed forgetting (run loss − base loss), mean, sd, 95% interval and /summary match numpy")
    v = f["verdicts"]
    m, lo, hi = paired(forget["full"], np.mean([forget["qkvo_r4"], forget["qkvo_r8"]], axis=0))
    a = v["forget.pooled"].attrs
    check(abs(a["effect"] - m) < 1e-12 and abs(a["lo"] - lo) < 1e-9 and abs(a["hi"] - hi) < 1e-9 and a["state"] == 1
          and a["n"] == 3 and a["metric"] == "forgetting",
          "vforget pooled: effect %.4f [%.4f, %.4f] = numpy's paired t-interval, shown" % (a["effect"], lo, hi))
    m1, _, _ = paired(forget["full"], forget["qkvo_r4"])
    check(abs(v["forget.r4"].attrs["effect"] - m1) < 1e-12 and v["forget.r4"].attrs["state"] == 1,
          "vforget at one rank: effect full − r4, shown")
    check(v["forget.reversed"].attrs["state"] == 0 and v["forget.reversed"].attrs["effect"] < 0,
          "vforget with the cells swapped (LoRA as 'full'): not shown")
    m2, lo2, _ = paired(100 * np.array(acc["full"]), 100 * np.mean([acc["qkvo_r4"], acc["qkvo_r8"]], axis=0))
    a = v["learn.pooled"].attrs
    check(abs(a["effect"] - m2) < 1e-9 and abs(a["lo"] - lo2) < 1e-6 and a["state"] == 1 and a["metric"] == "accuracy",
          "vlearn pooled: accuracy points full − mean LoRA = numpy's (%.2f), shown" % m2)
    rows = [l.split() for l in open(os.path.join(d, "v.dat")) if not l.startswith("#")]
    check(len(rows) == 4 and rows[1][0] == "forget.pooled" and abs(float(rows[1][6]) - m) < 1e-5,
          "vforget/vlearn rows in --verdict-dat")

    # ---- bad input: one line naming the file, exit 1, no study file ----
    def refused(name, value, want, kind="evalj"):
        p = os.path.join(d, "bad.tsv")
        with open(p, "w") as fh:
            fh.write("%s\tfull\t%s\n" % (kind, value))
        o = os.path.join(d, "bad.h5")
        rc, so, se = run("collect", p, "-o", o)
        errs = [l for l in se.splitlines() if l.strip()]
        check(rc == 1 and len(errs) == 1 and want in errs[0] and not os.path.exists(o),
              "%s: exit 1, one line naming %s (%s)" % (name, want, se.strip()[:160]))

    missing = os.path.join(d, "nothere.json")
    refused("missing run JSON", "%s\t1:%s" % (base, missing), missing)
    junk = os.path.join(d, "junk.json")
    with open(junk, "w") as fh:
        fh.write("{ not json")
    refused("malformed run JSON", "%s\t1:%s" % (base, junk), junk)
    refused("malformed base JSON", "%s\t1:%s" % (junk, base), junk)
    ss = eval_json(os.path.join(d, "ss.json"), 1.0, task="supersense")
    refused("an eval of the task, not the pretraining text", "%s\t1:%s" % (base, ss), ss)
    nl = os.path.join(d, "noloss.json")
    with open(nl, "w") as fh:
        json.dump({"task": "lm", "ctx": 64, "windows": 32, "results": [{"model": "base"}]}, fh)
    refused("a JSON without val_loss", "%s\t1:%s" % (base, nl), nl)
    ow = eval_json(os.path.join(d, "other_windows.json"), 1.6, windows=64)
    refused("other windows", "%s\t1:%s" % (base, ow), ow)
    db = eval_json(os.path.join(d, "diff_base.json"), 1.6, base_loss=1.49)
    refused("its base scored differently (other data)", "%s\t1:%s" % (base, db), db)
    refused("a field that is not SEED:FILE", "%s\t%s" % (base, db), "not SEED:FILE")
    refused("no runs after the base", base, "no SEED:FILE")
    refused("vforget before the cells' evalj lines", "full qkvo_r4", "no forgetting of cell 'full'", kind="vforget")
    refused("vforget with one cell", "full", "FULL_CELL LORA_CELL", kind="vforget")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
