#!/bin/sh
# fuzz/seeds.sh OUT — writes the generated seed corpora, OUT/<harness>/ (the
# committed ones, small and hand-made, are fuzz/corpus/<harness>/): small
# files only (at most 32 KB each), from ../shared/fixtures (LSC_FIXTURES) and
# from what the tests' own writers make: tests/make_adapters.py's suite and
# kinds adapters (safetensors files, adapter_config.json), an HDF5 result file
# written by `$LSC_BIN spectrum` on one of them, and the committed regress
# baselines cut to their first metrics. Missing sources are skipped with a
# note: the committed seeds are enough to start. Run from anywhere.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${1:?usage: fuzz/seeds.sh OUT}
PY=/usr/bin/python3
LSC=${LSC_BIN:-$PWD/build/lorascope}
. tests/lib.sh
FIX=$(fixtures_path)
W=$(mktemp -d "${TMPDIR:-/tmp}/lsc_fuzz_seeds.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
for h in safetensors adapter_config pattern h5 llama2c hf_config baseline tok_llama2c tok_gpt2; do
    mkdir -p "$OUT/$h"
done

# put HARNESS FILE NAME: copies FILE as OUT/HARNESS/NAME when it is small
put() { [ -f "$2" ] && [ "$(wc -c < "$2")" -le 32768 ] && cp "$2" "$OUT/$1/$3"; return 0; }

if "$PY" tests/make_adapters.py suite "$W/suite" >/dev/null 2>&1 &&
   "$PY" tests/make_adapters.py kinds "$W/kinds" >/dev/null 2>&1; then
    for f in "$W"/suite/*/adapter_model.safetensors "$W"/kinds/*/adapter_model.safetensors \
             "$W"/suite/*.safetensors "$W"/kinds/*.safetensors; do
        [ -f "$f" ] || continue
        n=$(echo "$f" | sed "s|^$W/||; s|/|_|g")
        put safetensors "$f" "$n"
    done
    for f in "$W"/suite/*/adapter_config.json "$W"/kinds/*/adapter_config.json; do
        [ -f "$f" ] || continue
        put adapter_config "$f" "$(echo "$f" | sed "s|^$W/||; s|/|_|g")"
    done
    if [ -x "$LSC" ] && "$LSC" spectrum "$W/suite/a8" -o "$W/spectrum.h5" >/dev/null 2>&1; then
        put h5 "$W/spectrum.h5" spectrum.h5
    else
        echo "fuzz/seeds.sh: no HDF5 seed from spectrum ($LSC)"
    fi
else
    echo "fuzz/seeds.sh: tests/make_adapters.py failed: no generated adapter seeds"
fi
for d in "$FIX"/peft/*; do
    put adapter_config "$d/adapter_config.json" "fixture_$(basename "$d").json"
done
put tok_llama2c "$FIX/llama2c/tok512.bin" tok512.bin
for b in experiments/baselines/*.json; do
    "$PY" - "$b" "$OUT/baseline/$(basename "$b")" <<'PYEOF' || echo "fuzz/seeds.sh: cannot cut $b"
import json, sys
b = json.load(open(sys.argv[1]))
b["metrics"] = dict(list(b["metrics"].items())[:6])
json.dump(b, open(sys.argv[2], "w"), indent=1)
PYEOF
done
exit 0
