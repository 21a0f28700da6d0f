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
// The conversions and gathers below are the zero-masked forms with a full
// mask: the plain ones pass an undefined vector, which GCC 12 reports as
// used uninitialized once the bodies below inline into each other.
constexpr __mmask16 kAll = 0xFFFF;

// The byte offsets of 16 rows stride bytes apart (stride <= kKvMaxStride).
inline __m512i kv_rows16(std::size_t stride) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(stride)));
}

// The fp16 scales of the blocks at blk + rows[i], i < 16, as floats: one
// gather of each block's first 4 bytes, the scale in their low half (a
// scalar gather through memory ran ~1.25x slower in the weighted sum).
inline __m512 kv_q8_scales16(const unsigned char* blk, __m512i rows) {
  const __m512i w = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kAll, rows, static_cast<const void*>(blk), 1);
  return _mm512_maskz_cvtph_ps(kAll, _mm512_maskz_cvtepi32_epi16(kAll, w));
}

// 16 codes from c as floats.
inline __m512 kv_q8_codes16(const unsigned char* c) {
  const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
  return _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_cvtepi8_epi32(kAll, codes));
}

// Makes the floats at f opaque to the compiler, so that each key's
// broadcast of one of them is a load (an FMA's embedded broadcast) rather
// than a permute on the shuffle port, which the codes' widening keeps busy
// (GCC otherwise forwards the stored vector into vpermd).
template <class T>
inline void kv_from_memory(T& f) {
  asm volatile("" : "+m"(f));
}

// The scores' and weighted sums' bodies take NB blocks of every key at once
// (up to kQ8Blocks): a weighted sum's elements each add the keys in order,
// one dependent FMA per key, so one block alone (two chains) waited on the
// FMA latency at half the widening's rate; all of a head's blocks give
// 2 * NB chains, and their scale gathers issue together.
constexpr std::size_t kQ8Blocks = 4;

// acc[i] += sum over blocks b < NB, in order, of scale_b(i) * (q_b . codes
// of block b of key i): blocks from part + i * stride (q: NB * 32 floats).
template <std::size_t NB>
inline void kv_q8_scores_blocks(const float* q, const unsigned char* part, std::size_t stride, __m512i rows,
                                __m512 (&acc)[kKvGroup]) {
  alignas(64) float sf[NB][kKvGroup];
  __m512 q0[NB], q1[NB];
#pragma GCC unroll 4
  for (std::size_t b = 0; b < NB; ++b) {
    _mm512_store_ps(sf[b], kv_q8_scales16(part + b * sizeof(qkv_block_q8_0), rows));
    q0[b] = _mm512_loadu_ps(q + b * QKV_Q8_0_BLOCK);
    q1[b] = _mm512_loadu_ps(q + b * QKV_Q8_0_BLOCK + 16);
  }
  kv_from_memory(sf);
#pragma GCC unroll 16
  for (std::size_t i = 0; i < kKvGroup; ++i)
#pragma GCC unroll 4
    for (std::size_t b = 0; b < NB; ++b) {
      const unsigned char* c = part + b * sizeof(qkv_block_q8_0) + i * stride + kQ8Codes;
      const __m512 t = _mm512_fmadd_ps(q1[b], kv_q8_codes16(c + 16), _mm512_mul_ps(q0[b], kv_q8_codes16(c)));
      acc[i] = _mm512_fmadd_ps(t, _mm512_set1_ps(sf[b][i]), acc[i]);
    }
}

