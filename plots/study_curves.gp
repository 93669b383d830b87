# study_curves.gp — training curves: the training loss per step (and the validation loss where
# logged) of the runs of a study, one colour per run.
# Written by experiments/study_full.sh from `lorascope collect --curves` (gnuplot index blocks,
# one per run; first line of a block = its title; columns: step train_loss val_step val_loss).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title, n (number of blocks, default 3).

if (!exists("data"))    data = 'curves.dat'
if (!exists("outbase")) outbase = 'training_curves'
if (!exists("title"))   title = 'Training curves'
if (!exists("n"))       n = 3
if (!exists("footnote")) footnote = ''

set encoding utf8
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'step'
set ylabel 'loss (nats per answer byte)'
set key outside below horizontal maxrows 3 noenhanced
set title title noenhanced font ',13'
colors = '#4878a8 #d1603d #2a7d2a #8c2981 #777777'

set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1000,600 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1000,600 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1000)/72.0,(600)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    plot for [i = 0:n-1] data index i using 1:2 with lines lw 1.5 lc rgb word(colors, i + 1) \
             title columnheader(1) noenhanced, \
         for [i = 0:n-1] data index i using 3:4 with linespoints pt 7 ps 0.6 lc rgb word(colors, i + 1) \
             notitle
    unset output
}
