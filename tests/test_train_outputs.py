#!/usr/bin/python3
"""test_train_outputs.py — what `train` and `pretrain` write for issue 12,
recomputed independently with numpy/h5py:

  * the three-way split of --task-file (fnv1a32 % 10: 0 test, 1 dev, else
    train) against files written here and passed as --task-dev/--task-test
    (same adapter bytes); --task-valid is gone;
  * the seeded evaluation sample: /eval/test/item identical for two
    training seeds with the same --eval-seed, another for another seed;
    accuracy / rank_accuracy = the means of /eval/{test,dev}/correct,
    rank_correct; rank_correct = (rank_pred == the gold label of the item);
    the majority and suffix baselines recomputed on the same test items;
    `lorascope eval` with the same sample reproduces the run's numbers;
  * /delta: ||s·B·A||_F / ||W||_F formed densely in numpy from the adapter
    and the base (fp32, and an NF4 base dequantised in numpy), and
    ||W_ft - W_0||_F / ||W_0||_F of a --full run, to 1e-5 relative;
  * pretrain's bigram_xent against a numpy add-one bigram model.
Needs $LSC_BIN (default build/lorascope), numpy and h5py.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, run, skip, summary   # noqa: E402

import numpy as np   # noqa: E402

TSV = os.path.join(ROOT, "data", "fixtures", "supersense_tiny.tsv")
TXT = os.path.join(ROOT, "data", "fixtures", "tiny.txt")
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)


def fnv1a32(b):
    h = 0x811c9dc5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xffffffff
    return h


def split_of(word):
    h = fnv1a32(word.encode()) % 10
    return "test" if h == 0 else "dev" if h == 1 else "train"


def st_read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    dt = {"F32": "<f4", "U8": "u1", "F64": "<f8", "I64": "<i8"}
    out = {}
    for name, e in header.items():
        b0, b1 = e["data_offsets"]
        a = np.frombuffer(raw[8 + n + b0:8 + n + b1], dtype=dt[e["dtype"]])
        out[name] = a.reshape(e["shape"]) if e["shape"] else a
    return out


def nf4_weight(st, name):
    """deq(W) of a bitsandbytes-layout NF4 weight, in float64."""
    qs = json.loads(bytes(st[name + ".quant_state.bitsandbytes__nf4"]).decode())
    packed = st[name]
    idx = np.empty(packed.size * 2, dtype=np.uint8)
    idx[0::2], idx[1::2] = packed.ravel() >> 4, packed.ravel() & 15
    shape = qs["shape"]
    n = int(np.prod(shape))
    bs = qs["blocksize"]
    if name + ".nested_absmax" in st:
        q = st[name + ".absmax"].astype(np.int64)
        nmap = st[name + ".nested_quant_map"].astype(np.float64)
        nab = np.repeat(st[name + ".nested_absmax"].astype(np.float64), 256)[:q.size]
        absmax = nmap[q] * nab + qs["nested_offset"]
    else:
        absmax = st[name + ".absmax"].astype(np.float64)
    qmap = st[name + ".quant_map"].astype(np.float64)
    return (qmap[idx[:n]] * np.repeat(absmax, bs)[:n]).reshape(shape)


def base_weight(base, module):
    name = module + ".weight"
    return nf4_weight(base, name) if name + ".quant_state.bitsandbytes__nf4" in base else base[name].astype(np.float64)


def attrs(h5py, path):
    with h5py.File(path, "r") as f:
        a = dict(f.attrs)
        g = {k: f[k][()] for k in ["eval/test/item", "eval/test/correct", "eval/test/rank_correct",
                                   "eval/test/rank_pred", "eval/labels", "delta/module", "delta/ratio",
                                   "delta/dw_fro", "delta/w_fro", "delta/layer", "delta/target"] if k in f}
        for k in ["eval/dev/item", "eval/dev/correct", "eval/dev/rank_correct"]:
            if k in f:
                g[k] = f[k][()]
    return a, g


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def check_lora_delta(log, adapter_dir, base_path, label):
    ad = st_read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    base = st_read(base_path)
    a, g = log
    worst, n = 0.0, 0
    for i, mod in enumerate(g["delta/module"]):
        mod = s(mod)
        A = ad["base_model.model." + mod + ".lora_A.weight"].astype(np.float64)
        B = ad["base_model.model." + mod + ".lora_B.weight"].astype(np.float64)
        r = A.shape[0]
        dW = cfg["lora_alpha"] / r * (B @ A)
        W = base_weight(base, mod)
        want = np.linalg.norm(dW) / np.linalg.norm(W)
        worst = max(worst, abs(g["delta/ratio"][i] - want) / want,
                    abs(g["delta/dw_fro"][i] - np.linalg.norm(dW)) / np.linalg.norm(dW),
                    abs(g["delta/w_fro"][i] - np.linalg.norm(W)) / np.linalg.norm(W))
        n += 1
    med = float(np.median(g["delta/ratio"]))
    check(n == len(ad) // 2 and worst < 1e-5 and abs(a["dw_ratio_median"] - med) < 1e-12 * max(1, med) and
          a["dw_ratio_max"] == max(g["delta/ratio"]),
          f"{label}: /delta = numpy ||s B A||_F / ||W||_F over {n} modules (max rel. diff {worst:.2g}), median, max")


def check_eval(log, items, labels_file, train_items, label):
    """/eval/test against the test split's items; baselines on the same items."""
    a, g = log
    test = [it for it in items if split_of(it[0]) == "test"]
    labels = [s(x) for x in g["eval/labels"]]
    idx = g["eval/test/item"]
    gold = np.array([labels.index(test[i][1]) for i in idx])
    ok = (len(idx) == a["eval_items"] and np.all(np.diff(idx) > 0) and idx.max() < len(test) and
          abs(a["accuracy"] - g["eval/test/correct"].mean()) < 1e-12 and
          abs(a["rank_accuracy"] - g["eval/test/rank_correct"].mean()) < 1e-12 and
          np.array_equal(g["eval/test/rank_correct"], (g["eval/test/rank_pred"] == gold).astype(int)))
    check(ok, f"{label}: /eval/test items index the test split; accuracy, rank_accuracy = means of correct, "
              f"rank_correct; rank_correct = (rank_pred == gold)")
    # baselines fitted on train, on the same items; the label set is sorted byte-wise
    tl = [lab for _, lab in train_items]
    cnt = {lab: tl.count(lab) for lab in labels}
    major = max(labels, key=lambda lab: (cnt[lab], -labels.index(lab)))
    maj = np.mean([test[i][1] == major for i in idx])
    table = {}
    for w, lab in train_items:
        table.setdefault(w[-4:], {}).setdefault(lab, 0)
        table[w[-4:]][lab] += 1
    pred = [max(labels, key=lambda lab: (table[test[i][0][-4:]].get(lab, 0), -labels.index(lab)))
            if test[i][0][-4:] in table else major for i in idx]
    suf = np.mean([p == test[i][1] for p, i in zip(pred, idx)])
    check(abs(a["majority_baseline"] - maj) < 1e-12 and abs(a["suffix4_baseline"] - suf) < 1e-12,
          f"{label}: majority {maj:.3f} and suffix4 {suf:.3f} baselines on the same test items")


