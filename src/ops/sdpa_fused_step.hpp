// SPDX-License-Identifier: MIT
// sdpa_fused_step - the parts of one fused-forward step that do not depend
// on the element type: where a head starts, the causal extent and diagonal
// mask of a query tile, and dropout on a tile of weights. Used by the fused
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

// Query i sees key j iff j <= i + kv_len - q_len (bottom-right aligned
// causal mask). The keys rows [i0, i0 + rows) see at all: [0, kv_end).
inline std::size_t kv_end(const sdpa_plan& p, std::size_t i0, std::size_t rows) {
  if (!p.causal) return p.kv_len;
  const ll off = static_cast<ll>(p.kv_len) - static_cast<ll>(p.q_len);
  const ll last = static_cast<ll>(i0 + rows - 1) + off;  // the furthest key any row sees
  return last < 0 ? 0 : std::min(static_cast<std::size_t>(last) + 1, p.kv_len);
}

// Sets the scores st[kb][br] of keys [j0, j0 + kb) that queries from i0 do
// not see to -INFINITY (nothing to do off the causal diagonal).
inline void mask_diagonal(const sdpa_plan& p, std::size_t br, std::size_t i0, std::size_t j0, std::size_t kb,
                          float* st) {
  const ll off = static_cast<ll>(p.kv_len) - static_cast<ll>(p.q_len);
  if (!p.causal || static_cast<ll>(j0 + kb - 1) <= static_cast<ll>(i0) + off) return;
  for (std::size_t j = 0; j < kb; ++j) {
    const ll first_seeing = static_cast<ll>(j0 + j) - off - static_cast<ll>(i0);  // first row r that sees j
    const std::size_t hidden = static_cast<std::size_t>(std::clamp<ll>(first_seeing, 0, static_cast<ll>(br)));
    for (std::size_t r = 0; r < hidden; ++r) st[j * br + r] = kNegInf;
  }
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
