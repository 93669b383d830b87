# study_dw_ratio.gp — ‖ΔW‖_F / ‖W‖_F against the LoRA rank (log-log) for {Wq}, {Wq,Wv} and
# {Wq,Wk,Wv,Wo}: the median over each run's adapted modules, mean over seeds (LoRA issue 12: an
# update larger than the weight it adapts is not "low-rank adaptation"). The band is the paper's
# regime: GPT-3 Wq at r=4, layer 48, 6.91/61.95 = 0.11, within 3x either way.
# Written by experiments/study_rank.sh from `lorascope collect --dat` (column 17: dw_ratio_median).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf. Variables (gnuplot -e): data, outbase, title.

if (!exists("data"))    data = 'cells.dat'
if (!exists("outbase")) outbase = 'dw_ratio'
if (!exists("title"))   title = '‖ΔW‖/‖W‖ against rank'
if (!exists("footnote")) footnote = ''

set encoding utf8
set logscale x 2
set logscale y 10
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set xlabel 'LoRA rank r'
set ylabel '‖ΔW‖_F / ‖W‖_F (median over modules)'
set key outside below horizontal maxrows 3 noenhanced
set offsets graph 0.05, graph 0.05, 0, 0
paper = 6.91 / 61.95
sets = 'q q,v q,k,v,o'
names = '{Wq} {Wq,Wv} {Wq,Wk,Wv,Wo}'
colors = '#4878a8 #d1603d #2a7d2a'

set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 900,560 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 900,560 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (900)/72.0,(560)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set title title noenhanced
    plot paper / 3 with filledcurves y1 = paper * 3 lc rgb '#eeeeee' title 'paper ×/÷ 3', \
         paper with lines dt 2 lc rgb '#777777' title sprintf('GPT-3 Wq r=4: %.3f', paper), \
         for [i = 1:3] data using (strcol(2) eq word(sets, i) ? $3 : NaN):17 \
             with linespoints lw 2 pt 7 lc rgb word(colors, i) title word(names, i) noenhanced
    unset output
}
