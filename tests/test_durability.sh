#!/bin/sh
# test_durability.sh — issue 15, "nothing lost, nothing half-written":
#  - a symlink planted at the old predictable temporary names (OUT.tmp,
#    OUT.tmp.<pid>) is never followed (its target untouched) by spectrum,
#    regress --out and report;
#  - two concurrent report (and spectrum) runs to the same output, 10
#    times: the result is always one whole run's output;
#  - disk full, for every writing subcommand (spectrum, subspace, amplify,
#    collect, report, regress --out / --write-baseline, merge, pretrain,
#    train, generate --dump-logits): exit 1, one error line naming the file
#    and "No space left on device", no temporary left, the previous file
#    intact — on a full tmpfs when mount works here (we are root), and
#    with the LD_PRELOAD shim tests/faultinj.c everywhere (it says which);
#  - the adapter directory changes in one step: train killed at every
#    rename in turn (faultinj's FAULTINJ_KILL_RENAME) leaves the old
#    adapter or the new one, never new weights with the old config;
#  - train --resume removes an interrupted run's orphaned temporaries
#    (only "<file>.tmp.XXXXXX" of its own files) and nothing else.
# Needs $LSC_BIN (default build/lorascope), cc, /usr/bin/python3 with
# numpy and h5py.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
. tests/lib.sh
LSC=${LSC_BIN:-$ROOT/build/lorascope}
PY=/usr/bin/python3
tmpdir durability
MNT=""
cleanup() { [ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# ---- fixtures ----
if ! $PY tests/make_adapters.py suite "$T/s" >/dev/null 2>"$T/gen.err"; then
    bad "generate synthetic adapters: $(head -n 3 "$T/gen.err")"; finish
fi
S=$T/s
if ! cc -shared -fPIC -o "$T/faultinj.so" tests/faultinj.c -ldl 2>"$T/cc.err"; then
    bad "build tests/faultinj.c: $(head -n 3 "$T/cc.err")"; finish
fi
# an ASan build's runtime must come first in LD_PRELOAD
ASAN_RT=$(ldd "$LSC" 2>/dev/null | awk '/libasan/ { print $3 }')
FI=${ASAN_RT:+$ASAN_RT:}$T/faultinj.so
B=$T/base.safetensors
"$LSC" pretrain --profile tiny --steps 2 -o "$B" --quiet >/dev/null 2>"$T/e" || { bad "pretrain a base: $(cat "$T/e")"; finish; }
TR="--base $B --data data/fixtures/tiny.txt --targets q,v --steps 3 --batch 2 --quiet"
"$LSC" train $TR --rank 2 --alpha 4 -o "$T/ad_old" >/dev/null 2>"$T/e" || { bad "train an adapter: $(cat "$T/e")"; finish; }
"$LSC" train $TR --rank 4 --alpha 16 -o "$T/ad_new" >/dev/null 2>"$T/e" || { bad "train an adapter: $(cat "$T/e")"; finish; }
# a results directory: one study file with two /summary metrics
REP=$T/rep; mkdir -p "$REP"
"$LSC" spectrum "$S/a8" -o "$T/sp_a8.h5" >/dev/null && "$LSC" spectrum "$S/a4" -o "$T/sp_a4.h5" >/dev/null &&
    cp "$T/sp_a8.h5" "$REP/table6_rank.h5" &&
    $PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); g=f.require_group('summary'); g.attrs['metrics']='acc\nloss'; g.attrs['acc']=0.5; g.attrs['loss']=1.25" "$REP/table6_rank.h5" &&
    "$LSC" regress --write-baseline "$T/base.json" --current "$REP" >/dev/null || { bad "make a results directory"; finish; }
printf 'attr\tprofile\ttiny\nmerge\tspec\t%s\n' "$T/sp_a8.h5" >"$T/m.tsv"

# the writing subcommands, "NAME|OUTPUT|ARGS" (OUTPUT under $D; @ is $D)
cases() {
    cat <<EOF
spectrum|sp.h5|spectrum $S/a8 -o @/sp.h5
subspace|sub.h5|subspace $S/a8 $S/a4 -o @/sub.h5
amplify|amp.h5|amplify $S/a8 --base $S/base_a.safetensors -o @/amp.h5
collect|st.h5|collect $T/m.tsv -o @/st.h5
report|report.html|report $REP -o @/report.html
regress --out|r.json|regress --baseline $T/base.json --current $REP --out @/r.json
regress --write-baseline|b.json|regress --write-baseline @/b.json --current $REP
merge|merged.safetensors|merge --base $B --adapter $T/ad_old -o @/merged.safetensors
pretrain|p.safetensors|pretrain --profile tiny --steps 2 --quiet -o @/p.safetensors
train|run/adapter_model.safetensors|train $TR --rank 4 -o @/run
generate --dump-logits|lg.txt|generate --base $B --prompt x --tokens 2 --dump-logits @/lg.txt
EOF
}

# ---- symlinks at the old predictable names are never followed ----
echo "victim" >"$T/victim"
for c in spectrum regress report; do
    O=$T/ln_$c.out
    case $c in
        spectrum) set -- spectrum "$S/a8" -o "$O";;
        regress)  set -- regress --baseline "$T/base.json" --current "$REP" --out "$O";;
        report)   set -- report "$REP" -o "$O";;
    esac
    ln -s "$T/victim" "$O.tmp"
    # exec keeps the shell's pid: OUT.tmp.<pid> is planted for the very process
    sh -c 'ln -s "$1" "$2.tmp.$$"; shift 2; exec "$@"' sh "$T/victim" "$O" "$LSC" "$@" >"$T/o" 2>"$T/e"
    rc=$?
    if [ $rc = 0 ] && [ "$(cat "$T/victim")" = victim ] && [ -f "$O" ] && [ ! -L "$O" ] && [ -s "$O" ]; then
        ok "$c: symlinks at OUT.tmp and OUT.tmp.<pid> not followed, their target untouched, OUT written"
    else bad "$c: exit $rc, victim now '$(head -c 40 "$T/victim")' ($(head -n 2 "$T/e"))"; fi
    rm -f "$O".tmp*   # the planted links
