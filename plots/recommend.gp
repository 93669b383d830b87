# recommend.gp — the rank each module needs for the energy threshold, per
# layer, one line per module type (the last part of the module name).
# Written by `lorascope recommend-ranks --plots DIR`; renders
# DIR/recommend.png, .svg and .pdf.
#
# Variables (gnuplot -e): datafile (a header row "layer TYPE1 TYPE2 ..."
# then one row per layer, NaN where a layer has no such module), outbase,
# plottitle, ncol (columns in datafile), footnote.

if (!exists("datafile")) datafile = 'recommend.dat'
if (!exists("outbase"))  outbase  = 'recommend'
if (!exists("plottitle")) plottitle = 'Rank needed per module'
if (!exists("ncol"))     ncol = 2
if (!exists("footnote")) footnote = ''

set encoding utf8
set title plottitle noenhanced font ',13'
set xlabel 'layer'
set ylabel 'rank K needed (Σ_{i≤K} σ_i² / Σ σ_i² ≥ energy)'
set yrange [0:*]
set grid xtics ytics lc rgb '#dddddd'
set key outside bottom center horizontal noenhanced autotitle columnhead
set datafile missing 'NaN'
set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1100,700 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1100,700 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1100)/72.0,(700)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    plot for [c = 2:ncol] datafile using 1:c with linespoints lw 2 pt 7 ps 1
    unset output
}
