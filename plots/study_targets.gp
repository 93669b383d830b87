# study_targets.gp — the LoRA paper's Table 5 in our miniature: supersense test accuracy (left; rank
# classification with its 95 % interval, greedy exact match as circles; columns 14-16 and 6) and
# test label loss (right) for each choice of adapted weight types at the same trainable-parameter
# budget (one bar per cell, error bar = spread over seeds), with the majority-class and suffix
# baselines as dashed lines.
# Written by experiments/study_targets.sh from `lorascope collect --dat` (columns: cell targets
# rank n_seeds trainable_params accuracy_mean accuracy_sd val_loss_mean val_loss_sd min max).
# Renders <outbase>.png (pngcairo), <outbase>.svg and <outbase>.pdf (pdfcairo).
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): data, outbase, title, maj, suf (baseline accuracies in 0..1).

if (!exists("data"))    data = 'cells.dat'
if (!exists("outbase")) outbase = 'table5_targets'
if (!exists("title"))   title = 'Table 5: equal parameter budget across weight types'
if (!exists("maj"))     maj = NaN
if (!exists("suf"))     suf = NaN
if (!exists("footnote")) footnote = ''

set encoding utf8
set style data histograms
set style fill solid 0.8 border rgb '#333333'
set boxwidth 0.6
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'adapted weight types (rank)'
set key outside below horizontal maxrows 3 noenhanced
label(t, r) = t.' r='.r

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
    set title 'test accuracy, rank classification (bars: mean; whiskers: 95% interval over seeds)'
    set ylabel 'supersense test accuracy (%)'
    set yrange [0:*]
    plot data using 0:($14*100):xtic(label(strcol(2), strcol(3))) with boxes lc rgb '#4878a8' title 'mean over seeds', \
         ''   using 0:($14*100):(($15==$15 ? $15 : $14)*100):(($16==$16 ? $16 : $14)*100) with yerrorbars lc rgb '#222222' pt 0 title '95% interval', \
         ''   using 0:($6*100) with points pt 6 ps 1.5 lc rgb '#d1603d' title 'exact match (greedy)', \
         maj*100 with lines dt 2 lc rgb '#b22222' title sprintf('majority class %.1f%%', maj*100), \
         suf*100 with lines dt 4 lc rgb '#2a7d2a' title (suf == suf ? sprintf('4-letter suffix %.1f%%', suf*100) : 'no suffix baseline (instruction format)')
    unset label 99
    set title 'test loss on the label bytes (lower is better)'
    set ylabel 'nats per label byte'
    set yrange [*:*]
    set key outside below horizontal maxrows 3 noenhanced
    plot data using 0:8:xtic(label(strcol(2), strcol(3))) with boxes lc rgb '#d1603d' title 'mean over seeds', \
         ''   using 0:8:9 with yerrorbars lc rgb '#222222' pt 0 title 'spread (sd)'
    set key outside below horizontal maxrows 3 noenhanced
    unset multiplot
    unset output
}
