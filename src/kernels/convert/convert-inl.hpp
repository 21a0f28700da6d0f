// SPDX-License-Identifier: MIT
// convert-inl.hpp - vector conversions and quantization loops. Included only
// by the per-ISA translation units (tables_<isa>.cpp), each compiled with its
// ISA's flags; everything here has internal linkage. The block operations
// are intrinsics chosen by those flags (one `cvt_block` per translation
// unit); the loops around them are shared. Tails, and what an ISA cannot do
// with the same bits, call the scalar table (convert_scalar), never an inline
// copy of it, so no ISA's copy of a function can replace another's.
//
// Why each path gives util/half.hpp's bits:
//  - fp32 -> bf16 is the same integer arithmetic in 32-bit lanes
//    (vcvtneps2bf16 would flush subnormals);
//  - fp16 uses vcvtps2ph (rounding immediate 0: nearest even) / vcvtph2ps
//    and AArch64's fcvtn / fcvtl, which round, quiet NaNs and keep their
//    payload's top bits as half.hpp does (checked on all 2^32 inputs).
//    SSE2 has no conversion, and armv7 NEON flushes subnormals: scalar;
//  - x / s is an IEEE division (divps, fdiv; armv7 NEON has only a
//    reciprocal estimate and flushes subnormals, so it quantizes in scalar),
//    and the rounding is the scalar one: clamp, then +-1.5 * 2^23.
#pragma once

#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "kernels/simd.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace qkv::kern {
namespace {

using u16 = std::uint16_t;

#if defined(__F16C__)
// One value through F16C's vector forms (clang 14's _cvtss_sh/_cvtsh_ss
// expand to C99 compound literals, an error in C++ with -Werror).
inline u16 f16c_half_of(float s) {
  return static_cast<u16>(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(s), _MM_FROUND_TO_NEAREST_INT), 0));
}
inline float f16c_float_of_half(u16 d) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(d))); }
#endif
using u32 = std::uint32_t;

constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: v + kRound - kRound = RNE(v) for |v| <= 2^22

