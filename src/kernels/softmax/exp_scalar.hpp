// SPDX-License-Identifier: MIT
// exp_scalar.hpp - the scalar twin of exp-inl.hpp (same reduction, same
// polynomial, same flush and overflow points), without xsimd: used by the
// scalar kernel sets (the only ones on Cortex-M) and for the scalar tails of
// vector loops. Internal linkage: each including object has its own copy;
// the scalar kernel files call exp_f32_shared instead, its one out-of-line copy.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/softmax/exp_consts.hpp"

namespace qkv::kern {
namespace {

inline float exp_f32_scalar(float x) noexcept {
  using namespace expc;
  if (x < kMinArg) return 0.0f;
  if (x > kMaxArg) return __builtin_huge_valf();
  if (x != x) return x;
  // nearbyint rounds half to even like the SIMD magic-number addition, and
  // unlike that trick it is also exact under x87 excess precision (i686).
  const float n = std::nearbyint(x * kLog2e);
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = kC6 * r + kC5;
  p = p * r + kC4;
  p = p * r + kC3;
  p = p * r + kC2;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

}  // namespace

// exp_f32_scalar out of line (exp_scalar.cpp, a scalar kernel file like its
// callers): the scalar sets (attn, attn_bwd, softmax, loss) share this one
// copy, so a Cortex-M image holds it once rather than once per kernel file.
float exp_f32_shared(float x) noexcept;

}  // namespace qkv::kern
