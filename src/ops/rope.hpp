// SPDX-License-Identifier: MIT
// rope - rotary position embedding over a [batch, heads, tokens, head_dim]
// tensor (qkv/rope.h states the math). The C boundary checks a
// qkv_rope_desc and resolves it into a rope_plan (resolve_rope: the one
// place the defaults are resolved); the attention layer builds a plan for
// its Q and K projections and calls rope_apply directly.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/rope.h"

namespace qkv::ops {

struct rope_plan {
  std::size_t batch, heads, tokens, head_dim;  // >= 1
  qkv_sdpa_strides x;                          // layout of input and output
  std::size_t rotary_dim;                      // even, in [2, head_dim], or 0: nothing rotated
  float theta;                                 // finite, > 0
  bool interleaved;                            // pairs (2k, 2k+1), else (k, k + rotary_dim/2)
  std::size_t pos_offset;                      // position of token 0 when positions is null
  const std::size_t* positions;                // null, or [b * positions_batch_stride + t]
  std::size_t positions_batch_stride;          // 0: one row shared by every sequence
};

// The plan of a checked description: rotary_dim 0 -> head_dim, theta 0 -> 10000.
rope_plan resolve_rope(const qkv_rope_desc& d) noexcept;

// out = rotation of in by the positions' angles (inverse: by their
// opposites, the backward); features >= rotary_dim copied. out == in runs
// in place; otherwise they must not overlap. Bitwise the same for any
// x.threads.
void rope_apply(const exec& x, const rope_plan& p, const float* in, float* out, bool inverse) noexcept;

}  // namespace qkv::ops
