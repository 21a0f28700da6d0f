// SPDX-License-Identifier: MIT
// simd.hpp - the few xsimd 8.1 operations kernels need, wrapped so that the
// 8.1 quirks live in one place. Included only by per-ISA translation units
// (never on Cortex-M, where xsimd has no architecture at all).
#pragma once

#include <cassert>  // xsimd 8.1's xsimd_arch.hpp uses assert without including it
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__AVX__)
#include <immintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace qkv::simd {

// Prefetches the line `elems` floats past p: a hint that never faults, so
// the address may lie past the tensor (the next chunk's rows). Computed as
// an integer: forming such a pointer is undefined, and a huge stride wraps it.
inline void prefetch_past(const float* p, std::size_t elems) noexcept {
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + elems * sizeof(float)));
}

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

// Horizontal sum (hadd in 8.1, reduce_add from 9.0). (Not xsimd::haddp for
// several at once: 8.1's AVX-512 version returns the sums of rows 2-5 and
// 10-13 in swapped lane pairs, 2-3 with 4-5 and 10-11 with 12-13.)
template <class A>
inline float reduce_add(vf<A> v) noexcept {
  return xsimd::hadd(v);
}

#if defined(__AVX512F__)
// Sixteen horizontal sums at once: lane j of the result is reduce_add(v[j])
// bit for bit on avx512f (8.1's hadd pairs lane i with i + 8, then i + 4,
// then adjacent lanes, then the two pairs). A tree of 15 steps, each one
// shuffle, one blend and one add over two vectors, against 16 reductions of
// 8 operations. Always inlined, so v stays in registers.
__attribute__((always_inline)) inline __m512 reduce_add16(const __m512* v) noexcept {
  // Step k combines vectors x and y (each a group of partial sums per row)
  // into one with half as many partials per row: blend keeps x's half of
  // each pair and y's other half, the shuffle brings the halves they miss.
  // (The zero-masked shuffles with a full mask: GCC 12 warns that the plain
  // ones read an uninitialized register, as in transpose below.)
  constexpr __mmask16 all = 0xFFFF;
  __m512 w[8], z[4], t[2];
  // Input i of the tree ends in lane (i >> 2) + 4 * (i & 1 ? 2 : 0) + 4 * (i & 2 ? 1 : 0);
  // it is given the row of that lane, so the rows come out in lane order.
  constexpr int rev[16] = {0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15};
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {  // lanes i, i + 8: [x's 8 | y's 8]
    const __m512 x = v[rev[2 * i]], y = v[rev[2 * i + 1]];
    w[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(all, x, y, _MM_SHUFFLE(1, 0, 3, 2)), _mm512_mask_blend_ps(0xFF00, x, y));
  }
  const __m512i by4 = _mm512_setr_epi32(4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 24, 25, 26, 27);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)  // lanes i, i + 4 of each 8: 128-bit lanes [x, y, x, y]
    z[i] = _mm512_add_ps(_mm512_permutex2var_ps(w[2 * i], by4, w[2 * i + 1]),
                         _mm512_mask_blend_ps(0xF0F0, w[2 * i], w[2 * i + 1]));
  const __m512i by1 = _mm512_setr_epi32(1, 16, 3, 18, 5, 20, 7, 22, 9, 24, 11, 26, 13, 28, 15, 30);
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i)  // adjacent lanes: [x01, y01, x23, y23] per 128-bit lane
    t[i] = _mm512_add_ps(_mm512_permutex2var_ps(z[2 * i], by1, z[2 * i + 1]),
                         _mm512_mask_blend_ps(0xAAAA, z[2 * i], z[2 * i + 1]));
  return _mm512_add_ps(_mm512_maskz_shuffle_ps(all, t[0], t[1], _MM_SHUFFLE(1, 0, 3, 2)),
                       _mm512_mask_blend_ps(0xCCCC, t[0], t[1]));
}
#endif

// Horizontal max; 8.1 has none, so store and scan (not on a hot inner loop).
template <class A>
inline float reduce_max(vf<A> v) noexcept {
  alignas(64) float lanes[vf<A>::size];
  v.store_aligned(lanes);
  float m = lanes[0];
  for (std::size_t i = 1; i < vf<A>::size; ++i) m = lanes[i] > m ? lanes[i] : m;
  return m;
}

