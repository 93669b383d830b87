# study_intruders.gp — intruder dimensions (Shuttleworth et al. 2024) against the LoRA rank on
# {Wq, Wv}: per rank the mean count over seeds (summed over the q and v modules of every layer) with
# its 95% interval, the random-rotation null's mean dashed, and full fine-tuning on the same modules
# as a horizontal band (its interval) with its own null dotted. Each LoRA point is labelled with the
# cell's task accuracy. Intervals are clipped at 0 (a count). Written by experiments/study_intruders.sh; renders <outbase>.png/.svg/.pdf.
# Variables (gnuplot -e): data (columns: rank count_mean count_lo count_hi null_mean accuracy),
# full_mean, full_lo, full_hi, full_null, full_acc, k, eps, outbase, title, footnote.

if (!exists("data"))      data = 'intr.dat'
if (!exists("outbase"))   outbase = 'intruders'
if (!exists("title"))     title = 'Intruder dimensions against rank'
if (!exists("footnote"))  footnote = ''
if (!exists("full_mean")) full_mean = NaN
if (!exists("full_lo"))   full_lo = NaN
if (!exists("full_hi"))   full_hi = NaN
if (!exists("full_null")) full_null = NaN
if (!exists("full_acc"))  full_acc = NaN
if (!exists("k"))         k = 10
if (!exists("eps"))       eps = 0.5

# one seed: no interval (NaN): the band collapses to the mean
flo = (full_lo == full_lo) ? full_lo : full_mean
fhi = (full_hi == full_hi) ? full_hi : full_mean

set encoding utf8
set logscale x 2
set grid xtics ytics lc rgb '#dddddd'
set tics out nomirror
set border 3
set bmargin 5   # the footnote below the x label
set xlabel 'LoRA rank r (targets Wq, Wv)'
set ylabel sprintf('intruder dimensions (top %d, |cos| < %g), sum over q, v modules', k, eps)
set key outside right top vertical noenhanced
set offsets graph 0.08, graph 0.08, graph 0.12, 0
set yrange [0:*]

set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1250,620 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1250,620 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1250)/72.0,(620)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set title title noenhanced
    plot flo with filledcurves y1 = fhi lc rgb '#f2d9cc' \
             title sprintf('full fine-tuning: 95%% interval (accuracy %.1f%%)', 100 * full_acc), \
         full_mean with lines lw 2 lc rgb '#d1603d' title sprintf('full fine-tuning: mean %.2f', full_mean), \
         full_null with lines lw 1.5 dt 3 lc rgb '#d1603d' title 'full fine-tuning: random-rotation null', \
         data using 1:2:(valid(3) ? ($3 < 0 ? 0 : $3) : $2):(valid(4) ? $4 : $2) with yerrorlines lw 2 pt 7 lc rgb '#4878a8' \
             title 'LoRA {Wq,Wv}: mean, 95% interval over seeds', \
         data using 1:5 with lines lw 1.5 dt 2 lc rgb '#4878a8' title 'LoRA: random-rotation null (mean)', \
         data using 1:(valid(4) ? $4 : $2):(sprintf('%.1f%%', 100 * $6)) with labels offset 0, 1 font ',9' \
             textcolor rgb '#4878a8' notitle
    unset output
}
