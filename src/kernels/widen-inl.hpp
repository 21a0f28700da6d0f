// SPDX-License-Identifier: MIT
// widen-inl.hpp - W elements of a bf16, fp16 or int8 array as one fp32
// vector, widened exactly as they are loaded (AVX-512 and AVX2 + F16C: one
// extending load and a shift or conversion; other ISAs through a small stack
// buffer). Internal linkage: included only by the *-inl.hpp kernels of the
// tables_<isa>.cpp files.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/simd.hpp"
#include "util/half.hpp"

namespace qkv::kern {
namespace {

template <class A>
inline simd::vf<A> widen_bf16(const std::uint16_t* h) {
  using V = simd::vf<A>;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return V(_mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))), 16)));
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, A>::value && V::size == 8)
    return V(_mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))), 16)));
#endif
  alignas(64) float buf[V::size];
  for (std::size_t i = 0; i < V::size; ++i) buf[i] = util::bf16_to_f32(h[i]);
  return V::load_aligned(buf);
}

template <class A>
inline simd::vf<A> widen_f16(const std::uint16_t* h) {
  using V = simd::vf<A>;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return V(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))));
#endif
#if defined(__AVX2__) && defined(__F16C__)
  if constexpr (std::is_base_of<xsimd::avx2, A>::value && V::size == 8)
    return V(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))));
#endif
  alignas(64) float buf[V::size];
  for (std::size_t i = 0; i < V::size; ++i) buf[i] = util::f16_to_f32(h[i]);
  return V::load_aligned(buf);
}

template <class A>
inline simd::vf<A> widen_s8(const std::int8_t* q) {
  using V = simd::vf<A>;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return V(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)))));
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, A>::value && V::size == 8)
    return V(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)))));
#endif
  alignas(64) float buf[V::size];
  for (std::size_t i = 0; i < V::size; ++i) buf[i] = static_cast<float>(q[i]);
  return V::load_aligned(buf);
}

}  // namespace
}  // namespace qkv::kern
