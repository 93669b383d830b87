#!/bin/sh
# test_amplify_hf.sh — `lorascope amplify --base` and `quanterr BASE` on a
# Hugging Face folder (analysis_common.c: ana_base_open / ana_base_find)
# as well as on a .safetensors file. tests/make_big_hf.py writes the
# folders with numpy. Checks:
#   - amplify of a GPT-named adapter (tests/make_adapters.py's a8 on
#     base_a, names "h.0.attn.q_proj" found as "transformer.h.0...weight";
#     and the fan_in_fan_out adapter on the BF16 base_fanin) and of a
#     Llama-named PEFT adapter ("model.layers.0.self_attn.q_proj") gives
#     identical /modules datasets and numeric attributes with --base the
#     .safetensors file, an unsharded folder of the same tensors and a
#     folder of 3 shards behind an index;
#   - a BF16 folder (2 shards) gives exactly the numbers of the F32 file of
#     the bf16-rounded weights;
#   - quanterr on the sharded folder = quanterr on the file;
#   - the provenance attribute base_sha256 of a folder run is the folder's
#     digest (make_adapters.sha256_path);
#   - a folder whose index names a missing shard: exit 1, one line naming
#     the shard; a folder without one module's tensor: a warning naming the
#     folder and the module, the rest analysed.
# Not run by default: --rss (or LSC_RSS=1) generates a 135.5 M-parameter BF16
# folder in 3 shards with a rank-8 q_proj/v_proj adapter in $TMPDIR (271 MB,
# deleted afterwards), runs amplify under /usr/bin/time -v and reports the
# peak RSS against the raw tensor bytes (check: <= 1.3x):
#     sh tests/test_amplify_hf.sh --rss
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3 with numpy
# and h5py.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
PY=/usr/bin/python3
GEN=tests/make_big_hf.py
tmpdir amplify_hf
RSS=${LSC_RSS:-0}
[ "${1:-}" = --rss ] && RSS=1

# ---- the memory benchmark (--rss only) ----

if [ "$RSS" = 1 ]; then
    if ! $PY $GEN big "$T/big" >"$T/big.out" 2>"$T/gen.err"; then
        bad "generate the big folder: $(head -n 3 "$T/gen.err")"; finish
    fi
    raw=$(sed -n 's/^raw_bytes=\([0-9]*\).*/\1/p' "$T/big.out")
    echo "folder: $(cat "$T/big.out"), $(ls "$T/big/model" | tr '\n' ' ')"
    /usr/bin/time -v "$LSC" amplify "$T/big/adapter" --base "$T/big/model" -o "$T/big.h5" \
        --null-draws 20 >"$T/o" 2>"$T/e"
    rc=$?
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$T/e")
    wall=$(sed -n 's/.*Elapsed (wall clock) time.*: *//p' "$T/e")
    if [ "$rc" = 0 ] && [ -n "$kb" ]; then
        echo "peak RSS ${kb} kB against raw tensor bytes $raw ($(echo "$kb $raw" |
            awk '{printf "%.3f", $1 * 1024 / $2}')x), wall $wall"
        [ "$(echo "$kb $raw" | awk '{print ($1 * 1024 <= 1.3 * $2)}')" = 1 ]
        verdict "amplify on a BF16 sharded folder: peak RSS <= 1.3x the raw tensor bytes"
    else
        bad "amplify on the big folder: exit $rc ($(grep -v '^\s' "$T/e" | head -n 3 | tr '\n' ' '))"
    fi
    finish
fi

# ---- fixtures ----

if ! $PY tests/make_adapters.py suite "$T/s" 2>"$T/gen.err" || ! $PY $GEN llama "$T/ll" 2>>"$T/gen.err"; then
    bad "generate adapters and bases: $(head -n 3 "$T/gen.err")"; finish
fi
S=$T/s
folders() {   # folders NAME SRC: $T/NAME-1 unsharded, $T/NAME-3 three shards
    $PY $GEN folder "$2" "$T/$1-1" && $PY $GEN folder "$2" "$T/$1-3" --shards 3
}
folders gpt "$S/base_a.safetensors" && folders fan "$S/base_fanin.safetensors" &&
    folders ll "$T/ll/base.safetensors" &&
    $PY $GEN folder "$S/base_a.safetensors" "$T/bf16" --shards 2 --dtype BF16 &&
    $PY $GEN bf16-file "$S/base_a.safetensors" "$T/bf16.safetensors" &&
    $PY $GEN folder "$S/base_a.safetensors" "$T/drop" --shards 2 --drop transformer.h.1.attn.v_proj.weight &&
    [ -f "$T/ll-3/model-00003-of-00003.safetensors" ] && [ -f "$T/gpt-1/model.safetensors" ]
verdict "folders: unsharded, 3 shards, BF16, one tensor left out"

