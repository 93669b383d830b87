#!/bin/sh
# test_train_cli.sh — the model subcommands end to end on tiny settings in a
# temporary directory: pretrain (tiny profile on data/fixtures/tiny.txt),
# train (LoRA on the supersense fixture and on text, --full), determinism
# (same seed → identical adapter bytes), exact resume (--stop-at + --resume
# = uninterrupted, byte for byte), eval (text and supersense, --json),
# merge/--unmerge (merged model = base + adapter in eval), generate
# (reproducible from the seed), train --synthetic --json, the adapter read
# back by `inspect` and `spectrum`, and bad input: missing/corrupt base,
# missing data (with the `make data` hint), unknown target, r <= 0 and
# r > min(in, out), a context above the model's, a NaN loss (exit 1 naming
# the step, the last checkpoint and earlier outputs intact).
# Needs $LSC_BIN (default build/lorascope); /usr/bin/python3 with h5py for
# the log checks (skipped without it). Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
PY=/usr/bin/python3
tmpdir train_cli
export OMP_NUM_THREADS=1
TINY=data/fixtures/tiny.txt
SS=data/fixtures/supersense_tiny.tsv

same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1 ($2 vs $3 differ)"; fi; }

if [ ! -f "$TINY" ] || [ ! -f "$SS" ]; then
    skip "train CLI end to end" "fixtures missing: $TINY, $SS"
    finish
fi

# ---- help ----
for c in pretrain train eval merge generate; do
    run "$c --help" 0 "$c" --help
    if grep -q "example" "$T/o"; then ok "$c --help has an example"; else bad "$c --help has no example"; fi
done

# ---- pretrain ----
run "pretrain tiny" 0 pretrain --profile tiny --steps 80 -o "$T/base.safetensors" --quiet
[ -f "$T/base.safetensors" ] && [ -f "$T/base.train_log.h5" ] && [ -f "$T/base.train_state.safetensors" ] \
    && ok "pretrain writes model, log and checkpoint" || bad "pretrain outputs missing: $(ls "$T")"
grep -q "validation loss" "$T/o" && ok "pretrain reports the validation loss" || bad "pretrain output: $(cat "$T/o")"
run "inspect base" 0 inspect "$T/base.safetensors"
grep -q "h.1.attn.q_proj.weight" "$T/o" && ok "base has DESIGN.md tensor names" || bad "base tensor names"
B="$T/base.safetensors"

# ---- train LoRA on supersense; determinism ----
TR="--base $B --task supersense --task-file $SS --targets q,v --rank 4 --steps 20 --batch 8 --lr 3e-3 --dropout 0.1 --quiet"
run "train lora supersense" 0 train $TR -o "$T/a1"
for f in adapter_config.json adapter_model.safetensors train_log.h5 train_state.safetensors; do
    [ -f "$T/a1/$f" ] || bad "train output lacks $f"
done
[ -f "$T/a1/adapter_model.safetensors" ] && ok "train writes a PEFT adapter directory"
grep -q "supersense test (29 items, seed 1): exact match" "$T/o" && grep -q "rank accuracy" "$T/o" && grep -q "majority" "$T/o" &&
    ok "train reports test exact match, rank accuracy and baselines" \
    || bad "train summary: $(cat "$T/o")"
run "train again (same seed)" 0 train $TR -o "$T/a2"
same "same seed -> identical adapter_model.safetensors" "$T/a1/adapter_model.safetensors" "$T/a2/adapter_model.safetensors"
same "same seed -> identical adapter_config.json" "$T/a1/adapter_config.json" "$T/a2/adapter_config.json"
run "train with 2 threads" 0 train $TR --threads 2 -o "$T/t2a"
run "train with 2 threads again" 0 train $TR --threads 2 -o "$T/t2b"
same "2 threads, same seed -> identical adapter" "$T/t2a/adapter_model.safetensors" "$T/t2b/adapter_model.safetensors"
run "train other seed" 0 train $TR --seed 2 -o "$T/a4"
if cmp -s "$T/a1/adapter_model.safetensors" "$T/a4/adapter_model.safetensors"; then
    bad "another seed gives the same adapter"; else ok "another seed gives another adapter"; fi

