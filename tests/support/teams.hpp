// SPDX-License-Identifier: MIT
// teams - how many threads the library's OpenMP regions really ran on.
//
// A test that claims "bitwise identical for 1 and 2 threads" proves nothing
// when the 2-thread call stays on one thread, and the library does that for
// any call below its work cut-off (ops::threads_for: ~1 MFLOP per thread).
// So every such test opens a team_watch around its multi-threaded calls and
// requires that some region ran on at least two threads (QKV_CHECK_TEAM).
//
// How it counts: with GCC the test binary is linked with
// -Wl,--wrap=GOMP_parallel (tests/CMakeLists.txt), libgomp's one entry point
// for `#pragma omp parallel` (with or without `for`). The wrapper runs the
// region through a shim that counts the team members that entered it. No
// state is added to the library: the count lives in the test binary.
#pragma once

namespace qkv_test {

// True when the library runs OpenMP teams and this binary counts them.
bool team_counting();

// Watches the regions started (by any thread) while it lives. One watch at a
// time: it resets the process-wide count when constructed.
class team_watch {
 public:
  team_watch();
  // Most threads that entered one parallel region since construction
  // (0: no region was started).
  int widest() const;
  // Parallel regions started since construction.
  long regions() const;
};

}  // namespace qkv_test

// Requires that the watch saw a region run on at least two threads, where the
// build can run and count teams (no OpenMP: nothing to prove, it says so).
#define QKV_CHECK_TEAM(watch)                                                \
  do {                                                                         \
    if (qkv_test::team_counting()) {                                           \
      INFO("parallel regions: " << (watch).regions());                         \
      CHECK((watch).widest() >= 2);                                            \
    } else {                                                                   \
      WARN("this build runs no OpenMP teams: thread-count claims not checked"); \
    }                                                                          \
  } while (0)
