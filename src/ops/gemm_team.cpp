// SPDX-License-Identifier: MIT
#include "ops/gemm_team.hpp"

namespace qkv::ops {

void b_block_member(const b_block_work& w, std::size_t k, std::size_t n, bool split_m, std::size_t group,
                    panel_states& ready, std::atomic<std::size_t>& ticket) {
  const std::size_t panels = (w.nc + w.nr - 1) / w.nr;
  const int member = static_cast<int>(k);
  if (!split_m) {  // member k of n: panels [panels*k/n, panels*(k+1)/n)
    const std::size_t q0 = panels * k / n, q1 = panels * (k + 1) / n;
    if (q0 < q1) w.pack_panels(w.ctx, q0, q1);
    const std::size_t j0 = q0 * w.nr, j1 = q1 * w.nr < w.nc ? q1 * w.nr : w.nc;
    for (std::size_t ic = 0; j0 < j1 && ic < w.M; ic += w.mc)
      w.rows(w.ctx, member, ic, w.mc < w.M - ic ? w.mc : w.M - ic, j0, j1);
    return;
  }
  const std::size_t groups = (panels + group - 1) / group;
  ready.pack_all(k * groups / n, [&](std::size_t g) {
    w.pack_panels(w.ctx, g * group, (g + 1) * group < panels ? (g + 1) * group : panels);
  });
  for_each_tile_run(ticket, w.M, w.mr, n, w.mc / w.mr,
                    [&](std::size_t ic, std::size_t rows) { w.rows(w.ctx, member, ic, rows, 0, w.nc); });
}

void run_b_block(const exec& x, int nth, const b_block_work& w) {
  const std::size_t panels = (w.nc + w.nr - 1) / w.nr, m_tiles = (w.M + w.mr - 1) / w.mr;
  auto band = [&](std::size_t ic) { return w.mc < w.M - ic ? w.mc : w.M - ic; };
  if (nth <= 1) {  // alone: no panel states on the stack
    w.pack_panels(w.ctx, 0, panels);
    for (std::size_t ic = 0; ic < w.M; ic += w.mc) w.rows(w.ctx, 0, ic, band(ic), 0, w.nc);
    return;
  }
  // Split M tiles when there are enough, else the block's panels.
  const bool split_m = m_tiles >= static_cast<std::size_t>(nth);
  // Groups of panels: at most kPackGroupCols columns, and at least four per
  // member (a member slowed by another process leaves its share to the
  // others). Bare metal claims panel by panel (no cache lines to stream, and
  // a Cortex-M4 has no code to spare).
#ifdef QKV_HOSTED
  const std::size_t group = panel_group(panels, w.nr, static_cast<std::size_t>(nth));
  const std::size_t groups = (panels + group - 1) / group;
#else
  constexpr std::size_t group = 1;
  const std::size_t groups = panels;
#endif
  panel_states ready(groups);
  std::atomic<std::size_t> ticket{0};
  run_team(x, nth, [&](int k, int n) {
    b_block_member(w, static_cast<std::size_t>(k), static_cast<std::size_t>(n), split_m, group, ready, ticket);
  });
}

}  // namespace qkv::ops
