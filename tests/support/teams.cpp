// SPDX-License-Identifier: MIT
#include "support/teams.hpp"

#include <atomic>

namespace {
std::atomic<int> g_widest{0};
std::atomic<long> g_regions{0};
}  // namespace

#if QKV_TEST_TEAMS
// libgomp's entry for `#pragma omp parallel`: fn(data) runs once on every
// member of a team of up to num_threads threads; it returns when all have.
extern "C" void __real_GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);

namespace {
struct region {
  void (*fn)(void*);
  void* data;
  std::atomic<int> members{0};
};

void run_member(void* p) {
  auto* r = static_cast<region*>(p);
  r->members.fetch_add(1, std::memory_order_relaxed);
  r->fn(r->data);
}
}  // namespace

extern "C" void __wrap_GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) {
  region r{fn, data};
  __real_GOMP_parallel(run_member, &r, num_threads, flags);
  const int n = r.members.load(std::memory_order_relaxed);
  int w = g_widest.load(std::memory_order_relaxed);
  while (n > w && !g_widest.compare_exchange_weak(w, n, std::memory_order_relaxed)) {
  }
  g_regions.fetch_add(1, std::memory_order_relaxed);
}
#endif

namespace qkv_test {

bool team_counting() { return QKV_TEST_TEAMS != 0; }

team_watch::team_watch() {
  g_widest.store(0, std::memory_order_relaxed);
  g_regions.store(0, std::memory_order_relaxed);
}

int team_watch::widest() const { return g_widest.load(std::memory_order_relaxed); }

long team_watch::regions() const { return g_regions.load(std::memory_order_relaxed); }

}  // namespace qkv_test
