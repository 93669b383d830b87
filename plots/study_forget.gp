# study_forget.gp — learning against forgetting (issue 17; Biderman et al. 2024): one point per cell,
# the target task's test accuracy (y; rank classification when the runs have it) against the
# forgetting (x: the loss increase on the base's held-out pretraining text, nats per byte), each
# with its 95 % t-interval over seeds on both axes (no bar with one seed). LoRA on {Wq,Wk,Wv,Wo}:
# blue, joined in rank order, labelled r=…; full fine-tuning: a red diamond. Up and to the left is
# better (learns more, forgets less); dashed: the majority class. The rank labels are staggered
# above and below their points in five rows (close points would overlap); the accuracy axis starts at 0 %.
# Written by experiments/study_forget.sh (columns: cell rank acc_mean acc_lo95 acc_hi95 (%)
# forgetting_mean lo95 hi95; rank 0 = full fine-tuning).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# Variables (gnuplot -e): data, outbase, title, maj, metric, footnote.

if (!exists("data"))     data = 'pareto.dat'
if (!exists("outbase"))  outbase = 'forget_pareto'
if (!exists("title"))    title = 'Learning vs forgetting'
if (!exists("maj"))      maj = NaN
if (!exists("metric"))   metric = 'rank_accuracy'
if (!exists("footnote")) footnote = ''

set encoding utf8
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 7   # room for the legend below the x label
set xlabel 'forgetting: loss increase on held-out pretraining text (nats/byte, mean and 95% interval over seeds)'
set ylabel (metric eq 'rank_accuracy' ? 'test accuracy, rank classification (%)' : 'test accuracy, exact match (%)')
set key outside below horizontal maxrows 2 noenhanced
set offsets graph 0.12, graph 0.12, 0, 0
# from 0 % (a t-interval over few seeds may reach below it) to above every interval and the majority line
stats data using 5 name 'A' nooutput
ytop = (A_max > (maj == maj ? 100 * maj : 0) ? A_max : 100 * maj) * 1.1 + 1
set yrange [0:(ytop < 100 ? ytop : 100)]

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 900,640 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 900,640 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (900)/72.0,(640)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set title title noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
    plot data using ($2 > 0 ? $6 : NaN):3 with lines lw 1.5 lc rgb '#4878a8' notitle, \
         data using ($2 > 0 ? $6 : NaN):3:7:8:4:5 with xyerrorbars pt 7 ps 1.2 lw 1.5 lc rgb '#4878a8' \
             title 'LoRA on Wq,Wk,Wv,Wo (rank r)', \
         for [k = 0:4] data using ($2 > 0 && int($0) % 5 == k ? $6 : NaN):3:(sprintf('r=%d', $2)) with labels \
             offset char 0.6, char ((k % 2 ? -1 : 1) * (1 + int(k / 2))) left textcolor rgb '#4878a8' notitle, \
         data using ($2 == 0 ? $6 : NaN):3:7:8:4:5 with xyerrorbars pt 13 ps 2 lw 2 lc rgb '#c0392b' \
             title 'full fine-tuning', \
         data using ($2 == 0 ? $6 : NaN):3:('full') with labels offset char 1.2, char -0.9 left \
             textcolor rgb '#c0392b' notitle, \
         maj*100 with lines dt 2 lc rgb '#777777' title (maj == maj ? sprintf('majority class %.1f%%', maj*100) : 'majority class')
    unset label 99
    unset output
}