#if defined(__AVX2__)
// fp32 -> bf16 for 8 values in ymm registers (the AVX2 block, and AVX-512's
// for long arrays: see f32_to_bf16_v).
inline void f32_to_bf16_8(const float* x, u16* y) {
  const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  const __m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));  // a < 2^31: signed is fine
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
  r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
  r = _mm256_srli_epi32(r, 16);  // 0..0xffff: packus keeps it; lanes are packed per 128 bits
  const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm256_castsi256_si128(p));
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
// AVX-512: 16 elements per block.
struct cvt_block {
  static constexpr std::size_t W = 16;
  static constexpr bool kHalf = true, kQuant = true;
  // The rounded bits of 16 floats (their bits in u), shifted down: each
  // 32-bit lane holds its bf16.
  static __m512i bf16_lanes(__m512i u) {
    const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(a, _mm512_set1_epi32(0x7f800000));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb);
    r = _mm512_mask_blend_epi32(nan, r, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_srli_epi32(r, 16);
  }
  static __m512i bf16_lanes(const float* x) { return bf16_lanes(_mm512_loadu_si512(x)); }
  static void f32_to_bf16(const float* x, u16* y) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), _mm512_cvtepi32_epi16(bf16_lanes(x)));
  }
  // 32 at a time: one pack (within 128-bit lanes) and one lane permutation
  // instead of two vpmovdw, and a whole-line store.
  static void f32_to_bf16_x2(const float* x, u16* y) {
    const __m512i p = _mm512_packus_epi32(bf16_lanes(x), bf16_lanes(x + 16));
    const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    _mm512_storeu_si512(y, _mm512_permutexvar_epi64(order, p));
  }
  static void bf16_to_f32(const u16* x, float* y) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
    _mm512_storeu_si512(y, _mm512_slli_epi32(h, 16));
  }
  static void f32_to_f16(const float* x, u16* y) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), _mm512_cvtps_ph(_mm512_loadu_ps(x), _MM_FROUND_TO_NEAREST_INT));
  }
  static void f16_to_f32(const u16* x, float* y) {
    _mm512_storeu_ps(y, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))));
  }
  using acc = __m512i;
  static acc acc_zero() { return _mm512_setzero_si512(); }
  static acc acc_max(acc m, const float* x) {
    return _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(x), _mm512_set1_epi32(0x7fffffff)));
  }
  static u32 acc_reduce(acc m) { return _mm512_reduce_max_epu32(m); }
  static u16 half_of(float s) { return f16c_half_of(s); }  // F16C, as the vector form
  static float float_of_half(u16 d) { return f16c_float_of_half(d); }
  static void quantize(const float* x, float s, std::int8_t* q) {
    __m512 v = _mm512_div_ps(_mm512_loadu_ps(x), _mm512_set1_ps(s));
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    v = _mm512_sub_ps(_mm512_add_ps(v, _mm512_set1_ps(kRound)), _mm512_set1_ps(kRound));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
  static void dequantize(const std::int8_t* q, float s, float* x) {
    const __m512i i = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    _mm512_storeu_ps(x, _mm512_mul_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(s)));
  }
};
#elif defined(__AVX2__) && defined(__F16C__)
// AVX2 + F16C: 8 elements per block.
struct cvt_block {
  static constexpr std::size_t W = 8;
  static constexpr bool kHalf = true, kQuant = true;
  static void f32_to_bf16(const float* x, u16* y) { f32_to_bf16_8(x, y); }
  static void bf16_to_f32(const u16* x, float* y) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), _mm256_slli_epi32(h, 16));
  }
  static void f32_to_f16(const float* x, u16* y) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm256_cvtps_ph(_mm256_loadu_ps(x), _MM_FROUND_TO_NEAREST_INT));
  }
  static void f16_to_f32(const u16* x, float* y) {
    _mm256_storeu_ps(y, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x))));
  }
  using acc = __m256i;
  static acc acc_zero() { return _mm256_setzero_si256(); }
  static acc acc_max(acc m, const float* x) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    return _mm256_max_epu32(m, _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)));
  }
  static u32 acc_reduce(acc m) {
    __m128i v = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    v = _mm_max_epu32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_max_epu32(v, _mm_shuffle_epi32(v, 0xb1));
    return static_cast<u32>(_mm_cvtsi128_si32(v));
  }
  static u16 half_of(float s) { return f16c_half_of(s); }
  static float float_of_half(u16 d) { return f16c_float_of_half(d); }
  static void quantize(const float* x, float s, std::int8_t* q) {
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(x), _mm256_set1_ps(s));
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    v = _mm256_sub_ps(_mm256_add_ps(v, _mm256_set1_ps(kRound)), _mm256_set1_ps(kRound));
    const __m256i i = _mm256_cvttps_epi32(v);
    const __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q), _mm_packs_epi16(p, p));
  }
  static void dequantize(const std::int8_t* q, float s, float* x) {
    const __m256i i = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
    _mm256_storeu_ps(x, _mm256_mul_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(s)));
  }
};
#elif defined(__SSE2__)
// SSE2: 8 elements per block (two vectors); no fp16 conversion instruction.
struct cvt_block {
  static constexpr std::size_t W = 8;
  static constexpr bool kHalf = false, kQuant = true;
  // bits >> 16 of the rounded value, sign-extended from 16 bits so that the
  // signed-saturating pack (SSE2 has no unsigned one) keeps it.
  static __m128i bf16_lanes(__m128i u) {
    const __m128i a = _mm_and_si128(u, _mm_set1_epi32(0x7fffffff));
    const __m128i nan = _mm_cmpgt_epi32(a, _mm_set1_epi32(0x7f800000));
    const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
    const __m128i r = _mm_add_epi32(_mm_add_epi32(u, _mm_set1_epi32(0x7fff)), lsb);
    const __m128i n = _mm_or_si128(u, _mm_set1_epi32(0x400000));
    const __m128i s = _mm_or_si128(_mm_and_si128(nan, n), _mm_andnot_si128(nan, r));
    return _mm_srai_epi32(s, 16);
  }
  static void f32_to_bf16(const float* x, u16* y) {
    const __m128i lo = bf16_lanes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
    const __m128i hi = bf16_lanes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 4)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm_packs_epi32(lo, hi));
  }
  static void bf16_to_f32(const u16* x, float* y) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x));
    const __m128i z = _mm_setzero_si128();
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm_unpacklo_epi16(z, h));  // lane = h << 16
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 4), _mm_unpackhi_epi16(z, h));
  }
  static void f32_to_f16(const float*, u16*) {}
  static void f16_to_f32(const u16*, float*) {}
  using acc = __m128i;
  static acc acc_zero() { return _mm_setzero_si128(); }
  static __m128i max32(__m128i a, __m128i b) {  // both < 2^31: the signed compare orders them
    const __m128i gt = _mm_cmpgt_epi32(a, b);
    return _mm_or_si128(_mm_and_si128(gt, a), _mm_andnot_si128(gt, b));
  }
  static acc acc_max(acc m, const float* x) {
    const __m128i a = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)), _mm_set1_epi32(0x7fffffff));
    const __m128i b =
        _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 4)), _mm_set1_epi32(0x7fffffff));
    return max32(m, max32(a, b));
  }
  static u32 acc_reduce(acc m) {
    m = max32(m, _mm_shuffle_epi32(m, 0x4e));
    m = max32(m, _mm_shuffle_epi32(m, 0xb1));
    return static_cast<u32>(_mm_cvtsi128_si32(m));
  }
  static u16 half_of(float s) {
    u16 d;
    convert_scalar.f32_to_f16(1, &s, &d);
    return d;
  }
  static float float_of_half(u16 d) {
    float s;
    convert_scalar.f16_to_f32(1, &d, &s);
    return s;
  }
  static __m128i quantize4(const float* x, __m128 s) {
    __m128 v = _mm_div_ps(_mm_loadu_ps(x), s);
    v = _mm_min_ps(_mm_max_ps(v, _mm_set1_ps(-127.0f)), _mm_set1_ps(127.0f));
    v = _mm_sub_ps(_mm_add_ps(v, _mm_set1_ps(kRound)), _mm_set1_ps(kRound));
    return _mm_cvttps_epi32(v);
  }
  static void quantize(const float* x, float s, std::int8_t* q) {
    const __m128 vs = _mm_set1_ps(s);
    const __m128i p = _mm_packs_epi32(quantize4(x, vs), quantize4(x + 4, vs));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q), _mm_packs_epi16(p, p));
  }
  static void dequantize(const std::int8_t* q, float s, float* x) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
    const __m128i h = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8);  // 8 x int16
    const __m128i lo = _mm_srai_epi32(_mm_unpacklo_epi16(h, h), 16), hi = _mm_srai_epi32(_mm_unpackhi_epi16(h, h), 16);
    const __m128 vs = _mm_set1_ps(s);
    _mm_storeu_ps(x, _mm_mul_ps(_mm_cvtepi32_ps(lo), vs));
    _mm_storeu_ps(x + 4, _mm_mul_ps(_mm_cvtepi32_ps(hi), vs));
  }
};
#elif defined(__ARM_NEON)
// NEON: 8 elements per block (two vectors). fp16 and quantization only on
// AArch64 (IEEE vector division, no flush to zero).
struct cvt_block {
  static constexpr std::size_t W = 8;
#if defined(__aarch64__)
  static constexpr bool kHalf = true, kQuant = true;
#else
  static constexpr bool kHalf = false, kQuant = false;
#endif
  static uint32x4_t bf16_lanes(uint32x4_t u) {  // the rounded bits; the top 16 are the bf16
    const uint32x4_t a = vandq_u32(u, vdupq_n_u32(0x7fffffffu));
    const uint32x4_t nan = vcgtq_u32(a, vdupq_n_u32(0x7f800000u));
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t r = vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7fffu)), lsb);
    return vbslq_u32(nan, vorrq_u32(u, vdupq_n_u32(0x400000u)), r);
  }
  static void f32_to_bf16(const float* x, u16* y) {
    const uint32x4_t lo = bf16_lanes(vreinterpretq_u32_f32(vld1q_f32(x)));
    const uint32x4_t hi = bf16_lanes(vreinterpretq_u32_f32(vld1q_f32(x + 4)));
    vst1q_u16(y, vcombine_u16(vshrn_n_u32(lo, 16), vshrn_n_u32(hi, 16)));
  }
  static void bf16_to_f32(const u16* x, float* y) {
    const uint16x8_t h = vld1q_u16(x);
    vst1q_f32(y, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(y + 4, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16)));
  }
  using acc = uint32x4_t;
  static acc acc_zero() { return vdupq_n_u32(0); }
  static acc acc_max(acc m, const float* x) {
    const uint32x4_t k = vdupq_n_u32(0x7fffffffu);
    const uint32x4_t a = vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x)), k);
    const uint32x4_t b = vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x + 4)), k);
    return vmaxq_u32(m, vmaxq_u32(a, b));
  }
  static u32 acc_reduce(acc m) {
    const uint32x2_t h = vpmax_u32(vget_low_u32(m), vget_high_u32(m));
    return vget_lane_u32(vpmax_u32(h, h), 0);
  }
