// SPDX-License-Identifier: MIT
// exp-inl.hpp - vectorized single-precision exp, templated on the
// architecture: Cody-Waite range reduction (Cephes' split of ln 2) to
// r in [-ln2/2, ln2/2], a degree-6 minimax polynomial for e^r (relative
// error 1.9e-9, 0.84 ulp with float Horner), then the 2^n factor built in
// the exponent bits. Within 2 ulp overall. Only per-ISA translation units include this;
// exp_scalar.hpp is its twin, step for step, for the scalar kernels.
#pragma once

#include <cstdint>

#include "kernels/simd.hpp"
#include "kernels/softmax/exp_consts.hpp"

namespace qkv::kern {
namespace {

// e^r on the reduced range, Horner.
template <class A>
inline simd::vf<A> exp_poly(simd::vf<A> r) noexcept {
  using V = simd::vf<A>;
  V p = simd::fmadd<A>(V(expc::kC6), r, V(expc::kC5));
  p = simd::fmadd<A>(p, r, V(expc::kC4));
  p = simd::fmadd<A>(p, r, V(expc::kC3));
  p = simd::fmadd<A>(p, r, V(expc::kC2));
  p = simd::fmadd<A>(p, r, V(1.0f));
  return simd::fmadd<A>(p, r, V(1.0f));
}

// Lane-wise max (b where either is NaN, as maxps). On avx512f the zero-masked
// form: GCC 12 warns that _mm512_max_ps reads an uninitialized register.
template <class A>
inline simd::vf<A> vmax(simd::vf<A> a, simd::vf<A> b) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return simd::vf<A>(_mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFF), a, b));
  else
#endif
    return xsimd::max(a, b);
}

// 2^n from t = n + kRound (see above): the low bits of t, shifted into the
// exponent field. Zero-masked shift on avx512f, for the same GCC 12 warning.
template <class A>
inline simd::vf<A> exp2_of_rounded(simd::vf<A> t) noexcept {
  using VI = xsimd::batch<std::int32_t, A>;
  const VI bits = xsimd::bitwise_cast<VI>(t);
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return xsimd::bitwise_cast<simd::vf<A>>(VI(_mm512_maskz_slli_epi32(static_cast<__mmask16>(0xFFFF), bits, 23)));
  else
#endif
    return xsimd::bitwise_cast<simd::vf<A>>(bits << 23);
}

// e^x for a whole batch. NaN propagates (every comparison with it is false).
template <class A>
inline simd::vf<A> exp_f32(simd::vf<A> x) noexcept {
  using V = simd::vf<A>;
  const V t = simd::fmadd<A>(x, V(expc::kLog2e), V(expc::kRound));
  const V n = t - V(expc::kRound);
  V r = simd::fmadd<A>(n, V(-expc::kLn2Hi), x);
  r = simd::fmadd<A>(n, V(-expc::kLn2Lo), r);
  const V p = exp_poly<A>(r);
  V y = p * exp2_of_rounded<A>(t);
  y = xsimd::select(x < V(expc::kMinArg), V(0.0f), y);
  return xsimd::select(x > V(expc::kMaxArg), V(__builtin_huge_valf()), y);
}

// e^x for x <= 0 (attention weights: scores minus their running max), a
// cheaper twin of exp_f32: clamping x at -88 makes n = -127 and the 2^n
// factor exactly +0, so every x below -87.33 (and -inf) gives 0 with no
// selects. NaN propagates (vmax returns its second operand on NaN).
template <class A>
inline simd::vf<A> exp_nonpos_f32(simd::vf<A> x) noexcept {
  using V = simd::vf<A>;
  x = vmax<A>(V(-88.0f), x);
  const V t = simd::fmadd<A>(x, V(expc::kLog2e), V(expc::kRound));
  const V n = t - V(expc::kRound);
  V r = simd::fmadd<A>(n, V(-expc::kLn2Hi), x);
  r = simd::fmadd<A>(n, V(-expc::kLn2Lo), r);
  const V p = exp_poly<A>(r);
  return p * exp2_of_rounded<A>(t);
}

}  // namespace
}  // namespace qkv::kern
