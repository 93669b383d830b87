# study_spectra.gp — LoRA against full fine-tuning: the singular values of ΔW for the middle
# layer's Wq and Wv. Left: σ_i/σ_1 (log scale) against i; right: the cumulative energy
# Σ_{k<=i} σ_k² / Σ σ² (rank90 is where it crosses 0.9). Full fine-tuning (W_ft − W_0) against the
# LoRA updates at r=8 and at the high rank. The left panel is on a log scale when full
# fine-tuning's σ_i/σ_1 spans more than two decades (decided from the data by stats).
# Written by experiments/study_full.sh from `lorascope collect --spec-dat DIR` (files
# DIR/spec_<group>.<t>.dat, columns: i sigma sigma/sigma1 cumulative).
# Renders <outbase>.png, <outbase>.svg and <outbase>.pdf.
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): dir, outbase, title, rhigh.

if (!exists("dir"))     dir = '.'
if (!exists("outbase")) outbase = 'full_spectra'
if (!exists("title"))   title = 'Singular values of ΔW: full fine-tuning vs LoRA'
if (!exists("rhigh"))   rhigh = 64
if (!exists("footnote")) footnote = ''

set encoding utf8
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 8   # room for the legend below the x label
set logscale x
set xlabel 'index i of the singular value'
set key outside below horizontal maxrows 3 noenhanced
f(g, t) = dir.'/spec_'.g.'.'.t.'.dat'
hi = sprintf('lora_r%d', rhigh)
# σ_i/σ_1 on a log scale only when full fine-tuning's spectrum spans more than two decades
stats f('full', 'q') using 3 nooutput name 'SQ'
stats f('full', 'v') using 3 nooutput name 'SV'
lo = (SQ_min < SV_min ? SQ_min : SV_min)
uselog = (lo > 0 && lo < 0.01)

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1300,600 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1300,600 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1300)/72.0,(600)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot layout 1,2 title title noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
    if (uselog) {
        set logscale y
        set ylabel 'σ_i / σ_1 (log scale)'
    } else {
        set yrange [0:1.02]
        set ylabel 'σ_i / σ_1'
    }
    set format y '%g'
    set title 'normalised spectrum' noenhanced
    plot f('full', 'q') using 1:3 with lines lw 2 lc rgb '#4878a8' title 'full FT, ΔWq', \
         f('full', 'v') using 1:3 with lines lw 2 dt 2 lc rgb '#4878a8' title 'full FT, ΔWv', \
         f(hi, 'q') using 1:3 with linespoints pt 7 ps 0.5 lc rgb '#d1603d' title sprintf('LoRA r=%d, ΔWq', rhigh), \
         f(hi, 'v') using 1:3 with linespoints pt 6 ps 0.5 dt 2 lc rgb '#d1603d' title sprintf('LoRA r=%d, ΔWv', rhigh), \
         f('lora_r8', 'q') using 1:3 with linespoints pt 5 ps 0.6 lc rgb '#2a7d2a' title 'LoRA r=8, ΔWq', \
         f('lora_r8', 'v') using 1:3 with linespoints pt 4 ps 0.6 dt 2 lc rgb '#2a7d2a' title 'LoRA r=8, ΔWv'
    unset label 99
    unset logscale y
    set format y '%g'
    set yrange [0:1.02]
    set ylabel 'cumulative energy Σ_{k≤i} σ_k^2 / Σ σ^2'
    set title 'cumulative energy (rank90: first i above 0.9)' noenhanced
    set key outside below horizontal maxrows 3 noenhanced
    plot f('full', 'q') using 1:4 with lines lw 2 lc rgb '#4878a8' title 'full FT, ΔWq', \
         f('full', 'v') using 1:4 with lines lw 2 dt 2 lc rgb '#4878a8' title 'full FT, ΔWv', \
         f(hi, 'q') using 1:4 with linespoints pt 7 ps 0.5 lc rgb '#d1603d' title sprintf('LoRA r=%d, ΔWq', rhigh), \
         f('lora_r8', 'q') using 1:4 with linespoints pt 5 ps 0.6 lc rgb '#2a7d2a' title 'LoRA r=8, ΔWq', \
         0.9 with lines dt 3 lc rgb '#b22222' title '90 %'
    unset yrange
    unset multiplot
    unset output
}
