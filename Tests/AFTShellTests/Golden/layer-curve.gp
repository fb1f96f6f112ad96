set title "hellaswag on smollm2-135m: validation acc_norm by layer"
set xlabel "layer (steering added after this block)"
set ylabel "validation acc_norm"
set key outside right top
set grid
set arrow from graph 0, first 0.4 to graph 1, first 0.4 nohead dashtype 2
set label "best: layer 8" at first 8, first 0.47 offset 1,-1 front
plot "layer-curve.dat" index 1 using 1:2:3 with filledcurves lc rgb '#c6dbef' title '95% Wilson interval', \
     "layer-curve.dat" index 0 using 1:2 with linespoints lw 2 title "steered (best epoch)", \
     0.4 with lines dashtype 2 lc rgb 'gray40' title "base 0.400", \
     "layer-curve.dat" index 2 using 1:2 with points pt 7 ps 2 lc rgb 'red' title 'best'
