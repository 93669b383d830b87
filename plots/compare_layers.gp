# compare_layers.gp — the per-layer summary of `lorascope compare --plots
# DIR`: the mean off-diagonal subspace similarity φ of the N adapters per
# layer, one line per projection type. The y range follows the data; the
# legend sits outside the plot, off the data. Renders <outbase>.png
# (pngcairo), <outbase>.svg and <outbase>.pdf.
#
# Variables (gnuplot -e): datafile (one block per projection, blocks
# separated by two blank lines, rows "layer phi"), outbase, projs (the
# projection names, blank-separated, in block order), n (adapters), title1.

if (!exists("datafile")) datafile = 'compare_layers.dat'
if (!exists("outbase"))  outbase = 'compare_layers'
if (!exists("projs"))    projs = 'q_proj'
if (!exists("n"))        n = 2
if (!exists("title1"))   title1 = 'mean off-diagonal φ per layer'

set encoding utf8
set xlabel 'layer (module position when the name has no layer index)' noenhanced
set ylabel 'mean off-diagonal φ' noenhanced
set key outside right top noenhanced
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set autoscale xfix
set offsets 0.3, 0.3, graph 0.08, graph 0.08
set xtics 1

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
