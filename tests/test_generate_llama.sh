#!/bin/sh
# test_generate_llama.sh — `lorascope generate` on a llama2.c base, end to
# end: Karpathy's stories260K with its tokenizer at --temperature 0 for 256
# steps prints EXACTLY the published sample of stories260K.md (the text of
# the ``` block after the `run ... -t 0.0` line, as tests/test_llama_ref.py
# extracts it), also with the default --steps and from the prompt "Once upon
# a time" (prefill through the KV-cached step); usage errors; bad llama2.c
# files made from the real one (truncated, trailing bytes, a bad header
# field, NaN in a tensor): exit 1 with one stderr line naming the file; a
# 3-step LoRA training on the imported base (the text encoded with its
# tokenizer, --tokenizer) runs and its adapter generates; without
# --tokenizer the 512-token base is refused.
# Logits against the numpy reference: tests/test_generate_llama.py.
# Needs $LSC_BIN (default build/lorascope) and ../shared/fixtures.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir generate_llama
export OMP_NUM_THREADS=1

if ! fixtures_dir "stories260K generate oracle"; then finish; fi
D=$FIXTURES/llama2c/stories260K
BIN=$D/stories260K.bin
TOK=$D/tok512.bin
if [ ! -f "$BIN" ] || [ ! -f "$TOK" ] || [ ! -f "$D/stories260K.md" ]; then
    bad "stories260K fixture files missing in $D"
    finish
fi

same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1 ($(cmp "$2" "$3" 2>&1 | head -n 1))"; fi; }

# the published greedy sample: the lines after "... -t 0.0" up to the closing ```
sed -n '/-t 0\.0$/,/^```/p' "$D/stories260K.md" | sed '1d;$d' >"$T/want.txt"
[ "$(wc -c <"$T/want.txt")" -gt 500 ] && ok "published sample extracted ($(wc -c <"$T/want.txt") bytes)" \
    || bad "published sample not found in $D/stories260K.md"

# ---- the oracle ----
run "generate stories260K greedy" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 0 --steps 256
cp "$T/o" "$T/got.txt"
same "stories260K --temperature 0 --steps 256 = the published sample, byte for byte" "$T/got.txt" "$T/want.txt"
run "generate, default steps" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 0
same "default --steps is run.c's 256" "$T/o" "$T/want.txt"
run "generate from a prompt" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 0 --prompt "Once upon a time"
same "prompt 'Once upon a time' (prefilled) continues into the same sample" "$T/o" "$T/want.txt"
run "generate 5 steps" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 0 --steps 5
[ "$(cat "$T/o")" = "Once upon a time," ] && ok "--steps 5: the first 5 tokens after BOS" \
    || bad "--steps 5 printed '$(cat "$T/o")'"
run "generate sampled" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 1 --seed 7 --steps 40
cp "$T/o" "$T/s1.txt"
run "generate sampled again" 0 generate --base "$BIN" --tokenizer "$TOK" --temperature 1 --seed 7 --steps 40
same "sampling is reproducible from the seed" "$T/s1.txt" "$T/o"

# ---- usage and mismatches ----
expect_error 2 "--steps" "--steps without --tokenizer: usage error" -- \
    "$LSC" generate --base "$BIN" --prompt x --steps 5
expect_error 2 "--tokens" "--tokens with --tokenizer: usage error" -- \
    "$LSC" generate --base "$BIN" --tokenizer "$TOK" --tokens 5
expect_exit 1 "a 512-token base without --tokenizer" "$LSC" generate --base "$BIN" --prompt x
one_line_stderr "512-token base without --tokenizer" "$BIN" "--tokenizer"
T32=$FIXTURES/tokenizers/llama2c-32000/tokenizer.bin
if [ -f "$T32" ]; then
    expect_exit 1 "a tokenizer of another vocabulary" "$LSC" generate --base "$BIN" --tokenizer "$T32"
    one_line_stderr "tokenizer of another vocabulary" "$T32"
else
    skip "a tokenizer of another vocabulary" "missing $T32"
fi

