# study_amplify.gp — the LoRA paper's Table 7 in our miniature, for the middle layer: left,
# ||U^T W V||_F (log scale) with U, V the top-r singular vectors of ΔW, of W itself and random,
# for ΔWq and ΔWv at each rank; right, the amplification factor ||ΔW||_F / ||U^T W V||_F.
# Written by experiments/study_amplify.sh from `lorascope collect --amp-dat` (columns: key target
# r delta_fro base_fro proj_delta proj_base proj_random amplification).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title.

if (!exists("data"))    data = 'amplify.dat'
if (!exists("outbase")) outbase = 'table7_amplify'
if (!exists("title"))   title = 'Table 7: ΔW against W'
if (!exists("footnote")) footnote = ''

set encoding utf8
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb '#333333'
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set key outside below horizontal maxrows 3 noenhanced
rowlabel(t, r) = 'ΔW'.t.' r='.sprintf('%d', r)

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1300,600 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1300,600 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1300)/72.0,(600)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot layout 1,2 title title noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
    set logscale y
    set ylabel '||U^T W V||_F'
    set title 'projection of W onto top-r directions' noenhanced
    plot data using 6:xtic(rowlabel(strcol(2), $3)) lc rgb '#d1603d' title 'U,V from ΔW', \
         ''   using 7 lc rgb '#4878a8' title 'U,V from W (top-r)', \
         ''   using 8 lc rgb '#999999' title 'random U,V'
    unset label 99
    unset logscale y
    set yrange [0:*]
    set ylabel '||ΔW||_F / ||U^T W V||_F'
    set title 'amplification factor (paper: 21.5 at r=4, 1.9 at r=64)' noenhanced
    plot data using 9:xtic(rowlabel(strcol(2), $3)) lc rgb '#2a7d2a' title 'amplification'
    unset yrange
    unset multiplot
    unset output
}
