#!/usr/bin/python3
"""test_verdict_stall.py — the `vstall` verdict and the `cellstat` line of `lorascope collect`
(issue 17, rsLoRA) on synthetic runs with a known answer.

Four cells (arm A low/high rank, arm B low/high rank), five seeds each: every run a run.json and a
train_log.h5 with the final metrics (label_loss, accuracy, rank_accuracy, final_val_loss) and a
training curve /train/loss. A planted gain (arm A's high rank 0.3 nats better than its low
rank, arm B's only 0.05 better, small per-seed noise) must be "shown", with effect = the mean
paired difference of the gains and the t-interval numpy computes; equal gains "not shown"; a
gain planted the other way "not shown"; one seed "not measured". cellstat's mean and 95 %
interval of final_train_loss (the mean of the last tenth of /train/loss) against numpy.

Not here: the study script (tests/test_experiments.sh runs it on the tiny profile).
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import LSC, check, summary  # noqa: E402

T_975 = {4: 2.7764451051977987, 1: 12.706204736174705}   # Student t quantiles (df: value)


def make_run(d, cell, seed, val_loss, train_curve, rank_acc):
    os.makedirs(d + "/adapter", exist_ok=True)
    open(d + "/adapter/adapter_config.json", "w").write("{}\n")
    open(d + "/run.json", "w").write(
        '{"id": "%s", "kind": "lora", "targets": "q,v", "rank": 1, "seed": %d, "lr": 0.01,\n'
        ' "config": "x", "config_sha": "x", "train_seconds": 1, "cpu_seconds": 1}\n'
        % (os.path.basename(d), seed))
    with h5py.File(d + "/train_log.h5", "w") as f:
        f.attrs["accuracy"] = rank_acc - 0.1
        f.attrs["rank_accuracy"] = rank_acc
        f.attrs["label_loss"] = val_loss
        f.attrs["final_val_loss"] = val_loss + 0.01
        f.attrs["majority_baseline"] = 0.1
        f.attrs["eval_items"] = 100.0
        f.create_dataset("train/loss", data=np.asarray(train_curve, dtype=np.float32))


def study(tmp, name, gains_a, gains_b, seeds, rng):
    """Runs for cells a_lo a_hi b_lo b_hi; the high rank's val_loss = low − gain (+ noise)."""
    lines = ["attr\tstudy\t%s" % name]
    loss = {}
    for s_i, s in enumerate(seeds):
        base = 1.5 + 0.1 * rng.standard_normal()
        vals = {"a_lo": base, "a_hi": base - gains_a[s_i], "b_lo": base, "b_hi": base - gains_b[s_i]}
        for cell, v in vals.items():
            d = "%s/%s/%s-s%d" % (tmp, name, cell, s)
            curve = v + 0.5 * np.exp(-np.arange(50) / 10.0) + 0.01 * rng.standard_normal(50)
            make_run(d, cell, s, v, curve, 0.5 - v / 10)
            loss[(cell, s)] = (v, curve)
            lines.append("run\t%s\t%s" % (cell, d))
    lines.append("vstall\tstall\tval_loss a_lo a_hi b_lo b_hi")
    lines.append("vstall\tstall.acc\trank_accuracy a_lo a_hi b_lo b_hi")
    lines.append("cellstat\ta_hi\tfinal_train_loss")
    man = "%s/%s.tsv" % (tmp, name)
    open(man, "w").write("\n".join(lines) + "\n")
    out = "%s/%s.h5" % (tmp, name)
    p = subprocess.run([LSC, "collect", man, "-o", out], capture_output=True, text=True)
    return p, out, loss