// In-register transpose of the W x W block held in v[0..W-1] (W =
// vf<A>::size, v[i] = row i): afterwards v[i] holds column i. Pure data
// movement, so exact. xsimd 8.1 has no transpose, and its zip_lo/zip_hi on
// AVX and AVX-512 interleave within each 128-bit lane only, so those two get
// the usual unpack / shuffle / lane-permute networks; 4-wide vectors (SSE2,
// NEON) take two rounds of zips, and any other width goes through memory.
// Always inlined, so the block stays in registers. On avx512f the zero-masked
// forms with a full mask: GCC 12 warns that the plain ones read an
// uninitialized register (as vmax in softmax/exp-inl.hpp).
template <class A>
__attribute__((always_inline)) inline void transpose(vf<A>* v) noexcept {
  using V = vf<A>;
  constexpr std::size_t W = V::size;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value) {
    static_assert(W == 16, "avx512f: 16 floats");
    constexpr __mmask16 all = 0xFFFF;
    __m512 t[16], u[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {  // rows i, i+1 interleaved within each 128-bit lane
      t[i] = _mm512_maskz_unpacklo_ps(all, v[i], v[i + 1]);
      t[i + 1] = _mm512_maskz_unpackhi_ps(all, v[i], v[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {  // u[i + k], lane l: rows i..i+3 of column 4l + k
      u[i] = _mm512_maskz_shuffle_ps(all, t[i], t[i + 2], 0x44);
      u[i + 1] = _mm512_maskz_shuffle_ps(all, t[i], t[i + 2], 0xEE);
      u[i + 2] = _mm512_maskz_shuffle_ps(all, t[i + 1], t[i + 3], 0x44);
      u[i + 3] = _mm512_maskz_shuffle_ps(all, t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 16
    for (int k = 0; k < 4; ++k) {  // move whole 128-bit lanes: columns k, 4+k, 8+k, 12+k
      const __m512 a = _mm512_maskz_shuffle_f32x4(all, u[k], u[4 + k], 0x88);      // columns k, 8+k of rows 0-7
      const __m512 b = _mm512_maskz_shuffle_f32x4(all, u[8 + k], u[12 + k], 0x88);  // columns k, 8+k of rows 8-15
      const __m512 c = _mm512_maskz_shuffle_f32x4(all, u[k], u[4 + k], 0xDD);      // columns 4+k, 12+k of rows 0-7
      const __m512 d = _mm512_maskz_shuffle_f32x4(all, u[8 + k], u[12 + k], 0xDD);  // columns 4+k, 12+k of rows 8-15
      v[k] = V(_mm512_maskz_shuffle_f32x4(all, a, b, 0x88));
      v[k + 8] = V(_mm512_maskz_shuffle_f32x4(all, a, b, 0xDD));
      v[k + 4] = V(_mm512_maskz_shuffle_f32x4(all, c, d, 0x88));
      v[k + 12] = V(_mm512_maskz_shuffle_f32x4(all, c, d, 0xDD));
    }
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (std::is_base_of<xsimd::avx, A>::value) {
    static_assert(W == 8, "avx: 8 floats");
    __m256 t[8], u[8];
#pragma GCC unroll 16
    for (int i = 0; i < 8; i += 2) {  // rows i, i+1 interleaved within each 128-bit lane
      t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 8; i += 4) {  // u[i + k], lane l: rows i..i+3 of column 4l + k
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 16
    for (int k = 0; k < 4; ++k) {  // low lanes of rows 0-3 and 4-7 are column k, high ones 4+k
      v[k] = V(_mm256_permute2f128_ps(u[k], u[4 + k], 0x20));
      v[k + 4] = V(_mm256_permute2f128_ps(u[k], u[4 + k], 0x31));
    }
    return;
  }
#endif
  if constexpr (W == 4) {
    // Two rounds of perfect shuffles: zip row i with row i + 2.
    const V a = xsimd::zip_lo(v[0], v[2]), b = xsimd::zip_hi(v[0], v[2]);
    const V c = xsimd::zip_lo(v[1], v[3]), d = xsimd::zip_hi(v[1], v[3]);
    v[0] = xsimd::zip_lo(a, c);
    v[1] = xsimd::zip_hi(a, c);
    v[2] = xsimd::zip_lo(b, d);
    v[3] = xsimd::zip_hi(b, d);
  } else {
    alignas(64) float m[W * W];
    for (std::size_t i = 0; i < W; ++i) v[i].store_aligned(m + i * W);
    for (std::size_t i = 0; i < W; ++i) {
      alignas(64) float col[W];
      for (std::size_t j = 0; j < W; ++j) col[j] = m[j * W + i];
      v[i] = V::load_aligned(col);
    }
  }
}

}  // namespace qkv::simd
