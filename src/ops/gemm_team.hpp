// SPDX-License-Identifier: MIT
// gemm_team - how the GEMM drivers (ops/gemm.cpp, ops/gemm_ex.cpp) share one
// packed B block and the M tiles among the members of a team, without any
// member ever waiting for one that may not have started (qkv/runtime.h's
// executor contract).
#pragma once

#include <atomic>
#include <cstddef>

#include "ops/gemm_blocking.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {

// Guided schedule of M tiles over a team: chunk v is tiles [start(v),
// start(v+1)), each ceil(remaining / (2T)) tiles, at most one A block. Big
// chunks first keep the number of grabs small; small ones last let a member
// that runs slower (a core shared with other work) hand its work to the
// others. Which member computes a tile never changes its bits.
struct guided_tiles {
  std::size_t total, parts, max_tiles;
  std::size_t v = 0, start = 0;  // this member's furthest known chunk
  std::size_t size_at(std::size_t s) const {
    const std::size_t c = (total - s + parts - 1) / parts;  // >= 1: called with s < total
    return c > max_tiles ? max_tiles : c;
  }
  std::size_t start_of(std::size_t w) {  // tickets only grow, so walk on
    while (v < w && start < total) {
      start += size_at(start);
      ++v;
    }
    return start;
  }
};

// The panels of one B block, packed by whichever members are running: a
// member claims each unclaimed panel (from its own starting point on, so
// members start on different ones), packs it, and marks it ready; then it
// waits for the panels others have claimed, and only for those: a member
// that has not started yet holds no claim, so nobody waits for it.
class panel_states {
 public:
  explicit panel_states(std::size_t panels) : n_(panels) {
    for (std::size_t q = 0; q < n_; ++q) s_[q].store(kFree, std::memory_order_relaxed);
  }
  template <class Pack>
  void pack_all(std::size_t first, const Pack& pack) {
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t q = (first + i) % n_;
      unsigned char free = kFree;
      if (s_[q].load(std::memory_order_relaxed) == kFree &&
          s_[q].compare_exchange_strong(free, kClaimed, std::memory_order_relaxed)) {
        pack(q);
        s_[q].store(kReady, std::memory_order_release);
      }
    }
    backoff wait;
    for (std::size_t q = 0; q < n_; ++q)
      while (s_[q].load(std::memory_order_acquire) != kReady) wait.pause();
  }

 public:
  // nc <= nc_max and nr >= 4 in every kernel set (a driver with other
  // tiles keeps its blocks within kMaxPanels panels)
  static constexpr std::size_t kMaxPanels = kGemmBlockLimits.nc_max / 4;

 private:
  static constexpr unsigned char kFree = 0, kClaimed = 1, kReady = 2;
  std::size_t n_;
  std::atomic<unsigned char> s_[kMaxPanels];
};

}  // namespace qkv::ops
