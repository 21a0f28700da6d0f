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

// One member's share of M rows, in guided runs of whole mr-row tiles (at
// most max_tiles each) claimed from the team's counter: f(ic, rows) per run.
template <class F>
void for_each_tile_run(std::atomic<std::size_t>& ticket, std::size_t M, std::size_t mr, std::size_t members,
                       std::size_t max_tiles, const F& f) {
  const std::size_t m_tiles = (M + mr - 1) / mr;
  guided_tiles g{m_tiles, 2 * members, max_tiles};
  for (;;) {
    const std::size_t s0 = g.start_of(ticket.fetch_add(1, std::memory_order_relaxed));
    if (s0 >= m_tiles) return;
    const std::size_t ic = s0 * mr, end = (s0 + g.size_at(s0)) * mr;
    f(ic, (end < M ? end : M) - ic);
  }
}

// The panels of one B block, packed by whichever members are running, in
// groups of panels (a group's rows are read as runs of group * nr floats:
// the source streams instead of stepping down a column of panels): a member
// claims each unclaimed group (from its own starting point on, so members
// start on different ones), packs it, and marks it ready; then it waits for
// the groups others have claimed, and only for those: a member that has not
// started yet holds no claim, so nobody waits for it.
class panel_states {
 public:
  explicit panel_states(std::size_t groups) { reset(groups); }
  // All groups free again, for a next block of `groups` groups (nobody may
  // be packing or waiting: team_barrier's last arrival calls it).
  void reset(std::size_t groups) {
    n_ = groups;
    for (std::size_t g = 0; g < n_; ++g) s_[g].store(kFree, std::memory_order_relaxed);
  }
  template <class Pack>
  void pack_all(std::size_t first, const Pack& pack) {
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t g = (first + i) % n_;
      unsigned char free = kFree;
      if (s_[g].load(std::memory_order_relaxed) == kFree &&
          s_[g].compare_exchange_strong(free, kClaimed, std::memory_order_relaxed)) {
        pack(g);
        s_[g].store(kReady, std::memory_order_release);
      }
    }
    backoff wait;
    for (std::size_t g = 0; g < n_; ++g)
      while (s_[g].load(std::memory_order_acquire) != kReady) wait.pause();
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

// One packed-B block (jc, pc) of a GEMM driver (ops/gemm.cpp, ops/gemm_ex.cpp)
// on a team of up to nth: its ceil(nc / nr) panels packed (pack_panels(q0,
// q1): panels [q0, q1), the packer may walk them row by row) and C's
// M rows computed against them (rows(k, ic, mc, j0, j1): rows [ic, ic + mc)
// x block columns [j0, j1), j0 a multiple of nr, through member k's own A
// block). Alone (nth <= 1, and always on bare metal), member 0 packs every
// panel in one call and then every row band. In a team the members pack the
// panels together (panel_states, groups of kPackGroupCols columns or fewer
// to give each member four) and take M tiles from a shared counter
// (guided_tiles); with fewer M tiles than nth, each packs and computes its
// own share of the panels instead. Which member computes a tile never
// changes its bits; the team has ended when this returns, so the caller may
// pack the next block. One function for both drivers, the work passed as
// calls: it runs per block, not per element.
struct b_block_work {
  std::size_t M, mr, mc;  // C's rows, the tile's rows, the row band (a multiple of mr)
  std::size_t nc, nr;     // the block's columns, the panel's
  void* ctx;
  void (*pack_panels)(void* ctx, std::size_t q0, std::size_t q1);
  void (*rows)(void* ctx, int k, std::size_t ic, std::size_t mc, std::size_t j0, std::size_t j1);
};
void run_b_block(const exec& x, int nth, const b_block_work& w);

// A team's packing unit: up to this many columns of panels per claim.
constexpr std::size_t kPackGroupCols = 256;

// Panels per packing claim for a block of `panels` panels nr wide on
// `members` (hosted builds): at most kPackGroupCols columns, and at least
// four claims per member (a member slowed by another process leaves its
// share to the others).
inline std::size_t panel_group(std::size_t panels, std::size_t nr, std::size_t members) {
  std::size_t group = kPackGroupCols / nr;
  if (group > panels / (4 * members)) group = panels / (4 * members);
  return group < 1 ? 1 : group;
}

// Member k of n's part of one B block on a team (run_b_block): with
// split_m, it packs the panel groups of `group` panels it claims from
// `ready` (waiting only for groups others claimed), then takes guided runs
// of M tiles from `ticket`; without, it packs its own share of the panels
// and computes every row against them.
void b_block_member(const b_block_work& w, std::size_t k, std::size_t n, bool split_m, std::size_t group,
                    panel_states& ready, std::atomic<std::size_t>& ticket);

// Block (jc, nc, pc, kc) of the callables run_b_blocks takes, as a
// b_block_work (its calls reach them through ctx, this object).
template <class Pack, class Rows>
struct block_calls {
  const Pack& pack;
  const Rows& rows;
  std::size_t jc, nc, pc, kc;
  b_block_work work(std::size_t M, std::size_t mr, std::size_t mc, std::size_t nr) {
    return {M,
            mr,
            mc,
            nc,
            nr,
            this,
            [](void* c, std::size_t q0, std::size_t q1) {
              const block_calls& b = *static_cast<const block_calls*>(c);
              b.pack(b.jc, b.nc, b.pc, b.kc, q0, q1);
            },
            [](void* c, int k, std::size_t ic, std::size_t m, std::size_t j0, std::size_t j1) {
              const block_calls& b = *static_cast<const block_calls*>(c);
              b.rows(k, b.jc, b.nc, b.pc, b.kc, ic, m, j0, j1);
            }};
  }
};

#ifdef QKV_HOSTED
// run_b_blocks' blocks on one team for them all, where its members run
// side by side (run_side_by_side: an OpenMP team): each block is
// b_block_member's, as on a team per block, and a team_barrier before each
// stands for that team's join: every tile of the last block is computed
// before its B is overwritten (its panels, kc apart, may lie where this
// block's go); the last to arrive resets the panel states and the tile
// counter. Under OMP_WAIT_POLICY=PASSIVE a region per block woke the
// sleeping workers every time (bench/README.md, session 23). Returns false,
// having run nothing, where the members might not run side by side (a
// caller's executor).
template <class Pack, class Rows>
bool run_b_blocks_on_one_team(const exec& x, int nth, std::size_t M, std::size_t mr, std::size_t mc,
                              std::size_t N, std::size_t nc_max, std::size_t nr, std::size_t K,
                              std::size_t kc_max, const Pack& pack, const Rows& rows) {
  panel_states ready(1);
  std::atomic<std::size_t> ticket{0};
  team_barrier between;
  const std::size_t m_tiles = (M + mr - 1) / mr;
  return run_side_by_side(x, nth, [&](int member, int members) {
    const std::size_t k = static_cast<std::size_t>(member), n = static_cast<std::size_t>(members);
    for (std::size_t jc = 0; jc < N; jc += nc_max) {
      const std::size_t nc = nc_max < N - jc ? nc_max : N - jc;
      const std::size_t panels = (nc + nr - 1) / nr;
      const std::size_t group = panel_group(panels, nr, n), groups = (panels + group - 1) / group;
      for (std::size_t pc = 0; pc < K; pc += kc_max) {
        block_calls<Pack, Rows> b{pack, rows, jc, nc, pc, kc_max < K - pc ? kc_max : K - pc};
        between.arrive(static_cast<unsigned>(n), [&] {
          ready.reset(groups);
          ticket.store(0, std::memory_order_relaxed);
        });
        b_block_member(b.work(M, mr, mc, nr), k, n, m_tiles >= n, group, ready, ticket);
      }
    }
  });
}
#endif

// Every (jc, pc) block of a product, N in blocks of at most nc_max and K
// of at most kc_max (jc outer, pc inner), each as run_b_block runs it: a
// team per block, or, where K or N needs several blocks and the members run
// side by side, one team for them all (run_b_blocks_on_one_team). Which
// member computes a tile never changes its bits.
//   pack(jc, nc, pc, kc, q0, q1): panels [q0, q1) of block (jc, pc);
//   rows(k, jc, nc, pc, kc, ic, mc, j0, j1): rows [ic, ic + mc) x block
//   columns [j0, j1) through member k's own A block.
template <class Pack, class Rows>
void run_b_blocks(const exec& x, int nth, std::size_t M, std::size_t mr, std::size_t mc, std::size_t N,
                  std::size_t nc_max, std::size_t nr, std::size_t K, std::size_t kc_max, const Pack& pack,
                  const Rows& rows) {
#ifdef QKV_HOSTED
  if (nth > 1 && (K > kc_max || N > nc_max) &&
      run_b_blocks_on_one_team(x, nth, M, mr, mc, N, nc_max, nr, K, kc_max, pack, rows))
    return;
#endif
  for (std::size_t jc = 0; jc < N; jc += nc_max)
    for (std::size_t pc = 0; pc < K; pc += kc_max) {
      block_calls<Pack, Rows> b{pack, rows, jc, nc_max < N - jc ? nc_max : N - jc, pc,
                                kc_max < K - pc ? kc_max : K - pc};
      run_b_block(x, nth, b.work(M, mr, mc, nr));
    }
}

}  // namespace qkv::ops
