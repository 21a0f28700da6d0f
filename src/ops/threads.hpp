// threads - the thread-count setting and the rule for when to go parallel.
// OpenMP is used in the ops layer only; these helpers keep `#ifdef _OPENMP`
// out of every op.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"

namespace qkv::ops {

// Threads the next parallel region may use (>= 1).
int num_threads() noexcept;

// n >= 1, checked by the caller. Ignored without OpenMP.
void set_num_threads(int n) noexcept;

// Threads worth starting, at most x.threads, for `flops` of work split into
// `tasks` independent pieces: 1 below ~a few microseconds of work, never
// more than tasks. Work estimates are float: they only size teams, and float
// is native on every FPU the library targets (double is soft-float on a
// Cortex-M4F).
int threads_for(const exec& x, float flops, std::size_t tasks) noexcept;

// Runs body(b) for every b < blocks on up to threads_for(x, flops, blocks)
// threads, static schedule. Blocks must be independent (each writes only its
// own outputs), so the result never depends on the thread count.
template <class F>
void parallel_for_blocks(const exec& x, std::size_t blocks, float flops, F&& body) {
#ifdef _OPENMP
  const int nt = threads_for(x, flops, blocks);
  if (nt > 1) {
    const auto nb = static_cast<long long>(blocks);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long long b = 0; b < nb; ++b) body(static_cast<std::size_t>(b));
    return;
  }
#else
  (void)x;
  (void)flops;
#endif
  for (std::size_t b = 0; b < blocks; ++b) body(b);
}

}  // namespace qkv::ops
