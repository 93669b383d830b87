# spectrum.gp — singular values of dW = s·B·A for every module (log scale
# when they span more than two decades, decided from the data by stats),
# one thin line per module coloured by its position in the adapter, the
# chosen module (--module, default a middle one) drawn thick in black.
# Written by `lorascope spectrum --plots DIR`; renders DIR/spectrum.png
# (pngcairo) and DIR/spectrum.svg.
#
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): datafile (blocks "i sigma_i", one per module,
# separated by two blank lines), outbase, plottitle, nmod, hl (0-based
# index of the highlighted module), hlname, maxr (largest r).

if (!exists("datafile")) datafile = 'spectrum.dat'
if (!exists("outbase"))  outbase  = 'spectrum'
if (!exists("plottitle")) plottitle = 'Singular values of dW per module'
if (!exists("nmod"))     nmod = 1
if (!exists("hl"))       hl = 0
if (!exists("hlname"))   hlname = ''
if (!exists("maxr"))     maxr = 8
if (!exists("footnote")) footnote = ''

set encoding utf8
set title plottitle noenhanced font ',13'
set xlabel 'index i (singular values in descending order)'
# log scale only when the values span more than two decades
stats datafile using 2 nooutput name 'SV'
uselog = (SV_min > 0 && SV_max / SV_min > 100)
if (uselog) {
    set logscale y
    set format y '10^{%L}'
    set ylabel 'singular value σ_i of dW (log scale)'
} else {
    set yrange [0:*]
    set ylabel 'singular value σ_i of dW'
}
set grid xtics ytics mytics lc rgb '#dddddd'
set xrange [0.5:maxr + 0.5]
if (maxr <= 16) { set xtics 1 } else { set xtics autofreq }
set key outside bottom center horizontal noenhanced
set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')
set cbrange [0:(nmod > 1 ? nmod - 1 : 1)]
set cblabel 'module number (order in the adapter)'
set colorbox vertical

denom = (nmod > 1 ? nmod - 1.0 : 1.0)

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
    plot for [m = 0:nmod - 1] datafile index m using 1:2 with lines lw 1 \
             lc palette frac (m / denom) notitle, \
         datafile index hl using 1:2 with linespoints lw 3 pt 7 ps 1 lc rgb 'black' \
             title 'selected: '.hlname
    unset output
}
