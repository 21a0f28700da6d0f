// SPDX-License-Identifier: MIT
// Determinism: every compute routine of the public API (support/routines.hpp)
// gives byte-identical outputs at 1, 2 and 3 threads (on a 2-core machine 3
// runs as 2: the library never starts more threads than processors; odd team
// sizes are test_executor.cpp's), on every runnable ISA, and twice in a row.
// Each multi-threaded run must really have run a team of two or more, at
// every test scale (support/teams.hpp).
#include <cstring>

#include "support/routines.hpp"
#include "support/teams.hpp"

TEST_CASE("every routine is bitwise identical at 1, 2 and 3 threads", "[reliability][determinism]") {
  const auto routines = qkv_test::all_routines();
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& r : routines) {
      INFO("routine: " << r.name);
      qkv_test::bytes one;
      {
        qkv_test::threads_scope t(1);
        one = r.run();
      }
      REQUIRE(!one.empty());
      for (int n : {2, 3, 1}) {
        qkv_test::threads_scope t(n);
        INFO("threads = " << n);
        qkv_test::team_watch watch;
        const qkv_test::bytes again = r.run();
        if (!r.threaded)
          CHECK(watch.regions() == 0);
        else if (n > 1)
          QKV_CHECK_TEAM(watch);
        REQUIRE(again.size() == one.size());
        CHECK(std::memcmp(again.data(), one.data(), one.size()) == 0);
      }
    }
  });
}
