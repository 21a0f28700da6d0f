// SPDX-License-Identifier: MIT
#include "ops/threads.hpp"

#include <atomic>

#include "dispatch/dispatch.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef QKV_HOSTED
#include <thread>
#endif

namespace qkv::ops {
namespace {
// 0 = never set: follow OpenMP's default (OMP_NUM_THREADS or the core count).
std::atomic<int> g_threads{0};
std::atomic<int> g_procs{0};  // omp_get_num_procs(), read once (0: not yet)

// The executor, as three atomics behind a sequence count (a seqlock): a
// reader retries while a writer is between its two increments, so it never
// sees half of one executor and half of another. Writers take turns.
std::atomic<unsigned> g_pool_seq{0};
std::atomic<bool> g_pool_writer{false};
std::atomic<void (*)(void*, std::size_t, qkv_task_fn, void*)> g_pool_fn{nullptr};
std::atomic<void*> g_pool_ctx{nullptr};
std::atomic<int> g_pool_workers{0};

// The thread-count setting (OpenMP's default if never set).
int openmp_setting() noexcept {
#ifdef _OPENMP
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

// What a call runs with: never more threads than processors this process
// may run on; the extra ones would only take turns with the others, and
// every join would wait for whichever is off-CPU. (libgomp asks the kernel
// for the affinity mask on every omp_get_num_procs(): read once.)
int openmp_threads() noexcept {
  const int n = openmp_setting();
#ifdef _OPENMP
  int procs = g_procs.load(std::memory_order_relaxed);
  if (procs == 0) {  // first use (a race computes the same value twice)
    procs = omp_get_num_procs();
    g_procs.store(procs, std::memory_order_relaxed);
  }
  return procs >= 1 && n > procs ? procs : n;
#else
  return n;
#endif
}

}  // namespace

qkv_executor executor() noexcept {
  qkv_executor e;
  unsigned before, after;
  do {
    before = g_pool_seq.load(std::memory_order_acquire);
    e.parallel_for = g_pool_fn.load(std::memory_order_relaxed);
    e.ctx = g_pool_ctx.load(std::memory_order_relaxed);
    e.workers = g_pool_workers.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    after = g_pool_seq.load(std::memory_order_relaxed);
  } while ((before & 1u) != 0 || before != after);
  return e;
}

void set_executor(const qkv_executor* e) noexcept {
  while (g_pool_writer.exchange(true, std::memory_order_acquire)) {
  }
  g_pool_seq.fetch_add(1, std::memory_order_relaxed);  // odd: readers retry
  std::atomic_thread_fence(std::memory_order_release);
  g_pool_fn.store(e ? e->parallel_for : nullptr, std::memory_order_relaxed);
  g_pool_ctx.store(e ? e->ctx : nullptr, std::memory_order_relaxed);
  g_pool_workers.store(e ? e->workers : 0, std::memory_order_relaxed);
  g_pool_seq.fetch_add(1, std::memory_order_release);  // even again
  g_pool_writer.store(false, std::memory_order_release);
}

int num_threads() noexcept {
  const qkv_executor e = executor();
  return e.parallel_for ? e.workers : openmp_setting();
}

void set_num_threads(int n) noexcept {
#ifdef _OPENMP
  g_threads.store(n, std::memory_order_relaxed);
#else
  (void)n;
#endif
}

void backoff::pause() noexcept {
  if (++spins_ < 1024) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    return;
  }
#ifdef QKV_HOSTED
  std::this_thread::yield();
#endif
}

exec current_exec() noexcept {
  const qkv_executor e = executor();
  exec x = plain_exec(dispatch::active(), e.parallel_for ? e.workers : openmp_threads());
  x.pool = e;
  return x;
}

int threads_for(const exec& x, float flops, std::size_t tasks) noexcept {
  // Starting an OpenMP team costs a few microseconds; below ~2 MFLOP (about
  // 10 us on one AVX-512 core) it costs more than it saves.
  constexpr float kMinFlopsPerThread = 1e6f;
  int n = x.threads;
  if (static_cast<float>(n) * kMinFlopsPerThread > flops)
    n = static_cast<int>(flops / kMinFlopsPerThread);
  if (static_cast<std::size_t>(n) > tasks) n = static_cast<int>(tasks);
  return n < 1 ? 1 : n;
}

namespace detail {

void static_team(const exec& x, int threads, std::size_t n, void (*body)(void*, std::size_t), void* arg) {
  if (static_cast<std::size_t>(threads) > n) threads = static_cast<int>(n);
  run_team(x, threads, [&](int k, int team) {
    const std::size_t t = static_cast<std::size_t>(team), id = static_cast<std::size_t>(k);
    for (std::size_t i = n * id / t; i < n * (id + 1) / t; ++i) body(arg, i);
  });
}

void tasks_team(const exec& x, int threads, std::size_t tasks, void (*body)(void*, std::size_t, int), void* arg) {
  if (static_cast<std::size_t>(threads) > tasks) threads = static_cast<int>(tasks);
  std::atomic<std::size_t> next{0};
  run_team(x, threads, [&](int slot, int) {
    for (std::size_t t = next.fetch_add(1, std::memory_order_relaxed); t < tasks;
         t = next.fetch_add(1, std::memory_order_relaxed))
      body(arg, t, slot);
  });
}

}  // namespace detail
}  // namespace qkv::ops
