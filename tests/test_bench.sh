#!/bin/sh
# test_bench.sh — smoke test of `lorascope bench` (analysis/bench.c): every benchmark runs with
# --quick, exits 0 and prints sane JSON as its last line; bad usage gives exit 2; the FLOP model of
# `bench model` agrees with the one of `train --synthetic`. Benchmarks are measurements, not timed
# tests: nothing here checks a speed. One PASS/FAIL/SKIP line per check, then
# "N passed, N failed, N skipped" (tests/lib.sh).
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
PY=/usr/bin/python3
tmpdir bench
# jcheck NAME FILE PYTHON-EXPR : the expression over d (the JSON of FILE's last line) is true
jcheck() {
    "$PY" - "$2" "$3" <<'EOF' >"$T/jcheck.out" 2>&1
import json, math, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
d = json.loads(lines[-1])
ok = eval(sys.argv[2], {"math": math, "d": d, "all": all, "len": len, "abs": abs})
sys.exit(0 if ok else 1)
EOF
    st=$?
    check "$1" $st
    [ $st -eq 0 ] || sed 's/^/    /' "$T/jcheck.out" | head -n 5
}

if [ ! -x "$LSC" ]; then
    bad "$LSC not built"; finish
fi
if [ ! -x "$PY" ]; then
    skip "lorascope bench" "$PY absent: the JSON checks need it"; finish
fi

# ---- each benchmark, --quick ----
for b in sgemm lowrank phi table7 tensors; do
    "$LSC" bench $b --quick --threads 1 --json >"$T/$b.out" 2>"$T/$b.err"
    check "bench $b --quick exits 0" $?
    jcheck "bench $b --quick: last line is JSON naming the benchmark" "$T/$b.out" \
        "d['bench'] == '$b' and d['wall_s'] > 0 and d['peak_rss_mb'] > 0 and d['threads'] == 1"
done
jcheck "sgemm: 9 GEMMs (3 weights x fwd/dinp/dW) with finite GFLOP/s, min <= median <= max" \
    "$T/sgemm.out" \
    "len(d['shapes'][0]['gemms']) == 9 and all(0 < g['gflops_min'] <= g['gflops_median'] <= g['gflops_max'] < 1e5 for g in d['shapes'][0]['gemms'])"
jcheck "sgemm: the limit lies between the slowest and the fastest GEMM" "$T/sgemm.out" \
    "min(g['gflops_median'] for g in d['shapes'][0]['gemms']) * 0.999 <= d['shapes'][0]['limit_full_gflops'] <= max(g['gflops_median'] for g in d['shapes'][0]['gemms']) * 1.001"
jcheck "lowrank: singular values of both paths agree to 1e-10" "$T/lowrank.out" \
    "len(d['cases']) == 2 and all(c['max_rel_diff'] <= 1e-10 and c['speedup'] > 0 for c in d['cases'])"
jcheck "phi: prefix-sum grid equals the naive definition (1e-12)" "$T/phi.out" \
    "d['naive_max_abs_diff'] < 1e-12 and 0 <= d['phi_r1_r1'] <= 1 and 0 < d['random_phi_mean'] < 1"
jcheck "table7: top-k and full SVD agree to 1e-8" "$T/table7.out" \
    "all(c['sigma_max_rel_diff'] <= 1e-8 and c['proj_base_rel_diff'] <= 1e-8 for c in d['cases'])"
jcheck "table7: proj_base >= proj_delta, proj_random (W's own directions carry the most)" \
    "$T/table7.out" \
    "all(c['proj_base'] >= c['proj_delta'] and c['proj_base'] >= c['proj_random'] for c in d['cases'])"

# ---- the FLOP / memory model ----
SH="--layers 12 --heads 12 --embd 768 --ctx 128 --batch 4"
"$LSC" bench model $SH --full --json >"$T/mf.out" 2>&1
check "bench model --full exits 0" $?
"$LSC" bench model $SH --rank 8 --targets q,v --json >"$T/ml.out" 2>&1
check "bench model --rank 8 --targets q,v exits 0" $?
# full: 3 x (24 N C^2 L + 4 B T^2 C L + 2 N C V), N = B T = 512
jcheck "model: full-FT FLOPs = 3 x (24NC^2L + 4BT^2CL + 2NCV)" "$T/mf.out" \
    "abs(d['flops_per_step'] - 3 * (24*512*768**2*12 + 4*4*128**2*768*12 + 2*512*768*256)) < 1"
"$PY" - "$T/mf.out" "$T/ml.out" <<'EOF'
import json, sys
f = json.loads(open(sys.argv[1]).read().splitlines()[-1])
l = json.loads(open(sys.argv[2]).read().splitlines()[-1])
r = l["flops_per_step"] / f["flops_per_step"]
# LoRA moments: 2 x 4 bytes per adapter parameter, 12 layers x 2 modules x 8 x (768 + 768)
n = 12 * 2 * 8 * (768 + 768)
ok = 0.6 < r < 0.72 and l["n_trainable"] == n and f["mem_adamw_mb"] > 100 * l["mem_lora_mb"]
sys.exit(0 if ok else 1)
EOF
check "model: LoRA r8 q,v costs ~2/3 of full FT; adapter-sized optimiser state" $?

# the train command's FLOP model (train.c) and bench.c's agree on the same shape
if "$LSC" train --help 2>/dev/null | grep -q -- '--synthetic'; then
    TS="--layers 2 --heads 2 --embd 64 --ctx 32 --batch 2"
    for how in "--full" "--rank 4 --targets q,k,v,o"; do
        tag=$(echo "$how" | tr -d ' -,')
        # shellcheck disable=SC2086
        "$LSC" train --synthetic $TS --vocab 256 --steps 1 --warmup 0 --threads 1 $how --json \
            >"$T/t_$tag.out" 2>"$T/t_$tag.err"
        check "train --synthetic $how --json exits 0" $?
        # shellcheck disable=SC2086
        "$LSC" bench model $TS --vocab 256 $how --json >"$T/m_$tag.out" 2>&1
        "$PY" - "$T/t_$tag.out" "$T/m_$tag.out" <<'EOF'
import json, sys
t = json.loads(open(sys.argv[1]).read().splitlines()[-1])
m = json.loads(open(sys.argv[2]).read().splitlines()[-1])
# train prints %.6g: agree to its printed precision
sys.exit(0 if abs(t["flops_per_step"] - m["flops_per_step"]) <= 1e-5 * m["flops_per_step"] else 1)
EOF
        check "FLOP model of train --synthetic ($how) = bench model's" $?
    done
else
    skip "FLOP model of train --synthetic = bench model's" "train --synthetic is not available"
fi

# ---- usage errors ----
"$LSC" bench >/dev/null 2>&1; check "bench without a benchmark: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench nosuch >/dev/null 2>&1; check "bench nosuch: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench sgemm --threads 0 >/dev/null 2>&1; check "bench sgemm --threads 0: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench sgemm --shape X >/dev/null 2>&1; check "bench sgemm --shape X: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench model --heads 5 --embd 64 >/dev/null 2>&1; check "bench model, heads not dividing embd: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench model --targets q,zz >/dev/null 2>&1; check "bench model --targets q,zz: exit 2" $([ $? -eq 2 ]; echo $?)
"$LSC" bench --help >"$T/help.out" 2>&1
check "bench --help: exit 0 with an example" $([ $? -eq 0 ] && grep -q 'example' "$T/help.out"; echo $?)

finish
