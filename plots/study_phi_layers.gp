# study_phi_layers.gp — the all-layer summary of Figures 3 and 4: for every layer and projection,
# phi(1,1) of the trained adapters (mean over the seed pairs, with a bar from the smallest to the
# largest pair when there are several), of the step-0 adapters, and the mean of the Haar-random
# null; filled points are verdicts "shown" (beat the null and the step-0 overlap), open points
# "not shown".
# Written by experiments/study_subspace_{ranks,seeds}.sh from `lorascope collect --verdict-dat`
# (columns: name layer proj phi11_mean init_mean null_mean effect lo p state min max).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf. Variables (gnuplot -e): data, outbase, title.

if (!exists("data"))    data = 'verdicts.dat'
if (!exists("outbase")) outbase = 'phi_layers'
if (!exists("title"))   title = 'phi(1,1) per layer'
if (!exists("footnote")) footnote = ''

set encoding utf8
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'layer (at each layer, left to right: ΔWq and ΔWv on factor A, then on factor B)'
set ylabel 'φ(1,1)'
set yrange [0:1.05]
set key outside below horizontal maxrows 3 noenhanced
set offsets 0.4, 0.4, 0, 0
set autoscale xfix
set xtics 1

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
    set title title noenhanced
    plot data using ($2 - 0.24 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'q' ? $4 : NaN):11:12 with yerrorbars pt -1 lc rgb '#4878a8' notitle, \
         ''   using ($2 - 0.08 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'v' ? $4 : NaN):11:12 with yerrorbars pt -1 lc rgb '#d1603d' notitle, \
         ''   using ($2 - 0.24 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'q' && $10 == 1 ? $4 : NaN) with points pt 7 ps 1.6 lc rgb '#4878a8' title 'ΔWq trained, shown', \
         ''   using ($2 - 0.24 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'q' && $10 != 1 ? $4 : NaN) with points pt 6 ps 1.6 lc rgb '#4878a8' title 'ΔWq trained, not shown', \
         ''   using ($2 - 0.08 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'v' && $10 == 1 ? $4 : NaN) with points pt 5 ps 1.6 lc rgb '#d1603d' title 'ΔWv trained, shown', \
         ''   using ($2 - 0.08 + (strcol(1)[5:5] eq 'B' ? 0.32 : 0)):(strcol(3) eq 'v' && $10 != 1 ? $4 : NaN) with points pt 4 ps 1.6 lc rgb '#d1603d' title 'ΔWv trained, not shown', \
         ''   using 2:5 with points pt 2 ps 1.2 lc rgb '#777777' title 'step 0', \
         ''   using 2:6 with points pt 1 ps 1.2 lc rgb '#222222' title 'Haar null mean'
    unset output
}
