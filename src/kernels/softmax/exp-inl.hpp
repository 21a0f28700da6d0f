// exp-inl.hpp - vectorized single-precision exp, templated on the
// architecture (Cephes' expf: Cody-Waite range reduction and a degree-7
// polynomial, within 2 ulp). Only per-ISA translation units include this;
// exp_scalar.hpp is its twin, step for step, for the scalar kernels.
#pragma once

#include <cstdint>

#include "kernels/simd.hpp"

namespace qkv::kern {
namespace {

namespace expc {
constexpr float kLog2e = 1.44269504088896341f;
// 1.5 * 2^23 + 127: adding it rounds x*log2(e) to the nearest integer n and
// leaves n + 127 (the biased exponent of 2^n) in the low mantissa bits.
constexpr float kRound = 12582912.0f + 127.0f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi exact in 9 bits
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
constexpr float kMinArg = -87.33654f;  // below: the result is subnormal, flushed to 0
constexpr float kMaxArg = 88.3762626647949f;  // above: +inf
}  // namespace expc

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
  const V z = r * r;
  V p = simd::fmadd<A>(V(expc::kP0), r, V(expc::kP1));
  p = simd::fmadd<A>(p, r, V(expc::kP2));
  p = simd::fmadd<A>(p, r, V(expc::kP3));
  p = simd::fmadd<A>(p, r, V(expc::kP4));
  p = simd::fmadd<A>(p, r, V(expc::kP5));
  p = simd::fmadd<A>(p, z, r) + V(1.0f);
  V y = p * exp2_of_rounded<A>(t);
  y = xsimd::select(x < V(expc::kMinArg), V(0.0f), y);
  return xsimd::select(x > V(expc::kMaxArg), V(__builtin_huge_valf()), y);
}

}  // namespace
}  // namespace qkv::kern
