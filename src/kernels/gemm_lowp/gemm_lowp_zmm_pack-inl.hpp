// SPDX-License-Identifier: MIT
// gemm_lowp_zmm_pack-inl.hpp - the AVX-512 B packers shared by the zmm tiles
// (gemm_lowp_avx512_bf16.cpp) and the AMX tiles (gemm_lowp_amx.cpp): both
// read B as 32-column panels of k groups, a bf16 pair or an int8 quad per
// dword, 128 bytes per group (columns 0-15, then 16-31): the zmm tile loads
// a group's two vectors, an AMX B tile is 16 consecutive groups of one half
// (stride 128 bytes). Included only by those translation units (their
// flags); everything has internal linkage.
#pragma once

#include "kernels/gemm_lowp/gemm_lowp_zmm-inl.hpp"

namespace qkv::kern {
namespace {

std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
__mmask16 mask16(std::size_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }
__mmask32 mask32(std::size_t n) { return n >= 32 ? ~__mmask32{0} : (__mmask32{1} << n) - 1; }
auto keep = [](__m512i v) { return v; };

// B: panels of 32 columns, 2 zmm per pair of k. Not transposed, two rows of
// k interleave by 16 bits (unpack within 128-bit lanes, then a qword
// permute puts the columns in order); transposed, a column's pairs are
// contiguous (dword transposes of 16 columns x 16 pairs). panel is the
// distance between panels in bytes.
void bf16_pack_b_panels(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst_, std::size_t panel) {
  const std::size_t groups = (kc + 1) / 2;
  auto* dst = reinterpret_cast<unsigned char*>(dst_);
  const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  for (std::size_t j0 = 0; j0 < nc; j0 += kZmmNR, dst += panel) {
    const std::size_t n = min_sz(kZmmNR, nc - j0);
    if (trans) {
      for (std::size_t h = 0; h < 2; ++h) {
        const std::size_t rows = n > 16 * h ? min_sz(16, n - 16 * h) : 0;
        pack_contiguous_rows(reinterpret_cast<const unsigned char*>(b + (j0 + 16 * h * (rows > 0)) * ldb), ldb * 2,
                             rows, kc * 2, groups, dst + 64 * h, kZmmNR, 16, keep);
      }
      continue;
    }
    // Whole panels with both rows of the pair: plain loads (a masked load
    // costs several times as much on some cores, Zen 5).
    const std::size_t whole = n == kZmmNR ? kc / 2 : 0;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::uint16_t* k0 = b + 2 * g * ldb + j0;
      const bool plain = g < whole;
      const __m512i r0 = plain ? _mm512_loadu_si512(k0) : _mm512_maskz_loadu_epi16(mask32(n), k0);
      const __m512i r1 = plain             ? _mm512_loadu_si512(k0 + ldb)
                         : 2 * g + 1 < kc ? _mm512_maskz_loadu_epi16(mask32(n), k0 + ldb)
                                          : _mm512_setzero_si512();
      const __m512i lo = _mm512_unpacklo_epi16(r0, r1), hi = _mm512_unpackhi_epi16(r0, r1);
      _mm512_store_si512(dst + g * 128, _mm512_permutex2var_epi64(lo, first, hi));
      _mm512_store_si512(dst + g * 128 + 64, _mm512_permutex2var_epi64(lo, second, hi));
    }
  }
}

// Four rows of k, `lanes` (<= 16) codes each at p, p + ld, ...: one dword of
// codes per lane, k in byte order; rows at or past kc (k counted from k0)
// are zero.
__m512i s8_quad_rows(const std::int8_t* p, std::size_t ld, std::size_t k0, std::size_t kc, std::size_t lanes) {
  __m512i v = _mm512_setzero_si512();
  for (std::size_t q = 0; q < 4 && k0 + q < kc; ++q)
    v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask16(lanes), p + q * ld)),
                                             static_cast<unsigned>(8 * q)));
  return v;
}

