# trajectory.gp — one layer of `lorascope trajectory --plots DIR`: top, the
# subspace similarity φ(ΔW_t, ΔW_final) of each module of the layer against
# the training step (NaN at step 0, where ΔW = 0, is left out); bottom,
# ‖ΔW_t‖_F against the step. One line per module, the same colour in both.
# Renders outbase.png (pngcairo), outbase.svg and outbase.pdf.
#
# Variables (gnuplot -e): datafile (blocks "step phi_final norm", one per
# module, separated by two blank lines), outbase, nmod, names (the modules'
# projection names, space-separated, in block order), layer, run, xmax (the
# last step: both panels share the x range).

if (!exists("datafile")) datafile = 'trajectory_layer0.dat'
if (!exists("outbase"))  outbase  = 'trajectory_layer0'
if (!exists("nmod"))     nmod = 1
if (!exists("names"))    names = ''
if (!exists("layer"))    layer = 0
if (!exists("run"))      run = ''
if (!exists("xmax"))     xmax = 1

set encoding utf8
set datafile missing 'nan'
set grid xtics ytics lc rgb '#dddddd'
set key outside right top box noenhanced
set lmargin 12
set rmargin 22
set xrange [0:xmax]
array col[8] = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf']

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1000,800 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1000,800 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1000)/72.0,(800)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot layout 2,1 title sprintf('Training trajectory of layer %d (%s)', layer, run) noenhanced font ',13'
    set ylabel 'φ(ΔW_t, ΔW_{final})'
    set yrange [*:*]
    set offsets 0, 0, graph 0.05, graph 0.05
    set key
    set format x ''
    unset xlabel
    plot for [m = 0:nmod - 1] datafile index m using 1:2 with linespoints lw 2 pt 7 ps 0.6 \
             lc rgb col[m % 8 + 1] title word(names, m + 1)
    set ylabel '‖ΔW_t‖_F'
    set yrange [0:*]
    unset key
    set offsets 0, 0, graph 0.05, 0
    set format x '%g'
    set xlabel 'training step'
    plot for [m = 0:nmod - 1] datafile index m using 1:3 with linespoints lw 2 pt 7 ps 0.6 \
             lc rgb col[m % 8 + 1] notitle
    unset multiplot
    unset output
}
