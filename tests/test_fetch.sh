#!/bin/sh
# test_fetch.sh — data/fetch.sh without the network: its command line, the
# checksum verification on a synthetic output tree (a corrupted, missing or
# unlisted output must fail loudly and name the file; nothing is downloaded
# when all outputs exist), the committed data/SHA256SUMS, the split rule of
# data/corpus_text.py, and — when data/fetch.sh has been run here — the real
# outputs against data/SHA256SUMS. Never downloads. Run from anywhere.
set -u
cd "$(dirname "$0")/.." || exit 1
FETCH=${LSC_FETCH:-data/fetch.sh}   # override only to test this test
PY=/usr/bin/python3
. tests/lib.sh
tmpdir fetch

OUTPUTS="corpus/austen.txt corpus/mobydick.txt corpus/kjv.txt corpus/fortunes.txt
         corpus/jargon.txt corpus/devil.txt corpus/pretrain_train.txt
         corpus/pretrain_valid.txt tasks/supersense_train.tsv tasks/supersense_dev.tsv
         tasks/supersense_test.tsv"

# ---- command line ----
sh $FETCH --help > "$T/help" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'usage: data/fetch.sh' "$T/help"; verdict "--help exits 0 and shows usage"
sh $FETCH --bogus > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q "unknown option '--bogus'" "$T/err"; verdict "unknown option exits 2 with a message"
sh $FETCH --out > /dev/null 2>&1; rc=$?
[ $rc = 2 ]; verdict "--out without a directory exits 2"

# ---- verification on a synthetic output tree ----
O=$T/out
mkdir -p "$O/corpus" "$O/tasks"
for f in $OUTPUTS; do printf 'content of %s\n' "$f" > "$O/$f"; done
(cd "$O" && sha256sum $OUTPUTS) > "$T/SUMS"

sh $FETCH --verify --out "$O" --sums "$T/SUMS" > "$T/log" 2>&1; rc=$?
[ $rc = 0 ]; verdict "--verify passes on an intact tree"
sh $FETCH --out "$O" --sums "$T/SUMS" > "$T/log" 2>&1; rc=$?
[ $rc = 0 ] && grep -q 'up to date' "$T/log" && ! grep -q 'downloading' "$T/log"; verdict "default mode with intact outputs: up to date, no download"

printf 'x' >> "$O/corpus/kjv.txt"                      # corrupt one output
sh $FETCH --verify --out "$O" --sums "$T/SUMS" > "$T/log" 2>&1; rc=$?
[ $rc = 1 ]; verdict "--verify detects a corrupted output (exit 1)"
grep -q "CHECKSUM MISMATCH for $O/corpus/kjv.txt" "$T/log"; verdict "the mismatch message names the file"
n=$(grep -c 'CHECKSUM MISMATCH' "$T/log")
[ "$n" = 1 ]; verdict "only the corrupted file is reported ($n)"
sh $FETCH --out "$O" --sums "$T/SUMS" > "$T/log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q 'CHECKSUM MISMATCH' "$T/log" && grep -q -- '--force' "$T/log" && ! grep -q 'downloading' "$T/log"; verdict "default mode with a corrupted output fails, does not download"
[ "$(tail -c 1 "$O/corpus/kjv.txt")" = x ]; verdict "the corrupted file was left as it was"

printf 'content of %s\n' corpus/kjv.txt > "$O/corpus/kjv.txt"
rm "$O/tasks/supersense_dev.tsv"
sh $FETCH --verify --out "$O" --sums "$T/SUMS" > "$T/log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "supersense_dev.tsv is missing" "$T/log"; verdict "--verify detects a missing output"
printf 'content of %s\n' tasks/supersense_dev.tsv > "$O/tasks/supersense_dev.tsv"

grep -v 'corpus/devil.txt' "$T/SUMS" > "$T/SUMS2"
sh $FETCH --verify --out "$O" --sums "$T/SUMS2" > "$T/log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "has no checksum for corpus/devil.txt" "$T/log"; verdict "an output without a checksum line fails"
sh $FETCH --verify --out "$O" --sums "$T/none" > "$T/log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "checksum file $T/none is missing" "$T/log"; verdict "a missing checksum file fails"

# ---- the committed checksum file ----
n=$(grep -c -E '^[0-9a-f]{64}  (corpus|tasks)/[a-z_]+\.(txt|tsv)$' data/SHA256SUMS 2>/dev/null)
[ "$n" = 11 ] && [ "$(wc -l < data/SHA256SUMS)" = 11 ]; verdict "data/SHA256SUMS has one well-formed line per output ($n)"
missing=""
for f in $OUTPUTS; do grep -q "  $f\$" data/SHA256SUMS || missing="$missing $f"; done
[ -z "$missing" ]; verdict "data/SHA256SUMS lists every output${missing:+ (missing:$missing)}"

# ---- the split rule of corpus_text.py ----
if [ -x "$PY" ]; then
    printf 'aaa\n\nbbb\n\nccc\n' > "$T/s1.txt"          # 15 bytes; 50 % -> cut 7
    printf 'l1\nl2\nl3\nl4\n' > "$T/s2.txt"             # no paragraph: line boundary
    PYTHONDONTWRITEBYTECODE=1 $PY data/corpus_text.py split 50 "$T/tr" "$T/va" "$T/s1.txt" "$T/s2.txt"; rc=$?
    [ $rc = 0 ]; verdict "corpus_text.py split runs"
    [ "$(od -An -c "$T/tr" | tr -d ' \n')" = 'aaa\n\nbbb\n\nl1\nl2\n' ]; verdict "split: paragraph boundary, parts joined by a blank line"
    [ "$(od -An -c "$T/va" | tr -d ' \n')" = 'ccc\n\nl3\nl4\n' ]; verdict "split: validation tails"
else
    skip "corpus_text.py split" "$PY not found"
fi

# ---- the real outputs, when data/fetch.sh has been run ----
have=1
for f in $OUTPUTS; do [ -f "data/$f" ] || have=0; done
if [ $have = 1 ]; then
    sh $FETCH --verify > "$T/log" 2>&1; rc=$?
    [ $rc = 0 ]; verdict "the real outputs in data/ match data/SHA256SUMS"
    [ $rc = 0 ] || sed 's/^/    /' "$T/log"
else
    if command -v apt-get > /dev/null 2>&1; then
        skip "the real outputs in data/ match data/SHA256SUMS" \
            "data/corpus or data/tasks incomplete: run data/fetch.sh; tests never download"
    else
        skip "the real outputs in data/ match data/SHA256SUMS" "apt is unavailable here and data/ has no outputs"
    fi
fi

finish
