#!/bin/sh
# data/fetch.sh — obtain lorascope's pretraining corpus and the WordNet
# noun-supersense task from Debian packages, deterministically.
#
# What it does: `apt-get download` the packages listed in PKGS into a
# temporary directory, unpack them there with `dpkg-deb -x` (nothing is
# installed: r-cran-* would pull in all of R and dict-devil a daemon), run
# the project's own extraction scripts (data/*.py, Python 3 stdlib only),
# check every output against data/SHA256SUMS and only then move the outputs
# into place. What it is not: a general downloader; it talks to apt only.
#
# Outputs (git-ignored; licences and the split rules in data/SOURCES.md):
#   data/corpus/{austen,mobydick,kjv,fortunes,jargon,devil}.txt  per source
#   data/corpus/pretrain_train.txt, pretrain_valid.txt  the last 5 % of each
#       source (cut at a paragraph boundary) is validation
#   data/tasks/supersense_{train,dev,test}.tsv  word<TAB>label; by
#       h = fnv1a32(word) % 10: test h == 0, dev h == 1, train the rest
#
# usage: data/fetch.sh [--force] [--verify] [--update-sums] [--out DIR] [--sums FILE]
#   (no option)    build the outputs if any is missing; if all exist, only
#                  verify them (fast)
#   --force        rebuild even when the outputs exist and verify
#   --verify       only verify the existing outputs; never downloads
#   --update-sums  rebuild and WRITE the checksum file instead of checking it
#                  (maintainers, after a deliberate change; commit the result)
#   --out DIR      output root (default: the directory of this script)
#   --sums FILE    checksum file (default: data/SHA256SUMS)
# exit status: 0 ok, 1 failure (missing tool or package, extraction error,
# checksum mismatch), 2 usage error.
#
# Needs: apt-get, dpkg-deb, sha256sum, /usr/bin/python3. `apt-get update` is
# run (as root) when apt-cache does not know the packages yet.
set -eu
export LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
PKGS="bible-kjv bible-kjv-text dict-devil fortunes fortunes-min jargon-text
      r-cran-janeaustenr r-cran-tokenizers wordnet-base"
SOURCES="austen mobydick kjv fortunes jargon devil"
OUTPUTS="corpus/austen.txt corpus/mobydick.txt corpus/kjv.txt corpus/fortunes.txt
         corpus/jargon.txt corpus/devil.txt corpus/pretrain_train.txt
         corpus/pretrain_valid.txt tasks/supersense_train.tsv tasks/supersense_dev.tsv
         tasks/supersense_test.tsv"
VALID_PERCENT=5

OUT=$HERE
SUMS=$HERE/SHA256SUMS
MODE=auto

say() { printf 'fetch.sh: %s\n' "$*"; }
die() { printf 'fetch.sh: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '/^# usage:/,/^# exit status/p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --force) MODE=force ;;
    --verify) MODE=verify ;;
    --update-sums) MODE=update ;;
    --out) [ $# -ge 2 ] || { echo "fetch.sh: --out needs a directory" >&2; exit 2; }
           OUT=$2; shift ;;
    --sums) [ $# -ge 2 ] || { echo "fetch.sh: --sums needs a file" >&2; exit 2; }
            SUMS=$2; shift ;;
    -h|--help) usage; echo "example: data/fetch.sh            # then: ls -l data/corpus data/tasks"; exit 0 ;;
    *) echo "fetch.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT=$(cd "$OUT" && pwd)