# ---- exact resume ----
run "train --stop-at 7" 0 train $TR --ckpt-every 5 --stop-at 7 -o "$T/a3"
grep -q "stopped at step 7/20" "$T/e" && ok "stop-at reports the step" || bad "stop-at: $(cat "$T/e")"
[ ! -f "$T/a3/adapter_model.safetensors" ] && ok "a stopped run writes no adapter yet" || bad "stopped run wrote an adapter"
run "train --resume" 0 train $TR --ckpt-every 5 --resume -o "$T/a3"
same "stopped + resumed adapter = uninterrupted, byte for byte" "$T/a1/adapter_model.safetensors" "$T/a3/adapter_model.safetensors"
run "resume without a checkpoint" 1 train $TR --resume -o "$T/none"
error_line_stderr "resume without a checkpoint" "train_state.safetensors" "no checkpoint"
run "resume with other options" 1 train $TR --lr 1e-3 --resume -o "$T/a3"
error_line_stderr "resume with other options" "different run configuration"

# ---- a killed pretraining (SIGKILL: no chance to save) resumes from its last --ckpt-every checkpoint ----
# (what experiments/lib.sh relies on with the profile's BASE_CKPT_EVERY)
run "pretrain tiny, 240 steps, uninterrupted" 0 pretrain --profile tiny --steps 240 --threads 1 -o "$T/k1.safetensors" --quiet
"$LSC" pretrain --profile tiny --steps 240 --threads 1 --ckpt-every 20 -o "$T/k2.safetensors" --quiet \
    >/dev/null 2>&1 &
