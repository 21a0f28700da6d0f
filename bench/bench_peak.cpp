// SPDX-License-Identifier: MIT
// The peak-FLOP probe as benchmarks: independent FMA chains per ISA, 1 thread
// and all threads. Later benchmarks print their rate as a share of this.
#include <algorithm>

#include "bench_util.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

void BM_peak(benchmark::State& state) {
  const auto isa = static_cast<qkv_isa>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  int supported = 0;
  qkv_isa_query(isa, nullptr, &supported);
  if (!supported) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  constexpr std::int64_t kIters = 1'000'000;
  double flops = 0;
  for (auto _ : state) {
    flops = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : flops)
#endif
    flops += qkv_bench::peak_chains(isa, kIters);
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(qkv_isa_name(isa)) + "/t" + std::to_string(threads));
}

void peak_args(benchmark::internal::Benchmark* b) {
  int max_threads = 1;
#ifdef _OPENMP
  max_threads = omp_get_max_threads();
#endif
  for (int isa : {QKV_ISA_AVX512_BF16, QKV_ISA_AVX512, QKV_ISA_AVX2, QKV_ISA_SSE2, QKV_ISA_SCALAR}) {
    int supported = 0;
    qkv_isa_query(static_cast<qkv_isa>(isa), nullptr, &supported);
    if (!supported) continue;
    b->Args({isa, 1});
    if (max_threads > 1) b->Args({isa, max_threads});
  }
}

BENCHMARK(BM_peak)->Apply(peak_args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
