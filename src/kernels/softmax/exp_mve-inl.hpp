// SPDX-License-Identifier: MIT
// exp_mve-inl.hpp - the library's exp (exp-inl.hpp) on Helium registers,
// step for step: the same constants (exp_consts.hpp), reduction, fused
// Horner polynomial, 2^n built in the exponent bits, flush and overflow
// points, so it rounds as the xsimd sets' exp does (fused multiply-adds).
// exp_nonpos_mve is exp_nonpos_f32's twin for the attention weights; the
// fused attention forward (attn_mve.cpp) and its backward (attn_bwd_mve.cpp)
// both use it, so the backward's P is the forward's bit for bit. Included
// only by *_mve.cpp files.
#pragma once

#include <arm_mve.h>

#include "kernels/softmax/exp_consts.hpp"

namespace qkv::kern {
namespace {

// e^r on the reduced range, Horner, fused: p = c6*r + c5, p = p*r + c4, ...
// VFMAS (p*r + c, c a core register): no vector register per constant.
inline float32x4_t exp_poly_mve(float32x4_t r) noexcept {
  float32x4_t p = vfmasq_n_f32(vdupq_n_f32(expc::kC6), r, expc::kC5);
  p = vfmasq_n_f32(p, r, expc::kC4);
  p = vfmasq_n_f32(p, r, expc::kC3);
  p = vfmasq_n_f32(p, r, expc::kC2);
  p = vfmasq_n_f32(p, r, 1.0f);
  return vfmasq_n_f32(p, r, 1.0f);
}

// t = x*log2(e) + kRound (fused), then p * 2^n: n = t - kRound, t's low
// bits shifted into the exponent field.
inline float32x4_t exp_core_mve(float32x4_t x) noexcept {
  const float32x4_t t = vfmasq_n_f32(vdupq_n_f32(expc::kLog2e), x, expc::kRound);
  const float32x4_t n = vsubq_n_f32(t, expc::kRound);
  float32x4_t r = vfmaq_n_f32(x, n, -expc::kLn2Hi);
  r = vfmaq_n_f32(r, n, -expc::kLn2Lo);
  const float32x4_t two_n = vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(t), 23));
  return vmulq_f32(exp_poly_mve(r), two_n);
}

// e^x lane-wise: 0 below kMinArg, +inf above kMaxArg, NaN stays NaN. Every
// "x < c" is written c > x: MVE's VCMP lt (and le) condition holds for an
// unordered pair, gt (and ge, eq) does not, so NaN is never selected away.
inline float32x4_t exp_mve(float32x4_t x) noexcept {
  float32x4_t y = exp_core_mve(x);
  y = vdupq_m_n_f32(y, 0.0f, vcmpgtq_f32(vdupq_n_f32(expc::kMinArg), x));
  return vdupq_m_n_f32(y, __builtin_huge_valf(), vcmpgtq_n_f32(x, expc::kMaxArg));
}

// e^x for x <= 0: x clamped at -88 makes 2^n exactly +0 (n = -127), so
// everything below -87.33 and -inf give 0 without selects on the result.
// The clamp is a gt compare and a merging VDUP, not VMAXNM (which would turn
// NaN into -88): NaN propagates, as in exp_nonpos_f32.
inline float32x4_t exp_nonpos_mve(float32x4_t x) noexcept {
  x = vdupq_m_n_f32(x, -88.0f, vcmpgtq_f32(vdupq_n_f32(-88.0f), x));
  return exp_core_mve(x);
}

}  // namespace
}  // namespace qkv::kern