# amp NAME ADAPTER BASE: amplify into $T/NAME.h5 (exit 0, no warnings)
amp() {
    expect_exit 0 "amplify $1" "$LSC" amplify "$2" --base "$3" -o "$T/$1.h5" --null-draws 20 --k 2
    if [ ! -s "$T/e" ]; then ok "amplify $1: no warnings"; else bad "amplify $1: stderr $(_stderr_head)"; fi
}
# same NAME A B: the /modules datasets and attributes of $T/A.h5 and $T/B.h5 identical
same() {
    if $PY $GEN compare "$T/$2.h5" "$T/$3.h5" >"$T/cmp" 2>&1; then ok "$1: $(cat "$T/cmp")"
    else bad "$1: $(head -c 400 "$T/cmp")"; fi
}

# ---- identical numbers: file, unsharded folder, sharded folder ----

for c in "gpt $S/a8" "fan $S/fanin" "ll $T/ll/adapter"; do
    set -- $c
    src=$T/ll/base.safetensors
    [ "$1" = gpt ] && src=$S/base_a.safetensors
    [ "$1" = fan ] && src=$S/base_fanin.safetensors
    amp "$1-file" "$2" "$src"
    amp "$1-folder" "$2" "$T/$1-1"
    amp "$1-shards" "$2" "$T/$1-3"
    same "$1: unsharded folder = file" "$1-file" "$1-folder"
    same "$1: 3 shards = file" "$1-file" "$1-shards"
done
grep -q "model.layers.1.self_attn.v_proj" "$T/o"
verdict "Llama-named adapter: model.layers.1.self_attn.v_proj analysed"
$PY - "$T/gpt-shards.h5" "$T/gpt-3" <<'EOF'
import sys, h5py
sys.path.insert(0, "tests")
from make_adapters import sha256_path
with h5py.File(sys.argv[1], "r") as f:
    got = f.attrs["base_sha256"]
    got = got.decode() if isinstance(got, bytes) else str(got)
    bt = f["modules/h.0.attn.q_proj"].attrs["base_tensor"]
    bt = bt.decode() if isinstance(bt, bytes) else str(bt)
sys.exit(0 if got == sha256_path(sys.argv[2]) and bt == "transformer.h.0.attn.q_proj.weight" else 1)
EOF
verdict "sharded folder: base_sha256 = the folder's digest, base_tensor = the HF name"

# ---- BF16 ----

amp bf16-folder "$S/a8" "$T/bf16"
amp bf16-file "$S/a8" "$T/bf16.safetensors"
same "BF16 folder (2 shards) = F32 file of the bf16-rounded weights" bf16-file bf16-folder
if $PY $GEN compare "$T/bf16-file.h5" "$T/gpt-file.h5" >/dev/null 2>&1; then
    bad "BF16 rounding changes the numbers (the comparison can fail)"
else ok "BF16 rounding changes the numbers (the comparison can fail)"; fi

# ---- quanterr ----

for b in "file $S/base_a.safetensors" "shards $T/gpt-3"; do
    set -- $b
    expect_exit 0 "quanterr on the $1" "$LSC" quanterr "$2" "$S/a8" -o "$T/q-$1.h5" --top 8
done
same "quanterr: 3 shards = file" q-file q-shards

# ---- errors ----

rm "$T/gpt-3/model-00002-of-00003.safetensors"
run "amplify, folder missing a shard" 1 amplify "$S/a8" --base "$T/gpt-3" -o "$T/x.h5"
one_line_stderr "amplify, folder missing a shard" "gpt-3" "model-00002-of-00003.safetensors"
run "quanterr, folder missing a shard" 1 quanterr "$T/gpt-3" "$S/a8" -o "$T/x.h5"
one_line_stderr "quanterr, folder missing a shard" "model-00002-of-00003.safetensors"
[ ! -e "$T/x.h5" ]
verdict "missing shard: no output"
run "amplify, folder without one module's tensor" 0 amplify "$S/a8" --base "$T/drop" -o "$T/drop.h5" \
    --null-draws 20
one_line_stderr "amplify, folder without one module's tensor" "$T/drop" "no base weight for module h.1.attn.v_proj" \
    "transformer.h.1.attn.v_proj.weight" "skipped"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); sys.exit(0 if sorted(f['modules']) == \
['h.0.attn.q_proj', 'h.0.attn.v_proj', 'h.0.mlp.fc_in', 'h.0.mlp.fc_out', 'h.1.attn.q_proj'] else 1)" "$T/drop.h5"
verdict "folder without one module's tensor: the other four analysed"
run "quanterr, folder without one module's tensor" 0 quanterr "$T/drop" "$S/a8" -o "$T/qdrop.h5" --top 8
one_line_stderr "quanterr, folder without one module's tensor" "$T/drop" "h.1.attn.v_proj" "skipped"
mkdir "$T/empty"
run "amplify, folder without config.json" 1 amplify "$S/a8" --base "$T/empty" -o "$T/x.h5"
one_line_stderr "amplify, folder without config.json" "config.json"
finish
