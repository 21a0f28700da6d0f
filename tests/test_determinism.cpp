// Determinism: every compute routine of the public API (support/routines.hpp)
// gives byte-identical outputs at 1, 2 and 3 threads (3 oversubscribes this
// 2-core machine, on purpose), on every runnable ISA, and twice in a row.
#include <cstring>

#include "support/routines.hpp"

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
        const qkv_test::bytes again = r.run();
        REQUIRE(again.size() == one.size());
        CHECK(std::memcmp(again.data(), one.data(), one.size()) == 0);
      }
    }
  });
}
