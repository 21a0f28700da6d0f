#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the benchmarks whose figures the README and bench/README.md quote, in
# one process per family, medians of 3 repetitions, and keeps the JSON.
#   ./scripts/bench.sh [filter-regex]     (default: peak, gemm, attention, layer)
# OpenBLAS 0.3.21 does not know this CPU and falls back to SSE3 kernels;
# QKV_BENCH_OPENBLAS_CORETYPE (default SkylakeX) gives it its AVX-512 ones.
# BM_sgemm_pair times qkv, oneDNN (libdnnl-dev) and OpenBLAS (libopenblas-dev),
# both installed by the `bench` group below, in every iteration; the context at
# the top (stderr: CPU model, caches, qkv's ISA, library versions) is also in
# the JSON. glibc's malloc puts the process's large buffers on transparent huge
# pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, unless GLIBC_TUNABLES is set):
# with 4 KiB pages the GEMM packers' strided reads of large operands miss the
# TLB (the GPT-2-small training step 2-5 % faster; bench/README.md, session
# 23). Every library in the process gets the same pages.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh core bench
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DQKV_BUILD_TESTS=OFF >/dev/null
cmake --build build/bench -j "$(nproc 2>/dev/null || echo 2)" --target qkv_bench >/dev/null
out=build/bench/results
mkdir -p "$out"
export QKV_BENCH_OPENBLAS_CORETYPE=${QKV_BENCH_OPENBLAS_CORETYPE:-SkylakeX}
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
filter=${1:-"BM_peak|BM_sgemm|BM_sdpa_(fused|unfused_qkv|unfused_openblas|backward)/|BM_layer"}
echo "qkv bench on $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
./build/bench/bench/qkv_bench --benchmark_filter="$filter" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json | grep -E "median|Running|core|OpenBLAS" || true
echo "JSON: $out/bench.json"