#if defined(__aarch64__)
  static void f32_to_f16(const float* x, u16* y) {
    const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x)), vld1q_f32(x + 4));
    vst1q_u16(y, vreinterpretq_u16_f16(h));
  }
  static void f16_to_f32(const u16* x, float* y) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x));
    vst1q_f32(y, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(y + 4, vcvt_high_f32_f16(h));
  }
  static u16 half_of(float s) { return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(s))), 0); }
  static float float_of_half(u16 d) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(d))), 0); }
  static int32x4_t quantize4(const float* x, float32x4_t s) {
    float32x4_t v = vdivq_f32(vld1q_f32(x), s);
    v = vminq_f32(vmaxq_f32(v, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
    v = vsubq_f32(vaddq_f32(v, vdupq_n_f32(kRound)), vdupq_n_f32(kRound));
    return vcvtq_s32_f32(v);
  }
  static void quantize(const float* x, float s, std::int8_t* q) {
    const float32x4_t vs = vdupq_n_f32(s);
    const int16x8_t h = vcombine_s16(vmovn_s32(quantize4(x, vs)), vmovn_s32(quantize4(x + 4, vs)));
    vst1_s8(q, vmovn_s16(h));
  }
  static void dequantize(const std::int8_t* q, float s, float* x) {
    const int16x8_t h = vmovl_s8(vld1_s8(q));
    const float32x4_t vs = vdupq_n_f32(s);
    vst1q_f32(x, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), vs));
    vst1q_f32(x + 4, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(h))), vs));
  }
