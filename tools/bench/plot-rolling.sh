#!/bin/sh
# plot-rolling.sh -- plot the hit ratio per second of a rolling restart
# (the TSV written by tools/bench/rolling-restart.sh, emberd in columns 2-4 and
# memcached in 5-7) with gnuplot into a PNG.
#
#   tools/bench/plot-rolling.sh [TSV [PNG]]
#
# Defaults: docs/rolling-restart.tsv -> docs/rolling-restart.png in the
# source tree. Needs gnuplot (Debian: gnuplot-nox).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
tsv=${1:-$top/docs/rolling-restart.tsv}
png=${2:-$top/docs/rolling-restart.png}
command -v gnuplot >/dev/null 2>&1 || {
    echo "plot-rolling.sh: gnuplot not installed (gnuplot-nox)" >&2
    exit 2
}
# a dashed line at each second whose event column names a restart
marks=$(awk -F'\t' '!/^#/ && $NF != "-" {
    printf "set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 ", $1, $1
    printf "lc rgb \"gray40\"; " }' "$tsv")
gnuplot <<GP
set terminal pngcairo size 900,480 font "sans,11"
set output "$png"
set title "Rolling restart of 3 nodes behind nutcracker (ketama), \
cache-aside load"
set xlabel "seconds (dashed: a node gets SIGTERM and is started again)"
set ylabel "hit ratio, % of answered gets"
set yrange [0:105]
set key bottom right
set grid ytics
$marks
plot "$tsv" using 1:(100*\$2) with linespoints lw 2 pt 7 ps 0.6 \
        title "ember (warm restart)", \
     "$tsv" using 1:(100*\$5) with linespoints lw 2 pt 5 ps 0.6 \
        title "memcached 1.6.18"
GP
echo "wrote $png"
