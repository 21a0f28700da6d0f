// threads - the thread-count setting, the rule for when to go parallel, and
// the only place OpenMP is used: the ops call these helpers and never name
// OpenMP themselves (a caller-provided thread pool would plug in here).
// Every helper runs its body in the calling thread when given one thread.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

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

// Runs body(i) for every i < n on `threads` threads, i split into equal
// contiguous ranges (static schedule). The bodies must be independent (each
// writes only its own outputs), so the result never depends on the count.
template <class F>
void parallel_for_static(int threads, std::size_t n, F&& body) {
#ifdef _OPENMP
  if (threads > 1 && n > 1) {
    const auto count = static_cast<long long>(n);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long long i = 0; i < count; ++i) body(static_cast<std::size_t>(i));
    return;
  }
#else
  (void)threads;
#endif
  for (std::size_t i = 0; i < n; ++i) body(i);
}

// parallel_for_static on threads_for(x, flops, blocks) threads.
template <class F>
void parallel_for_blocks(const exec& x, std::size_t blocks, float flops, F&& body) {
  parallel_for_static(threads_for(x, flops, blocks), blocks, static_cast<F&&>(body));
}

// Runs body(task, thread) for every task < tasks on `threads` threads, the
// tasks handed out one at a time in order (so a caller that sorts the
// heaviest first has them start first); `thread` in [0, threads) names the
// per-thread scratch the body may use. Tasks must be independent.
template <class F>
void parallel_for_tasks(int threads, std::size_t tasks, F&& body) {
#ifdef _OPENMP
  if (threads > 1 && tasks > 1) {
    const auto count = static_cast<long long>(tasks);
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
      for (long long t = 0; t < count; ++t) body(static_cast<std::size_t>(t), thread);
    }
    return;
  }
#else
  (void)threads;
#endif
  for (std::size_t t = 0; t < tasks; ++t) body(t, 0);
}

// Runs body(thread, team) on every member of a team of up to `threads`
// threads (team: the size the runtime gave, thread in [0, team)); members
// may wait for each other with team_barrier(team).
template <class F>
void parallel_team(int threads, F&& body) {
#ifdef _OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#else
  (void)threads;
#endif
  body(0, 1);
}

// Waits until every member of the enclosing parallel_team (of `team`
// members, as its body was given) arrives. A team of one does nothing: it
// runs in its caller's thread, which may itself be a member of an outer team
// (sgemm inside an attention task), and a barrier there would wait for that
// outer team.
inline void team_barrier(int team) noexcept {
#ifdef _OPENMP
  if (team > 1) {
#pragma omp barrier
  }
#else
  (void)team;
#endif
}

}  // namespace qkv::ops