#else
  static void f32_to_f16(const float*, u16*) {}
  static void f16_to_f32(const u16*, float*) {}
  static void quantize(const float*, float, std::int8_t*) {}
  static void dequantize(const std::int8_t*, float, float*) {}
  static u16 half_of(float) { return 0; }
  static float float_of_half(u16) { return 0.0f; }
#endif
};
#else
#error "convert-inl.hpp: no vector block for this ISA's flags"
#endif

// The loops: whole blocks in vectors, the rest in scalar.
using CB = cvt_block;
constexpr std::size_t kLongBf16 = std::size_t{1} << 18;  // 1 MiB of fp32: beyond L2

template <class A>
void f32_to_bf16_v(std::size_t n, const float* x, u16* y) {
  std::size_t i = 0;
#if defined(__AVX512BW__)
  // In zmm registers this runs at 1.7x the ymm code's speed from L1, but
  // streams from DRAM at 60 % of it (AMD Zen 5; bench/README.md; cause not
  // found): long arrays take the ymm code. The same bits either way.
  if (n < kLongBf16) {
    for (; i + 2 * CB::W <= n; i += 2 * CB::W) CB::f32_to_bf16_x2(x + i, y + i);
  } else {
    for (; i + 8 <= n; i += 8) f32_to_bf16_8(x + i, y + i);
  }
#endif
  for (; i + CB::W <= n; i += CB::W) CB::f32_to_bf16(x + i, y + i);
  if (i < n) convert_scalar.f32_to_bf16(n - i, x + i, y + i);
}

template <class A>
void bf16_to_f32_v(std::size_t n, const u16* x, float* y) {
  std::size_t i = 0;
  for (; i + CB::W <= n; i += CB::W) CB::bf16_to_f32(x + i, y + i);
  if (i < n) convert_scalar.bf16_to_f32(n - i, x + i, y + i);
}

