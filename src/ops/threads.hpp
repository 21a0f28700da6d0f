// SPDX-License-Identifier: MIT
// threads - the thread-count setting, the rule for when to go parallel, and
// the only place threads are started: by the caller's executor
// (qkv_set_executor) where one is set, else by OpenMP. The ops call these
// helpers and never name either. Every helper runs its body in the calling
// thread when given one thread.
//
// Bodies never wait for each other (no barriers): an executor may run the
// pieces of one call one after another, in any order, or side by side, and
// each piece is identified by its own index, never by which thread runs it.
#pragma once

#include <atomic>
#include <cstddef>
#include <type_traits>

#include "ops/exec.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv::ops {

// Threads the next parallel region may use (>= 1).
int num_threads() noexcept;

// n >= 1, checked by the caller. Ignored without OpenMP.
void set_num_threads(int n) noexcept;

// The application's executor (parallel_for == nullptr: none), read whole.
qkv_executor executor() noexcept;

// Sets it (nullptr: none); the caller has checked it.
void set_executor(const qkv_executor* e) noexcept;

// Threads worth starting, at most x.threads, for `flops` of work split into
// `tasks` independent pieces: 1 below ~a few microseconds of work, never
// more than tasks. Work estimates are float: they only size teams, and float
// is native on every FPU the library targets (double is soft-float on a
// Cortex-M4F).
int threads_for(const exec& x, float flops, std::size_t tasks) noexcept;

// threads_for's work for M rows against a K x N operand each element of
// which is read once, from memory (few-row products: decode's projections,
// the LM head of generation): at least 16 rows' multiply-adds, since
// reading an element (4 bytes at the ~10-30 GB/s one core streams) takes
// about as long as 16 rows' flops on it (32 at ~100-200 GFLOP/s).
inline float streamed_flops(std::size_t M, std::size_t N, std::size_t K) noexcept {
  constexpr std::size_t kStreamRows = 16;
  return 2.f * static_cast<float>(M < kStreamRows ? kStreamRows : M) * static_cast<float>(N) *
         static_cast<float>(K);
}

// A short wait for another member's progress (a claimed piece of work that
// member is finishing): pause() spins a little, and after ~a thousand spins
// gives the processor away each time (the member waited for may be off-CPU).
class backoff {
 public:
  void pause() noexcept;

 private:
  unsigned spins_ = 0;
};

// A barrier for the members of run_side_by_side (never for an executor's,
// which may run members one after another). The last member of n to arrive
// runs last() alone, then releases the others. The others spin briefly,
// then yield (backoff): meant for waits on members that are finishing work
// already under way (GEMM's B blocks: ops/gemm_team.hpp run_b_blocks_on_one_team), which
// would otherwise cost a region's join and the next region's wake-up.
class team_barrier {
 public:
  template <class Last>
  void arrive(unsigned n, const Last& last) {
    const unsigned g = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
      last();
      count_.store(0, std::memory_order_relaxed);
      gen_.store(g + 1, std::memory_order_release);
      return;
    }
    backoff wait;
    while (gen_.load(std::memory_order_acquire) == g) wait.pause();
  }

 private:
  std::atomic<unsigned> count_{0}, gen_{0};
};

// Runs body(k, n) on an OpenMP team of up to n whose members run side by
// side, so that one may wait for another (team_barrier); returns false,
// running nothing, where they might not: with a caller's executor (which
// may run the members one after another), without OpenMP, or for n <= 1.
// As with run_team, the team may come out smaller than n.
template <class F>
bool run_side_by_side(const exec& x, int n, F&& body) {
#ifdef _OPENMP
  if (n > 1 && !x.pool.parallel_for) {
#pragma omp parallel num_threads(n)
    body(omp_get_thread_num(), omp_get_num_threads());
    return true;
  }
#else
  (void)x, (void)n, (void)body;
#endif
  return false;
}

// Runs body(k, n) for every k < n, side by side where the executor (or
// OpenMP) runs them so, each exactly once; n <= 1 runs body(0, 1) in the
// calling thread. With OpenMP the team may come out smaller than asked
// (nested regions): then n is the team's size, so a body must split its
// work by (k, n) or take it from a shared counter, never assume n.
template <class F>
void run_team(const exec& x, int n, F&& body) {
  if (n > 1 && x.pool.parallel_for) {
    struct call {
      F* body;
      int n;
      static void run(void* arg, std::size_t k) {
        const call* c = static_cast<const call*>(arg);
        (*c->body)(static_cast<int>(k), c->n);
      }
    } c{&body, n};
    x.pool.parallel_for(x.pool.ctx, static_cast<std::size_t>(n), &call::run, &c);
    return;
  }
#ifdef _OPENMP
  if (n > 1) {
#pragma omp parallel num_threads(n)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  body(0, 1);
}

namespace detail {
// The team paths of parallel_for_static and parallel_for_tasks, compiled
// once: each region's body is reached through body(arg, ...), so a region
// costs its serial loop and a thunk, not its own copy of the team code
// (Cortex-M4's .text budget). The one-thread paths stay inline.
void static_team(const exec& x, int threads, std::size_t n, void (*body)(void*, std::size_t), void* arg);
void tasks_team(const exec& x, int threads, std::size_t tasks, void (*body)(void*, std::size_t, int), void* arg);
template <class F>
void* erase(F& body) {
  return const_cast<void*>(static_cast<const void*>(&body));
}
}  // namespace detail

// Runs body(i) for every i < n on up to `threads` threads, i split into
// equal contiguous ranges (static schedule). The bodies must be independent
// (each writes only its own outputs), so the result never depends on the
// count.
template <class F>
void parallel_for_static(const exec& x, int threads, std::size_t n, F&& body) {
  if (threads <= 1 || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  using B = std::remove_reference_t<F>;
  detail::static_team(
      x, threads, n, [](void* f, std::size_t i) { (*static_cast<B*>(f))(i); }, detail::erase(body));
}

// parallel_for_static on threads_for(x, flops, blocks) threads.
template <class F>
void parallel_for_blocks(const exec& x, std::size_t blocks, float flops, F&& body) {
  parallel_for_static(x, threads_for(x, flops, blocks), blocks, static_cast<F&&>(body));
}

// Runs body(task, slot) for every task < tasks on up to `threads` threads,
// the tasks handed out one at a time in order (so a caller that sorts the
// heaviest first has them start first); `slot` in [0, threads) names the
// scratch the body may use, which no two bodies running at once share.
// Tasks must be independent.
template <class F>
void parallel_for_tasks(const exec& x, int threads, std::size_t tasks, F&& body) {
  if (threads <= 1 || tasks <= 1) {
    for (std::size_t t = 0; t < tasks; ++t) body(t, 0);
    return;
  }
  using B = std::remove_reference_t<F>;
  detail::tasks_team(
      x, threads, tasks, [](void* f, std::size_t t, int slot) { (*static_cast<B*>(f))(t, slot); },
      detail::erase(body));
}

}  // namespace qkv::ops
