#!/bin/sh
# test_publish_dir.sh — issue 15's leftovers (brief i12), directories that
# change in one step:
#  - `merge --hf` writes the Hugging Face folder into a temporary sibling and
#    exchanges it with the old one: sharded -> single and single -> sharded
#    leave exactly the new weight files (no old shard, index or
#    model.safetensors shadowing the new ones), a tokenizer.json of the old
#    folder is kept; a full disk (tests/faultinj.c, from the first byte and
#    after 3000 bytes) exits 1 naming the folder's file and "No space left on
#    device", leaves the old folder byte-identical and no temporary; a kill at
#    every rename in turn leaves the old folder or the new one, never a mix;
#    -o LINK (a symlink to a folder) replaces the target, the link stays;
#  - a fresh `train -o OUT` (no --resume) removes the OUT.tmp.XXXXXX (and
#    OUT/FILE.tmp.XXXXXX) a killed run left, only exactly that pattern, only
#    the user's own (another owner's kept when we can chown), never a symlink;
#  - `train -o LINK`, LINK a symlink to a directory: the adapter is written
#    into the target (resolved, not refused), the link stays a link.
# Needs $LSC_BIN (default build/lorascope), cc. Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
. tests/lib.sh
LSC=${LSC_BIN:-$ROOT/build/lorascope}
tmpdir publish_dir
export OMP_NUM_THREADS=1
TINY=data/fixtures/tiny.txt

# ---- fixtures ----
if ! cc -shared -fPIC -o "$T/faultinj.so" tests/faultinj.c -ldl 2>"$T/cc.err"; then
    bad "build tests/faultinj.c: $(head -n 3 "$T/cc.err")"; finish
fi
ASAN_RT=$(ldd "$LSC" 2>/dev/null | awk '/libasan/ { print $3 }')
FI=${ASAN_RT:+$ASAN_RT:}$T/faultinj.so
B=$T/base.safetensors
"$LSC" pretrain --profile tiny --arch llama --steps 2 --data "$TINY" --quiet -o "$B" >/dev/null 2>"$T/e" ||
    { bad "pretrain a Llama base: $(head -n 2 "$T/e")"; finish; }
TR="--base $B --data $TINY --targets q,v --steps 2 --batch 2 --quiet"
"$LSC" train $TR --rank 2 -o "$T/a_old" >/dev/null 2>"$T/e" &&
    "$LSC" train $TR --rank 4 --seed 2 -o "$T/a_new" >/dev/null 2>"$T/e" || { bad "train adapters: $(head -n 2 "$T/e")"; finish; }
# OLD: sharded (3 shards + index) with a tokenizer; NEW: one model.safetensors with the same tokenizer
"$LSC" merge --base "$B" --adapter "$T/a_old" --hf --shard-size 100000 -o "$T/OLD" >/dev/null 2>"$T/e" &&
    "$LSC" merge --base "$B" --adapter "$T/a_new" --hf -o "$T/NEW" >/dev/null 2>>"$T/e" ||
    { bad "merge the reference folders: $(head -n 2 "$T/e")"; finish; }
echo '{"tokenizer": "kept"}' >"$T/OLD/tokenizer.json"; cp "$T/OLD/tokenizer.json" "$T/NEW/"
[ -f "$T/OLD/model-00003-of-00003.safetensors" ] && [ -f "$T/OLD/model.safetensors.index.json" ] &&
    [ -f "$T/NEW/model.safetensors" ] && [ ! -f "$T/NEW/model.safetensors.index.json" ] ||
    { bad "the reference folders are not sharded/single as meant"; finish; }

