// SPDX-License-Identifier: MIT
#include "ops/sdpa_fused_step.hpp"

#include "kernels/attn/attn.hpp"

namespace qkv::ops::fused_step {

key_range keys_of_row(const sdpa_plan& p, const seq& s, std::size_t i) noexcept {
  key_range r{0, 0};
  if (i >= s.q_len) return r;
  const ll pos = static_cast<ll>(i) + s.off;
  r.hi = s.kv_len;
  if (p.causal) r.hi = pos < 0 ? 0 : std::min(static_cast<std::size_t>(pos) + 1, s.kv_len);
  if (p.window && pos >= 0 && static_cast<std::size_t>(pos) >= p.window)  // (any window: no overflow)
    r.lo = static_cast<std::size_t>(pos) - p.window + 1;
  return r;
}

key_range keys_of_rows(const sdpa_plan& p, const seq& s, std::size_t i0, std::size_t rows) noexcept {
  if (i0 >= s.q_len) return {0, 0};
  const std::size_t last = std::min(i0 + rows, s.q_len) - 1;
  return {keys_of_row(p, s, i0).lo, keys_of_row(p, s, last).hi};
}

void softcap_scores(const sdpa_plan& p, std::size_t n, float* s, float* dtanh) noexcept {
  kern::attn_for(p.x.isa).softcap(n, p.softcap, s, dtanh);
}

void add_masks(const sdpa_plan& p, const seq& s, std::size_t b, std::size_t h, std::size_t br, std::size_t i0,
               std::size_t rows, std::size_t j0, std::size_t kb, float* st) noexcept {
  if (p.mask) {
    const float* m = p.mask + b * p.mask_strides.batch + h * p.mask_strides.head + i0 * p.mask_strides.token + j0;
    for (std::size_t r = 0; r < rows; ++r, m += p.mask_strides.token)
      for (std::size_t j = 0; j < kb; ++j) st[j * br + r] += m[j];
  }
  if (sees_whole_block(p, s, i0, rows, j0, kb)) return;
#ifdef QKV_HOSTED
  if (rows > 1) {  // the fused forward's tiles: key by key (bare metal: row by row, below, in less code)
    // Row r sees keys [lo(r), hi(r)), both nondecreasing over the sequence's
    // rows (rows past its end see none): key j is seen by rows [ra, rb), ra
    // the first row with hi > j and rb the first with lo > j (or the end),
    // so its masked rows are a prefix and a suffix of its row of st, stored
    // contiguously. Both cursors only move forward as j grows.
    const std::size_t real = i0 >= s.q_len ? 0 : std::min(rows, s.q_len - i0);
    std::size_t ra = 0, rb = 0;
    const key_range first = real ? keys_of_row(p, s, i0) : key_range{0, 0};
    std::size_t hi_a = first.hi, lo_b = first.lo;
    for (std::size_t j = 0; j < kb; ++j) {
      const std::size_t key = j0 + j;
      while (ra < real && hi_a <= key)
        if (++ra < real) hi_a = keys_of_row(p, s, i0 + ra).hi;
      while (rb < real && lo_b <= key)
        if (++rb < real) lo_b = keys_of_row(p, s, i0 + rb).lo;
      float* row = st + j * br;
      for (std::size_t r = 0; r < ra; ++r) row[r] = kNegInf;
      for (std::size_t r = rb < ra ? ra : rb; r < rows; ++r) row[r] = kNegInf;
    }
    return;
  }
#endif
  // Row r sees keys [lo, hi): the loop jumps over them, writing only the
  // keys outside.
  for (std::size_t r = 0; r < rows; ++r) {
    const key_range kr = keys_of_row(p, s, i0 + r);
    for (std::size_t j = 0; j < kb; ++j) {
      if (j0 + j >= kr.lo && j0 + j < kr.hi) {
        j = kr.hi - j0 - 1;
        continue;
      }
      st[j * br + r] = kNegInf;
    }
  }
}

}  // namespace qkv::ops::fused_step
