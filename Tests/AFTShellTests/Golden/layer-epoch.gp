set title "validation acc_norm by layer and epoch (epoch 0 = base)"
set xlabel "epoch"
set ylabel "layer"
set datafile missing 'NaN'
set xtics ("0" 0, "1" 1, "2" 2)
set ytics ("0" 0, "8" 1, "16" 2)
set xrange [-0.5:2.5]
set yrange [-0.5:2.5]
set cblabel "validation acc_norm"
set palette defined (0 '#f7fbff', 1 '#c6dbef', 2 '#6baed6')
unset key
plot "layer-epoch.dat" using 1:2:(0.5):(0.5):3 with boxxyerror fill solid 1.0 noborder lc palette, \
     "layer-epoch.dat" using 1:2:(sprintf('%.3f', $3)) with labels font ',9'
