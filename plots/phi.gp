# phi.gp — the normalised subspace similarity φ(i, j) of one module as a
# heat map laid out like Figure 3 of the LoRA paper: i (top-i directions
# of the first adapter) on the vertical axis, row i = 1 at the top as in
# the paper's matrix layout; j (top-j directions of the second adapter)
# across; colour from 0 (no overlap) to the largest φ of the two grids (at
# large d every φ is near 0 and a fixed 0–1 scale would hide it; the range is
# in the colour box label). Beside it, the same grid for two random subspaces
# of the same dimensions (the paper's Figure 4, right), on the same scale.
# Written by `lorascope subspace --plots DIR`; renders <outbase>.png
# (pngcairo) and <outbase>.svg.
#
# Variables (gnuplot -e): phifile, randfile (rows "j i phi", one block per
# i), outbase, title1, title2 (two title lines), r1, r2, dim, degenerate, xlab, ylab,
# footnote (provenance: adapters, options; small, bottom left).

if (!exists("phifile"))   phifile = 'phi.dat'
if (!exists("randfile"))  randfile = 'phi_random.dat'
if (!exists("outbase"))   outbase = 'phi'
if (!exists("title1"))    title1 = 'Subspace similarity'
if (!exists("title2"))    title2 = ''
plottitle = title1."\n".title2
if (!exists("r1"))        r1 = 8
if (!exists("r2"))        r2 = 8
if (!exists("dim"))       dim = 0
if (!exists("degenerate")) degenerate = 0
if (!exists("xlab"))      xlab = 'j'
if (!exists("ylab"))      ylab = 'i'
if (!exists("footnote"))  footnote = ''

set encoding utf8
# magma-like: dark = 0, light = 1
set palette defined (0 '#000004', 0.2 '#3b0f70', 0.4 '#8c2981', 0.6 '#de4968', \
                     0.8 '#fe9f6d', 1 '#fcfdbf')
# the colour range from the data: [0, largest φ of both grids] (NaN cells skipped)
stats randfile using 3 nooutput name 'PR'
phimax = PR_max
if (!degenerate) {
    stats phifile using 3 nooutput name 'PL'
    phimax = (PL_max > phimax ? PL_max : phimax)
}
cbmax = (phimax >= 0.95 || !(phimax > 0) ? 1 : phimax)
set cbrange [0:cbmax]
set cbtics autofreq
set cblabel sprintf('φ(i, j), colour range 0 – %.3g', cbmax)
set rmargin 14     # room for the colour box, its tics and label
set xrange [0.5:r2 + 0.5]
set yrange [r1 + 0.5:0.5]          # i = 1 at the top (matrix layout, as the paper)
if (r2 <= 16) { set xtics 1 } else { set xtics 1, (r2 <= 64 ? 8 : 32) }
if (r1 <= 16) { set ytics 1 } else { set ytics 1, (r1 <= 64 ? 8 : 32) }
set tics out nomirror
set xlabel xlab noenhanced
set ylabel ylab noenhanced
unset key

# "with image" needs a grid of at least 2 x 2; boxes work for any size
style_boxes = (r1 < 2 || r2 < 2)

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 1400,660 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 1400,660 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (1400)/72.0,(660)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set multiplot layout 1,2 title plottitle noenhanced font ',13'
    set label 99 footnote at screen 0.005, screen 0.02 left font ',8' textcolor rgb '#777777' noenhanced
    set title 'φ(i, j) of the two adapters' noenhanced
    unset label 1
    if (degenerate) {
        set label 1 'NaN cells: dW = 0 or a rank-deficient factor (degenerate)' \
            at graph 0.5, graph 0.5 center front textcolor rgb '#c00000' noenhanced
    }
    if (style_boxes) {
        plot phifile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette
    } else {
        plot phifile using 1:2:3 with image
    }
    unset label
    set title sprintf('two seeded random subspaces of dimension-%d space: E[φ] = max(i, j)/%d', dim, dim) noenhanced
    set xlabel 'j' noenhanced
    set ylabel 'i' noenhanced
    if (style_boxes) {
        plot randfile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette
    } else {
        plot randfile using 1:2:3 with image
    }
    set xlabel xlab noenhanced
    set ylabel ylab noenhanced
    unset multiplot
    unset output
}
