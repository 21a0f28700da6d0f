// SPDX-License-Identifier: MIT
// kv - the pieces of decode attention over a reduced-precision KV cache
// (ops/kv_decode.cpp) once a tile of cached rows is widened to fp32 (by the
// convert kernels): the scores of one query against the tile, and the
// weighted sum of a tile of values. Contract: no allocation, no threads;
// every result depends only on its inputs and the ISA.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct kv_kernels {
  // s[j] = scale * dot(q, t + j*d) for j < n.
  void (*scores)(std::size_t n, std::size_t d, const float* q, const float* t, float scale, float* s);
  // out[c] += sum over j < n, in order, of p[j] * t[j*d + c], for c < d.
  void (*accum)(std::size_t n, std::size_t d, const float* p, const float* t, float* out);
};

QKV_DECLARE_KERNEL_TABLES(kv_kernels, kv)

}  // namespace qkv::kern
