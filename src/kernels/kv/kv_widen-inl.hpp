// SPDX-License-Identifier: MIT
// kv_widen-inl.hpp - the widening loops of kv_kernels, plain C++ written so
// the compiler vectorises them under each ISA's flags (a shift, an int8 to
// float conversion and a multiply). Internal linkage: included by the
// scalar set and by every per-ISA table file.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/dtype.h"
#include "util/half.hpp"

namespace qkv::kern {
namespace {

void widen_bf16_rows(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst) {
  for (std::size_t r = 0; r < n; ++r) {
    const auto* s = reinterpret_cast<const std::uint16_t*>(static_cast<const unsigned char*>(src) + r * stride);
    float* o = dst + r * d;
    for (std::size_t c = 0; c < d; ++c) o[c] = util::bf16_to_f32(s[c]);
  }
}

void widen_f16_rows(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst) {
  for (std::size_t r = 0; r < n; ++r) {
    const auto* s = reinterpret_cast<const std::uint16_t*>(static_cast<const unsigned char*>(src) + r * stride);
    float* o = dst + r * d;
    for (std::size_t c = 0; c < d; ++c) o[c] = util::f16_to_f32(s[c]);
  }
}

void widen_q8_0_rows(std::size_t n, std::size_t d, const void* src, std::size_t stride, float* dst) {
  for (std::size_t r = 0; r < n; ++r) {
    const auto* blk =
        reinterpret_cast<const qkv_block_q8_0*>(static_cast<const unsigned char*>(src) + r * stride);
    float* o = dst + r * d;
    for (std::size_t b = 0; b < d / QKV_Q8_0_BLOCK; ++b, o += QKV_Q8_0_BLOCK) {
      const float s = util::f16_to_f32(blk[b].d);
      for (int i = 0; i < QKV_Q8_0_BLOCK; ++i) o[i] = static_cast<float>(blk[b].qs[i]) * s;
    }
  }
}

}  // namespace
}  // namespace qkv::kern
