#include "ops/threads.hpp"

#include <atomic>

#include "dispatch/dispatch.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv::ops {
namespace {
// 0 = never set: follow OpenMP's default (OMP_NUM_THREADS or the core count).
std::atomic<int> g_threads{0};
}  // namespace

int num_threads() noexcept {
#ifdef _OPENMP
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) noexcept {
#ifdef _OPENMP
  g_threads.store(n, std::memory_order_relaxed);
#else
  (void)n;
#endif
}

exec current_exec() noexcept { return exec{dispatch::active(), num_threads()}; }

int threads_for(const exec& x, float flops, std::size_t tasks) noexcept {
  // Starting an OpenMP team costs a few microseconds; below ~2 MFLOP (about
  // 10 us on one AVX-512 core) it costs more than it saves.
  constexpr float kMinFlopsPerThread = 1e6f;
  int n = x.threads;
#ifdef _OPENMP
  // Never more threads than processors this process may run on: the extra
  // ones would only take turns with the others, and every barrier would
  // wait for whichever is off-CPU.
  const int procs = omp_get_num_procs();
  if (procs >= 1 && n > procs) n = procs;
#endif
  if (static_cast<float>(n) * kMinFlopsPerThread > flops)
    n = static_cast<int>(flops / kMinFlopsPerThread);
  if (static_cast<std::size_t>(n) > tasks) n = static_cast<int>(tasks);
  return n < 1 ? 1 : n;
}

}  // namespace qkv::ops
