#!/bin/sh
# test_report.sh — checks report.html the way a reader would: opens it in headless Chromium
# (Debian's chromium), takes a full-page screenshot, and asserts from the live DOM that every
# <img> decoded (naturalWidth > 0), that the page is self-contained (no http/file references),
# that the paper's numbers and the findings are on it, and that report.md mirrors it; that
# at a 1280-px window nothing overflows horizontally (the page's scrollWidth and every
# element's right edge within the viewport); that every figure the HTML and the Markdown
# reference exists on disk (PNG, SVG and PDF); that the figures are numbered 1, 2, … in order;
# and that a smoke profile says so at the top.
# The report comes from tests/test_experiments.sh ($BUILD/test-experiments); when that is
# absent the tiny pipeline runs here first. Chromium comes from `make deps DEPS=all` (the
# Makefile's DEB_TEST): missing, it is a SKIP, and a FAIL under CI=true.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${LSC_BUILD:-build}
LSC=${LSC_BIN:-$ROOT/$BUILD/lorascope}
PY=/usr/bin/python3
. tests/lib.sh

if [ -n "${LSC_QUICK:-}" ]; then
    skip "report.html in chromium" "LSC_QUICK is set: needs the tiny pipeline's report"
    finish
fi

CHROME=${LSC_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROME" ]; then
    if [ "${CI:-}" = true ]; then
        bad "report.html in chromium ($CHROME missing; CI=true requires it: make deps DEPS=all)"
    else
        skip "report.html in chromium" "$CHROME is not installed: make deps DEPS=all (DEB_TEST)"
    fi
    finish
fi

OUT=$ROOT/$BUILD/test-experiments
R=$OUT/results/tiny
FIGS=$OUT/figures/tiny
if [ ! -s "$R/report.html" ]; then
    echo "no report from test_experiments.sh: running the tiny pipeline"
    mkdir -p "$OUT"
    LSC_RESULTS_ROOT=$OUT/results LSC_FIGS_ROOT=$OUT/figures LSC_CACHE=$OUT/cache LSC_BIN=$LSC \
        PROFILE=tiny BUILD=$BUILD sh experiments/reproduce.sh >"$OUT/reproduce-report.log" 2>&1
fi
[ -s "$R/report.html" ]; verdict "report.html exists"
[ -s "$R/report.html" ] || finish

tmpdir report
chrome() {
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$T/profile.XXXXXX")" "$@" 2>>"$T/chrome.err"
}

# ---- self-contained ----
! grep -Eq '(src|href)="(https?|file):' "$R/report.html"; verdict "no external references (http/file) in report.html"
n_img=$(grep -o '<img ' "$R/report.html" | wc -l)
n_data=$(grep -o 'src="data:image/png;base64,' "$R/report.html" | wc -l)
[ "$n_img" -ge 13 ] && [ "$n_img" = "$n_data" ]; verdict "every figure embedded as a base64 PNG ($n_img images)"
! grep -q 'class="missing"' "$R/report.html"; verdict "no figure marked missing"

# ---- a screenshot, as a reader sees it ----
chrome --screenshot="$T/shot.png" --window-size=1200,3000 "file://$R/report.html" >/dev/null
[ -s "$T/shot.png" ]; verdict "chromium took a screenshot"
$PY - "$T/shot.png" <<'EOF'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (1200, 3000), (w, h)
# decode IDAT enough to see that the page is not blank: count distinct bytes of the raw data
idat = b"".join(d[i + 8:i + 8 + struct.unpack(">I", d[i:i + 4])[0]]
                for i in range(8, len(d)) if d[i + 4:i + 8] == b"IDAT")
raw = zlib.decompress(idat)
assert len(set(raw[:2000000])) > 50, "screenshot looks blank"
EOF
verdict "the screenshot is 1200x3000 and not blank"
cp "$T/shot.png" "$OUT/report-screenshot.png" 2>/dev/null

# ---- the live DOM at a 1280-px window: did every image load, does anything overflow? ----
cat >"$T/check.js" <<'JS'
<script>window.addEventListener("load", function () {
  var bad = 0, n = 0, wide = 0, first = "";
  for (const im of document.images) { n++; if (!im.complete || im.naturalWidth === 0) bad++; }
  var vw = window.innerWidth;
  for (const e of document.body.querySelectorAll("*")) {
    var r = e.getBoundingClientRect();
    if (r.width > vw + 0.5 || r.right > vw + 0.5) { wide++; if (!first) first = e.tagName + "#" + (e.id || "") + ":" + Math.round(r.right); }
  }
  var p = document.createElement("pre"); p.id = "lsc-check";
  p.textContent = "IMAGES " + n + " BROKEN " + bad + " VIEWPORT " + vw + " SCROLLWIDTH " +
    document.scrollingElement.scrollWidth + " WIDE " + wide + " FIRSTWIDE " + (first || "-");
  document.body.appendChild(p); });</script>
JS
awk -v js="$T/check.js" '/<\/body>/ { while ((getline l < js) > 0) print l } { print }' "$R/report.html" >"$T/check.html"
chrome --window-size=1280,900 --virtual-time-budget=15000 --dump-dom "file://$T/check.html" >"$T/dom.html"
line=$(grep -o 'IMAGES [0-9]* BROKEN [0-9]*' "$T/dom.html")
wline=$(grep -o 'VIEWPORT [0-9]* SCROLLWIDTH [0-9]* WIDE [0-9]* FIRSTWIDE [^<]*' "$T/dom.html")
echo "dom: $wline"
vw=$(echo "$wline" | awk '{print $2}'); sw=$(echo "$wline" | awk '{print $4}'); nwide=$(echo "$wline" | awk '{print $6}')
[ -n "$vw" ] && [ "$vw" -le 1280 ] && [ "$vw" -ge 1200 ] && [ "$sw" -le "$vw" ]
verdict "no horizontal overflow at a 1280-px window (scrollWidth $sw <= innerWidth $vw)"
[ "$nwide" = 0 ]; verdict "no element wider than the viewport ($wline)"
echo "dom: $line"
nimg=$(echo "$line" | awk '{print $2}'); nbad=$(echo "$line" | awk '{print $4}')
[ -n "$nimg" ] && [ "$nimg" = "$n_img" ] && [ "$nbad" = 0 ]; verdict "every <img> decoded in chromium (naturalWidth > 0): $line"
grep -q '<table' "$T/dom.html" && grep -q 'Does our miniature show what the paper shows' "$T/dom.html"
verdict "the rendered page has the tables and the findings"

# ---- content ----
for s in '70.4' '73.7' '91.7' '21.67' '61.95' '0.32'; do
    grep -q ">$s<" "$R/report.html" || { bad "paper number $s beside our tables"; continue; }
    ok "paper number $s beside our tables"
done
n_find=$(grep -o 'class="badge ' "$R/report.html" | wc -l)
[ "$n_find" = 7 ]; verdict "seven findings with computed verdicts ($n_find)"
n_rule=$(grep -c 'Rule: ' "$R/report.md")
[ "$n_rule" -ge 7 ] && grep -q 'null: ' "$R/report.md"; verdict "each finding states its rule and the null it had to beat ($n_rule)"
grep -q 'Regression check' "$R/report.html" && grep -Eq 'PASS|REGRESSION' "$R/report.html"; verdict "the regression outcome is on the page"
grep -q 'git commit' "$R/report.html" && grep -q 'Wall times' "$R/report.html"; verdict "git commit and wall times on the page"
n_md=$(grep -c '^!\[' "$R/report.md")
[ "$n_md" = "$n_img" ]; verdict "report.md links the same $n_img figures"
ok_links=1
for f in $(grep -o '^!\[[^]]*\]([^)]*)' "$R/report.md" | sed 's/.*(\(.*\))/\1/'); do
    [ -s "$R/$f" ] || { ok_links=0; echo "  missing: $R/$f"; }
done
[ $ok_links = 1 ]; verdict "every figure link of report.md resolves"
ok_svg=1
for f in $(grep -o '\[SVG\]([^)]*)' "$R/report.md" | sed 's/.*(\(.*\))/\1/'); do
    [ -s "$R/$f" ] || { ok_svg=0; echo "  missing: $R/$f"; }
done
[ $ok_svg = 1 ] && grep -q '\[SVG\](' "$R/report.md"; verdict "every SVG link of report.md resolves"

# ---- every figure of the HTML on disk, in all three formats ----
n_fig=0; ok_disk=1
for name in $(grep -o '<figure id="fig-[^"]*"' "$R/report.html" | sed 's/.*fig-\(.*\)"/\1/'); do
    n_fig=$((n_fig + 1))
    for ext in png svg pdf; do
        [ -s "$FIGS/$name.$ext" ] || { ok_disk=0; echo "  missing: $FIGS/$name.$ext"; }
    done
    tail -c 64 "$FIGS/$name.pdf" 2>/dev/null | grep -q '%%EOF' || { ok_disk=0; echo "  PDF not whole: $FIGS/$name.pdf"; }
done
[ "$n_fig" = "$n_img" ] && [ $ok_disk = 1 ]; verdict "each of the $n_fig figures of report.html is on disk as PNG, SVG and a whole PDF"

# ---- one figure numbering, 1, 2, ... in order, in both files; text references in range ----
seq_ok() { awk -v want="$2" '{ if ($0 != NR) bad = 1 } END { exit (bad || NR != want) }' "$1"; }
grep -o '<b>Figure [0-9]*\.</b>' "$R/report.html" | sed 's/[^0-9]//g' >"$T/fig_html"
grep -o '^\*Figure [0-9]*\.\*' "$R/report.md" | sed 's/[^0-9]//g' >"$T/fig_md"
seq_ok "$T/fig_html" "$n_img" && seq_ok "$T/fig_md" "$n_img"
verdict "figures numbered 1..$n_img consecutively in report.html and report.md"
# every "Figure N" in the text is in range (the paper's figures are 3 and 4)
bad_refs=$(grep -o "Figure [0-9]*" "$R/report.md" | awk -v n="$n_img" '{ k = $2 + 0; if (k < 1 || k > n) print }' | sort -u | tr '\n' ' ')
[ -z "$bad_refs" ]; verdict "every text reference to a figure is the paper's or one of Figures 1..$n_img ${bad_refs:+($bad_refs)}"

# ---- the findings name the ranks the profile used (tiny: R_HIGH=16, not the paper's 64) ----
rl=$(sed -n 's/^R_LOW=\([0-9]*\).*/\1/p' experiments/profiles/tiny.sh)
rh=$(sed -n 's/^R_HIGH=\([0-9]*\).*/\1/p' experiments/profiles/tiny.sh)
grep -q "learned at r=$rl and at r=$rh overlap" "$R/report.md" && grep -q "Two seeds at r=$rh share" "$R/report.md"
verdict "the findings name the profile's ranks r=$rl and r=$rh"

# ---- a smoke profile says so at the top ----
head -c 4000 "$R/report.md" | grep -q "these numbers come from a smoke profile, not the paper's setting"
verdict "the smoke-profile caveat is at the top of report.md"
awk '/class="caveat"/ { c = NR } /id="findings"/ { f = NR } END { exit !(c && f && c < f) }' "$R/report.html"
verdict "the caveat comes before the findings in report.html"

finish
