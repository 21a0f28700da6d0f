// SPDX-License-Identifier: MIT
// strided - checks of a [batch, heads, tokens, dim] tensor addressed through
// qkv_sdpa_strides (qkv/attention.h), shared by the attention entry points
// (sdpa_check.cpp) and RoPE (rope.cpp): its element span and whether its
// layout is one-to-one (what an output needs).
#pragma once

#include <cstddef>

#include "qkv/attention.h"

namespace qkv::capi {

// Largest element offset + 1 of a [batch, heads, tokens, dim] tensor, or
// false on overflow or past kMaxElems. Extents >= 1.
bool span(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens, std::size_t dim,
          std::size_t* elems) noexcept;

// True when (b, h, t, f) -> offset is one-to-one: sorted by stride, every
// axis of extent > 1 must step over everything inside it.
bool non_overlapping(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens,
                     std::size_t dim) noexcept;

}  // namespace qkv::capi
