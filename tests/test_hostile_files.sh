#!/bin/sh
# test_hostile_files.sh — issue 15: a FIFO, a directory or a device given
# where a file is expected is refused at once ("FILE: not a regular file")
# instead of blocking: every subcommand that reads a file gets each of the
# three in each file slot, under `timeout 10`, and must exit 1 with one
# stderr line naming the file. Directories where a directory is expected
# stay accepted (an adapter directory whose files are FIFOs is refused).
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3 with numpy
# (tests/make_adapters.py). Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir hostile_files
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
TINY=data/fixtures/tiny.txt

if ! /usr/bin/python3 tests/make_adapters.py suite "$T/s" >/dev/null 2>"$T/gen.err"; then
    bad "make_adapters.py suite: $(head -c 300 "$T/gen.err")"; finish
fi
A="$T/s/a8"
W="$T/s/base_a.safetensors"
"$LSC" pretrain --profile tiny --steps 2 -o "$T/base.safetensors" --quiet >/dev/null 2>&1 \
    || bad "pretrain a tiny base"
B="$T/base.safetensors"
mkdir "$T/cur"

mkfifo "$T/fifo.bin" && mkdir "$T/dir.bin" || { bad "mkfifo/mkdir"; finish; }

# hostile NAME ARGS...: each @ in ARGS is replaced by a FIFO, then a file
# slot holding a directory (only when the slot expects a file: NAME without
# a trailing "+dir-ok"), then /dev/zero; every run must exit 1 within 10 s
# with one stderr line naming the path
hostile() {
    _hn=$1; shift
    for _bad in "$T/fifo.bin" "$T/dir.bin" /dev/zero; do
        case "$_hn:$_bad" in *+dir-ok:*dir.bin) continue ;; esac
        _args=""
        for _a in "$@"; do
            [ "$_a" = @ ] && _a=$_bad
            _args="$_args '$_a'"
        done
        eval "set -- $_args"
        expect_exit 1 "$_hn <- $_bad" timeout 10 "$LSC" "$@"
        one_line_stderr "$_hn <- $_bad" "$_bad"
        # restore the @ placeholder for the next kind
        _args=""
        for _a in "$@"; do
            [ "$_a" = "$_bad" ] && _a=@
            _args="$_args '$_a'"
        done
        eval "set -- $_args"
    done
}

hostile "inspect PATH+dir-ok"      inspect @
hostile "inspect --base"           inspect "$A" --base @
hostile "quantize"                 quantize @ -o "$T/q.safetensors"
hostile "dequantize"               dequantize @ -o "$T/d.safetensors"
hostile "spectrum ADAPTER+dir-ok"  spectrum @ -o "$T/o.h5" --factors-only
hostile "subspace ADAPTER2+dir-ok" subspace "$A" @ -o "$T/o.h5" --factors-only
hostile "amplify --base"           amplify "$A" --base @ -o "$T/o.h5"
hostile "deltaspec --base"         deltaspec --base @ --finetuned "$W" -o "$T/o.h5"
hostile "deltaspec --finetuned"    deltaspec --base "$W" --finetuned @ -o "$T/o.h5"
hostile "quanterr BASE"            quanterr @ "$A" -o "$T/o.h5"
hostile "collect MANIFEST"         collect @ -o "$T/o.h5"
hostile "regress --baseline"       regress --baseline @ --current "$T/cur"
hostile "regress --print"          regress --print @
hostile "train --base"             train --base @ --task lm --data "$TINY" -o "$T/t" --quiet
hostile "train --data"             train --base "$B" --task lm --data @ -o "$T/t" --quiet
hostile "eval --base"              eval --base @ --data "$TINY"
hostile "eval --data"              eval --base "$B" --data @
hostile "merge --base"             merge --base @ --adapter "$A" -o "$T/m.safetensors"
hostile "generate --base"          generate --base @ --prompt hi --tokens 2
hostile "generate --tokenizer"     generate --base "$B" --tokenizer @ --steps 2

# an adapter directory (a directory where one is expected) holding a FIFO
mkdir "$T/fa"
cp "$A/adapter_config.json" "$T/fa/"
mkfifo "$T/fa/adapter_model.safetensors"
expect_exit 1 "inspect: adapter weights are a FIFO" timeout 10 "$LSC" inspect "$T/fa"
one_line_stderr "inspect: adapter weights are a FIFO" "adapter_model.safetensors" "not a regular file"
rm "$T/fa/adapter_model.safetensors"; cp "$A/adapter_model.safetensors" "$T/fa/"
rm "$T/fa/adapter_config.json"; mkfifo "$T/fa/adapter_config.json"
expect_exit 1 "inspect: adapter config is a FIFO" timeout 10 "$LSC" inspect "$T/fa"
one_line_stderr "inspect: adapter config is a FIFO" "adapter_config.json" "not a regular file"
# the directory itself is still accepted where a directory is expected
run "inspect an adapter directory" 0 inspect "$A"

finish
