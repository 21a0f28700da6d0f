#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Renders the attention forward benchmark into bench/sdpa_forward.png:
# GFLOP/s against T (B1 H12 d64, one thread) for qkv's fused kernel, the
# unfused compositions (GEMM, softmax, GEMM) with qkv_sgemm and OpenBLAS, and
# the measured AVX-512 FMA peak; causal and non-causal.
#
# usage: bench/plot_sdpa.sh [build-dir] [bench-json]
#   build-dir   where qkv_bench was built (default: build/release)
#   bench-json  reuse an existing --benchmark_out JSON instead of running
# Needs gnuplot (./scripts/setup-deps.sh plot).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build/release}"
json="${2:-}"
out="$here/sdpa_forward.png"

command -v gnuplot >/dev/null || "$here/../scripts/setup-deps.sh" plot
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ -z "$json" ]; then
  json="$tmp/bench.json"
  "$build/bench/qkv_bench" --benchmark_filter='sweep|BM_peak/3/1' --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_out="$json" --benchmark_out_format=json >&2
fi

# Google Benchmark's JSON has one key per line: pair each median's name with
# its GFLOPS, then split the name into series, causal flag and T. Every
# series here runs on one thread, so the rate is taken over the thread's CPU
# time (GFLOPS * real_time / cpu_time): on a shared machine that discounts
# the time other processes held the core, for the peak and the kernels alike.
awk '
  /"name":/ { gsub(/[",]/, "", $2); name = $2 }
  /"real_time":/ { gsub(/,/, "", $2); real = $2 }
  /"cpu_time":/ { gsub(/,/, "", $2); cpu = $2 }
  /"GFLOPS":/ {
    gsub(/,/, "", $2)
    if (name ~ /_median$/ || (name ~ /real_time$/ && !(name in seen))) { seen[name] = 1; print name, $2 * real / cpu }
  }
' "$json" >"$tmp/all.txt"

declare -A titles colors
# The peak: its median with repetitions, else its single run.
peak="$(awk '$1 ~ /^BM_peak\/3\/1\/.*_median$/ { print $2; exit }' "$tmp/all.txt")"
[ -n "$peak" ] || peak="$(awk '$1 ~ /^BM_peak\/3\/1\/real_time$/ { print $2; exit }' "$tmp/all.txt")"
for series in fused unfused_qkv unfused_openblas; do
  for causal in 0 1; do
    awk -v s="BM_sdpa_${series}_sweep/" -v c="causal:${causal}" '
      index($1, s) == 1 && index($1, c) > 0 { match($1, /T:[0-9]+/); print substr($1, RSTART + 2, RLENGTH - 2), $2 }
    ' "$tmp/all.txt" | sort -n >"$tmp/${series}_${causal}.dat"
  done
done

# One plot command over the series that have data, then the peak line.
titles=([fused_0]="qkv fused" [fused_1]="qkv fused, causal"
        [unfused_qkv_0]="qkv\\_sgemm + softmax + qkv\\_sgemm" [unfused_qkv_1]="same, causal"
        [unfused_openblas_0]="OpenBLAS + softmax + OpenBLAS" [unfused_openblas_1]="same, causal")
colors=([fused]=1 [unfused_qkv]=2 [unfused_openblas]=3)
cmd="plot"
for f in fused_0 fused_1 unfused_qkv_0 unfused_qkv_1 unfused_openblas_0 unfused_openblas_1; do
  [ -s "$tmp/$f.dat" ] || continue
  cmd+=" '$tmp/$f.dat' using 1:2 with linespoints lw 2 pt 7 lc ${colors[${f%_*}]} dt $(( ${f##*_} + 1 ))"
  cmd+=" title '${titles[$f]}',"
done
if [ -n "$peak" ]; then
  cmd+=" $peak with lines lw 2 lc rgb 'black' dt 3 title sprintf('AVX-512 FMA peak, 1 core (%.0f)', $peak),"
fi
echo "${cmd%,}" >"$tmp/plot.gp"
gnuplot -e "outfile='$out'" "$here/sdpa_forward.gp" "$tmp/plot.gp"
echo "wrote $out" >&2