done

# ---- two concurrent runs to one output, 10 times ----
# the page's date pinned, so that a minute turning over between runs changes nothing
export SOURCE_DATE_EPOCH=1700000000
"$LSC" report "$REP" -o "$T/refA.html" --title A >/dev/null && "$LSC" report "$REP" -o "$T/refB.html" --title B >/dev/null
grep -q "2023-11-14 22:13 UTC" "$T/refA.html" && grep -q "2023-11-14 22:13 UTC" "$T/refA.md" &&
    ok "report: SOURCE_DATE_EPOCH=1700000000 dates the page 2023-11-14 22:13 UTC" ||
    bad "report: SOURCE_DATE_EPOCH not used for the page's date"
nbad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    "$LSC" report "$REP" -o "$T/cc.html" --title A >/dev/null 2>&1 & p1=$!
    "$LSC" report "$REP" -o "$T/cc.html" --title B >/dev/null 2>&1 & p2=$!
    wait $p1; wait $p2
    # each file whole from one run (the pair may come from the two runs)
    { cmp -s "$T/cc.html" "$T/refA.html" || cmp -s "$T/cc.html" "$T/refB.html"; } &&
        { cmp -s "$T/cc.md" "$T/refA.md" || cmp -s "$T/cc.md" "$T/refB.md"; } || nbad=$((nbad + 1))
done
[ $nbad = 0 ] && ok "report: 10 x two concurrent runs to one output, each result one whole run's page" ||
    bad "report: $nbad of 10 concurrent results are no run's whole page"
nbad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    "$LSC" spectrum "$S/a8" -o "$T/cc.h5" >/dev/null 2>&1 & p1=$!
    "$LSC" spectrum "$S/a4" -o "$T/cc.h5" >/dev/null 2>&1 & p2=$!
    wait $p1; wait $p2
    $PY - "$T/cc.h5" "$T/sp_a8.h5" "$T/sp_a4.h5" <<'EOF' || nbad=$((nbad + 1))
import sys, h5py, numpy as np
def tree(p):
    out = {}
    with h5py.File(p, 'r') as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return str(f.attrs['adapter']), out
a, got = tree(sys.argv[1])
for ref in sys.argv[2:]:
    b, want = tree(ref)
    if a == b and got.keys() == want.keys() and all(np.array_equal(got[k], want[k], equal_nan=True) if
                                                   got[k].dtype.kind == 'f' else np.array_equal(got[k], want[k]) for k in got):
        sys.exit(0)
