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
inline float32x4_t exp_poly_mve(float32x4_t r) noexcept {
  float32x4_t p = vfmaq_n_f32(vdupq_n_f32(expc::kC5), r, expc::kC6);
  p = vfmaq_f32(vdupq_n_f32(expc::kC4), p, r);
  p = vfmaq_f32(vdupq_n_f32(expc::kC3), p, r);
  p = vfmaq_f32(vdupq_n_f32(expc::kC2), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  return vfmaq_f32(vdupq_n_f32(1.0f), p, r);
}

// p * 2^n, t = n + kRound: t's low bits shifted into the exponent field.
inline float32x4_t exp_scale_mve(float32x4_t x, float32x4_t t) noexcept {
  const float32x4_t n = vsubq_f32(t, vdupq_n_f32(expc::kRound));
  float32x4_t r = vfmaq_n_f32(x, n, -expc::kLn2Hi);
  r = vfmaq_n_f32(r, n, -expc::kLn2Lo);
  const float32x4_t two_n = vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(t), 23));
  return vmulq_f32(exp_poly_mve(r), two_n);
}

// e^x lane-wise: 0 below kMinArg, +inf above kMaxArg, NaN stays NaN. Every
// "x < c" is written c > x: MVE's VCMP lt (and le) condition holds for an
// unordered pair, gt (and ge, eq) does not, so NaN is never selected away.
inline float32x4_t exp_mve(float32x4_t x) noexcept {
  const float32x4_t t = vfmaq_n_f32(vdupq_n_f32(expc::kRound), x, expc::kLog2e);
  float32x4_t y = exp_scale_mve(x, t);
  y = vpselq_f32(vdupq_n_f32(0.0f), y, vcmpgtq_f32(vdupq_n_f32(expc::kMinArg), x));
  return vpselq_f32(vdupq_n_f32(__builtin_huge_valf()), y, vcmpgtq_n_f32(x, expc::kMaxArg));
}

// e^x for x <= 0: x clamped at -88 makes 2^n exactly +0 (n = -127), so
// everything below -87.33 and -inf give 0 without selects on the result.
// The clamp is a gt compare and select, not VMAXNM (which would turn NaN
// into -88): NaN propagates, as in exp_nonpos_f32.
inline float32x4_t exp_nonpos_mve(float32x4_t x) noexcept {
  x = vpselq_f32(vdupq_n_f32(-88.0f), x, vcmpgtq_f32(vdupq_n_f32(-88.0f), x));
  const float32x4_t t = vfmaq_n_f32(vdupq_n_f32(expc::kRound), x, expc::kLog2e);
  return exp_scale_mve(x, t);
}

}  // namespace
}  // namespace qkv::kern
