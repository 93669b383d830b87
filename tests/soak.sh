#!/bin/sh
# tests/soak.sh — the crash-consistency soak: a short LoRA training run with a
# checkpoint every step is killed with kill -9 at random moments SOAK_KILLS
# times (default 50; `make test` runs 5) and resumed (--resume, or afresh when
# it died before its first checkpoint) each time until it finishes; every
# finished run must leave adapter_model.safetensors and adapter_config.json
# byte-identical (sha256) to an uninterrupted run's, and no temporaries
# (*.tmp*) in its output directory nor anything else beside it (each one is
# named). When a run finishes before all the kills are spent, the next round
# starts afresh in a new directory. The kill moments come from SOAK_SEED
# (printed; default: random) so a failure replays with the same seed: the
# moments are the same, the machine's speed decides where they land.
# Needs $LSC_BIN (default build/lorascope) and data/fixtures. One PASS/FAIL
# line per check, then "N passed, N failed, N skipped". Runs from anywhere.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
KILLS=${SOAK_KILLS:-50}
SEED=${SOAK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
SS=data/fixtures/supersense_tiny.tsv
tmpdir soak
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
echo "soak: $KILLS kills, SOAK_SEED=$SEED (replay: SOAK_SEED=$SEED SOAK_KILLS=$KILLS sh tests/soak.sh)"
[ -f "$SS" ] || { skip "crash-consistency soak" "fixture missing: $SS"; finish; }

"$LSC" pretrain --profile tiny --steps 20 --threads 1 -o "$T/base.safetensors" --quiet >"$T/o" 2>&1 ||
    { bad "pretrain the soak's base: $(tail -n 3 "$T/o")"; finish; }
TR="train --base $T/base.safetensors --task supersense --task-file $SS --targets q,v --rank 4 --steps 40
    --batch 8 --lr 3e-3 --eval-sample 4 --ckpt-every 1 --threads 1 --quiet"

# ---- the uninterrupted run ----
t0=$(date +%s%N)
# shellcheck disable=SC2086
"$LSC" $TR -o "$T/ref" >"$T/o" 2>&1 || { bad "uninterrupted run: $(tail -n 3 "$T/o")"; finish; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "soak: the uninterrupted run takes ${ms} ms"
FILES="adapter_model.safetensors adapter_config.json"
( cd "$T/ref" && sha256sum $FILES ) >"$T/ref.sha256" || { bad "uninterrupted run lacks $FILES"; finish; }

# delay K: the K-th kill moment in ms, uniform in [0, 1.2 x the uninterrupted run's time)
delay() { awk -v s="$SEED" -v k="$1" -v ms="$ms" 'BEGIN { srand(s); for (i = 0; i < k; i++) r = rand();
    printf "%d.%03d", int(r * ms * 1.2) / 1000, int(r * ms * 1.2) % 1000 }'; }

# finished DIR ROUND: the round's checks
finished() {
    if ( cd "$1" && sha256sum -c --quiet "$T/ref.sha256" ) >"$T/c" 2>&1; then
        ok "round $2: finished adapter = the uninterrupted run's, byte for byte"
    else
        bad "round $2: finished adapter differs from the uninterrupted run's: $(tr '\n' ' ' < "$T/c")"
    fi
    left=$(cd "$1" && find . -name '*.tmp*' | sort | tr '\n' ' ')
    other=$(cd "$T/runs" && ls -A | grep -vx "$(basename "$1")" | tr '\n' ' ')
    if [ -z "$left" ] && [ -z "$other" ]; then ok "round $2: no temporaries left"
    else bad "round $2: left behind in $1: ${left:-none}; beside it: ${other:-none}"; fi
}

# ---- kill -9 at random moments, resume until finished ----
mkdir -p "$T/runs"
round=1; kills=0; runs=0; out=$T/runs/r1
while :; do
    resume=
    [ -f "$out/train_state.safetensors" ] && resume=--resume
    # shellcheck disable=SC2086
    "$LSC" $TR $resume -o "$out" >"$T/run.log" 2>&1 &
    pid=$!
    runs=$((runs + 1))
    if [ $kills -lt "$KILLS" ]; then
        # a fresh moment per run: the same one again would never land once it falls after the run's end
        sleep "$(delay $runs)"
        kill -9 $pid 2>/dev/null
    fi
    { wait $pid; } 2>/dev/null
    rc=$?
    if [ $rc -eq 137 ]; then
        kills=$((kills + 1))
        continue
    fi
    if [ $rc -ne 0 ]; then
        bad "round $round: run $runs ($resume) exit $rc: $(tail -n 3 "$T/run.log" | tr '\n' ' ')"
        break
    fi
    finished "$out" $round
    [ $kills -ge "$KILLS" ] && break
    [ $runs -ge $((KILLS * 40 + 40)) ] && break   # never an endless loop: "only N of KILLS kills"
    rm -rf "$out"
    round=$((round + 1)); out=$T/runs/r$round
done
echo "soak: $kills kills survived in $round rounds ($runs runs), SOAK_SEED=$SEED"
[ $kills -ge "$KILLS" ] && ok "$kills kill -9s, every run resumed" || bad "only $kills of $KILLS kills"
finish
