# intruders.gp — intruder dimensions of one module (Shuttleworth et al. 2024):
# the number of W0 + dW's top-k left singular vectors whose largest |cos|
# with any singular vector of W0 is below ε, against ε, one solid line per
# k, and the random-rotation null's mean (W0 + R dW Qᵀ) dashed in the same
# colour. Written by `lorascope intruders --plots DIR`; renders
# DIR/intruders.png (pngcairo), .svg and .pdf.
#
# Variables (gnuplot -e): datafile (columns: eps, then per k: count,
# null mean), outbase, plottitle, nk, ks (the k of each pair of columns,
# blank-separated, capped at min(d, k)), footnote (provenance, bottom left).

if (!exists("datafile"))  datafile = 'intruders.dat'
if (!exists("outbase"))   outbase = 'intruders'
if (!exists("plottitle")) plottitle = 'Intruder dimensions'
if (!exists("nk"))        nk = 1
if (!exists("ks"))        ks = '10'
if (!exists("footnote"))  footnote = ''

set encoding utf8
set title plottitle noenhanced font ',13'
set xlabel 'threshold ε (an intruder: max |cos| with every singular vector of W0 below ε)'
set ylabel 'intruder dimensions among the top k'
set grid xtics ytics lc rgb '#dddddd'
set xrange [0:1]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set key outside right top vertical noenhanced
set tics out nomirror
set border 3
set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1100,650 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1100,650 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1100)/72.0,(650)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    plot for [q = 1:nk] datafile using 1:(column(2 * q)) with linespoints lw 2 pt 7 ps 0.8 \
             lc q title sprintf('k = %s', word(ks, q)), \
         for [q = 1:nk] datafile using 1:(column(2 * q + 1)) with lines lw 1.5 dt 2 \
             lc q title sprintf('null mean, k = %s', word(ks, q))
    unset output
}
