// SPDX-License-Identifier: MIT
// strided - checks of a [batch, heads, tokens, dim] tensor addressed through
// qkv_sdpa_strides (qkv/attention.h), shared by the attention entry points
// (sdpa_check.cpp) and RoPE (rope.cpp): its element span and whether its
// layout is one-to-one (what an output needs).
#pragma once

#include <cstddef>

#include "capi/checked.hpp"
#include "qkv/attention.h"

namespace qkv::capi {

struct axis {
  std::size_t stride, extent;
};

// Largest element offset + 1 of a [batch, heads, tokens, dim] tensor, or
// false on overflow or past kMaxElems. Extents >= 1.
inline bool span(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens,
                 std::size_t dim, std::size_t* elems) noexcept {
  const axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  std::size_t total = dim;
  for (const axis& a : axes) {
    std::size_t off;
    if (!mul_ok(a.extent - 1, a.stride, &off) || !add_ok(total, off, &total)) return false;
  }
  *elems = total;
  return total <= kMaxElems;
}

// True when (b, h, t, f) -> offset is one-to-one: sorted by stride, every
// axis of extent > 1 must step over everything inside it.
inline bool non_overlapping(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens,
                            std::size_t dim) noexcept {
  axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  for (int i = 0; i < 3; ++i)  // tiny insertion sort by stride
    for (int j = i; j > 0 && axes[j].stride < axes[j - 1].stride; --j) {
      const axis t = axes[j];
      axes[j] = axes[j - 1];
      axes[j - 1] = t;
    }
  std::size_t inner = dim;  // elements covered by the axes already placed
  for (const axis& a : axes) {
    if (a.extent <= 1) continue;
    if (a.stride < inner) return false;
    std::size_t covered;
    if (!mul_ok(a.stride, a.extent - 1, &covered) || !add_ok(covered, inner, &inner)) return false;
  }
  return true;
}

}  // namespace qkv::capi
