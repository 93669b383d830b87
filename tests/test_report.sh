#!/bin/sh
# test_report.sh — checks report.html the way a reader would: opens it in headless Chromium
# (Debian's chromium), takes a full-page screenshot, and asserts from the live DOM that every
# <img> decoded (naturalWidth > 0), that the page is self-contained (no http/file references),
# that the paper's numbers and the findings are on it, and that report.md mirrors it.
# The report comes from tests/test_experiments.sh ($BUILD/test-experiments); when that is
# absent the tiny pipeline runs here first. Chromium is installed with apt-get when missing
# (it is in the Makefile's DEB_TEST); SKIP only when that is impossible.
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

CHROME=/usr/bin/chromium
if [ ! -x "$CHROME" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium (Makefile DEB_TEST) ..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
            >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }
    fi
fi
if [ ! -x "$CHROME" ]; then
    skip "report.html in chromium" "chromium is not installed and cannot be installed here: apt-get install chromium"
    finish
fi

OUT=$ROOT/$BUILD/test-experiments
R=$OUT/results/tiny
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

# ---- the live DOM: did every image load? ----
sed 's|</body>|<script>window.addEventListener("load", function () { var bad = 0, n = 0; for (const im of document.images) { n++; if (!im.complete \|\| im.naturalWidth === 0) bad++; } var p = document.createElement("pre"); p.id = "lsc-check"; p.textContent = "IMAGES " + n + " BROKEN " + bad; document.body.appendChild(p); });</script></body>|' \
    "$R/report.html" >"$T/check.html"
chrome --virtual-time-budget=15000 --dump-dom "file://$T/check.html" >"$T/dom.html"
line=$(grep -o 'IMAGES [0-9]* BROKEN [0-9]*' "$T/dom.html")
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

finish
