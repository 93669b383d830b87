# compare.gp — one projection type of `lorascope compare --plots DIR`: the
# N×N matrix of the mean subspace similarity φ over that projection's
# layers as a heat map, adapter a (row) down, adapter b (column) across,
# each cell labelled with its value. The colour scale spans the
# off-diagonal values (cbmin..cbmax, chosen from the data by compare.c, not
# fixed 0–1, so that small differences show); the diagonal (φ = 1, an
# adapter against itself) is left blank and labelled 'self'. Renders <outbase>.png (pngcairo),
# <outbase>.svg and <outbase>.pdf.
#
# Variables (gnuplot -e): datafile (rows "b a phi", one block per a, NaN on
# the diagonal), outbase, title1, n (adapters), cbmin, cbmax, tics (a
# gnuplot tic list: ("0 name" 0, "1 name" 1, ...)).

if (!exists("datafile")) datafile = 'compare_phi.dat'
if (!exists("outbase"))  outbase = 'compare_phi'
if (!exists("title1"))   title1 = 'mean φ'
if (!exists("n"))        n = 2
if (!exists("cbmin"))    cbmin = 0
if (!exists("cbmax"))    cbmax = 1
if (!exists("tics"))     tics = ''

set encoding utf8
set palette defined (0 '#000004', 0.2 '#3b0f70', 0.4 '#8c2981', 0.6 '#de4968', \
                     0.8 '#fe9f6d', 1 '#fcfdbf')
set cbrange [cbmin:cbmax]
set cblabel 'mean φ (off-diagonal range)'
set xrange [-0.5:n - 0.5]
set yrange [n - 0.5:-0.5]        # adapter 0 at the top (matrix layout)
set size ratio -1
set tics out nomirror
if (strlen(tics) > 0) {
    eval('set xtics '.tics.' rotate by 30 right noenhanced')
    eval('set ytics '.tics.' noenhanced')
}
set xlabel 'adapter b (top-j directions)' noenhanced
set ylabel 'adapter a (top-i directions)' noenhanced
unset key
set style textbox opaque fillcolor rgb 'white' noborder
fs = (n <= 8 ? ',10' : (n <= 16 ? ',8' : ',6'))

do for [term = 1:3] {
    if (term == 1) {
        set terminal pngcairo size 900,800 enhanced font 'DejaVu Sans,11'
        set output outbase.'.png'
    } else { if (term == 2) {
        set terminal svg size 900,800 dynamic enhanced font 'DejaVu Sans,11'
        set output outbase.'.svg'
    } else {
        set terminal pdfcairo size (900)/72.0,(800)/72.0 enhanced font 'DejaVu Sans,11'
        set output outbase.'.pdf'
    } }
    set title title1 noenhanced
    plot datafile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder lc palette, \
         datafile using 1:2:($1 == $2 ? 'self' : sprintf('%.3f', $3)) with labels boxed font fs
    unset output
}