// Four whole rows of 32 codes at p, p + ld, ...: v[h] lane L = the quad of
// column 16h + L, k in byte order (as s8_quad_rows), from plain loads: bytes
// then pairs interleaved within 128-bit lanes put columns 4i..4i+3 of each
// half in lane i of q[i]; a 128-bit-lane transpose orders them.
inline void s8_quads32(const std::int8_t* p, std::size_t ld, __m512i v[2]) {
  const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + ld));
  const __m256i r2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * ld));
  const __m256i r3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 3 * ld));
  const __m256i a = _mm256_unpacklo_epi8(r0, r1), b = _mm256_unpackhi_epi8(r0, r1);
  const __m256i c = _mm256_unpacklo_epi8(r2, r3), d = _mm256_unpackhi_epi8(r2, r3);
  // q0 = columns 0-3 | 16-19, q1 4-7 | 20-23, q2 8-11 | 24-27, q3 12-15 | 28-31.
  const __m256i q0 = _mm256_unpacklo_epi16(a, c), q1 = _mm256_unpackhi_epi16(a, c);
  const __m256i q2 = _mm256_unpacklo_epi16(b, d), q3 = _mm256_unpackhi_epi16(b, d);
  const __m512i q01 = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
  const __m512i q23 = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
  v[0] = shuffle128<0x88>(q01, q23);
  v[1] = shuffle128<0xDD>(q01, q23);
}

// B: panels of 32 columns, 2 zmm per quad of k, then (Corrections: for
// vpdpbusd's biased A) the 32 corrections, -128 * each column's code sum,
// taken from the packed quads themselves: vpdpbusd with u8 ones. panel is
// the distance between panels in bytes.
template <bool Corrections>
void s8_pack_b_panels(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst_, std::size_t panel) {
  const std::size_t groups = (kc + 3) / 4;
  auto* dst = static_cast<unsigned char*>(dst_);
  const __m512i ones = _mm512_set1_epi8(1);
  for (std::size_t j0 = 0; j0 < nc; j0 += kZmmNR, dst += panel) {
    const std::size_t n = min_sz(kZmmNR, nc - j0);
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    if (!trans && n == kZmmNR) {  // whole quads of a whole panel: plain loads
      for (std::size_t g = 0; g < kc / 4; ++g) {
        __m512i v[2];
        s8_quads32(b + 4 * g * ldb + j0, ldb, v);
        for (std::size_t h = 0; h < 2; ++h) {
          sum[h] = _mm512_dpbusd_epi32(sum[h], ones, v[h]);
          _mm512_store_si512(dst + g * 128 + 64 * h, v[h]);
        }
      }
    }
    for (std::size_t h = 0; h < 2; ++h) {
      const std::size_t cols = n > 16 * h ? min_sz(16, n - 16 * h) : 0;
      if (trans) {
        pack_contiguous_rows(reinterpret_cast<const unsigned char*>(b + (j0 + 16 * h * (cols > 0)) * ldb), ldb, cols,
                             kc, groups, dst + 64 * h, kZmmNR, 16, [&](__m512i v) {
                               sum[h] = _mm512_dpbusd_epi32(sum[h], ones, v);
                               return v;
                             });
        continue;
      }
      for (std::size_t g = n == kZmmNR ? kc / 4 : 0; g < groups; ++g) {  // the rest
        const __m512i v = s8_quad_rows(b + 4 * g * ldb + j0 + 16 * h, ldb, 4 * g, kc, cols);
        sum[h] = _mm512_dpbusd_epi32(sum[h], ones, v);
        _mm512_store_si512(dst + g * 128 + 64 * h, v);
      }
    }
    if (Corrections)
      for (std::size_t h = 0; h < 2; ++h)
        _mm512_store_si512(dst + groups * 128 + 64 * h,
                           _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum[h], 7)));
  }
}

}  // namespace
}  // namespace qkv::kern
