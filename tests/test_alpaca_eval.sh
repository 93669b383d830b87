#!/bin/sh
# test_alpaca_eval.sh — instruction tuning evaluated like the supersense task
# (LoRA issue 13): `train --format alpaca --task-test FILE.json` scores the
# test records at the end as a classification over the training records'
# outputs (lib/instruct_eval.c) and writes the attributes and /eval datasets
# of a supersense run (h5py checks: accuracy, rank_accuracy, label_loss,
# eval_items, majority_baseline recomputed from the JSON, suffix4_baseline
# NaN, correct/rank_correct = pred/rank_pred against the gold labels);
# `eval --format alpaca` on the same adapter gives the same numbers; bad
# input (--eval-dev without --valid, a test output outside the training
# labels). Records: data/fixtures/supersense_tiny.tsv through
# data/supersense_alpaca.py. Needs $LSC_BIN (default build/lorascope) and
# /usr/bin/python3 with h5py (the HDF5 checks are skipped without it).
# Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
PY=/usr/bin/python3
tmpdir alpaca_eval
export OMP_NUM_THREADS=1
SS=data/fixtures/supersense_tiny.tsv

head -n 240 "$SS" >"$T/tr.tsv"
sed -n 241,270p "$SS" >"$T/dv.tsv"
tail -n 30 "$SS" >"$T/te.tsv"
for s in tr dv te; do $PY data/supersense_alpaca.py "$T/$s.tsv" "$T/$s.json" || bad "supersense_alpaca.py $s"; done
B=$T/base.safetensors
run "pretrain a byte-level base with a context for the template" 0 pretrain --profile tiny --ctx 320 --steps 20 \
    --data data/fixtures/tiny.txt --quiet -o "$B"
run "train --format alpaca --task-test --eval-dev" 0 train --base "$B" --format alpaca --data "$T/tr.json" \
    --valid "$T/dv.json" --task-test "$T/te.json" --eval-sample 12 --eval-seed 3 --eval-dev --steps 6 --batch 4 \
    --targets q,v --rank 2 --quiet -o "$T/ad"
grep -q "instruction test (12 items, seed 3): exact match" "$T/o" && grep -q "instruction dev (12 items)" "$T/o"
verdict "train prints the test and dev evaluations"

if $PY -c 'import h5py' 2>/dev/null; then
    $PY - "$T" <<'EOF' >"$T/py.out" 2>&1
import json, math, sys
import h5py
T = sys.argv[1]
tr = [r["output"] for r in json.load(open(T + "/tr.json"))]
te = [r["output"] for r in json.load(open(T + "/te.json"))]
labels = sorted(set(tr), key=lambda s: s.encode())
with h5py.File(T + "/ad/train_log.h5") as f:
    a = f.attrs
    for k in ("accuracy", "rank_accuracy", "label_loss", "eval_items", "majority_baseline", "suffix4_baseline",
              "dev_accuracy", "dev_rank_accuracy", "dev_label_loss", "dev_eval_items"):
        assert k in a, "missing attribute " + k
    assert a["eval_items"] == 12 and a["dev_eval_items"] == 12, (a["eval_items"], a["dev_eval_items"])
    assert math.isnan(a["suffix4_baseline"]), a["suffix4_baseline"]
    assert math.isfinite(a["label_loss"]) and a["label_loss"] > 0
    names = [x.decode() for x in f["/eval/labels"][:]]
    assert names == labels, (names, labels)
    ev = {k: f["/eval/test/" + k][:] for k in ("item", "correct", "rank_correct", "pred", "rank_pred")}
    assert all(len(v) == 12 for v in ev.values())
    gold = [labels.index(te[i]) for i in ev["item"]]
    assert list(ev["correct"]) == [int(p == g) for p, g in zip(ev["pred"], gold)]
    assert list(ev["rank_correct"]) == [int(p == g) for p, g in zip(ev["rank_pred"], gold)]
    assert abs(a["accuracy"] - sum(ev["correct"]) / 12) < 1e-12
    assert abs(a["rank_accuracy"] - sum(ev["rank_correct"]) / 12) < 1e-12
    counts = [tr.count(l) for l in labels]
    maj = counts.index(max(counts))            # ties: the lowest index
    assert abs(a["majority_baseline"] - sum(g == maj for g in gold) / 12) < 1e-12
    assert len(f["/eval/dev/item"][:]) == 12
    print("ok", a["accuracy"], a["rank_accuracy"], a["label_loss"])
EOF
    grep -q '^ok' "$T/py.out"
    verdict "train_log.h5: accuracy, rank_accuracy, label_loss, eval_items, majority recomputed, suffix NaN, /eval/test and /eval/dev ($(tail -n 1 "$T/py.out"))"
else
    skip "train_log.h5 checks" "/usr/bin/python3 has no h5py"
fi

run "eval --format alpaca" 0 eval --base "$B" --adapter "$T/ad" --format alpaca --data "$T/tr.json" \
    --task-test "$T/te.json" --eval-sample 12 --eval-seed 3 --json-out "$T/eval.json"
if $PY -c 'import h5py' 2>/dev/null; then
    $PY - "$T" <<'EOF'
import json, sys
import h5py
T = sys.argv[1]
j = json.load(open(T + "/eval.json"))
a = h5py.File(T + "/ad/train_log.h5").attrs
ok = j["task"] == "alpaca" and j["items"] == 12 and j["suffix_accuracy"] is None
ok = ok and all(abs(j[k] - a[k]) < 1e-9 for k in ("accuracy", "rank_accuracy", "label_loss"))
ok = ok and abs(j["majority_accuracy"] - a["majority_baseline"]) < 1e-12
sys.exit(0 if ok else 1)
EOF
    verdict "eval --format alpaca on the adapter = the numbers train wrote"
fi

expect_error 2 "needs --valid\|give --valid" "--eval-dev with --format alpaca and no --valid is refused" -- "$LSC" \
    train --base "$B" --format alpaca --data "$T/tr.json" --task-test "$T/te.json" --eval-dev --steps 2 -o "$T/bad1"
printf '[{"instruction":"x","input":"y","output":"noun.nothing"}]\n' >"$T/other.json"
expect_error 1 'output "noun.nothing" is not a label of' "a test output outside the training labels is refused" \
    -- "$LSC" train --base "$B" --format alpaca --data "$T/tr.json" --task-test "$T/other.json" --steps 2 -o "$T/bad2"
finish