case $SUMS in /*) ;; *) SUMS=$(pwd)/$SUMS ;; esac

# ---- checksums ----

# want_sum FILE: the expected sha256 of output FILE (relative name), or "".
want_sum() {
    awk -v f="$1" '$2 == f || $2 == "*" f { print $1; exit }' "$SUMS"
}

# verify_tree DIR: checks every output under DIR against $SUMS; prints one
# line per problem on stderr; returns 1 on any problem.
verify_tree() {
    [ -f "$SUMS" ] || { echo "fetch.sh: error: checksum file $SUMS is missing (a maintainer creates it with --update-sums)" >&2; return 1; }
    bad=0
    for f in $OUTPUTS; do
        want=$(want_sum "$f")
        if [ -z "$want" ]; then
            echo "fetch.sh: error: $SUMS has no checksum for $f" >&2; bad=1; continue
        fi
        if [ ! -f "$1/$f" ]; then
            echo "fetch.sh: error: $1/$f is missing" >&2; bad=1; continue
        fi
        got=$(sha256sum < "$1/$f" | cut -d' ' -f1)
        if [ "$got" != "$want" ]; then
            echo "fetch.sh: error: CHECKSUM MISMATCH for $1/$f: expected $want, got $got" >&2
            bad=1
        fi
    done
    return $bad
}

all_exist() {
    for f in $OUTPUTS; do [ -f "$OUT/$f" ] || return 1; done
    return 0
}

report() {
    src=0
    say "outputs in $OUT:"
    for f in $OUTPUTS; do
        case $f in
        *.txt) n=$(wc -c < "$OUT/$f"); unit=bytes ;;
        *)     n=$(wc -l < "$OUT/$f"); unit=items ;;
        esac
        case $f in corpus/pretrain_*) ;; corpus/*) src=$((src + n)) ;; esac
        printf '    %-28s %10d %s\n' "$f" "$n" "$unit"
    done
    printf '    %-28s %10d bytes\n' "(the six sources together)" "$src"
}

if [ "$MODE" = verify ]; then
    verify_tree "$OUT" || die "verification failed ($OUT against $SUMS)"
    say "all $(echo $OUTPUTS | wc -w) outputs match $SUMS"
    exit 0
fi

mismatch_hint="if a Debian package changed on purpose, inspect the new outputs and run 'data/fetch.sh --update-sums', then commit data/SHA256SUMS"

if [ "$MODE" = auto ] && all_exist; then
    verify_tree "$OUT" || die "existing outputs do not match $SUMS; rebuild them with 'data/fetch.sh --force' ($mismatch_hint)"
    say "up to date (all outputs present and verified; --force rebuilds)"
    report
    exit 0
fi

# ---- build ----

for tool in apt-get apt-cache dpkg-deb sha256sum; do
    command -v $tool >/dev/null 2>&1 || die "'$tool' not found: this script needs a Debian/Ubuntu system with apt"
done
[ -x "$PY" ] || die "$PY not found (apt-get install python3)"

START=$(date +%s)
mkdir -p "$OUT/raw"
# one build at a time per output directory (experiments may start several)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUT/raw/.fetch.lock"
    flock 9
    if [ "$MODE" = auto ] && all_exist; then     # another process finished it meanwhile
        verify_tree "$OUT" || die "existing outputs do not match $SUMS ($mismatch_hint)"
        say "up to date (built by another process)"
        exit 0
    fi
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/lsc-fetch.XXXXXX")
STAGE=$(mktemp -d "$OUT/raw/stage.XXXXXX")
cleanup() { rm -rf "$W" "$STAGE"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
chmod 755 "$W"
mkdir "$W/debs" "$W/root" "$STAGE/corpus" "$STAGE/tasks"
chmod 777 "$W/debs"          # lets apt's _apt user write there (no "unsandboxed" warning)

missing=""
for p in $PKGS; do
    apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        say "apt does not know$missing yet: running apt-get update"
        apt-get update -qq || die "apt-get update failed"
    else
        die "apt does not know$missing: run 'sudo apt-get update' once, then retry"
    fi
    for p in $PKGS; do
        apt-cache show --no-all-versions "$p" >/dev/null 2>&1 ||
            die "package $p is not available from the configured apt sources (Debian 12 'main' has it)"
    done
fi

say "downloading:" $PKGS
(cd "$W/debs" && apt-get download -q $PKGS) > "$W/apt.log" 2>&1 ||
    { cat "$W/apt.log" >&2; die "apt-get download failed"; }
for d in $(ls "$W"/debs/*.deb | sort); do
    dpkg-deb -x "$d" "$W/root" || die "dpkg-deb -x $d failed"
    printf '%s\t%s\t%s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)" \
        "$(sha256sum < "$d" | cut -d' ' -f1)"
done > "$STAGE/packages.tsv"
say "unpacked $(wc -l < "$STAGE/packages.tsv") packages"

R=$W/root
RLIB=$R/usr/lib/R/site-library
C=$STAGE/corpus
ct() { "$PY" "$HERE/corpus_text.py" "$@"; }

ct austen   "$RLIB/janeaustenr/data/Rdata"               > "$C/austen.txt"   || die "extracting Jane Austen failed"
ct mobydick "$RLIB/tokenizers/data/Rdata"                > "$C/mobydick.txt" || die "extracting Moby Dick failed"
# bible(1) runs from the unpacked tree: -p points it at bible.data there
"$R/usr/bin/bible" -l 10000 -p "$R/usr/lib" 'gen1:1-rev22:21' > "$W/bible.out" ||
    die "the bible program from bible-kjv failed (it needs libreadline8)"
ct kjv < "$W/bible.out"                                  > "$C/kjv.txt"      || die "extracting the KJV failed"
ct fortunes "$R/usr/share/games/fortunes"                > "$C/fortunes.txt" || die "extracting fortunes failed"
ct jargon   "$R/usr/share/doc/jargon-text/jargon.txt.gz" > "$C/jargon.txt"   || die "extracting the Jargon File failed"
ct devil    "$R/usr/share/dictd/devil.dict.dz"           > "$C/devil.txt"    || die "extracting the Devil's Dictionary failed"
set --
for s in $SOURCES; do set -- "$@" "$C/$s.txt"; done
ct split $VALID_PERCENT "$C/pretrain_train.txt" "$C/pretrain_valid.txt" "$@" ||
    die "splitting the corpus failed"
"$PY" "$HERE/wordnet_supersense.py" "$R/usr/share/wordnet" \
    "$STAGE/tasks/supersense_train.tsv" "$STAGE/tasks/supersense_dev.tsv" \
    "$STAGE/tasks/supersense_test.tsv" ||
    die "building the supersense task failed"

for f in $OUTPUTS; do
    [ -s "$STAGE/$f" ] || die "extraction produced an empty $f"
done

if [ "$MODE" = update ]; then
    (cd "$STAGE" && sha256sum $OUTPUTS) > "$SUMS.tmp.$$"
    mv "$SUMS.tmp.$$" "$SUMS"
    say "wrote $SUMS (commit it)"
elif ! verify_tree "$STAGE"; then
    mkdir -p "$OUT/raw/rejected"
    for f in $OUTPUTS; do mkdir -p "$OUT/raw/rejected/$(dirname "$f")"; mv "$STAGE/$f" "$OUT/raw/rejected/$f"; done
    cp "$STAGE/packages.tsv" "$OUT/raw/rejected/packages.tsv"
    die "the new outputs do not match $SUMS; nothing was replaced; they are in $OUT/raw/rejected/ ($mismatch_hint)"
fi

mkdir -p "$OUT/corpus" "$OUT/tasks"
for f in $OUTPUTS; do mv -f "$STAGE/$f" "$OUT/$f"; done
mv -f "$STAGE/packages.tsv" "$OUT/raw/packages.tsv"
report
say "packages used: $OUT/raw/packages.tsv; done in $(( $(date +%s) - START )) s"
