// SPDX-License-Identifier: MIT
// kv_q8_avx512-inl.hpp - the q8_0 kv kernels over 16 keys at a time, for one
// query head (AVX-512; included by kv-inl.hpp, internal linkage).
//
// Key by key, a q8_0 score paid a horizontal sum (8 operations) and an fp16
// scale broadcast and conversion per block, on top of the codes' widening:
// the shuffle port, not memory, bounded the walk. Sixteen keys at a time
// the scales of a block are read into one vector and converted once, and
// the 16 sums come from one tree (simd::reduce_add16). The arithmetic is
// the key-by-key kernels', operation for operation, so the bits are theirs:
// a score sums each block's products in the same lanes, scales them by the
// block's scale into the same accumulator and reduces it in the same
// pairings; a weighted sum multiplies p by the block's scale and adds key
// after key, in order, into each element.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/simd.hpp"
#include "qkv/dtype.h"

namespace qkv::kern {
namespace {

constexpr std::size_t kKvGroup = 16;  // keys per group: one vector of scores
constexpr std::size_t kQ8Codes = offsetof(qkv_block_q8_0, qs);
constexpr std::size_t kKvMaxStride = 0x7FFFFFFF / kKvGroup;  // gather offsets are int32

// The byte offsets of 16 rows stride bytes apart (stride <= kKvMaxStride).
inline __m512i kv_rows16(std::size_t stride) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(stride)));
}

// The fp16 scales of the blocks at blk + rows[i], i < 16, as floats: one
// gather of each block's first 4 bytes, the scale in their low half (a
// scalar gather through memory ran ~1.25x slower in the weighted sum).
inline __m512 kv_q8_scales16(const unsigned char* blk, __m512i rows) {
  const __m512i w = _mm512_i32gather_epi32(rows, static_cast<const void*>(blk), 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));
}

// 16 codes from c as floats.
inline __m512 kv_q8_codes16(const unsigned char* c) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c))));
}

// s[i] = scale * dot(q, the head's part of key i) for the 16 keys whose
// parts start at part + i * stride (d elements: d / 32 blocks; rows =
// kv_rows16(stride)).
inline void kv_q8_scores16(std::size_t d, const float* q, const unsigned char* part, std::size_t stride,
                           __m512i rows, float scale, float* s) {
  __m512 acc[kKvGroup];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < kKvGroup; ++i) acc[i] = _mm512_setzero_ps();
  alignas(64) float sf[kKvGroup];
  for (std::size_t b = 0; b < d / QKV_Q8_0_BLOCK; ++b) {
    const unsigned char* blk = part + b * sizeof(qkv_block_q8_0);
    _mm512_store_ps(sf, kv_q8_scales16(blk, rows));
    const __m512 q0 = _mm512_loadu_ps(q + b * QKV_Q8_0_BLOCK), q1 = _mm512_loadu_ps(q + b * QKV_Q8_0_BLOCK + 16);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < kKvGroup; ++i) {
      const unsigned char* c = blk + i * stride + kQ8Codes;
      const __m512 t = _mm512_fmadd_ps(q1, kv_q8_codes16(c + 16), _mm512_mul_ps(q0, kv_q8_codes16(c)));
      acc[i] = _mm512_fmadd_ps(t, _mm512_set1_ps(sf[i]), acc[i]);
    }
  }
  _mm512_storeu_ps(s, _mm512_mul_ps(_mm512_set1_ps(scale), simd::reduce_add16(acc)));
}

// o[c] += sum over the 16 keys i, in order, of p[i] * the head's part of
// key i [c], for c < d (parts as above).
inline void kv_q8_accum16(std::size_t d, const float* p, const unsigned char* part, std::size_t stride, __m512i rows,
                          float* o) {
  const __m512 pk = _mm512_loadu_ps(p);
  alignas(64) float ps[kKvGroup];
  for (std::size_t b = 0; b < d / QKV_Q8_0_BLOCK; ++b) {
    const unsigned char* blk = part + b * sizeof(qkv_block_q8_0);
    _mm512_store_ps(ps, _mm512_mul_ps(pk, kv_q8_scales16(blk, rows)));
    float* ob = o + b * QKV_Q8_0_BLOCK;
    __m512 o0 = _mm512_loadu_ps(ob), o1 = _mm512_loadu_ps(ob + 16);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < kKvGroup; ++i) {
      const unsigned char* c = blk + i * stride + kQ8Codes;
      const __m512 w = _mm512_set1_ps(ps[i]);
      o0 = _mm512_fmadd_ps(w, kv_q8_codes16(c), o0);
      o1 = _mm512_fmadd_ps(w, kv_q8_codes16(c + 16), o1);
    }
    _mm512_storeu_ps(ob, o0);
    _mm512_storeu_ps(ob + 16, o1);
  }
}

}  // namespace
}  // namespace qkv::kern
#endif
