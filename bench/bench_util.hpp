// SPDX-License-Identifier: MIT
// Shared benchmark helpers: GFLOP/s and % of peak counters with the ISA and
// thread count in the label. Register threaded benchmarks with UseRealTime().
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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

// Iterations of the FMA probe's chains (768 FLOP each) for a paired probe
// of `flops` per thread, clamped to 2-200 MFLOP (BM_sgemm_pair, paired_peak).
inline std::int64_t paired_probe_iters(double flops) {
  return std::max<std::int64_t>(1, std::int64_t(std::min(std::max(flops, 2e6), 2e8) / 768));
}

// "% of peak" against a probe paired with every iteration, as BM_sgemm_pair
// does (bench/README.md, "Which peak?"): after each timed call the FMA
// probe runs, timing paused, on as much work (2-200 MFLOP per thread), and
// pct_peak_paired is the median over iterations of the call's rate over
// that probe's. On the Intel hosts the probe reads up to ~10 % lower for a
// few ms after any heavy kernel than when it runs alone (pct_peak's probe,
// at the start of the process): report both.
class paired_peak {
 public:
  paired_peak(double flops, int threads)
      : flops_(flops), threads_(threads), iters_(paired_probe_iters(flops / threads)) {}

  // One iteration's call took `seconds`: probe with timing paused.
  void sample(benchmark::State& state, double seconds) {
    state.PauseTiming();
    const double peak = probe_gflops(active_isa(), threads_, iters_);
    state.ResumeTiming();
    if (peak > 0 && seconds > 0) pct_.push_back(100.0 * flops_ * 1e-9 / seconds / peak);
  }

  void report(benchmark::State& state) const {
    if (!pct_.empty()) state.counters["pct_peak_paired"] = median(pct_);
  }

 private:
  double flops_;
  int threads_;
  std::int64_t iters_;
  std::vector<double> pct_;
};

}  // namespace qkv_bench