def main():
    rng = np.random.default_rng(17)
    seeds = [1, 2, 3, 4, 5]
    with tempfile.TemporaryDirectory() as tmp:
        # planted: arm A gains 0.3 nats from the low to the high rank, arm B 0.05
        ga = 0.3 + 0.02 * rng.standard_normal(5)
        gb = 0.05 + 0.02 * rng.standard_normal(5)
        p, out, loss = study(tmp, "planted", ga, gb, seeds, rng)
        check(p.returncode == 0, "collect with vstall and cellstat lines exits 0 (%s)" % p.stderr.strip())
        if p.returncode != 0:
            return summary()
        with h5py.File(out) as f:
            v = f["verdicts/stall"].attrs
            d = np.array([loss[("a_lo", s)][0] - loss[("a_hi", s)][0] - loss[("b_lo", s)][0] + loss[("b_hi", s)][0]
                          for s in seeds])
            half = T_975[4] * d.std(ddof=1) / np.sqrt(5)
            check(v["verdict"] == "shown", "a planted larger gain in arm A is shown (%s)" % v["evidence"])
            check(abs(v["effect"] - d.mean()) < 1e-6, "effect = mean paired difference of the gains (%.6f, numpy %.6f)"
                  % (v["effect"], d.mean()))
            check(abs(v["lo"] - (d.mean() - half)) < 1e-5 and abs(v["hi"] - (d.mean() + half)) < 1e-5,
                  "interval = numpy's 95%% t-interval [%.5f, %.5f]" % (d.mean() - half, d.mean() + half))
            check(v["n"] == 5 and v["metric"] == "val_loss" and v["cell_a_high"] == "a_hi",
                  "n, metric and cells recorded on /verdicts/stall")
            check("nats" in v["evidence"] and "mean difference 0" in v["null"], "evidence in nats, the null named")
            sm = f["summary"].attrs
            ga_np = np.mean([loss[("a_lo", s)][0] - loss[("a_hi", s)][0] for s in seeds])
            check(abs(sm["stall.gain_a"] - ga_np) < 1e-6 and sm["stall.state"] == 1,
                  "summary stall.gain_a = arm A's mean gain, stall.state = 1")
            # rank accuracy = 0.5 - loss/10: the same planted difference, in points
            check(f["verdicts/stall.acc"].attrs["verdict"] == "shown"
                  and abs(f["verdicts/stall.acc"].attrs["effect"] - 10 * d.mean()) < 1e-4,
                  "an accuracy gain is high minus low, in points")
            tl = [float(np.mean(loss[("a_hi", s)][1].astype(np.float32)[-5:])) for s in seeds]
            ci = T_975[4] * np.std(tl, ddof=1) / np.sqrt(5)
            check(abs(sm["a_hi.final_train_loss"] - np.mean(tl)) < 1e-6
                  and abs(sm["a_hi.final_train_loss_hi95"] - (np.mean(tl) + ci)) < 1e-5,
                  "cellstat final_train_loss: mean of the last tenth of /train/loss and its 95% interval")
        # no difference: both arms gain 0.2 ± noise
        g = 0.2 + 0.02 * rng.standard_normal(5)
        p, out, _ = study(tmp, "equal", g, g + 0.02 * rng.standard_normal(5), seeds, rng)
        with h5py.File(out) as f:
            check(p.returncode == 0 and f["verdicts/stall"].attrs["verdict"] == "not shown",
                  "equal gains: not shown (%s)" % f["verdicts/stall"].attrs["evidence"])
        # the other way: arm B gains more
        p, out, _ = study(tmp, "reverse", gb, ga, seeds, rng)
        with h5py.File(out) as f:
            check(p.returncode == 0 and f["verdicts/stall"].attrs["verdict"] == "not shown"
                  and f["verdicts/stall"].attrs["effect"] < 0, "a larger gain in arm B: not shown, effect < 0")
        # one seed
        p, out, _ = study(tmp, "one", ga[:1], gb[:1], [1], rng)
        with h5py.File(out) as f:
            check(p.returncode == 0 and f["verdicts/stall"].attrs["verdict"] == "not measured",
                  "one seed: not measured")
        # bad lines
        man = tmp + "/bad.tsv"
        open(man, "w").write("run\ta_lo\t%s/planted/a_lo-s1\nvstall\tx\tnope a_lo a_lo a_lo a_lo\n" % tmp)
        p = subprocess.run([LSC, "collect", man, "-o", tmp + "/bad.h5"], capture_output=True, text=True)
        check(p.returncode == 1 and "unknown metric 'nope'" in p.stderr, "vstall: an unknown metric is named")
        open(man, "w").write("run\ta_lo\t%s/planted/a_lo-s1\nvstall\tx\tval_loss a_lo a_lo zz a_lo\n" % tmp)
        p = subprocess.run([LSC, "collect", man, "-o", tmp + "/bad.h5"], capture_output=True, text=True)
        check(p.returncode == 1 and "'zz'" in p.stderr, "vstall: a cell without runs is named")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
