#!/bin/sh
# test_analysis.sh — command-line behaviour of `lorascope spectrum`,
# `subspace` and `amplify` on bad input: missing path, a directory without
# adapter_config.json, r in the config disagreeing with the tensors, a file
# where a directory is expected, an all-zero B, NaN values, F16 input,
# usage errors (the null's --null-draws, --null-seed, amplify's --k
# included), an unwritable output. Asserts exit codes (0 ok, 1 failure,
# 2 usage), one clear stderr line naming the file, and that a failed run
# leaves no output or temporary file behind. The numbers themselves are
# checked by tests/test_analysis_oracle.py.
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3 with numpy
# (tests/make_adapters.py writes the synthetic adapters).
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir analysis

if ! /usr/bin/python3 tests/make_adapters.py suite "$T/s" 2>"$T/gen.err"; then
    bad "generate synthetic adapters: $(head -n 3 "$T/gen.err")"
    finish
fi
S=$T/s
OUT=$T/out
mkdir -p "$OUT"

no_output() {
    name=$1; f=$2
    left=$(ls -A "$OUT" | grep -c .)
    if [ ! -e "$f" ] && [ "$left" -eq 0 ]; then ok "$name: no output, no temporary file"; else
        bad "$name: left $(ls -A "$OUT" | tr '\n' ' ')"; rm -f "$OUT"/*; fi
}

# ---- help and usage (exit 2) ----
for c in spectrum subspace amplify; do
    run "$c --help" 0 $c --help
    if grep -q "^usage: lorascope $c" "$T/o" && grep -q "example" "$T/o"; then ok "$c --help: usage with an example on stdout"
    else bad "$c --help: usage with an example on stdout"; fi
    run "help $c" 0 help $c
    run "$c without arguments" 2 $c
    case $c in
        spectrum) set -- "$S/a8";;
        subspace) set -- "$S/a8" "$S/a4";;
        amplify)  set -- "$S/a8" --base "$S/base_a.safetensors";;
    esac
    run "$c --bogus" 2 $c "$@" --bogus -o "$OUT/x.h5"
    first_line_stderr "$c --bogus" "unknown option" "--bogus"
    run "$c --seed abc" 2 $c "$@" --seed abc -o "$OUT/x.h5"
    first_line_stderr "$c --seed abc" "--seed" "abc"
    run "$c --threads -1" 2 $c "$@" --threads -1 -o "$OUT/x.h5"
    first_line_stderr "$c --threads -1" "--threads"
    run "$c --threads x" 2 $c "$@" --threads x -o "$OUT/x.h5"
    first_line_stderr "$c --threads x" "--threads" "x"
done
run "spectrum without -o" 2 spectrum "$S/a8"
first_line_stderr "spectrum without -o" "missing -o"
run "spectrum with two adapters" 2 spectrum "$S/a8" "$S/a4" -o "$OUT/x.h5"
run "subspace with one adapter" 2 subspace "$S/a8" -o "$OUT/x.h5"
run "subspace --factor C" 2 subspace "$S/a8" "$S/a4" --factor C -o "$OUT/x.h5"
first_line_stderr "subspace --factor C" "--factor" "A or B"
run "subspace --pair without colon" 2 subspace "$S/a8" "$S/a4" --pair h.0.attn.q_proj -o "$OUT/x.h5"
run "subspace --pair unknown module" 2 subspace "$S/a8" "$S/a4" --pair h.0.attn.q_proj:nope -o "$OUT/x.h5"
first_line_stderr "subspace --pair unknown module" "nope"
run "amplify without --base" 2 amplify "$S/a8" -o "$OUT/x.h5"
first_line_stderr "amplify without --base" "--base"
run "amplify --rank 0" 2 amplify "$S/a8" --base "$S/base_a.safetensors" --rank 0 -o "$OUT/x.h5"
run "amplify --rank x" 2 amplify "$S/a8" --base "$S/base_a.safetensors" --rank x -o "$OUT/x.h5"
for c in subspace amplify; do
    case $c in
        subspace) set -- subspace "$S/a8" "$S/a4";;
        amplify)  set -- amplify "$S/a8" --base "$S/base_a.safetensors";;
    esac
    run "$c --null-draws 0" 2 "$@" --null-draws 0 -o "$OUT/x.h5"
    first_line_stderr "$c --null-draws 0" "--null-draws" "0"
    run "$c --null-draws x" 2 "$@" --null-draws x -o "$OUT/x.h5"
    run "$c --null-seed -1" 2 "$@" --null-seed -1 -o "$OUT/x.h5"
    first_line_stderr "$c --null-seed -1" "--null-seed" "-1"
done
run "amplify --k 0" 2 amplify "$S/a8" --base "$S/base_a.safetensors" --k 0 -o "$OUT/x.h5"
first_line_stderr "amplify --k 0" "--k"
run "spectrum --module nope" 2 spectrum "$S/a8" --module nope -o "$OUT/x.h5"
first_line_stderr "spectrum --module nope" "nope"
no_output "usage errors" "$OUT/x.h5"

# ---- bad adapters, for every subcommand (exit 1, one line naming the file) ----
for c in spectrum subspace amplify; do
    case $c in
        spectrum) pre=""; post="";;
        subspace) pre="$S/a8"; post="";;
        amplify)  pre=""; post="--base $S/base_a.safetensors";;
    esac
    # shellcheck disable=SC2086
    run "$c missing path" 1 $c $pre "$T/nope" $post -o "$OUT/x.h5"
    one_line_stderr "$c missing path" "$T/nope"
    # shellcheck disable=SC2086
    run "$c directory without adapter_config.json" 1 $c $pre "$S/noconfig" $post -o "$OUT/x.h5"
    one_line_stderr "$c directory without adapter_config.json" "noconfig" "adapter_config.json"
    # shellcheck disable=SC2086
    run "$c r in config disagrees with tensors" 1 $c $pre "$S/badr" $post -o "$OUT/x.h5"
    one_line_stderr "$c r in config disagrees with tensors" "badr" "r = 4"
    # shellcheck disable=SC2086
    run "$c a file instead of a directory" 1 $c $pre "$S/base_a.safetensors" $post -o "$OUT/x.h5"
    one_line_stderr "$c a file instead of a directory" "base_a.safetensors" "not an adapter directory"
    no_output "$c bad adapters" "$OUT/x.h5"
done
run "amplify missing base" 1 amplify "$S/a8" --base "$T/nobase.safetensors" -o "$OUT/x.h5"
one_line_stderr "amplify missing base" "nobase.safetensors"
run "amplify base that is not safetensors" 1 amplify "$S/a8" --base "$S/a8/adapter_config.json" -o "$OUT/x.h5"
one_line_stderr "amplify base that is not safetensors" "adapter_config.json"
run "amplify base without the modules" 1 amplify "$S/a8" --base "$S/base_fanin.safetensors" -o "$OUT/x.h5"
one_line_stderr "amplify base without the modules" "base_fanin.safetensors" "h.0.attn.q_proj"
run "subspace nothing comparable" 1 subspace "$S/a8" "$S/onlyshape" -o "$OUT/x.h5"
one_line_stderr "subspace nothing comparable" "onlyshape" "differ"
run "subspace nothing in common" 1 subspace "$S/a8" "$S/fanin" -o "$OUT/x.h5"
one_line_stderr "subspace nothing in common" "no module in common"
run "output in a missing directory" 1 spectrum "$S/a8" -o "$T/missing/x.h5"
one_line_stderr "output in a missing directory" "$T/missing/x.h5"
no_output "failures" "$OUT/x.h5"

# ---- degenerate and odd input: exit 0, a warning naming the module ----
run "spectrum all-zero B" 0 spectrum "$S/zeroB" -o "$OUT/z.h5"
first_line_stderr "spectrum all-zero B" "warning" "zeroB" "h.1.attn.v_proj" "dW = 0"
run "subspace all-zero B" 0 subspace "$S/a8" "$S/zeroB" -o "$OUT/z2.h5"
first_line_stderr "subspace all-zero B" "warning" "h.1.attn.v_proj" "NaN"
run "amplify all-zero B" 0 amplify "$S/zeroB" --base "$S/base_a.safetensors" -o "$OUT/z3.h5"
first_line_stderr "amplify all-zero B" "warning" "h.1.attn.v_proj" "degenerate"
for c in spectrum subspace amplify; do
    case $c in
        spectrum) set -- spectrum "$S/nanA";;
        subspace) set -- subspace "$S/a8" "$S/nanA";;
        amplify)  set -- amplify "$S/nanA" --base "$S/base_a.safetensors";;
    esac
    run "$c NaN values" 0 "$@" -o "$OUT/n_$c.h5"
    first_line_stderr "$c NaN values" "warning" "h.0.attn.q_proj" "NaN"
done
run "spectrum F16 adapter" 0 spectrum "$S/f16" -o "$OUT/f.h5"
run "subspace F16 vs F32" 0 subspace "$S/f16" "$S/a8" -o "$OUT/f2.h5"
run "amplify F16 adapter" 0 amplify "$S/f16" --base "$S/base_a.safetensors" -o "$OUT/f3.h5"
if [ ! -s "$T/e" ]; then ok "amplify F16 adapter: no warnings"; else bad "amplify F16 adapter: $(head -n 2 "$T/e")"; fi
run "amplify BF16 Conv1D base (fan_in_fan_out)" 0 amplify "$S/fanin" --base "$S/base_fanin.safetensors" -o "$OUT/f4.h5"
if [ ! -s "$T/e" ]; then ok "amplify BF16 base: no warnings"; else bad "amplify BF16 base: $(head -n 2 "$T/e")"; fi

# ---- output conventions ----
for c in spectrum subspace amplify; do
    case $c in
        spectrum) set -- spectrum "$S/a8";;
        subspace) set -- subspace "$S/a8" "$S/a4";;
        amplify)  set -- amplify "$S/a8" --base "$S/base_a.safetensors";;
    esac
    run "$c --json --threads 1" 0 "$@" -o "$OUT/j_$c.h5" --json --threads 1
    last=$(tail -n 1 "$T/o")
    case $last in
        '{'*'"wall_s":'*'"peak_rss_mb":'*'}') ok "$c --json: last stdout line is the JSON object";;
        *) bad "$c --json: last line '$last'";;
    esac
    echo "$last" | grep -q '"n_modules":6' && ok "$c --json: n_modules" || bad "$c --json: n_modules in '$last'"
done
# an existing result is replaced whole, and no temporary file stays
run "spectrum over an existing file" 0 spectrum "$S/a4" -o "$OUT/j_spectrum.h5"
if ls "$OUT" | grep -q '\.tmp\.'; then bad "temporary files left: $(ls "$OUT")"; else ok "no temporary files after success"; fi
# --plots into a new nested directory
run "spectrum --plots" 0 spectrum "$S/a8" -o "$OUT/p.h5" --plots "$OUT/figs/deep"
if [ -s "$OUT/figs/deep/spectrum.png" ] && [ -s "$OUT/figs/deep/spectrum.svg" ] && [ -s "$OUT/figs/deep/spectrum.dat" ]
then ok "--plots creates the directory, PNG, SVG and data"; else bad "--plots outputs: $(ls "$OUT/figs/deep" 2>&1)"; fi
run "--plots with a quote in the name" 2 spectrum "$S/a8" -o "$OUT/p2.h5" --plots "$OUT/it's"
# degenerate phi with --plots still renders
run "subspace --plots on a degenerate module" 0 subspace "$S/a8" "$S/zeroB" -o "$OUT/p3.h5" --plots "$OUT/figs" --module h.1.attn.v_proj
if [ -s "$OUT/figs/phi_h.1.attn.v_proj.png" ]; then ok "degenerate phi heat map rendered"; else bad "degenerate phi heat map missing"; fi

finish
