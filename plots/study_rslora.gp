# study_rslora.gp — rank-stabilised scaling (issue 17, rsLoRA): {Wq,Wv} LoRA against the rank r
# (log scale) with the scaling α/r and with α/√r at the same α. Left: test rank-classification
# accuracy (mean, 95 % t-interval over seeds), the majority class dashed. Right: the test label
# loss (solid, 95 % interval) and the final training loss (dotted, 95 % interval).
# Written by experiments/study_rslora.sh (columns: scaling (0 α/r, 1 α/√r) rank, then mean lo95
# hi95 of rank_accuracy, val_loss and final_train_loss; NaN intervals with one seed), the rows of
# each scaling consecutive (a curve is drawn through consecutive rows only).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title, maj.

if (!exists("data"))    data = 'rank.dat'
if (!exists("outbase")) outbase = 'rslora_rank'
if (!exists("title"))   title = 'rsLoRA: LoRA against rank, α/r vs α/√r'
if (!exists("maj"))     maj = NaN
if (!exists("footnote")) footnote = ''

set encoding utf8
set logscale x 2
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'LoRA rank r'
set key outside below horizontal maxrows 2 noenhanced
set xtics 2
set offsets 0, 0, graph 0.05, graph 0.05
stats data using 2 nooutput
set xrange [STATS_min/1.4:STATS_max*1.4]
names = 'α/r α/√r'
colors = '#4878a8 #d1603d'
# the mean when the interval is missing (one seed)
lo(m, l) = (l == l ? l : m)
# the two scalings (and the two losses) drawn a little apart on the log axis so that their
# intervals do not hide each other; the ranks are the tick marks
dx(i, k) = 1.025**(2*i - 1 + 2*k*(2*i - 1))

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1300,560 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1300,560 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1300)/72.0,(560)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot layout 1,2 title title noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
    set title 'test rank-classification accuracy (95% interval over seeds)'
    set ylabel 'supersense test accuracy (%)'
    plot for [i = 0:1] data using ($1 == i ? $2*dx(i, 0) : NaN):($3*100):(lo($3, $4)*100):(lo($3, $5)*100) \
             with yerrorlines lw 2 pt 7 lc rgb word(colors, i + 1) title word(names, i + 1), \
         maj*100 with lines dt 2 lc rgb '#b22222' title sprintf('majority class %.1f%%', maj*100)
    unset label 99
    set title 'test label loss (solid) and final training loss (dotted); lower is better'
    set ylabel 'nats per label byte'
    plot for [i = 0:1] data using ($1 == i ? $2*dx(i, 0) : NaN):6:(lo($6, $7)):(lo($6, $8)) \
             with yerrorlines lw 2 pt 7 lc rgb word(colors, i + 1) title word(names, i + 1).' test loss', \
         for [i = 0:1] data using ($1 == i ? $2*dx(i, 1) : NaN):9:(lo($9, $10)):(lo($9, $11)) \
             with yerrorlines dt 3 lw 1.5 pt 6 lc rgb word(colors, i + 1) title word(names, i + 1).' final training loss'
    unset multiplot
    unset output
}
