# study_rank.gp — the LoRA paper's Table 6 in our miniature: supersense test accuracy (left: rank
# classification, solid, with its 95 % t-interval over seeds; greedy exact match, dotted) and the
# test label loss (right) against the LoRA rank r (log scale) for {Wq}, {Wq,Wv} and {Wq,Wk,Wv,Wo};
# dashed lines: the majority-class and 4-letter-suffix baselines.
# Written by experiments/study_rank.sh from `lorascope collect --dat` (columns: cell targets rank
# n_seeds trainable_params accuracy_mean accuracy_sd val_loss_mean val_loss_sd min max
# accuracy_lo95 accuracy_hi95 rank_accuracy_mean rank_accuracy_lo95 rank_accuracy_hi95 dw_ratio).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title, maj, suf.

if (!exists("data"))    data = 'cells.dat'
if (!exists("outbase")) outbase = 'table6_rank'
if (!exists("title"))   title = 'Table 6: accuracy against LoRA rank'
if (!exists("maj"))     maj = NaN
if (!exists("suf"))     suf = NaN
if (!exists("footnote")) footnote = ''

set encoding utf8
set logscale x 2
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'LoRA rank r'
set key outside below horizontal maxrows 3 noenhanced
set offsets graph 0.05, graph 0.05, 0, 0
sets = 'q q,v q,k,v,o'
names = '{Wq} {Wq,Wv} {Wq,Wk,Wv,Wo}'
colors = '#4878a8 #d1603d #2a7d2a'

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
    set title 'test accuracy: rank classification (solid, 95% interval), exact match (dotted)'
    set ylabel 'supersense test accuracy (%)'
    plot for [i = 1:3] data using (strcol(2) eq word(sets, i) ? $3 : NaN):($14*100):(($15==$15 ? $15 : $14)*100):(($16==$16 ? $16 : $14)*100) \
             with yerrorlines lw 2 pt 7 lc rgb word(colors, i) title word(names, i) noenhanced, \
         for [i = 1:3] data using (strcol(2) eq word(sets, i) ? $3 : NaN):($6*100) \
             with linespoints dt 3 lw 1 pt 6 lc rgb word(colors, i) notitle, \
         maj*100 with lines dt 2 lc rgb '#b22222' title sprintf('majority class %.1f%%', maj*100), \
         suf*100 with lines dt 4 lc rgb '#777777' title (suf == suf ? sprintf('4-letter suffix %.1f%%', suf*100) : 'no suffix baseline (instruction format)')
    unset label 99
    set title 'test loss on the label bytes (lower is better)'
    set ylabel 'nats per label byte'
    set key outside below horizontal maxrows 3 noenhanced
    plot for [i = 1:3] data using (strcol(2) eq word(sets, i) ? $3 : NaN):8:9 \
             with yerrorlines lw 2 pt 7 lc rgb word(colors, i) title word(names, i) noenhanced
    set key outside below horizontal maxrows 3 noenhanced
    unset multiplot
    unset output
}