# ---- bad llama2.c files ----
SIZE=$(wc -c <"$BIN")
# le32 VALUE-AS-OCTAL-ESCAPES OFFSET FILE: overwrite 4 bytes at OFFSET
poke() { printf "$1" | dd of="$3" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
head -c $((SIZE - 100)) "$BIN" >"$T/cut.bin"
expect_exit 1 "truncated .bin" "$LSC" generate --base "$T/cut.bin" --tokenizer "$TOK"
one_line_stderr "truncated .bin" "$T/cut.bin" "truncated" "$((SIZE - 100))" "$SIZE"
{ cat "$BIN"; printf 'xxxx'; } >"$T/long.bin"
expect_exit 1 "trailing bytes" "$LSC" generate --base "$T/long.bin" --tokenizer "$TOK"
one_line_stderr "trailing bytes" "$T/long.bin" "trailing bytes" "$((SIZE + 4))" "$SIZE"
cp "$BIN" "$T/hdr.bin"; chmod u+w "$T/hdr.bin"
poke '\003\000\000\000' 16 "$T/hdr.bin"     # n_kv_heads 4 -> 3
expect_exit 1 "bad header field" "$LSC" generate --base "$T/hdr.bin" --tokenizer "$TOK"
one_line_stderr "bad header field" "$T/hdr.bin" "n_kv_heads = 3"
cp "$BIN" "$T/nan.bin"; chmod u+w "$T/nan.bin"
# a NaN in layer 1 of wq: 28 + 4 * (512*64 embed + 5*64 rms_att + 64*64 layer 0 of wq) + 12
poke '\000\000\300\177' $((28 + 4 * (512 * 64 + 5 * 64 + 64 * 64) + 12)) "$T/nan.bin"
expect_exit 1 "NaN in a tensor" "$LSC" generate --base "$T/nan.bin" --tokenizer "$TOK"
one_line_stderr "NaN in a tensor" "$T/nan.bin" "model.layers.1.self_attn.q_proj.weight" "NaN"

# ---- LoRA on the imported base ----
if [ -f data/fixtures/tiny.txt ]; then
    run "LoRA on the 512-token base without its tokenizer is refused" 2 train --base "$BIN" --task lm \
        --data data/fixtures/tiny.txt -o "$T/ad0" --steps 3 --quiet
    run "3-step LoRA on stories260K" 0 train --base "$BIN" --tokenizer "$TOK" --task lm --data data/fixtures/tiny.txt \
        -o "$T/ad" --steps 3 --batch 2 --ctx 32 --targets q,v,gate,down --rank 4 --eval-every 3 \
        --eval-batches 1 --quiet
    [ -f "$T/ad/adapter_model.safetensors" ] && grep -q "q_proj" "$T/ad/adapter_config.json" \
        && grep -q "gate_proj" "$T/ad/adapter_config.json" \
        && ok "the adapter is saved in PEFT layout (q_proj, gate_proj)" || bad "no PEFT adapter in $T/ad"
    run "generate with the adapter" 0 generate --base "$BIN" --tokenizer "$TOK" --adapter "$T/ad" \
        --temperature 0 --steps 20
    run "eval lm through the tokenizer, base and adapter" 0 eval --base "$BIN" --tokenizer "$TOK" --task lm \
        --data data/fixtures/tiny.txt --adapter "$T/ad" --windows 8 --ctx 32
    [ "$(grep -c '^/' "$T/o")" = 2 ] || [ "$(grep -c "$T/ad\|stories260K" "$T/o")" -ge 2 ]
    verdict "eval prints the base's and the adapter's token-level loss"
    run "eval lm on the 512-token base without its tokenizer is refused" 2 eval --base "$BIN" --task lm \
        --data data/fixtures/tiny.txt
    run "amplify with the llama2.c file as --base" 0 amplify "$T/ad" --base "$BIN" -o "$T/amp.h5"
    [ "$(grep '^model.layers' "$T/o" | cut -d' ' -f1 | sort -u | wc -l)" = 20 ] && ! grep -q "not found" "$T/e"
    verdict "amplify finds the base weight of all 20 modules in the llama2.c checkpoint"
    run "inspect --base the llama2.c file" 0 inspect "$T/ad" --base "$BIN"
    grep -q "|| all params: " "$T/o"
    verdict "inspect counts the llama2.c checkpoint's parameters"
else
    skip "3-step LoRA on stories260K" "data/fixtures/tiny.txt missing"
fi
finish
