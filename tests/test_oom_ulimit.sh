#!/bin/sh
# test_oom_ulimit.sh — issue 15: under `ulimit -v` a failed allocation ends
# with one "out of memory" line and exit 1 within seconds, never a hang
# (OpenBLAS retries its buffer allocation forever: cli_memory_guard runs the
# program with one BLAS thread and checks the buffer up front) and never a
# crash. train and two analyses run under several limits with `timeout`:
# each run exits 0, or 1 with "out of memory"; the limits chosen too small
# for OpenBLAS's buffer, for the activations of a large batch and for
# mapping a base must fail that way.
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3 with numpy.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir oom_ulimit
TINY=data/fixtures/tiny.txt
unset OPENBLAS_NUM_THREADS OMP_NUM_THREADS

"$LSC" pretrain --profile tiny --steps 2 -o "$T/base.safetensors" --quiet >/dev/null 2>&1 \
    || { bad "pretrain a tiny base"; finish; }
/usr/bin/python3 tests/make_adapters.py suite "$T/s" >/dev/null 2>&1 || { bad "make_adapters.py suite"; finish; }
/usr/bin/python3 tests/make_adapters.py gpt2-base "$T/g2.safetensors" --layers 8 >/dev/null 2>&1 \
    || { bad "make_adapters.py gpt2-base"; finish; }

# a sanitizer build reserves terabytes of address space: no ulimit -v there
if ! sh -c 'ulimit -v 400000 && exec "$1" version' sh "$LSC" >/dev/null 2>&1; then
    skip "runs under ulimit -v" "$LSC does not start under ulimit -v 400000 (a sanitizer build?)"
    finish
fi

# limited KIB NAME ARGS...: $LSC ARGS under ulimit -v KIB and timeout 60 (status in rc)
limited() {
    _kib=$1; _ln=$2; shift 2
    timeout 60 sh -c 'ulimit -v "$1" || exit 99; shift; exec "$@"' sh "$_kib" "$LSC" "$@" >"$T/o" 2>"$T/e"
    rc=$?
}
# must_oom KIB NAME ARGS...: exit 1 with one stderr line saying out of memory
must_oom() {
    limited "$@"
    if [ "$rc" = 1 ] && [ "$(grep -c . "$T/e")" = 1 ] && grep -q "out of memory" "$T/e"; then
        ok "$2 under ulimit -v $1: exit 1, out of memory"
    else bad "$2 under ulimit -v $1: exit $rc (124: hang), stderr: $(head -c 300 "$T/e")"; fi
}
# ok_or_oom KIB NAME ARGS...: exit 0, or exit 1 with out of memory
ok_or_oom() {
    limited "$@"
    if [ "$rc" = 0 ] || { [ "$rc" = 1 ] && grep -q "out of memory" "$T/e"; }; then
        ok "$2 under ulimit -v $1: exit $rc"
    else bad "$2 under ulimit -v $1: exit $rc (124: hang), stderr: $(head -c 300 "$T/e")"; fi
}

TR="train --base $T/base.safetensors --task lm --data $TINY --steps 2 --quiet"
must_oom 150000 "train (no room for OpenBLAS's buffer)" $TR -o "$T/t0"
must_oom 300000 "train --batch 512 (activations)" $TR --batch 512 --ctx 64 -o "$T/t1"
must_oom 280000 "deltaspec (mapping a 150 MB base)" deltaspec --base "$T/g2.safetensors" \
    --finetuned "$T/g2.safetensors" -o "$T/d.h5"
for kib in 150000 200000 250000 300000 400000; do
    ok_or_oom $kib "train" $TR -o "$T/t$kib"
    ok_or_oom $kib "spectrum --threads 4" spectrum "$T/s/a8" -o "$T/sp$kib.h5" --factors-only --threads 4
    ok_or_oom $kib "subspace" subspace "$T/s/a8" "$T/s/a4" -o "$T/ss$kib.h5" --factors-only
done
# without a limit nothing changes (no re-run, threads as asked)
expect_exit 0 "train without a limit" "$LSC" $TR -o "$T/tfree"

finish
