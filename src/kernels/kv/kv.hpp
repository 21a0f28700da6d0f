// SPDX-License-Identifier: MIT
// kv - the pieces of decode attention over a reduced-precision KV cache
// (ops/kv_decode.cpp): widening a tile of cached rows to fp32 (exact, by the
// rules of qkv/dtype.h), the scores of one query against a tile, and the
// weighted sum of a tile of values. Contract: no allocation, no threads;
// every result depends only on its inputs and the ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct kv_kernels {
  // dst[r*d + c] = element c of row r, for r < n, c < d; row r starts at
  // src + r*stride bytes. bf16 / f16: uint16_t elements; q8_0: d/32 blocks
  // (d % 32 == 0) of qkv_block_q8_0 (2-byte aligned).
  void (*widen_bf16)(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst);
  void (*widen_f16)(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst);
  void (*widen_q8_0)(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst);
  // s[j] = scale * dot(q, t + j*d) for j < n.
  void (*scores)(std::size_t n, std::size_t d, const float* q, const float* t, float scale, float* s);
  // out[c] += sum over j < n, in order, of p[j] * t[j*d + c], for c < d.
  void (*accum)(std::size_t n, std::size_t d, const float* p, const float* t, float* out);
};

QKV_DECLARE_KERNEL_TABLES(kv_kernels, kv)

}  // namespace qkv::kern