template <class A>
void f32_to_f16_v(std::size_t n, const float* x, u16* y) {
  std::size_t i = 0;
  if constexpr (CB::kHalf)
    for (; i + CB::W <= n; i += CB::W) CB::f32_to_f16(x + i, y + i);
  if (i < n) convert_scalar.f32_to_f16(n - i, x + i, y + i);
}

template <class A>
void f16_to_f32_v(std::size_t n, const u16* x, float* y) {
  std::size_t i = 0;
  if constexpr (CB::kHalf)
    for (; i + CB::W <= n; i += CB::W) CB::f16_to_f32(x + i, y + i);
  if (i < n) convert_scalar.f16_to_f32(n - i, x + i, y + i);
}

template <class A>
u32 abs_max_bits_v(std::size_t n, const float* x) {
  std::size_t i = 0;
  u32 m = 0;
  if (n >= CB::W) {
    CB::acc acc = CB::acc_zero();
    for (; i + CB::W <= n; i += CB::W) acc = CB::acc_max(acc, x + i);
    m = CB::acc_reduce(acc);
  }
  if (i < n) {
    const u32 t = convert_scalar.abs_max_bits(n - i, x + i);
    m = t > m ? t : m;
  }
  return m;
}

template <class A>
void quantize_s8_v(std::size_t n, const float* x, float s, std::int8_t* q) {
  std::size_t i = 0;
  if constexpr (CB::kQuant)
    for (; i + CB::W <= n; i += CB::W) CB::quantize(x + i, s, q + i);
  if (i < n) convert_scalar.quantize_s8(n - i, x + i, s, q + i);
}

template <class A>
void dequantize_s8_v(std::size_t n, const std::int8_t* q, float s, float* x) {
  std::size_t i = 0;
  if constexpr (CB::kQuant)
    for (; i + CB::W <= n; i += CB::W) CB::dequantize(q + i, s, x + i);
  if (i < n) convert_scalar.dequantize_s8(n - i, q + i, s, x + i);
}

inline float from_bits(u32 u) {
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

// One block of 32 in registers: max|x|, the fp16 scale, the codes.
template <class A>
void quantize_q8_0_v(std::size_t blocks, const float* x, qkv_block_q8_0* y) {
  constexpr std::size_t NB = QKV_Q8_0_BLOCK;
  static_assert(NB % CB::W == 0, "whole vector blocks per q8_0 block");
  if constexpr (!CB::kQuant) {
    convert_scalar.quantize_q8_0(blocks, x, y);
  } else {
    for (std::size_t b = 0; b < blocks; ++b) {
      const float* xb = x + b * NB;
      CB::acc m = CB::acc_zero();
      for (std::size_t j = 0; j < NB; j += CB::W) m = CB::acc_max(m, xb + j);
      const u16 d = CB::half_of(from_bits(CB::acc_reduce(m)) / 127.0f);
      const float s = CB::float_of_half(d);
      y[b].d = d;
      if (s == 0.0f) {
        for (std::size_t j = 0; j < NB; ++j) y[b].qs[j] = 0;
      } else {
        for (std::size_t j = 0; j < NB; j += CB::W) CB::quantize(xb + j, s, y[b].qs + j);
      }
    }
  }
}

template <class A>
void dequantize_q8_0_v(std::size_t blocks, const qkv_block_q8_0* x, float* y) {
  constexpr std::size_t NB = QKV_Q8_0_BLOCK;
  if constexpr (!CB::kQuant) {
    convert_scalar.dequantize_q8_0(blocks, x, y);
  } else {
    for (std::size_t b = 0; b < blocks; ++b) {
      const float s = CB::float_of_half(x[b].d);
      for (std::size_t j = 0; j < NB; j += CB::W) CB::dequantize(x[b].qs + j, s, y + b * NB + j);
    }
  }
}

template <class A>
constexpr convert_kernels make_convert_kernels() {
  return {f32_to_bf16_v<A>,   bf16_to_f32_v<A>, f32_to_f16_v<A>,    f16_to_f32_v<A>,
          abs_max_bits_v<A>, quantize_s8_v<A>, dequantize_s8_v<A>, quantize_q8_0_v<A>, dequantize_q8_0_v<A>};
}

}  // namespace
}  // namespace qkv::kern
