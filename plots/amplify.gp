# amplify.gp — the LoRA paper's Table 7 per module, as figures. Top panel:
# ‖UᵀWV‖_F (log scale) for U, V from dW, from W itself and random; bottom
# panel: the amplification factor ‖dW‖_F / ‖UᵀWV‖_F (U, V from dW) as bars,
# the selected module (--module, default a middle one) in red.
# Written by `lorascope amplify --plots DIR`; renders DIR/amplify.png
# (pngcairo) and DIR/amplify.svg.
#
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): datafile (columns: n module proj_delta proj_base
# proj_random amplification delta_fro base_fro rank), outbase, plottitle,
# nmod, hl (0-based index of the selected module).

if (!exists("datafile"))  datafile = 'amplify.dat'
if (!exists("outbase"))   outbase = 'amplify'
if (!exists("plottitle")) plottitle = 'dW vs W (Table 7)'
if (!exists("nmod"))      nmod = 1
if (!exists("hl"))        hl = 0
if (!exists("footnote")) footnote = ''

set encoding utf8
width = (nmod > 24 ? 400 + 32 * nmod : 1200)
ticfont = sprintf(',%d', nmod > 48 ? 8 : 10)
set xrange [-0.7:nmod - 0.3]
set grid ytics mytics lc rgb '#dddddd'
set tics out nomirror
set border 3

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size width,900 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size width,900 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (width)/72.0,(900)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot title plottitle noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced

    # top: the three projections
    set size 1, 0.47
    set origin 0, 0.50
    set lmargin 12
    set rmargin 4
    set bmargin 1
    set logscale y
    set format y '10^{%L}'
    set ylabel '‖UᵀWV‖_F (log scale)'
    set format x ''
    set xtics 1 scale 0.5
    set key outside top center horizontal noenhanced
    plot datafile using 1:3 with points pt 7 ps 1.3 lc rgb '#d62728' title 'U, V from dW (top-K)', \
         datafile using 1:4 with points pt 5 ps 1.1 lc rgb '#1f77b4' title 'U, V from W (top-K)', \
         datafile using 1:5 with points pt 9 ps 1.2 lc rgb '#7f7f7f' title 'random U, V'
    unset label 99

    # bottom: amplification factor per module
    set size 1, 0.50
    set origin 0, 0.0
    set tmargin 0.5
    set bmargin 11
    unset logscale y
    set format y '%g'
    set yrange [0:*]
    set ylabel 'amplification  ‖dW‖_F / ‖UᵀWV‖_F'
    set xlabel 'module'
    set format x '%g'
    set xtics rotate by 60 right font ticfont noenhanced
    set style fill solid 0.8 border -1
    set boxwidth 0.7
    unset key
    plot datafile using 1:6:xtic(2) with boxes lc rgb '#9467bd', \
         datafile using 1:($1 == hl ? $6 : 1/0) with boxes lc rgb '#d62728'
    unset multiplot
    unset output
    # reset what the panels changed before the next terminal
    set tmargin
    set bmargin
    set yrange [*:*]
    set xtics norotate
    unset xlabel
}
