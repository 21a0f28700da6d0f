// SPDX-License-Identifier: MIT
// Shared benchmark helpers: GFLOP/s and % of peak counters with the ISA and
// thread count in the label. Register threaded benchmarks with UseRealTime().
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "peak/peak.hpp"
#include "qkv/qkv.h"

namespace qkv_bench {

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
