#!/bin/sh
# test_gnuplot_spawn.sh — issue 15: gnuplot is started without a shell (an
# argument vector through posix_spawnp), so a plot directory or $LSC_PLOTS
# whose name holds `;touch HACKED;` (or a quote before it) runs nothing; a
# gnuplot that exits non-zero, writes nothing or leaves a truncated PNG /
# an SVG without </svg> makes the command fail with one stderr line naming
# gnuplot or the figure. Fake gnuplots come first in PATH.
# Needs $LSC_BIN (default build/lorascope), /usr/bin/python3 with numpy and,
# for the real-plot checks, gnuplot. Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
ROOT=$PWD
tmpdir gnuplot_spawn
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

if ! /usr/bin/python3 tests/make_adapters.py suite "$T/s" >/dev/null 2>"$T/gen.err"; then
    bad "make_adapters.py suite: $(head -c 300 "$T/gen.err")"; finish
fi
A="$T/s/a8"
mkdir "$T/w"
cd "$T/w" || finish

no_hacked() {
    if [ -e "$T/w/HACKED" ] || [ -e "$T/HACKED" ] || [ -e "$ROOT/HACKED" ]; then
        bad "$1: a HACKED file was created"; rm -f "$T/w/HACKED" "$T/HACKED" "$ROOT/HACKED"
    else ok "$1: no HACKED file"; fi
}

# ---- real gnuplot: hostile directory names run nothing ----
if command -v gnuplot >/dev/null 2>&1; then
    D='p;touch HACKED;'
    run "--plots 'p;touch HACKED;'" 0 spectrum "$A" -o "$T/o1.h5" --plots "$D"
    [ -s "$D/spectrum.png" ] && [ -s "$D/spectrum.svg" ]; verdict "--plots with ';': figures written"
    no_hacked "--plots with ';'"
    P="$T/pl';touch HACKED;'"
    cp -r "$ROOT/plots" "$P"
    LSC_PLOTS=$P expect_exit 0 "LSC_PLOTS with a quote and ';'" "$LSC" spectrum "$A" -o "$T/o2.h5" --plots "$T/w/q"
    [ -s "$T/w/q/spectrum.png" ]; verdict "LSC_PLOTS with a quote and ';': figure written"
    no_hacked "LSC_PLOTS with a quote and ';'"
else
    skip "real gnuplot checks" "gnuplot not installed"
fi

# ---- fake gnuplots ----
mkdir "$T/bin1" "$T/bin2" "$T/bin3"
printf '#!/bin/sh\necho "fake gnuplot: boom" >&2\nexit 1\n' >"$T/bin1/gnuplot"
printf '#!/bin/sh\nexit 0\n' >"$T/bin2/gnuplot"
# a truncated PNG (no IEND) and an SVG without </svg>, into the cwd's q2/
cat >"$T/bin3/gnuplot" <<'SH'
#!/bin/sh
printf '\211PNG\r\n\032\n0000' > f/spectrum.png
printf '<svg xmlns="http://www.w3.org/2000/svg">' > f/spectrum.svg
exit 0
SH
chmod +x "$T/bin1/gnuplot" "$T/bin2/gnuplot" "$T/bin3/gnuplot"

PATH="$T/bin1:$PATH" expect_exit 1 "gnuplot exits 1" "$LSC" spectrum "$A" -o "$T/o3.h5" --plots f
one_line_stderr "gnuplot exits 1" "gnuplot failed" "spectrum.gp" "exit status 1"

# a stale figure from an earlier run must not pass for the new one
printf 'stale' >f/spectrum.png
PATH="$T/bin2:$PATH" expect_exit 1 "gnuplot writes nothing" "$LSC" spectrum "$A" -o "$T/o4.h5" --plots f
one_line_stderr "gnuplot writes nothing" "f/spectrum.png"

PATH="$T/bin3:$PATH" expect_exit 1 "truncated PNG" "$LSC" spectrum "$A" -o "$T/o5.h5" --plots f
one_line_stderr "truncated PNG" "f/spectrum.png" "no complete png"

cat >"$T/bin3/gnuplot" <<'SH'
#!/bin/sh
cp "$REALPNG" f/spectrum.png
: > f/spectrum.svg
exit 0
SH
if [ -s "$T/w/q/spectrum.png" ]; then
    REALPNG="$T/w/q/spectrum.png" PATH="$T/bin3:$PATH" expect_exit 1 "empty SVG" \
        "$LSC" spectrum "$A" -o "$T/o6.h5" --plots f
    one_line_stderr "empty SVG" "f/spectrum.svg" "no complete svg"
fi
if [ -s "$T/w/q/spectrum.png" ] && [ -s "$T/w/q/spectrum.svg" ]; then
    grep -q '%%EOF' "$T/w/q/spectrum.pdf" 2>/dev/null; verdict "real gnuplot: the PDF beside PNG and SVG ends with %%EOF"
    # a PDF cut before its %%EOF trailer
    cat >"$T/bin3/gnuplot" <<'SH'
#!/bin/sh
cp "$REALPNG" f/spectrum.png
cp "$REALSVG" f/spectrum.svg
printf '%%PDF-1.5\n1 0 obj\n' > f/spectrum.pdf
exit 0
SH
    REALPNG="$T/w/q/spectrum.png" REALSVG="$T/w/q/spectrum.svg" PATH="$T/bin3:$PATH" \
        expect_exit 1 "truncated PDF" "$LSC" spectrum "$A" -o "$T/o8.h5" --plots f
    one_line_stderr "truncated PDF" "f/spectrum.pdf" "no complete pdf"
fi

PATH=/nonexistent expect_exit 1 "no gnuplot in PATH" "$LSC" spectrum "$A" -o "$T/o7.h5" --plots f
one_line_stderr "no gnuplot in PATH" "cannot run gnuplot"

finish
