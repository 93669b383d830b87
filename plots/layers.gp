# layers.gp — the per-layer summary of an analysis's --plots DIR: one number
# of every module (a /modules/<module> attribute of the HDF5 file, such as
# spectrum's delta_fro or compare's mean_offdiag_phi) against the layer,
# one line per projection type. The y range follows the data, on a log
# scale when the values span more than two decades; the legend sits
# outside the plot, off the data. Renders <outbase>.png (pngcairo),
# <outbase>.svg and <outbase>.pdf. Drawn by analysis/layers_plot.c.
#
# Variables (gnuplot -e): datafile (one block per projection, blocks
# separated by two blank lines, rows "layer value"), outbase, projs (the
# projection names, blank-separated, in block order), ylab, title1,
# footnote.

if (!exists("datafile")) datafile = 'layers.dat'
if (!exists("outbase"))  outbase = 'layers'
if (!exists("projs"))    projs = 'q_proj'
if (!exists("ylab"))     ylab = 'value'
if (!exists("title1"))   title1 = 'per layer'
if (!exists("footnote")) footnote = ''

set encoding utf8
set xlabel 'layer (module position when the name has no layer index)' noenhanced
set key outside right top noenhanced
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set autoscale xfix
set offsets 0.3, 0.3, graph 0.08, graph 0.08
set xtics 1
stats datafile using 2 nooutput name 'V'
if (V_min > 0 && V_max / V_min > 100) {
    set logscale y
    set format y '10^{%L}'
    set ylabel ylab.' (log scale)' noenhanced
} else {
    set ylabel ylab noenhanced
}

set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1000,560 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1000,560 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1000)/72.0,(560)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set title title1 noenhanced
    plot for [k = 1:words(projs)] datafile index (k - 1) using 1:2 with linespoints lw 2 pt 7 \
         title word(projs, k)
    unset output
}