sys.exit(1)
EOF
done
[ $nbad = 0 ] && ok "spectrum: 10 x two concurrent runs to one output, each result one whole run's file" ||
    bad "spectrum: $nbad of 10 concurrent results are no run's whole file"
[ -z "$(find "$T" -name '*.tmp.*')" ] && ok "no temporary left by the concurrent runs" || bad "left: $(find "$T" -name '*.tmp.*')"

# ---- disk full ----
# full_case HOW NAME OUT ARGS: OUT holds "old" (train: an older adapter) before the run
full_case() {
    how=$1; nm=$2; out=$3; shift 3
    "$@" >"$T/o" 2>"$T/e"
    rc=$?
    lines=$(grep -c . "$T/e")
    left=$(find "$D" -name '*.tmp.*')
    case $nm in train) same=$(cmp -s "$D/run/adapter_model.safetensors" "$T/ad_old/adapter_model.safetensors" &&
                             cmp -s "$D/run/adapter_config.json" "$T/ad_old/adapter_config.json" && echo y);;
                *) same=$([ "$(cat "$D/$out" 2>/dev/null)" = old ] && echo y);; esac
    if [ $rc = 1 ] && [ "$lines" -le 2 ] && head -n 1 "$T/e" | grep -q "No space left on device" &&
        head -n 1 "$T/e" | grep -qF "$D/" && [ -z "$left" ] && [ "$same" = y ]; then
        ok "$how, $nm: exit 1, '$(head -n 1 "$T/e" | sed "s|$D/||")', no temporary, previous file intact"
    else
        bad "$how, $nm: exit $rc, $lines stderr lines ($(head -n 2 "$T/e" | tr '\n' ' ')), left [$left], previous intact: ${same:-no}"
    fi
}
# prepare_outputs: "old" at every output, an older adapter in run/
prepare_outputs() {
    mkdir -p "$D/run" && cp "$T/ad_old/adapter_model.safetensors" "$T/ad_old/adapter_config.json" "$D/run/"
    cases | while IFS='|' read -r nm out args; do [ "$nm" = train ] || echo old >"$D/$out"; done
}
# run_cases HOW [ENV...]: every case (those named in $ONLY when set)
run_cases() {
    how=$1; shift
    cases | grep -E "^(${ONLY:-.*})\|" | while IFS='|' read -r nm out args; do
        # shellcheck disable=SC2086
        full_case "$how" "$nm" "$out" "$@" "$LSC" $(echo "$args" | sed "s|@|$D|g")
    done >"$T/cases.out"
    cat "$T/cases.out"
    pass=$((pass + $(grep -c '^PASS' "$T/cases.out"))); fail=$((fail + $(grep -c '^FAIL' "$T/cases.out")))
}

# with the shim: every write to a temporary fails with ENOSPC from the first byte
D=$T/shim; mkdir -p "$D"; prepare_outputs
run_cases "LD_PRELOAD shim" env LD_PRELOAD="$FI" FAULTINJ_ENOSPC_AFTER=0
# ... and after some bytes (a file half written; the outputs larger than that)
D=$T/shim2; mkdir -p "$D"; prepare_outputs
ONLY="spectrum|subspace|amplify|collect|report|merge|pretrain|train"
run_cases "LD_PRELOAD shim after 3000 bytes" env LD_PRELOAD="$FI" FAULTINJ_ENOSPC_AFTER=3000
ONLY=""

# on a real full tmpfs when we may mount one
MNT=$T/mnt; mkdir -p "$MNT"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k lsc_test_full "$MNT" 2>/dev/null; then
    echo "disk full: a 256 KiB tmpfs filled to the last block (mount works here)"
    D=$MNT; prepare_outputs
    dd if=/dev/zero of="$MNT/filler" bs=4k >/dev/null 2>&1
    run_cases "full tmpfs"
    # the HDF5 writers with a few blocks free: the file is cut mid-way
    rm -f "$MNT/filler"; dd if=/dev/zero of="$MNT/filler" bs=4k count=$(( $(df -k "$MNT" | awk 'NR==2{print $4}') / 4 - 3 )) >/dev/null 2>&1
    for c in spectrum subspace; do
        case $c in spectrum) a="spectrum $S/a8 -o $D/sp.h5";; subspace) a="subspace $S/a8 $S/a4 -o $D/sub.h5";; esac
        # shellcheck disable=SC2086
        full_case "tmpfs with 12 KiB free" $c "$(echo "$a" | sed "s|.* -o $D/||")" "$LSC" $a
    done
    umount "$MNT" && MNT=""
