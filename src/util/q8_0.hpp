// SPDX-License-Identifier: MIT
// q8_0 - one block of qkv/dtype.h's q8_0 format, scalar: the rules every
// vectorised quantizer matches bit for bit. d = fp16(max|x| / 127), codes =
// x / d rounded to nearest even and saturated at +-127 (d == 0: all 0).
#pragma once

#include <cstdint>

#include "qkv/dtype.h"
#include "util/half.hpp"

namespace qkv::util {
// Internal linkage: per-ISA kernel objects include this too, and a shared
// weak copy could carry one ISA's instructions into another's path.
namespace {

// Round to nearest, ties to even, for |v| < 2^22 (which the saturated
// quantization inputs always are): adding and subtracting 1.5 * 2^23 leaves
// the integer part in the default rounding mode, without a libm call.
inline float round_even_small(float v) noexcept {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  volatile float t = v + magic;     // volatile: no reassociation on x87 / fast-math
  return t - magic;
}

// The code of x for scale s > 0: RNE(x / s) saturated to [-127, 127].
inline std::int8_t quantize_code(float x, float s) noexcept {
  float v = x / s;
  if (v > 127.f) v = 127.f;
  if (v < -127.f) v = -127.f;
  return static_cast<std::int8_t>(round_even_small(v));
}

// Quantizes 32 values into *y. false (y untouched) when a value is not
// finite or the block's scale exceeds fp16's largest finite.
inline bool quantize_block_q8_0(const float* x, qkv_block_q8_0* y) noexcept {
  float amax = 0.f;
  for (int i = 0; i < QKV_Q8_0_BLOCK; ++i) {
    const float a = x[i] < 0.f ? -x[i] : x[i];
    if (!(a <= 3.4028235e38f)) return false;  // NaN or Inf
    if (a > amax) amax = a;
  }
  const std::uint16_t d = f32_to_f16(amax / 127.f);
  if ((d & 0x7c00u) == 0x7c00u) return false;  // the scale overflows fp16
  const float s = f16_to_f32(d);
  y->d = d;
  for (int i = 0; i < QKV_Q8_0_BLOCK; ++i) y->qs[i] = s == 0.f ? std::int8_t{0} : quantize_code(x[i], s);
  return true;
}

}  // namespace
}  // namespace qkv::util