kpid=$!
n=0
while [ ! -f "$T/k2.train_state.safetensors" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
kill -9 $kpid 2>/dev/null
wait $kpid 2>/dev/null
if [ -f "$T/k2.safetensors" ]; then
    skip "killed pretraining resumes" "the run finished before it could be killed"
else
    run "pretrain --resume after kill -9" 0 pretrain --profile tiny --steps 240 --threads 1 --ckpt-every 20 --resume \
        -o "$T/k2.safetensors" --quiet
    same "killed at a checkpoint + resumed = uninterrupted, byte for byte" "$T/k1.safetensors" "$T/k2.safetensors"
fi

# ---- the adapter read back ----
run "inspect adapter" 0 inspect "$T/a1" --base "$B"
grep -q "h.0.attn.q_proj" "$T/o" && grep -q "trainable%" "$T/o" && ok "inspect lists the modules" || bad "inspect: $(head -5 "$T/o")"
if "$LSC" help 2>/dev/null | grep -q "spectrum"; then
    run "spectrum of the adapter" 0 spectrum "$T/a1" -o "$T/s.h5"
    [ -f "$T/s.h5" ] && ok "spectrum wrote its file" || bad "spectrum output missing"
else
    skip "spectrum of the adapter" "the spectrum subcommand is not built"
fi

# ---- eval ----
run "eval supersense" 0 eval --base "$B" --adapter "$T/a1" --task supersense --task-file "$SS" --json-out "$T/e.json"
grep -q "majority class" "$T/o" && grep -q "%" "$T/o" && ok "eval prints accuracy and baselines" || bad "eval: $(cat "$T/o")"
run "eval lm, base and two adapters" 0 eval --base "$B" --adapter "$T/a1" "$T/a4" --data "$TINY" --windows 16 --json
[ "$(grep -c "$T/a" "$T/o")" -ge 2 ] && ok "eval lists every adapter" || bad "eval rows: $(cat "$T/o")"
tail -n 1 "$T/o" | grep -q '"perplexity"' && ok "eval --json - prints JSON last" || bad "eval json: $(tail -n 1 "$T/o")"

# ---- merge / unmerge ----
run "merge" 0 merge --base "$B" --adapter "$T/a1" -o "$T/merged.safetensors"
run "eval merged" 0 eval --base "$T/merged.safetensors" --data "$TINY" --windows 16 --json-out "$T/m.json"
run "eval base+adapter" 0 eval --base "$B" --adapter "$T/a1" --data "$TINY" --windows 16 --json-out "$T/ba.json"
run "unmerge" 0 merge --base "$T/merged.safetensors" --adapter "$T/a1" --unmerge -o "$T/unmerged.safetensors"
run "eval unmerged" 0 eval --base "$T/unmerged.safetensors" --data "$TINY" --windows 16 --json-out "$T/u.json"
run "eval base" 0 eval --base "$B" --data "$TINY" --windows 16 --json-out "$T/b.json"
if $PY -c 'import json,sys
m=json.load(open(sys.argv[1]))["val_loss"]; a=json.load(open(sys.argv[2]))["val_loss"]
u=json.load(open(sys.argv[3]))["val_loss"]; b=json.load(open(sys.argv[4]))["val_loss"]
print("merged %.7f base+adapter %.7f unmerged %.7f base %.7f" % (m, a, u, b))
sys.exit(0 if abs(m - a) < 1e-4 * abs(a) and abs(u - b) < 1e-4 * abs(b) else 1)' "$T/m.json" "$T/ba.json" "$T/u.json" "$T/b.json"; then
    ok "merged = base + adapter, unmerged = base (val loss to 1e-4)"; else bad "merge/unmerge losses differ"; fi

# ---- generate ----
run "generate" 0 generate --base "$B" --adapter "$T/a1" --prompt "It is a truth" --tokens 40 --seed 3
cp "$T/o" "$T/g1"
run "generate again" 0 generate --base "$B" --adapter "$T/a1" --prompt "It is a truth" --tokens 40 --seed 3
same "generate is reproducible from the seed" "$T/g1" "$T/o"
head -c 13 "$T/g1" | grep -q "It is a truth" && ok "generate starts with the prompt" || bad "generate: $(head -c 60 "$T/g1")"

# ---- full fine-tuning and text LoRA ----
run "train --full" 0 train --base "$B" --task lm --data "$TINY" --full --steps 10 --batch 4 --ctx 32 -o "$T/full" --quiet
[ -f "$T/full/model.safetensors" ] && ok "--full writes model.safetensors" || bad "--full output: $(ls "$T/full")"
run "train --full -o FILE" 0 train --base "$B" --task lm --data "$TINY" --full --steps 4 --batch 4 --ctx 32 \
    -o "$T/full2.safetensors" --log "$T/full2.h5" --quiet
[ -f "$T/full2.safetensors" ] && [ -f "$T/full2.h5" ] && ok "--full -o FILE.safetensors with --log" || bad "full2 outputs"
run "train lm lora rank-pattern" 0 train --base "$B" --task lm --data "$TINY" --rank-pattern q=4,fc_in=2 --rslora \
    --init gaussian --steps 6 --batch 4 --ctx 32 -o "$T/lm" --quiet
grep -q '"fc_in": 2' "$T/lm/adapter_config.json" && ok "rank_pattern reaches adapter_config.json" \
    || bad "rank pattern: $(tr -d '\n' <"$T/lm/adapter_config.json")"
# --rslora (issue 17): use_rslora in adapter_config.json and spectrum's scale = alpha/sqrt(r) per
# module (q: r=4, fc_in: r=2), where the plain run's is alpha/r
run "spectrum of the rslora adapter" 0 spectrum "$T/lm" -o "$T/lm_spec.h5"
if $PY - "$T/lm" "$T/lm_spec.h5" "$T/s.h5" "$T/a1" <<'PYEOF'
import h5py, json, math, sys
cfg = json.load(open(sys.argv[1] + "/adapter_config.json"))
assert cfg["use_rslora"] is True, cfg
a = cfg["lora_alpha"]
mods = h5py.File(sys.argv[2], "r")["modules"]
assert len(mods) > 0
for m, g in mods.items():
    r = g.attrs["rank"]
    assert r == (4 if "q_proj" in m else 2), (m, r)
    assert abs(g.attrs["scale"] - a / math.sqrt(r)) < 1e-6 * a, (m, g.attrs["scale"], a, r)
plain = json.load(open(sys.argv[4] + "/adapter_config.json"))
assert plain["use_rslora"] is False
for m, g in h5py.File(sys.argv[3], "r")["modules"].items():
    assert abs(g.attrs["scale"] - plain["lora_alpha"] / g.attrs["rank"]) < 1e-6, (m, g.attrs["scale"])
PYEOF
then ok "--rslora: use_rslora true, spectrum scale alpha/sqrt(r) per module (plain run: alpha/r)"
else bad "--rslora scaling in adapter_config.json / spectrum scale"; fi

# ---- the log ----
if $PY -c 'import h5py' 2>/dev/null; then
    if $PY -c 'import h5py,sys,math
f=h5py.File(sys.argv[1],"r")
n=f.attrs["steps"]; l=f["train/loss"][:]; v=f["val/loss"][:]; s=f["val/step"][:]
assert len(l)==n==20 and len(v)==len(s)==10 and s[-1]==20, (n,len(l),len(v))
assert all(math.isfinite(x) for x in l)
for k in ("rank","alpha","lr","seed","task","command","wall_time_s","accuracy","majority_baseline","base_sha256"):
    assert k in f.attrs, k
print("log ok")' "$T/a1/train_log.h5"; then ok "train_log.h5: loss per step, validation, config, wall time"
    else bad "train_log.h5 layout"; fi
else
    skip "train_log.h5: loss per step, validation, config, wall time" "no h5py for $PY"
fi

# ---- synthetic benchmark ----
run "synthetic lora --json" 0 train --synthetic --layers 2 --heads 2 --embd 32 --ctx 16 --batch 2 --steps 3 --warmup 1 \
    --rank 4 --targets q,v --threads 1 --seed 1 --json
if tail -n 1 "$T/o" | $PY -c 'import json,sys
j=json.loads(sys.stdin.read())
for k in ("tokens_per_s","step_ms_median","gflops","peak_rss_mb","wall_s","predicted_mb"): assert k in j and j[k] > 0, k
assert j["mode"] == "lora"'; then ok "synthetic --json: the last line has the benchmark fields"; else
    bad "synthetic json: $(tail -n 1 "$T/o")"; fi
run "synthetic full" 0 train --synthetic --layers 2 --heads 2 --embd 32 --ctx 16 --batch 2 --steps 2 --full --json
tail -n 1 "$T/o" | grep -q '"mode":"full"' && ok "synthetic --full" || bad "synthetic full: $(tail -n 1 "$T/o")"

# ---- bad input ----
run "missing base" 1 train --base "$T/nope.safetensors" --task supersense --task-file "$SS" -o "$T/x"
error_line_stderr "missing base" "nope.safetensors"
printf 'not a safetensors file at all' >"$T/junk.safetensors"
run "corrupt base" 1 train --base "$T/junk.safetensors" --task supersense --task-file "$SS" -o "$T/x"
error_line_stderr "corrupt base" "junk.safetensors"
run "missing data" 1 train --base "$B" --task lm --data "$T/nodata.txt" -o "$T/x"
error_line_stderr "missing data" "nodata.txt"
mkdir -p "$T/cwd/bin"
cp "$LSC" "$T/cwd/bin/lorascope"
(cd "$T/cwd" && ./bin/lorascope pretrain --profile quick -o b.safetensors >"$T/o" 2>"$T/e"); rc=$?
[ $rc -eq 1 ] && ok "default corpus missing: exit 1" || bad "default corpus missing: exit $rc"
error_line_stderr "default corpus missing" "make data" "pretrain_train.txt"
printf 'word\tlabel\textra\n' >"$T/bad.tsv"
run "corrupt task file" 1 train --base "$B" --task supersense --task-file "$T/bad.tsv" -o "$T/x"
error_line_stderr "corrupt task file" "bad.tsv"
run "unknown target" 2 train --base "$B" --task supersense --task-file "$SS" --targets q,zz -o "$T/x"
error_line_stderr "unknown target" "zz"
run "rank 0" 2 train --base "$B" --task supersense --task-file "$SS" --rank 0 -o "$T/x"
error_line_stderr "rank 0" "rank"
run "rank above min(in,out)" 2 train --base "$B" --task supersense --task-file "$SS" --rank 49 -o "$T/x"
error_line_stderr "rank above min(in,out)" "49" "min(in, out) = 48"
run "context above the model's" 2 train --base "$B" --task lm --data "$TINY" --ctx 65 -o "$T/x"
error_line_stderr "context above the model's" "65" "n_ctx = 64"
run "eval context above the model's" 2 eval --base "$B" --data "$TINY" --ctx 100
run "malformed --ctx" 2 train --base "$B" --task lm --data "$TINY" --ctx 16x -o "$T/x"
error_line_stderr "malformed --ctx" "--ctx" "16x"
run "eval malformed --ctx" 2 eval --base "$B" --data "$TINY" --ctx x16
error_line_stderr "eval malformed --ctx" "--ctx" "x16"
run "synthetic malformed --lr" 2 train --synthetic --layers 2 --heads 2 --embd 32 --ctx 16 --batch 2 --steps 2 --lr 1e-3x
error_line_stderr "synthetic malformed --lr" "--lr" "1e-3x"
run "unknown task" 2 train --base "$B" --task poetry -o "$T/x"
run "unknown profile" 2 pretrain --profile huge -o "$T/x.safetensors"
run "synthetic bad shape" 2 train --synthetic --layers 2 --heads 3 --embd 32 --ctx 16 --batch 2 --steps 2 --full
run "unwritable output" 1 train $TR -o /proc/lsc_cannot_write
[ ! -e "$T/x" ] && ok "failed runs left no output directory" || bad "a failed run created $T/x"

# NaN: full fine-tuning with a huge learning rate overflows at step 2; the
# run writes a checkpoint every step. An earlier good run's outputs in the
# same directory must survive, and the step-1 checkpoint must stay intact.
run "good full run" 0 train --base "$B" --task lm --data "$TINY" --full --steps 4 --batch 4 --ctx 32 -o "$T/nan" --quiet
cp "$T/nan/model.safetensors" "$T/nan_model.before"
cp "$T/nan/train_log.h5" "$T/nan_log.before"
run "NaN loss" 1 train --base "$B" --task lm --data "$TINY" --full --steps 10 --batch 4 --ctx 32 --lr 1e30 \
    --ckpt-every 1 --eval-every 5 -o "$T/nan" --quiet
error_line_stderr "NaN loss" "step 2" "NaN" "last good checkpoint: step 1"
same "NaN run left the earlier model intact" "$T/nan_model.before" "$T/nan/model.safetensors"
same "NaN run left the earlier log intact" "$T/nan_log.before" "$T/nan/train_log.h5"
run "resume from the last good checkpoint" 0 inspect "$T/nan/train_state.safetensors"
grep -q "metadata step = 1\$" "$T/o" && ok "the kept checkpoint is at step 1" || bad "checkpoint: $(grep -i step "$T/o" | head -3)"
ls "$T"/nan/*.tmp.* >/dev/null 2>&1 && bad "temporary files left behind" || ok "no temporary files left behind"

finish