def body(tmp, h5py):
    items = [tuple(line.rstrip("\n").split("\t")) for line in open(TSV)]
    train_items = [it for it in items if split_of(it[0]) == "train"]
    # ---- pretrain: bigram baseline ----
    text = open(TXT, "rb").read()
    cut = text.index(b"\n\n", len(text) * 9 // 10) + 2
    open(f"{tmp}/tr.txt", "wb").write(text[:cut])
    open(f"{tmp}/va.txt", "wb").write(text[cut:])
    rc, out, err = run("pretrain", "--profile", "tiny", "--steps", "40", "--data", f"{tmp}/tr.txt", "--valid",
                       f"{tmp}/va.txt", "-o", f"{tmp}/base.safetensors", "--quiet", "--threads", "1")
    check(rc == 0, f"pretrain tiny ({err.strip()[:200]})")
    if rc != 0:
        return
    tr, va = np.frombuffer(text[:cut], np.uint8), np.frombuffer(text[cut:], np.uint8)
    c = np.zeros((256, 256))
    np.add.at(c, (tr[:-1], tr[1:]), 1)
    p = (c + 1) / (c.sum(1, keepdims=True) + 256)
    want = -np.mean(np.log(p[va[:-1], va[1:]]))
    with h5py.File(f"{tmp}/base.train_log.h5", "r") as f:
        got = f.attrs["bigram_xent"]
        uni = f.attrs["unigram_xent"]
    check(abs(got - want) < 1e-9 * want and got < uni and "bigram %.4f" % got in out,
          f"pretrain: bigram_xent {got:.6f} = numpy add-one bigram {want:.6f} (< unigram {uni:.4f}), printed")
    base = f"{tmp}/base.safetensors"
    common = ["train", "--base", base, "--task", "supersense", "--rank", "4", "--targets", "q,v,fc_in", "--steps", "12",
              "--batch", "8", "--lr", "5e-3", "--quiet", "--threads", "1"]
    sample = ["--eval-sample", "17", "--eval-seed", "3"]

    # ---- split: --task-file vs the three files ----
    for part in ("train", "dev", "test"):
        with open(f"{tmp}/{part}.tsv", "w") as f:
            f.writelines(f"{w}\t{lab}\n" for w, lab in items if split_of(w) == part)
    rc1 = run(common + ["--task-file", TSV, "--eval-dev"] + sample + ["-o", f"{tmp}/s1"])[0]
    rc2 = run(common + ["--task-file", f"{tmp}/train.tsv", "--task-dev", f"{tmp}/dev.tsv", "--task-test",
                        f"{tmp}/test.tsv"] + sample + ["-o", f"{tmp}/f1"])[0]
    same = rc1 == 0 and rc2 == 0 and open(f"{tmp}/s1/adapter_model.safetensors", "rb").read() == \
        open(f"{tmp}/f1/adapter_model.safetensors", "rb").read()
    check(same, "--task-file FILE split three ways = --task-file train --task-dev dev --task-test test (same adapter)")
    rc, _, err = run(common + ["--task-file", TSV, "--task-valid", f"{tmp}/dev.tsv", "-o", f"{tmp}/x"])
    check(rc == 2 and "task-valid" in err, f"--task-valid is refused (exit {rc})")
    rc, _, err = run(common + ["--task-file", TSV, "--task-dev", f"{tmp}/dev.tsv", "-o", f"{tmp}/x"])
    check(rc == 2 and "--task-test" in err, f"--task-dev without --task-test: usage error (exit {rc})")
    if rc1 != 0:
        return
    l1 = attrs(h5py, f"{tmp}/s1/train_log.h5")
    a1, g1 = l1
    check(a1["eval_split"] == "test" and a1["eval_seed"] == 3 and a1["eval_items"] == 17 and
          a1["dev_eval_items"] == 17 and len(g1["eval/dev/item"]) == 17 and
          abs(a1["dev_accuracy"] - g1["eval/dev/correct"].mean()) < 1e-12 and
          abs(a1["dev_rank_accuracy"] - g1["eval/dev/rank_correct"].mean()) < 1e-12 and
          np.isfinite(a1["dev_label_loss"]) and np.isfinite(a1["label_loss"]),
          "train_log.h5: eval_split test, eval_seed, eval_items, dev_* and /eval/dev")
    check_eval(l1, items, TSV, train_items, "LoRA")
    check_lora_delta(l1, f"{tmp}/s1", base, "LoRA fp32 base")

    # ---- the sample does not depend on the training seed ----
    rc = run(common + ["--task-file", TSV, "--seed", "7"] + sample + ["-o", f"{tmp}/s7"])[0]
    rc |= run(common + ["--task-file", TSV, "--seed", "7", "--eval-sample", "17", "--eval-seed", "4",
                        "-o", f"{tmp}/e4"])[0]
    if rc == 0:
        i7 = attrs(h5py, f"{tmp}/s7/train_log.h5")[1]["eval/test/item"]
        i4 = attrs(h5py, f"{tmp}/e4/train_log.h5")[1]["eval/test/item"]
        check(np.array_equal(i7, g1["eval/test/item"]) and not np.array_equal(i4, i7),
              "the same --eval-seed scores the same items whatever --seed; another --eval-seed others")
    else:
        check(False, "train with --seed 7")

    # ---- eval reproduces the run ----
    rc, out, err = run("eval", "--base", base, "--adapter", f"{tmp}/s1", "--task", "supersense", "--task-file", TSV,
                       "--eval-dev", "--threads", "1", "--json", *sample)
    ok = rc == 0
    if ok:
        e = json.loads(out.strip().splitlines()[-1])
        ok = (e["items"] == 17 and e["split"] == "test" and abs(e["accuracy"] - a1["accuracy"]) < 1e-12 and
              abs(e["rank_accuracy"] - a1["rank_accuracy"]) < 1e-12 and
              abs(e["label_loss"] - a1["label_loss"]) < 1e-5 * abs(a1["label_loss"]) and
              abs(e["dev_rank_accuracy"] - a1["dev_rank_accuracy"]) < 1e-12 and
              abs(e["majority_accuracy"] - a1["majority_baseline"]) < 1e-12)
    check(ok, f"eval --eval-sample 17 --eval-seed 3 --eval-dev reproduces the run's test and dev numbers ({err.strip()[:200]})")

    # ---- NF4 base: W = deq(W) ----
    rc = run("quantize", base, "-o", f"{tmp}/base-nf4.safetensors")[0]
    if rc == 0:
        c2 = [x if x != base else f"{tmp}/base-nf4.safetensors" for x in common]
        rc = run(c2 + ["--task-file", TSV, "--eval-sample", "5", "-o", f"{tmp}/q1"])[0]
    check(rc == 0, "quantize the base and train LoRA on it")
    if rc == 0:
        check_lora_delta(attrs(h5py, f"{tmp}/q1/train_log.h5"), f"{tmp}/q1", f"{tmp}/base-nf4.safetensors",
                         "LoRA NF4 base (numpy dequantisation)")

    # ---- full fine-tuning ----
    rc, _, err = run("train", "--base", base, "--task", "supersense", "--full", "--steps", "5", "--batch", "8",
                     "--quiet", "--threads", "1", "--task-file", TSV, "--eval-sample", "5", "-o", f"{tmp}/full")
    check(rc == 0, f"train --full ({err.strip()[:200]})")
    if rc == 0:
        a, g = attrs(h5py, f"{tmp}/full/train_log.h5")
        b0, b1 = st_read(base), st_read(f"{tmp}/full/model.safetensors")
        worst, names = 0.0, [s(x) for x in g["delta/module"]]
        for i, mod in enumerate(names):
            W0, W1 = b0[mod + ".weight"].astype(np.float64), b1[mod + ".weight"].astype(np.float64)
            want = np.linalg.norm(W1 - W0) / np.linalg.norm(W0)
            worst = max(worst, abs(g["delta/ratio"][i] - want) / want)
        L = a["n_layer"]
        check(len(names) == 6 * L and worst < 1e-5 and [s(t) for t in g["delta/target"][:6]] ==
              ["q", "k", "v", "o", "fc_in", "fc_out"] and list(g["delta/layer"][:7]) == [0] * 6 + [1],
              f"--full: /delta = numpy ||W_ft - W_0||_F / ||W_0||_F for all {len(names)} linear weights "
              f"(max rel. diff {worst:.2g})")


def main():
    try:
        import h5py
    except ImportError:
        skip("train outputs", "h5py is not installed")
        return summary()
    if not os.path.exists(TSV) or not os.path.exists(TXT):
        skip("train outputs", "data/fixtures missing")
        return summary()
    with tempfile.TemporaryDirectory(prefix="lsc_train_outputs.") as tmp:
        body(tmp, h5py)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
