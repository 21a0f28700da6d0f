// simd.hpp - the few xsimd 8.1 operations kernels need, wrapped so that the
// 8.1 quirks live in one place. Included only by per-ISA translation units
// (never on Cortex-M, where xsimd has no architecture at all).
#pragma once

#include <cassert>  // xsimd 8.1's xsimd_arch.hpp uses assert without including it
#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace qkv::simd {

template <class A>
using vf = xsimd::batch<float, A>;

// a*b + c as one rounding. xsimd 8.1's fma on avx512f is a separate multiply
// and add (and -std=c++17 turns contraction off), so call the intrinsic there.
template <class A>
inline vf<A> fmadd(vf<A> a, vf<A> b, vf<A> c) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return vf<A>(_mm512_fmadd_ps(a, b, c));
  else
#endif
    return xsimd::fma(a, b, c);
}

// sqrt and division with IEEE results. xsimd 8.1 gives neon64 the armv7
// versions (reciprocal estimates refined by Newton steps), which turn
// sqrt(+inf) and x / inf into NaN. AArch64 has the real instructions; armv7
// NEON has none, so there the infinite cases are selected explicitly.
template <class A>
inline vf<A> sqrt(vf<A> x) noexcept {
#if defined(__aarch64__)
  if constexpr (std::is_same<A, xsimd::neon64>::value) return vf<A>(vsqrtq_f32(x));
#endif
#if defined(__ARM_NEON)
  if constexpr (std::is_base_of<xsimd::neon, A>::value) {
    const vf<A> inf(__builtin_huge_valf());
    return xsimd::select(x == inf, inf, xsimd::sqrt(x));
  }
#endif
  return xsimd::sqrt(x);
}

template <class A>
inline vf<A> div(vf<A> a, vf<A> b) noexcept {
#if defined(__aarch64__)
  if constexpr (std::is_same<A, xsimd::neon64>::value) return vf<A>(vdivq_f32(a, b));
#endif
#if defined(__ARM_NEON)
  if constexpr (std::is_base_of<xsimd::neon, A>::value) {
    const vf<A> inf(__builtin_huge_valf());
    return xsimd::select(xsimd::abs(b) == inf, vf<A>(0.f) * a, a / b);
  }
#endif
  return a / b;
}

// Horizontal sum (hadd in 8.1, reduce_add from 9.0).
template <class A>
inline float reduce_add(vf<A> v) noexcept {
  return xsimd::hadd(v);
}

// Horizontal max; 8.1 has none, so store and scan (not on a hot inner loop).
template <class A>
inline float reduce_max(vf<A> v) noexcept {
  alignas(64) float lanes[vf<A>::size];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (std::size_t i = 1; i < vf<A>::size; ++i) m = lanes[i] > m ? lanes[i] : m;
  return m;
}

}  // namespace qkv::simd