# same_dir A B: the same names (files) and the same bytes in each
same_dir() {
    [ "$(cd "$1" && ls -A)" = "$(cd "$2" && ls -A)" ] || return 1
    for f in "$2"/*; do cmp -s "$f" "$1/$(basename "$f")" || return 1; done
}
# fresh NAME REF: $T/NAME a copy of the folder REF
fresh() { rm -rf "$T/$1" "$T/$1".tmp.*; cp -r "$2" "$T/$1"; }
MOLD="merge --base $B --adapter $T/a_old --hf --shard-size 100000"
MNEW="merge --base $B --adapter $T/a_new --hf"

# ---- the folder changes whole, old weight files dropped, the tokenizer kept ----
fresh D "$T/OLD"
"$LSC" $MNEW -o "$T/D" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && same_dir "$T/D" "$T/NEW" && [ -z "$(ls -d "$T"/D.tmp.* 2>/dev/null)" ]
verdict "merge --hf over a sharded folder: exactly config.json, model.safetensors, tokenizer.json (no old shard or index), no temporary"
fresh D "$T/NEW"
"$LSC" $MOLD -o "$T/D" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && same_dir "$T/D" "$T/OLD" && [ -z "$(ls -d "$T"/D.tmp.* 2>/dev/null)" ]
verdict "merge --hf over a single-file folder: 3 shards + index, no old model.safetensors shadowing them, tokenizer kept"
rm -rf "$T/D"
"$LSC" $MNEW -o "$T/D" >/dev/null 2>"$T/e" && [ -f "$T/D/model.safetensors" ] && [ -f "$T/D/config.json" ]
verdict "merge --hf into a folder that does not exist yet"
echo file >"$T/F"
expect_error 1 "exists and is not a directory" "merge --hf -o FILE is refused, the file untouched" -- "$LSC" $MNEW -o "$T/F"
[ "$(cat "$T/F")" = file ] || bad "merge --hf -o FILE changed the file"

# ---- a full disk leaves the old folder byte-identical and no temporary ----
for after in 0 3000; do
    fresh D "$T/OLD"
    env LD_PRELOAD="$FI" FAULTINJ_ENOSPC_AFTER=$after "$LSC" $MNEW -o "$T/D" >"$T/o" 2>"$T/e"; rc=$?
    left=$(find "$T" -name 'D.tmp.*' -o -path "$T/D/*.tmp.*")
    if [ $rc = 1 ] && [ "$(grep -c . "$T/e")" -le 2 ] && head -n 1 "$T/e" | grep -q "No space left on device" &&
        head -n 1 "$T/e" | grep -qF "$T/D/" && ! grep -q "D\.tmp\." "$T/e" && [ -z "$left" ] && same_dir "$T/D" "$T/OLD"; then
        ok "merge --hf, disk full after $after bytes: exit 1, '$(head -n 1 "$T/e" | sed "s|$T/||")', old folder intact, no temporary"
    else bad "merge --hf, disk full after $after bytes: exit $rc ($(head -n 2 "$T/e" | tr '\n' ' ')), left [$left]"; fi
done

# ---- killed at every rename in turn: the old folder or the new one ----
k=1; mixed=0; kills=0
while [ $k -le 30 ]; do
    fresh D "$T/NEW"
    env LD_PRELOAD="$FI" FAULTINJ_KILL_RENAME=$k "$LSC" $MOLD -o "$T/D" >/dev/null 2>&1; rc=$?
    if ! same_dir "$T/D" "$T/OLD" && ! same_dir "$T/D" "$T/NEW"; then
        mixed=$((mixed + 1)); echo "  killed at rename $k: $(cd "$T/D" && ls -A | tr '\n' ' ')"
    fi
    [ $rc = 137 ] || break
    kills=$((kills + 1)); k=$((k + 1))
done
[ $kills -ge 4 ] && [ $mixed = 0 ] && [ $rc = 0 ] && same_dir "$T/D" "$T/OLD" &&
    ok "merge --hf killed at each of its $kills renames: the old folder or the new one, never a mix; the full run gives the new one" ||
    bad "merge --hf kills: $mixed of $kills left a mix (last run exit $rc)"

# ---- a merge removes the stale temporaries an interrupted merge left (ours only) ----
fresh D "$T/OLD"
mkdir "$T/D.tmp.Ab12Z9"; echo x >"$T/D.tmp.Ab12Z9/model.safetensors"; echo x >"$T/D.tmp.q0q0q0"
echo keep >"$T/D.tmp.notours"; echo keep >"$T/D.tmp.abc12"
"$LSC" $MNEW -o "$T/D" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && same_dir "$T/D" "$T/NEW" && [ ! -e "$T/D.tmp.Ab12Z9" ] && [ ! -e "$T/D.tmp.q0q0q0" ] &&
    [ -f "$T/D.tmp.notours" ] && [ -f "$T/D.tmp.abc12" ] && grep -q "removed 2 temporaries" "$T/e"
verdict "merge --hf removes the D.tmp.XXXXXX a killed merge left (a folder and a file), not other names"
rm -f "$T/D.tmp.notours" "$T/D.tmp.abc12"
M1=$T/m1.safetensors
echo x >"$T/m1.safetensors.tmp.zz99zz"
"$LSC" merge --base "$B" --adapter "$T/a_new" -o "$M1" >/dev/null 2>"$T/e" && [ -f "$M1" ] && [ ! -e "$T/m1.safetensors.tmp.zz99zz" ]
verdict "merge -o FILE removes FILE.tmp.XXXXXX a killed merge left"

# ---- a file system without RENAME_EXCHANGE: the file-by-file fallback gives the same result ----
fresh D "$T/OLD"
env LD_PRELOAD="$FI" FAULTINJ_NO_EXCHANGE=1 "$LSC" $MNEW -o "$T/D" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && same_dir "$T/D" "$T/NEW" && [ -z "$(ls -d "$T"/D.tmp.* 2>/dev/null)" ]
verdict "no RENAME_EXCHANGE: merge --hf over a sharded folder still gives exactly the new folder (old shards and index dropped, tokenizer kept), no temporary"
fresh D "$T/NEW"
env LD_PRELOAD="$FI" FAULTINJ_NO_EXCHANGE=1 "$LSC" $MOLD -o "$T/D" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && same_dir "$T/D" "$T/OLD" && [ -z "$(ls -d "$T"/D.tmp.* 2>/dev/null)" ]
verdict "no RENAME_EXCHANGE: merge --hf over a single-file folder gives the 3 shards + index and no stale model.safetensors"
cp -r "$T/a_old" "$T/ax" && echo note >"$T/ax/notes.txt"
env LD_PRELOAD="$FI" FAULTINJ_NO_EXCHANGE=1 "$LSC" train $TR --rank 4 --seed 2 -o "$T/ax" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && cmp -s "$T/ax/adapter_model.safetensors" "$T/a_new/adapter_model.safetensors" &&
    cmp -s "$T/ax/adapter_config.json" "$T/a_new/adapter_config.json" && [ "$(cat "$T/ax/notes.txt")" = note ] &&
    [ -z "$(ls -d "$T"/ax.tmp.* 2>/dev/null)" ]
verdict "no RENAME_EXCHANGE: train over an adapter directory writes the new adapter, keeps the user's other files, no temporary"

# ---- -o LINK: the target is replaced, the link stays ----
fresh TGT "$T/OLD"; ln -s "$T/TGT" "$T/LNK"
"$LSC" $MNEW -o "$T/LNK" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && [ -L "$T/LNK" ] && same_dir "$T/TGT" "$T/NEW" && [ -z "$(ls -d "$T"/LNK.tmp.* "$T"/TGT.tmp.* 2>/dev/null)" ]
verdict "merge --hf -o LINK: the link's target holds the new folder, LINK is still a symlink, no temporary"

# ---- a fresh train run removes its outputs' stale temporaries, only ours ----
R=$T/run
"$LSC" train $TR --rank 2 -o "$R" >/dev/null 2>"$T/e" || bad "train into run/: $(head -n 2 "$T/e")"
echo victim >"$T/victim"
mkdir "$R.tmp.Ab12Cd"; cp "$R/adapter_config.json" "$R.tmp.Ab12Cd/"          # the old adapter after a kill past the exchange
echo x >"$R/train_state.safetensors.tmp.Xy34Zz"                              # a killed checkpoint write
echo keep >"$R.tmp.toolong1"; echo keep >"$R.tmpAb12Cd"; echo keep >"$R/notes.tmp.Ab12Cd"   # not the pattern
ln -s "$T/victim" "$R.tmp.Q1w2E3"                                             # a symlink: never ours
other=""
if [ "$(id -u)" = 0 ]; then
    echo keep >"$R.tmp.Nb0dy1" && chown 65534 "$R.tmp.Nb0dy1" && other=y    # another user's
fi
"$LSC" train $(echo "$TR" | sed 's/ --quiet//') --rank 2 -o "$R" >"$T/o" 2>"$T/e"; rc=$?
[ $rc = 0 ] && [ ! -e "$R.tmp.Ab12Cd" ] && [ ! -e "$R/train_state.safetensors.tmp.Xy34Zz" ] &&
    [ -f "$R.tmp.toolong1" ] && [ -f "$R.tmpAb12Cd" ] && [ -f "$R/notes.tmp.Ab12Cd" ] && [ -L "$R.tmp.Q1w2E3" ] &&
    [ "$(cat "$T/victim")" = victim ] && grep -q "removed 2 temporaries left by an interrupted run" "$T/e" ||
    { echo "  exit $rc: $(ls -d "$R".tmp* "$R"/*.tmp.* 2>/dev/null | tr '\n' ' ') / $(grep removed "$T/e")"; false; }
verdict "a fresh train -o OUT removes OUT.tmp.XXXXXX (a directory) and OUT/FILE.tmp.XXXXXX, keeps other names and a symlink"
if [ -n "$other" ]; then
    [ -f "$R.tmp.Nb0dy1" ]; verdict "... and keeps another user's OUT.tmp.XXXXXX"
else skip "another user's temporary kept" "not root: cannot chown a file to another user"; fi
rm -f "$R".tmp*

# ---- train -o LINK: written into the link's target ----
mkdir "$T/tdir"; ln -s "$T/tdir" "$T/tlink"
"$LSC" train $TR --rank 2 -o "$T/tlink" >/dev/null 2>"$T/e"; rc=$?
[ $rc = 0 ] && [ -L "$T/tlink" ] && [ -f "$T/tdir/adapter_config.json" ] && [ -f "$T/tdir/adapter_model.safetensors" ] &&
    [ -f "$T/tdir/train_log.h5" ] && [ -z "$(ls -d "$T"/tlink.tmp.* "$T"/tdir.tmp.* 2>/dev/null)" ]
verdict "train -o LINK (a symlink to a directory): the adapter and log in the target, LINK still a link, no temporary"
"$LSC" train $TR --rank 4 --seed 3 -o "$T/tlink" >/dev/null 2>"$T/e" && [ -L "$T/tlink" ] &&
    grep -q '"r": 4' "$T/tdir/adapter_config.json" && [ -f "$T/tdir/train_log.h5" ]
verdict "train -o LINK again: the target's adapter replaced in one step, the link kept"

finish
