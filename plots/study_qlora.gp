# study_qlora.gp — QLoRA (issue 6): supersense rank-classification accuracy with its 95% interval
# over seeds (left) and validation loss (right) against the LoRA rank for each target set, on the
# fp32 base (solid) and on the 4-bit NF4 base (dashed), same seeds and arguments; dotted red line:
# the majority-class baseline. Only the target sets named in `present` get a legend entry.
# Written by experiments/study_qlora.sh from `lorascope collect --dat`, its rows sorted fp32 before
# NF4, then by targets and rank, so that each curve's rows are consecutive (columns: cell targets
# rank n_seeds trainable_params accuracy_mean accuracy_sd val_loss_mean val_loss_sd accuracy_min
# accuracy_max accuracy_lo95 accuracy_hi95 rank_accuracy_mean rank_accuracy_lo95
# rank_accuracy_hi95 ...; NF4 cells are named nf4_<cell>). Renders <outbase>.png, <outbase>.svg and
# <outbase>.pdf. footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title, maj, present (blank-separated target sets).

if (!exists("data"))    data = 'cells.dat'
if (!exists("outbase")) outbase = 'qlora_rank'
if (!exists("title"))   title = 'QLoRA: accuracy against rank, NF4 vs fp32 base'
if (!exists("maj"))     maj = NaN
if (!exists("footnote")) footnote = ''
if (!exists("present"))  present = 'q q,v q,k,v,o'

set encoding utf8
set logscale x 2
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'LoRA rank r'
set offsets graph 0.05, graph 0.05, 0, 0
sets = 'q q,v q,k,v,o'
names = '{Wq} {Wq,Wv} {Wq,Wk,Wv,Wo}'
colors = '#4878a8 #d1603d #2a7d2a'
isnf4(c) = strstrt(c, 'nf4_') == 1
sel(i, q) = (strcol(2) eq word(sets, i) && isnf4(strcol(1)) == q) ? $3 : NaN
shown(i) = strstrt(' '.present.' ', ' '.word(sets, i).' ') > 0
key(i, what) = shown(i) ? word(names, i).what : ''
lo(m, l) = l == l ? l : m   # one seed: no interval, the mean itself

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
    set title 'rank-classification accuracy, 95% interval over seeds (higher is better)'
    set ylabel 'supersense test accuracy (%)'
    set key outside below horizontal maxrows 3 noenhanced
    plot for [i = 1:3] data using (sel(i, 0)):($14*100):(lo($14, $15)*100):(lo($14, $16)*100) \
             with yerrorlines lw 2 pt 7 lc rgb word(colors, i) title key(i, ' fp32') noenhanced, \
         for [i = 1:3] data using (sel(i, 1)):($14*100):(lo($14, $15)*100):(lo($14, $16)*100) \
             with yerrorlines lw 2 dt 2 pt 6 lc rgb word(colors, i) title key(i, ' NF4 (QLoRA)') noenhanced, \
         maj*100 with lines dt 3 lc rgb '#b22222' title sprintf('majority class %.1f%%', maj*100)
    unset label 99
    set title 'validation loss on the label bytes (lower is better)'
    set ylabel 'nats per label byte'
    set key outside below horizontal maxrows 3 noenhanced
    plot for [i = 1:3] data using (sel(i, 0)):8:9 with yerrorlines lw 2 pt 7 \
             lc rgb word(colors, i) title key(i, ' fp32') noenhanced, \
         for [i = 1:3] data using (sel(i, 1)):8:9 with yerrorlines lw 2 dt 2 pt 6 \
             lc rgb word(colors, i) title key(i, ' NF4 (QLoRA)') noenhanced
    unset multiplot
    unset output
}
