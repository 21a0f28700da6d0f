# SPDX-License-Identifier: MIT
# Styling for bench/plot_sdpa.sh (variable: outfile).
set terminal pngcairo size 1000,600 font "sans,11"
set output outfile
set title "Attention forward, B1 H12 d64, fp32, 1 thread (GFLOP/s over CPU time; causal on half the FLOPs)" font "sans,10"
set xlabel "sequence length T"
set ylabel "GFLOP/s"
set logscale x 2
set xrange [100:2600]
set yrange [0:*]
set grid
set key outside right center
# The series (only those with data) come from plot_sdpa.sh's plot command,
# loaded right after this file.
