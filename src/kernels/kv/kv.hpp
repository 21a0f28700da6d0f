// SPDX-License-Identifier: MIT
// kv - the pieces of decode attention over a KV cache of any qkv_kv_format
// (ops/kv_decode.cpp), reading the cached rows in place: each element is
// widened to fp32 exactly as it is loaded (bf16 and fp16; a q8_0 block's
// codes, its fp16 scale applied to the block's fp32 partial sum or to p), so
// the arithmetic is fp32 over the stored values and no widened copy of a
// row is ever written. Contract: no allocation, no threads; every result
// depends only on its inputs and the ISA.
//
// A call covers nh query heads of one query row. Row j of the cache is at
// rows + j * stride bytes (positions one token apart); within it, query head
// u reads the d elements at ((u + skew) / group) * part bytes (its K/V
// head's part; part = the bytes of d elements; QKV_KV_Q8_0: d % 32 == 0);
// rows and stride keep every element aligned to its size (fp32: 4 bytes).
// The kernels walk the rows in order and every head within a row, so a call
// reads its span of each row front to back (the cache streams from memory).
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"
#include "qkv/layer.h"

namespace qkv::kern {

struct kv_heads {
  std::size_t nh, group, skew, part;  // group >= 1, skew < group
#ifdef QKV_HOSTED
  std::size_t l1d;  // L1 data cache bytes (0: unknown): how many rows a kernel may revisit
#endif
};

struct kv_kernels {
  // One pass over rows j < n for the nh heads, in one of two modes (one
  // entry: the scalar set then has one copy of its loops, for Cortex-M4's
  // 64 KiB budget):
  //  - s set (scores; w = q, nh rows of d):
  //      s[u * lds + j] = scale * dot(w + u * d, head u's part of row j);
  //  - s null (weighted sum; w = p, nh rows lds apart):
  //      out[u * d + c] += sum over j, in order, of w[u * lds + j] * head u's
  //      part of row j [c].
  void (*walk)(qkv_kv_format f, const kv_heads& hs, std::size_t n, std::size_t d, const float* w, std::size_t lds,
               const void* rows, std::size_t stride, float scale, float* s, float* out);
};

QKV_DECLARE_KERNEL_TABLES(kv_kernels, kv)

}  // namespace qkv::kern
