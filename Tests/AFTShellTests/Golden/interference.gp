set title "smollm2-135m: Δ test acc_norm vs base (points)"
set xlabel "measured on task"
set ylabel "steered with"
set datafile missing 'NaN'
set xtics ("hellaswag" 0, "arc-easy" 1)
set ytics ("a (L12)" 0, "b (L8)" 1, "sum" 2, "routed" 3)
set xrange [-0.5:1.5]
set yrange [3.5:-0.5]
set cblabel "Δ acc_norm (points)"
set palette defined (-1 '#ef8a62', 0 '#f7f7f7', 1 '#67a9cf')
set cbrange [-50:50]
unset key
plot "interference.dat" using 1:2:(0.5):(0.5):3 with boxxyerror fill solid 1.0 noborder lc palette, \
     "interference.dat" using 1:2:(sprintf('%+.1f', $3)) with labels font ',9'