else
    MNT=""
    skip "disk full on a tmpfs" "mount -t tmpfs is not allowed here; the LD_PRELOAD shim covered it"
fi

# ---- the adapter directory changes in one step ----
# train into a directory holding the old adapter, killed at the K-th rename
# for every K until a run completes: old pair or new pair, never a mix
k=1; mixed=0; kills=0
while [ $k -le 40 ]; do
    rm -rf "$T/kd"* ; mkdir -p "$T/kd"
    cp "$T/ad_old/adapter_model.safetensors" "$T/ad_old/adapter_config.json" "$T/kd/"
    env LD_PRELOAD="$FI" FAULTINJ_KILL_RENAME=$k "$LSC" train $TR --rank 4 --alpha 16 -o "$T/kd" >/dev/null 2>&1
    rc=$?
    w_old=$(cmp -s "$T/kd/adapter_model.safetensors" "$T/ad_old/adapter_model.safetensors" && echo y)
    c_old=$(cmp -s "$T/kd/adapter_config.json" "$T/ad_old/adapter_config.json" && echo y)
    w_new=$(cmp -s "$T/kd/adapter_model.safetensors" "$T/ad_new/adapter_model.safetensors" && echo y)
    c_new=$(cmp -s "$T/kd/adapter_config.json" "$T/ad_new/adapter_config.json" && echo y)
    if ! { [ "$w_old$c_old" = yy ] || [ "$w_new$c_new" = yy ]; }; then
        mixed=$((mixed + 1)); echo "  killed at rename $k: weights old=${w_old:-n} new=${w_new:-n}, config old=${c_old:-n} new=${c_new:-n}"
    fi
    [ $rc = 137 ] || break
    kills=$((kills + 1)); k=$((k + 1))
done
[ $kills -ge 3 ] && [ $mixed = 0 ] && [ "$w_new$c_new" = yy ] &&
    ok "train killed at each of its $kills renames: the old adapter or the new one, never a mix; the full run gives the new one" ||
    bad "adapter directory: $mixed of $kills kills left a mix (last run exit $rc)"

# ---- --resume removes an interrupted run's temporaries, and only those ----
R=$T/res
"$LSC" train $TR --rank 2 --ckpt-every 1 --stop-at 1 -o "$R" >/dev/null 2>&1
# killed at its next rename: the checkpoint's temporary is complete but orphaned
env LD_PRELOAD="$FI" FAULTINJ_KILL_RENAME=1 "$LSC" train $TR --rank 2 --ckpt-every 1 --resume -o "$R" >/dev/null 2>&1
n_orphan=$(find "$R" -name 'train_state.safetensors.tmp.??????' | grep -c .)
mkdir "$R/train_log.h5.tmp.Ab12Cd"; echo x >"$R/train_log.h5.tmp.Ab12Cd/f"          # an orphaned directory of ours
echo keep >"$R/notes.tmp.Ab12Cd"; echo keep >"$R/train_state.safetensors.tmp.toolong1"  # not ours
ln -s "$T/victim" "$R/adapter_model.safetensors.tmp.Zz99Yy"
"$LSC" train $TR --rank 2 --ckpt-every 1 --resume -o "$R" >"$T/o" 2>"$T/e"
rc=$?
left=$(find "$R" -name 'train_state.safetensors.tmp.??????' -o -name 'train_log.h5.tmp.Ab12Cd' | grep -c .)
if [ $rc = 0 ] && [ "$n_orphan" -ge 1 ] && [ "$left" = 0 ] && [ -f "$R/notes.tmp.Ab12Cd" ] &&
    [ -f "$R/train_state.safetensors.tmp.toolong1" ] && [ "$(cat "$T/victim")" = victim ]; then
    ok "train --resume removed $n_orphan orphaned checkpoint temporar(y/ies) and an orphaned directory, kept others' files"
else bad "resume cleanup: exit $rc, orphans before $n_orphan, left $left, stderr: $(head -n 2 "$T/e")"; fi
[ -f "$R/adapter_config.json" ] && "$LSC" spectrum "$R" -o "$T/res.h5" >/dev/null 2>&1 &&
    ok "the resumed run's adapter is whole (spectrum reads it)" || bad "the resumed run's adapter"

finish
