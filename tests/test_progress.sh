#!/bin/sh
# test_progress.sh — the progress line of analysis/progress.c (issue 16): on a terminal (a pty from
# `script -qc`) spectrum, eval (windows and task items), deltaspec and quantize draw "WHAT: done/total UNIT  rate/s  ETA" with \r and
# erase it at the end; with --json, or when stderr is not a terminal, nothing at all (stderr the
# same as with LSC_PROGRESS=0); at most ~4 redraws a second. spectrum runs on the GPT-2 PEFT
# fixture (skipped without ../shared/fixtures, FAIL under CI=true); eval, deltaspec and quantize on a tiny
# pretrained base. Needs $LSC_BIN (default build/lorascope) and script (bsdutils). Runs from the
# project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir progress
export OMP_NUM_THREADS=1
TINY=$PWD/data/fixtures/tiny.txt

if ! command -v script >/dev/null 2>&1; then
    skip "progress on a terminal" "script (bsdutils) is not installed"
    finish
fi
# on_tty OUT CMD...: runs CMD with stdin, stdout and stderr on a pty; everything it wrote into OUT
on_tty() {
    _out=$1; shift
    _cmd=""
    for _a in "$@"; do _cmd="$_cmd '$_a'"; done
    script -qec "$_cmd" /dev/null </dev/null >"$_out" 2>&1
}
# has_line FILE WHAT UNIT: FILE has a drawn "\rWHAT: N/N UNIT ... ETA" line and the erase after it
has_line() {
    tr '\r' '\n' <"$1" | grep -qE "^$2: [0-9]+/[0-9]+ $3  [0-9.]+/s  ETA [0-9]+:[0-9]{2}" &&
        grep -q "$(printf '\r\033\\[K')" "$1"
}
no_cr() { ! grep -q "$(printf '\r')" "$1"; }

# ---- spectrum on the fixture ----
if fixtures_dir "spectrum progress"; then
    A=$FIXTURES/peft/gpt2-tigrinya-r8-cattn-cproj
    on_tty "$T/tty" "$LSC" spectrum "$A" -o "$T/s1.h5"
    check "spectrum on a terminal: exit 0" $?
    has_line "$T/tty" spectrum items && tr '\r' '\n' <"$T/tty" | grep -q '^spectrum: 36/36 items' &&
        ok "spectrum on a terminal draws the line up to 36/36 and erases it" || bad "spectrum tty: $(od -c "$T/tty" | head)"
    "$LSC" spectrum "$A" -o "$T/s2.h5" >"$T/o" 2>"$T/e"
    check "spectrum, stderr not a terminal: exit 0" $?
    LSC_PROGRESS=0 "$LSC" spectrum "$A" -o "$T/s3.h5" >"$T/o0" 2>"$T/e0"
    no_cr "$T/e" && no_cr "$T/o" && cmp -s "$T/e" "$T/e0" &&
        ok "not a terminal: no progress at all (same output as with it off)" || bad "non-tty stderr: $(od -c "$T/e" | head -5)"
    on_tty "$T/tty" "$LSC" spectrum "$A" -o "$T/s4.h5" --json
    ! grep -q "spectrum: [0-9]*/36" "$T/tty" && ok "--json on a terminal: no progress line" || bad "--json drew progress"
    # at most ~4 redraws a second: forced on without a terminal, over a run of known length
    s0=$(date +%s.%N)
    LSC_PROGRESS=1 "$LSC" spectrum "$A" -o "$T/s5.h5" >/dev/null 2>"$T/e1"
    s1=$(date +%s.%N)
    draws=$(tr '\r' '\n' <"$T/e1" | grep -c '^spectrum: ')
    max=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%d", 4 * (b - a) + 2 }')
    [ "$draws" -ge 2 ] && [ "$draws" -le "$max" ] && ok "rate limit: $draws redraws <= $max" ||
        bad "rate limit: $draws redraws, at most $max"
fi

# ---- eval and deltaspec on a tiny base ----
if [ -f "$TINY" ]; then
    "$LSC" pretrain --profile tiny --steps 3 -o "$T/b1.safetensors" --quiet --data "$TINY" >/dev/null 2>&1 &&
        "$LSC" pretrain --profile tiny --steps 6 -o "$T/b2.safetensors" --quiet --data "$TINY" >/dev/null 2>&1
    check "two tiny bases" $?
    on_tty "$T/tty" "$LSC" eval --base "$T/b1.safetensors" --data "$TINY" --windows 64
    has_line "$T/tty" eval windows && ok "eval on a terminal draws the line" || bad "eval tty: $(head -c 400 "$T/tty")"
    "$LSC" eval --base "$T/b1.safetensors" --data "$TINY" --windows 64 >"$T/o" 2>"$T/e"
    no_cr "$T/e" && no_cr "$T/o" && ok "eval, not a terminal: no progress" || bad "eval non-tty: $(od -c "$T/e" | head -3)"
    on_tty "$T/tty" "$LSC" eval --base "$T/b1.safetensors" --data "$TINY" --windows 64 --json
    ! grep -q "eval: [0-9]" "$T/tty" && ok "eval --json: no progress line" || bad "eval --json drew progress"
    on_tty "$T/tty" "$LSC" deltaspec --base "$T/b1.safetensors" --finetuned "$T/b2.safetensors" -o "$T/d.h5"
    has_line "$T/tty" deltaspec tensors && ok "deltaspec on a terminal draws the line" ||
        bad "deltaspec tty: $(head -c 400 "$T/tty")"
    "$LSC" deltaspec --base "$T/b1.safetensors" --finetuned "$T/b2.safetensors" -o "$T/d2.h5" >"$T/o" 2>"$T/e"
    no_cr "$T/e" && ok "deltaspec, not a terminal: no progress" || bad "deltaspec non-tty: $(od -c "$T/e" | head -3)"
    SS=data/fixtures/supersense_tiny.tsv
    on_tty "$T/tty" "$LSC" eval --base "$T/b1.safetensors" --task supersense --task-file "$SS"
    tr '\r' '\n' <"$T/tty" | grep -q '^eval: 29/29 items' && has_line "$T/tty" eval items &&
        ok "eval --task supersense on a terminal draws the items line up to 29/29" || bad "task eval tty: $(head -c 400 "$T/tty")"
    on_tty "$T/tty" "$LSC" eval --base "$T/b1.safetensors" --task supersense --task-file "$SS" --json
    ! grep -q "eval: [0-9]*/29 items" "$T/tty" && ok "eval --task supersense --json: no progress line" ||
        bad "task eval --json drew progress"
    on_tty "$T/tty" "$LSC" quantize "$T/b1.safetensors" -o "$T/q.safetensors"
    has_line "$T/tty" quantize tensors && ok "quantize on a terminal draws the line" ||
        bad "quantize tty: $(head -c 400 "$T/tty")"
    "$LSC" quantize "$T/b1.safetensors" -o "$T/q2.safetensors" >"$T/o" 2>"$T/e"
    no_cr "$T/e" && ok "quantize, not a terminal: no progress" || bad "quantize non-tty: $(od -c "$T/e" | head -3)"
else
    skip "eval, deltaspec and quantize progress" "$TINY missing"
fi

finish
