// SPDX-License-Identifier: MIT
// peak - the machine's fp32 FMA throughput per ISA, measured with independent
// FMA chains. Every benchmark divides its GFLOP/s by this figure, measured in
// the same process, to print "% of peak" (clocks drift ~7 % between runs).
#pragma once

#include <cstdint>

#include "qkv/runtime.h"

namespace qkv_bench {

// FLOPs done by `iters` iterations of one thread's chains for `isa`
// (0 when this build or CPU cannot run it). Runs the chains.
double peak_chains(qkv_isa isa, std::int64_t iters);

// One timed run of `iters` iterations of the chains on `threads` threads:
// GFLOP/s (wall time), 0 when `isa` cannot run here.
double probe_gflops(qkv_isa isa, int threads, std::int64_t iters);

// Measured peak GFLOP/s for `isa` with `threads` threads: the fastest
// probe run of this process for the pair (3 on the first call, 1 shorter
// one on each later call).
double peak_gflops(qkv_isa isa, int threads);

// Kernel-level probes, one per ISA translation unit.
double peak_chains_avx512(std::int64_t iters);
double peak_chains_avx2(std::int64_t iters);
double peak_chains_sse2(std::int64_t iters);
double peak_chains_scalar(std::int64_t iters);
// avx512_bf16's dot products (built when that set is): vdpbf16ps (64 FLOP per
// instruction) and vpdpbusd (128 integer ops), one thread.
double peak_chains_bf16_dot(std::int64_t iters);
double peak_chains_vnni_dot(std::int64_t iters);

}  // namespace qkv_bench
