// SPDX-License-Identifier: MIT
// rope - rotary position embedding over a [batch, heads, tokens, head_dim]
// tensor (qkv/rope.h states the math). The C boundary checks the
// qkv_rope_desc; the attention layer builds a valid one for its Q and K
// (with a fused QKV projection output, one call with heads = q_heads +
// kv_heads covers Q and K and evaluates each position's cos/sin once) and
// calls rope_apply directly. The description is read as given: rotary_dim 0
// means head_dim and theta 0 means 10000 here too, resolved in rope_apply
// (no plan struct: the op has two defaults, and bare-metal size counts).
#pragma once

#include "ops/exec.hpp"
#include "qkv/dtype.h"
#include "qkv/rope.h"

namespace qkv::ops {

// out = rotation of in by the positions' angles (inverse: by their
// opposites, the backward); features >= rotary_dim copied. Elements of
// `type`: QKV_DTYPE_F32, or BF16/F16 (uint16_t bits, widened exactly,
// rotated in fp32 by the same operations, rounded once). `d` passes the
// boundary's checks (layout read as a plain value: the caller checked it).
// out == in runs in place; otherwise they must not overlap. Bitwise the
// same for any x.threads.
void rope_apply(const exec& x, const qkv_rope_desc& d, qkv_dtype type, const void* in, void* out,
                bool inverse) noexcept;

}  // namespace qkv::ops
