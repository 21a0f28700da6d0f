// SPDX-License-Identifier: MIT
// Concurrency: several std::threads call every compute routine at once, on
// their own buffers, each call threaded inside with OpenMP (2 threads), and
// every result must equal the single-threaded, single-caller one bytewise.
// Concurrent callers share only the process-wide settings (ISA, thread
// count), which nobody changes meanwhile; the library keeps no per-thread
// state (tests/process/no_heap.cpp, scripts/check-no-tls.sh).
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "support/routines.hpp"
#include "support/teams.hpp"

TEST_CASE("concurrent callers get the single-threaded results", "[reliability][concurrency]") {
  const auto routines = qkv_test::all_routines();
  std::vector<qkv_test::bytes> expected;
  {
    qkv_test::threads_scope t(1);
    for (const auto& r : routines) {
      expected.push_back(r.run());
      INFO("routine: " << r.name);
      REQUIRE(!expected.back().empty());
    }
  }

  qkv_test::threads_scope t(2);  // each call runs an OpenMP team of 2 inside
  const int callers = 4, rounds = qkv_test::small_tests() ? 1 : 2;
  std::atomic<bool> go{false};
  // mismatches[c * routines + i]: how often caller c saw routine i differ.
  std::vector<int> mismatches(callers * routines.size(), 0);
  std::vector<std::thread> pool;
  for (int c = 0; c < callers; ++c)
    pool.emplace_back([&, c] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int round = 0; round < rounds; ++round)
        for (std::size_t k = 0; k < routines.size(); ++k) {
          const std::size_t i = (k + static_cast<std::size_t>(c)) % routines.size();  // callers out of phase
          const qkv_test::bytes got = routines[i].run();
          if (got.size() != expected[i].size() || std::memcmp(got.data(), expected[i].data(), got.size()) != 0)
            ++mismatches[c * routines.size() + i];
        }
    });
  qkv_test::team_watch watch;
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  QKV_CHECK_TEAM(watch);

  for (int c = 0; c < callers; ++c)
    for (std::size_t i = 0; i < routines.size(); ++i) {
      INFO("caller " << c << ", routine " << routines[i].name);
      CHECK(mismatches[c * routines.size() + i] == 0);
    }
}

TEST_CASE("settings read from many threads while one thread changes them", "[reliability][concurrency]") {
  // runtime.h: any function may be called from any thread at any time; a
  // reader sees the old or the new value, never anything else.
  qkv_isa saved_isa = QKV_ISA_SCALAR;
  qkv_get_isa(&saved_isa);
  qkv_test::threads_scope keep(1);
  const auto isas = qkv_test::runnable_isas();
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int c = 0; c < 3; ++c)
    readers.emplace_back([&] {
      while (!stop.load()) {
        qkv_isa isa = QKV_ISA_COUNT;
        int n = 0, supported = 0;
        if (qkv_get_isa(&isa) != QKV_OK || qkv_isa_query(isa, nullptr, &supported) != QKV_OK || !supported) ++bad;
        if (qkv_get_num_threads(&n) != QKV_OK || n < 1 || n > 3) ++bad;
      }
    });
  for (int i = 0; i < 2000; ++i) {
    qkv_set_isa(isas[static_cast<std::size_t>(i) % isas.size()]);
    qkv_set_num_threads(1 + i % 3);
  }
  stop = true;
  for (auto& th : readers) th.join();
  qkv_set_isa(saved_isa);
  CHECK(bad.load() == 0);
}
