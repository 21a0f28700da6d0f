// SPDX-License-Identifier: MIT
// dispatch_race - the one-time ISA choice under a race, in fresh processes.
//
// qkv::dispatch::active() decides on first use, lock-free: racing first
// callers may each compute the choice, one store wins, and all must agree.
// That first use happens once per process, so this program re-runs itself
// (`--once`) many times; each child starts kThreads threads that spin on a
// start flag and then all make their first qkv call at the same moment.
// Children also race with QKV_ISA set to every supported ISA (and to junk,
// which must be ignored), and must all report exactly that ISA.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "qkv/qkv.h"

namespace {

constexpr int kThreads = 8;
constexpr int kRounds = 12;

int race_once() {
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::vector<int> seen(kThreads, -1);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      qkv_isa isa = QKV_ISA_COUNT;
      if (t % 2) {  // half enter through a compute routine, half through the query
        const float x[3] = {1, 2, 3};
        float r = 0;
        if (qkv_sdot(3, x, x, &r) != QKV_OK || r != 14.f) return;
      }
      if (qkv_get_isa(&isa) == QKV_OK) seen[t] = static_cast<int>(isa);
    });
  while (ready.load() < kThreads) {
  }
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();

  qkv_isa final_isa = QKV_ISA_COUNT;
  qkv_get_isa(&final_isa);
  int supported = 0;
  qkv_isa_query(final_isa, nullptr, &supported);
  for (int t = 0; t < kThreads; ++t)
    if (seen[t] != static_cast<int>(final_isa)) {
      std::printf("FAIL: thread %d saw ISA %d, the process settled on %s\n", t, seen[t], qkv_isa_name(final_isa));
      return 1;
    }
  if (!supported) {
    std::printf("FAIL: raced choice %s is not supported here\n", qkv_isa_name(final_isa));
    return 1;
  }
  if (const char* want = std::getenv("QKV_EXPECT_ISA"))
    if (std::strcmp(want, qkv_isa_name(final_isa)) != 0) {
      std::printf("FAIL: expected %s, got %s\n", want, qkv_isa_name(final_isa));
      return 1;
    }
  return 0;
}

int run_child(const std::string& self, const char* isa_env, const char* expect) {
  if (isa_env)
    setenv("QKV_ISA", isa_env, 1);
  else
    unsetenv("QKV_ISA");
  if (expect)
    setenv("QKV_EXPECT_ISA", expect, 1);
  else
    unsetenv("QKV_EXPECT_ISA");
  const std::string cmd = "'" + self + "' --once";
  return std::system(cmd.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--once") == 0) return race_once();

  // The ISA the parent's dispatch picks without any override: every
  // unforced child must agree with it.
  unsetenv("QKV_ISA");
  int failures = 0, runs = 0;
  const std::string self = argv[0];
  qkv_isa best = QKV_ISA_SCALAR;
  qkv_get_isa(&best);
  const std::string best_name = qkv_isa_name(best);
  for (int r = 0; r < kRounds; ++r, ++runs) failures += run_child(self, nullptr, best_name.c_str()) != 0;
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    int supported = 0;
    qkv_isa_query(static_cast<qkv_isa>(i), nullptr, &supported);
    if (!supported) continue;
    const char* name = qkv_isa_name(static_cast<qkv_isa>(i));
    for (int r = 0; r < 3; ++r, ++runs) failures += run_child(self, name, name) != 0;
  }
  for (int r = 0; r < 3; ++r, ++runs) failures += run_child(self, "not-an-isa", best_name.c_str()) != 0;
  std::printf("dispatch race: %d fresh processes x %d threads, %d failures\n", runs, kThreads, failures);
  return failures ? 1 : 0;
}
