// SPDX-License-Identifier: MIT
// Shared benchmark helpers: GFLOP/s and % of peak counters with the ISA and
// thread count in the label. Register threaded benchmarks with UseRealTime().
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "peak/peak.hpp"
#include "qkv/qkv.h"

namespace qkv_bench {

// Seconds on the steady clock, for the paired rows' own per-call timings.
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median of per-iteration samples (0 for none): what paired rows report.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

inline qkv_isa active_isa() {
  qkv_isa isa = QKV_ISA_SCALAR;
  qkv_get_isa(&isa);
  return isa;
}

// Call after the timing loop; `flops` is the work of one iteration. Both
// counters are rates over the measured time, so "pct_peak" is GFLOPS divided
// by the peak of the same ISA and thread count measured in this process.
inline void set_rate(benchmark::State& state, double flops, int threads) {
  const qkv_isa isa = active_isa();
  const double peak = peak_gflops(isa, threads);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (peak > 0)
    state.counters["pct_peak"] =
        benchmark::Counter(flops * 1e-9 * 100.0 / peak, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(qkv_isa_name(isa)) + "/t" + std::to_string(threads));
}

}  // namespace qkv_bench