// s[i] = scale * dot(q, the head's part of key i) for the 16 keys whose
// parts start at part + i * stride (d elements: d / 32 blocks; rows =
// kv_rows16(stride)).
inline void kv_q8_scores16(std::size_t d, const float* q, const unsigned char* part, std::size_t stride,
                           __m512i rows, float scale, float* s) {
  __m512 acc[kKvGroup];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < kKvGroup; ++i) acc[i] = _mm512_setzero_ps();
  const std::size_t nb = d / QKV_Q8_0_BLOCK;
  std::size_t b = 0;
  for (; b + kQ8Blocks <= nb; b += kQ8Blocks)
    kv_q8_scores_blocks<kQ8Blocks>(q + b * QKV_Q8_0_BLOCK, part + b * sizeof(qkv_block_q8_0), stride, rows, acc);
  const float* qb = q + b * QKV_Q8_0_BLOCK;
  const unsigned char* pb = part + b * sizeof(qkv_block_q8_0);
  switch (nb - b) {
    case 3: kv_q8_scores_blocks<3>(qb, pb, stride, rows, acc); break;
    case 2: kv_q8_scores_blocks<2>(qb, pb, stride, rows, acc); break;
    case 1: kv_q8_scores_blocks<1>(qb, pb, stride, rows, acc); break;
    default: break;
  }
  _mm512_storeu_ps(s, _mm512_mul_ps(_mm512_set1_ps(scale), simd::reduce_add16(acc)));
}

// o[c] += sum over the 16 keys i, in order, of p[i] * scale_b(i) * code c of
// block b of key i, for the NB blocks' 32 * NB elements (pk = p[0..15]).
template <std::size_t NB>
inline void kv_q8_accum_blocks(__m512 pk, const unsigned char* part, std::size_t stride, __m512i rows, float* o) {
  alignas(64) float ps[NB][kKvGroup];
  __m512 o0[NB], o1[NB];
#pragma GCC unroll 4
  for (std::size_t b = 0; b < NB; ++b) {
    _mm512_store_ps(ps[b], _mm512_mul_ps(pk, kv_q8_scales16(part + b * sizeof(qkv_block_q8_0), rows)));
    o0[b] = _mm512_loadu_ps(o + b * QKV_Q8_0_BLOCK);
    o1[b] = _mm512_loadu_ps(o + b * QKV_Q8_0_BLOCK + 16);
  }
  kv_from_memory(ps);
#pragma GCC unroll 16
  for (std::size_t i = 0; i < kKvGroup; ++i)
#pragma GCC unroll 4
    for (std::size_t b = 0; b < NB; ++b) {
      const unsigned char* c = part + b * sizeof(qkv_block_q8_0) + i * stride + kQ8Codes;
      const __m512 w = _mm512_set1_ps(ps[b][i]);
      o0[b] = _mm512_fmadd_ps(w, kv_q8_codes16(c), o0[b]);
      o1[b] = _mm512_fmadd_ps(w, kv_q8_codes16(c + 16), o1[b]);
    }
#pragma GCC unroll 4
  for (std::size_t b = 0; b < NB; ++b) {
    _mm512_storeu_ps(o + b * QKV_Q8_0_BLOCK, o0[b]);
    _mm512_storeu_ps(o + b * QKV_Q8_0_BLOCK + 16, o1[b]);
  }
}

// o[c] += sum over the 16 keys i, in order, of p[i] * the head's part of
// key i [c], for c < d (parts as above).
inline void kv_q8_accum16(std::size_t d, const float* p, const unsigned char* part, std::size_t stride, __m512i rows,
                          float* o) {
  const __m512 pk = _mm512_loadu_ps(p);
  const std::size_t nb = d / QKV_Q8_0_BLOCK;
  std::size_t b = 0;
  for (; b + kQ8Blocks <= nb; b += kQ8Blocks)
    kv_q8_accum_blocks<kQ8Blocks>(pk, part + b * sizeof(qkv_block_q8_0), stride, rows, o + b * QKV_Q8_0_BLOCK);
  const unsigned char* pb = part + b * sizeof(qkv_block_q8_0);
  float* ob = o + b * QKV_Q8_0_BLOCK;
  switch (nb - b) {
    case 3: kv_q8_accum_blocks<3>(pk, pb, stride, rows, ob); break;
    case 2: kv_q8_accum_blocks<2>(pk, pb, stride, rows, ob); break;
    case 1: kv_q8_accum_blocks<1>(pk, pb, stride, rows, ob); break;
    default: break;
  }
}

}  // namespace
}  // namespace qkv::kern
#endif
