# quanterr.gp — does a QLoRA adapter learn the NF4 quantisation error
# E = W − deq(Q(W))? Three panels, written by `lorascope quanterr --plots DIR`
# (renders DIR/quanterr.png with pngcairo and DIR/quanterr.svg):
#   top     φ(r, r) between the top-r singular directions of dW and of E, per
#           module, input side (right, filled) and output side (left, open):
#           the QLoRA adapter, the fp32-base adapter of the same seed
#           (--compare), their difference D = dW − dW_fp32 and a random
#           r-dimensional subspace, with E[φ] = r/k as a dashed line;
#   middle  cos(·, E) per module (> 0: undoes the error) for the QLoRA dW, the
#           fp32 dW and D, inside the ±2/√(dk) band of an unrelated matrix;
#   bottom  the singular values of E of the selected module (--module),
#           normalised by σ₁, beside the normalised spectra of the two dWs.
#
# footnote (optional): provenance in small grey text at the bottom left.
# Variables (gnuplot -e): datafile (columns: 1 n, 2 module, 3 phi_right,
# 4 phi_right_compare, 5 phi_right_random, 6 phi_left, 7 phi_left_compare,
# 8 phi_left_random, 9 phi_right_expected, 10 phi_left_expected, 11 cos,
# 12 cos_compare, 13 cos_diff, 14 phi_right_diff, 15 phi_left_diff,
# 16 2/sqrt(dk), 17 error_coef, 18 diff_error_coef, 19 error_rel, 20 rank), specfile (i σ_E σ_dW σ_dW_compare,
# normalised), outbase, plottitle, nmod, hl (0-based selected module),
# hasc (1 when a compare adapter was given), hlname.

if (!exists("datafile"))  datafile = 'quanterr.dat'
if (!exists("specfile"))  specfile = 'quanterr_spectrum.dat'
if (!exists("outbase"))   outbase = 'quanterr'
if (!exists("plottitle")) plottitle = 'quantisation error vs adapter'
if (!exists("nmod"))      nmod = 1
if (!exists("hl"))        hl = 0
if (!exists("hasc"))      hasc = 0
if (!exists("hlname"))    hlname = ''
if (!exists("footnote")) footnote = ''

set encoding utf8
width = (nmod > 24 ? 400 + 32 * nmod : 1200)
ticfont = sprintf(',%d', nmod > 48 ? 8 : 10)
set grid ytics lc rgb '#dddddd'
set tics out nomirror
set border 3

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size width,1200 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size width,1200 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (width)/72.0,(1200)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot title plottitle noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.015 left font ',8' textcolor rgb '#777777' noenhanced
    set lmargin 12
    set rmargin 4

    # top: φ per module (right side filled, left side open symbols)
    set size 1, 0.36
    set origin 0, 0.62
    set bmargin 1
    set xrange [-0.7:nmod - 0.3]
    set logscale y
    set format y '10^{%L}'
    set ylabel 'φ(r, r) with E''s top-r'
    set format x ''
    set xtics 1 scale 0.5
    set key outside top center horizontal noenhanced
    plot datafile using 1:3 with points pt 7 ps 1.3 lc rgb '#d62728' title 'QLoRA dW (input side)', \
         datafile using 1:6 with points pt 6 ps 1.3 lc rgb '#d62728' title '(output side)', \
         datafile using 1:(hasc ? $4 : NaN) with points pt 5 ps 1.1 lc rgb '#1f77b4' title (hasc ? 'fp32 LoRA dW' : ''), \
         datafile using 1:(hasc ? $7 : NaN) with points pt 4 ps 1.1 lc rgb '#1f77b4' notitle, \
         datafile using 1:(hasc ? $14 : NaN) with points pt 13 ps 1.3 lc rgb '#2ca02c' title (hasc ? 'D = dW − dW(fp32)' : ''), \
         datafile using 1:(hasc ? $15 : NaN) with points pt 12 ps 1.3 lc rgb '#2ca02c' notitle, \
         datafile using 1:5 with points pt 9 ps 1.0 lc rgb '#7f7f7f' title 'random', \
         datafile using 1:8 with points pt 8 ps 1.0 lc rgb '#7f7f7f' notitle, \
         datafile using 1:9 with lines dt 2 lc rgb '#7f7f7f' title 'E[φ] = r/k'
    unset label 99

    # middle: cosine between dW and E
    set size 1, 0.28
    set origin 0, 0.34
    set tmargin 0.5
    set bmargin 5
    unset logscale y
    set format y '%g'
    set format x '%g'
    set ylabel 'cos(·, E)'
    set xtics rotate by 30 right font ticfont noenhanced
    set key inside top right horizontal noenhanced
    set offsets 0, 0, graph 0.4, 0   # headroom: the key above the data, not on it
    set style fill transparent solid 0.15 noborder
    plot datafile using 1:(-$16):16 with filledcurves lc rgb '#7f7f7f' title '±2/√(dk)', \
         datafile using 1:11:xtic(2) with points pt 7 ps 1.3 lc rgb '#d62728' title 'QLoRA dW', \
         datafile using 1:(hasc ? $12 : NaN) with points pt 5 ps 1.1 lc rgb '#1f77b4' title (hasc ? 'fp32 LoRA dW' : ''), \
         datafile using 1:(hasc ? $13 : NaN) with points pt 13 ps 1.3 lc rgb '#2ca02c' title (hasc ? 'D' : ''), \
         0 with lines lc rgb '#000000' notitle
    set xtics norotate
    set offsets 0, 0, 0, 0

    # bottom: spectra of the selected module
    set size 1, 0.33
    set origin 0, 0.0
    set tmargin 2
    set bmargin 4
    set xrange [1:*]
    set logscale y
    set format y '10^{%L}'
    set format x '%g'
    set xtics autofreq
    set xlabel sprintf('singular value index   (module %s)', hlname) noenhanced
    set ylabel 'σ_i / σ_1'
    set key inside bottom left noenhanced
    plot specfile using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'E = W − deq(Q(W))', \
         specfile using 1:3 with linespoints pt 7 lc rgb '#d62728' title 'QLoRA dW', \
         specfile using 1:(hasc ? $4 : NaN) with linespoints pt 5 lc rgb '#1f77b4' title (hasc ? 'fp32 LoRA dW' : '')
    unset multiplot
    unset output
    set tmargin
    set bmargin
    unset xlabel
    unset logscale y
}
