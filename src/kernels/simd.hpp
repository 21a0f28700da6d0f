// simd.hpp - the few xsimd 8.1 operations kernels need, wrapped so that the
// 8.1 quirks live in one place. Included only by per-ISA translation units
// (never on Cortex-M, where xsimd has no architecture at all).
#pragma once

#include <cassert>  // xsimd 8.1's xsimd_arch.hpp uses assert without including it
#include <cstddef>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
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
