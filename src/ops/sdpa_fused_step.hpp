// SPDX-License-Identifier: MIT
// sdpa_fused_step - the parts of one fused-forward step that do not depend
// on the element type: where a head starts, which keys a query tile sees
// (per-sequence lengths, causal, window), the soft-capping and masking of a
// score tile (scale, cap, mask, in that order), and dropout on a tile of
// weights. Used by the fused
// driver of every type (sdpa_forward_lowp.cpp: sdpa_fused_forward), so
// fp32, bf16 and fp16 mask and drop the same weights.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ops/dropout_rng.hpp"
#include "ops/sdpa_plan.hpp"

namespace qkv::ops::fused_step {

constexpr float kNegInf = -__builtin_huge_valf();
using ll = long long;

// Where (b, h) starts in a tensor of layout s.
inline std::size_t base(const qkv_sdpa_strides& s, std::size_t b, std::size_t h) {
  return b * s.batch + h * s.head;
}

// Dropout: weight (b,h,i,j) survives with probability 1-p, scaled by 1/(1-p).
struct dropout_cfg {
  bool on;
  std::uint32_t thresh;
  float keep_scale;
  explicit dropout_cfg(const sdpa_plan& p)
      : on(p.dropout_p > 0.0f), thresh(dropout::threshold(p.dropout_p)),
        keep_scale(p.dropout_p > 0.0f ? 1.0f / (1.0f - p.dropout_p) : 1.0f) {}
};

// Sequence b as its queries see it: q_b queries, k_b keys, and query i at
// key position i + off (bottom-right alignment).
struct seq {
  std::size_t q_len, kv_len;
  ll off;
};
inline seq seq_of(const sdpa_plan& p, std::size_t b) {
  seq s;
  s.q_len = p.q_lens ? p.q_lens[b] : p.q_len;
  s.kv_len = p.kv_lens ? p.kv_lens[b] : p.kv_len;
  s.off = static_cast<ll>(s.kv_len) - static_cast<ll>(s.q_len);
  return s;
}

// Keys [lo, hi) (none when lo >= hi).
struct key_range {
  std::size_t lo, hi;
  bool empty() const { return lo >= hi; }
};

// The keys query i sees before the additive mask: padding rows none; then
// j < k_b, causal j <= i + off, window j > i + off - window. Both bounds are
// nondecreasing in i, so a block of rows sees [lo of its first row, hi of
// its last). (sdpa_fused_step.cpp: one copy, called from every driver.)
key_range keys_of_row(const sdpa_plan& p, const seq& s, std::size_t i) noexcept;
key_range keys_of_rows(const sdpa_plan& p, const seq& s, std::size_t i0, std::size_t rows) noexcept;
// Whether rows [i0, i0 + rows) (rows >= 1) all lie within the sequence and
// each sees every key of [j0, j0 + kb) before the mask: the first row's keys
// reach past the block and the last row's start at or before it.
inline bool sees_whole_block(const sdpa_plan& p, const seq& s, std::size_t i0, std::size_t rows, std::size_t j0,
                             std::size_t kb) noexcept {
  return i0 + rows <= s.q_len && keys_of_row(p, s, i0).hi >= j0 + kb && keys_of_row(p, s, i0 + rows - 1).lo <= j0;
}

// The score step of every forward driver (the fused tiles of every type,
// the decode path, the reference), on the scaled scores st[kb][br] of rows
// [i0, i0 + rows) x keys [j0, j0 + kb) of head (b, h): the soft-cap
// (p.softcap != 0: all kb * br entries, padding lanes included), then
// add_masks. With softcap 0 it is add_masks alone. The decode path
// (sdpa_decode.cpp) gets the cap only through this call: a driver that
// masks its scores itself must cap them first (softcap_scores).
//
// The masks alone (the backward, which caps with the derivative first):
// adds the additive mask, then sets what a row does not see to -INFINITY.
// Nothing to do for a tile every row sees whole and no mask.
void add_masks(const sdpa_plan& p, const seq& s, std::size_t b, std::size_t h, std::size_t br, std::size_t i0,
               std::size_t rows, std::size_t j0, std::size_t kb, float* st) noexcept;

// Soft-capping (p.softcap != 0) of n scaled scores in place, by the plan's
// ISA's kernel: s <- softcap tanh(s / softcap), and dtanh (when not null)
// <- 1 - tanh^2(s / softcap), the factor the backward multiplies dS by.
void softcap_scores(const sdpa_plan& p, std::size_t n, float* s, float* dtanh) noexcept;

// Inline: with softcap 0 a caller runs add_masks (the masking of before
// 0.7) behind one predictable branch.
inline void mask_tile(const sdpa_plan& p, const seq& s, std::size_t b, std::size_t h, std::size_t br,
                      std::size_t i0, std::size_t rows, std::size_t j0, std::size_t kb, float* st) noexcept {
  if (p.softcap != 0.f) softcap_scores(p, kb * br, st, nullptr);
  add_masks(p, s, b, h, br, i0, rows, j0, kb, st);
}

// Zeroes the dropped weights of rows [i0, i0 + rows) x keys [j0, j0 + kb)
// in st[kb][br] (the 1/(1-p) scale is applied with the normalization).
inline void drop_weights(const sdpa_plan& p, const dropout_cfg& drop, std::size_t b, std::size_t h, std::size_t br,
                         std::size_t i0, std::size_t rows, std::size_t j0, std::size_t kb, float* st) {
  if (!drop.on) return;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint64_t key = dropout::row_key(p.dropout_seed, b, h, i0 + r);
    for (std::size_t j = 0; j < kb; ++j)
      if (!dropout::keep(key, j0 + j, drop.thresh)) st[j * br + r] = 0.0f;
  }
}

// qt[f][r] = scale * q[r][f] for r < rows, 0 for rows <= r < br. Four rows
// at a time, so each feature's four values leave as one vector store.
inline void pack_qt(const float* q, std::size_t ldq, std::size_t rows, std::size_t D, float scale, std::size_t br,
             float* qt) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* q0 = q + r * ldq;
    const float* q1 = q0 + ldq;
    const float* q2 = q1 + ldq;
    const float* q3 = q2 + ldq;
    for (std::size_t f = 0; f < D; ++f) {
      float* o = qt + f * br + r;
      o[0] = scale * q0[f];
      o[1] = scale * q1[f];
      o[2] = scale * q2[f];
      o[3] = scale * q3[f];
    }
  }
  for (; r < rows; ++r)
    for (std::size_t f = 0; f < D; ++f) qt[f * br + r] = scale * q[r * ldq + f];
  if (rows < br)
    for (std::size_t f = 0; f < D; ++f)
      for (std::size_t t = rows; t < br; ++t) qt[f * br + t] = 0.0f;
}

}  // namespace qkv::ops::fused_step
