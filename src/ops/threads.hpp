// threads - the thread-count setting and the rule for when to go parallel.
// OpenMP is used in the ops layer only; these helpers keep `#ifdef _OPENMP`
// out of every op.
#pragma once

#include <cstddef>

namespace qkv::ops {

// Threads the next parallel region may use (>= 1).
int num_threads() noexcept;

// n >= 1, checked by the caller. Ignored without OpenMP.
void set_num_threads(int n) noexcept;

// Threads worth starting for `flops` of work split into `tasks` independent
// pieces: 1 below ~a few microseconds of work, never more than tasks.
int threads_for(double flops, std::size_t tasks) noexcept;

}  // namespace qkv::ops
