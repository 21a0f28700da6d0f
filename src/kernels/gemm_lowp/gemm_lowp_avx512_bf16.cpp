// SPDX-License-Identifier: MIT
// The reduced-precision tables of avx512_bf16 (AVX-512 + AVX512_BF16 +
// AVX512_VNNI), compiled with its flags only (the *_avx512_bf16.cpp rule in
// src/CMakeLists.txt); every other module maps avx512_bf16 to its avx512
// table. Both run the 14x32 zmm tile of gemm_lowp_zmm-inl.hpp:
//   gemm_bf16_14x32: vdpbf16ps, a bf16 pair per lane (kg 2);
//   gemm_s8_14x32_vnni: vpdpbusd, an int8 quad per lane (kg 4). vpdpbusd
//   multiplies unsigned by signed bytes, so A is stored biased (u8 = s8 +
//   128, i.e. s8 ^ 0x80) and each B panel ends with 32 int32 corrections,
//   -128 * the column's code sum over the panel's kc, added once per call:
//   sum (a+128) b - 128 sum b = sum a b, exact modulo 2^32.
// Panel sizes: bf16 A 14 * round_up(kc, 2) codes, B 32 * round_up(kc, 2);
// int8 A round_up(56 * ceil(kc/4), 64) bytes, B 128 * ceil(kc/4) + 128.
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp_zmm-inl.hpp"

namespace qkv::kern {
namespace {

constexpr __mmask16 kRowLanes = (1u << kZmmMR) - 1;  // the 14 lanes of an A group vector

std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
__mmask16 mask16(std::size_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }
__mmask32 mask32(std::size_t n) { return n >= 32 ? ~__mmask32{0} : (__mmask32{1} << n) - 1; }
auto keep = [](__m512i v) { return v; };

// ---- bf16 x bf16 -> fp32 (vdpbf16ps) --------------------------------------

struct bf16_dot {
  static __m512i step(__m512i c, __m512i a, __m512i b) {
    return _mm512_castps_si512(_mm512_dpbf16_ps(_mm512_castsi512_ps(c), (__m512bh)a, (__m512bh)b));
  }
};

// A: rows of 14, a pair of k per dword. Not transposed, a row's pairs are
// contiguous (a dword transpose of 16 pairs x 14 rows); transposed, two rows
// of k interleave by 16 bits.
void bf16_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a, std::size_t lda,
                 std::uint16_t* dst_) {
  const std::size_t groups = (kc + 1) / 2, panel = kZmmMR * 4 * groups;
  auto* dst = reinterpret_cast<unsigned char*>(dst_);
  for (std::size_t r0 = 0; r0 < mc; r0 += kZmmMR, dst += panel) {
    const std::size_t m = min_sz(kZmmMR, mc - r0);
    if (!trans) {
      pack_contiguous_rows(reinterpret_cast<const unsigned char*>(a + r0 * lda), lda * 2, m, kc * 2, groups, dst,
                           kZmmMR, kZmmMR, keep);
      continue;
    }
    for (std::size_t g = 0; g < groups; ++g) {
      const std::uint16_t* k0 = a + 2 * g * lda + r0;
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask16(m), k0));
      const __m512i hi = 2 * g + 1 < kc ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask16(m), k0 + lda))
                                        : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(dst + g * kZmmMR * 4, kRowLanes, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// B: panels of 32 columns, 2 zmm per pair of k. Not transposed, two rows of
// k interleave by 16 bits (unpack within 128-bit lanes, then a qword
// permute puts the columns in order); transposed, a column's pairs are
// contiguous (dword transposes of 16 columns x 16 pairs).
void bf16_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst_) {
  const std::size_t groups = (kc + 1) / 2, panel = kZmmNR * 4 * groups;
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

void bf16_ukernel(std::size_t kc, const std::uint16_t* a, const std::uint16_t* b, float* acc, std::size_t ldacc,
                  bool load) {
  zmm_tile<bf16_dot>((kc + 1) / 2, reinterpret_cast<const unsigned char*>(a), reinterpret_cast<const unsigned char*>(b),
                     acc, ldacc, load, nullptr);
}

// ---- int8 x int8 -> int32 (vpdpbusd) --------------------------------------

struct s8_dot {
  static __m512i step(__m512i c, __m512i a, __m512i b) { return _mm512_dpbusd_epi32(c, a, b); }
};

std::size_t s8_a_bytes(std::size_t kc) { return lowp_round_up(kZmmMR * 4 * ((kc + 3) / 4), 64); }
std::size_t s8_b_bytes(std::size_t kc) { return kZmmNR * 4 * ((kc + 3) / 4) + kZmmNR * 4; }

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

// A: rows of 14, a quad per dword, biased (^ 0x80; padding becomes 0x80,
// code 0). The panel's bytes past its 14 * 4 * ceil(kc/4) are not written.
void s8_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst_) {
  const std::size_t groups = (kc + 3) / 4, panel = s8_a_bytes(kc);
  auto* dst = static_cast<unsigned char*>(dst_);
  const __m512i bias = _mm512_set1_epi32(static_cast<int>(0x80808080u));
  for (std::size_t r0 = 0; r0 < mc; r0 += kZmmMR, dst += panel) {
    const std::size_t m = min_sz(kZmmMR, mc - r0);
    if (!trans) {
      pack_contiguous_rows(reinterpret_cast<const unsigned char*>(a + r0 * lda), lda, m, kc, groups, dst, kZmmMR,
                           kZmmMR, [&](__m512i v) { return _mm512_xor_si512(v, bias); });
      continue;
    }
    for (std::size_t g = 0; g < groups; ++g)
      _mm512_mask_storeu_epi32(dst + g * kZmmMR * 4, kRowLanes,
                               _mm512_xor_si512(s8_quad_rows(a + 4 * g * lda + r0, lda, 4 * g, kc, m), bias));
  }
}

// B: panels of 32 columns, 2 zmm per quad of k, then the 32 corrections.
// Column sums come from the packed quads themselves: vpdpbusd with u8 ones.
void s8_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst_) {
  const std::size_t groups = (kc + 3) / 4, panel = s8_b_bytes(kc);
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
    for (std::size_t h = 0; h < 2; ++h)
      _mm512_store_si512(dst + groups * 128 + 64 * h, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum[h], 7)));
  }
}

void s8_ukernel(std::size_t kc, const void* a, const void* b_, std::int32_t* acc, std::size_t ldacc, bool load) {
  const std::size_t groups = (kc + 3) / 4;
  const auto* b = static_cast<const unsigned char*>(b_);
  zmm_tile<s8_dot>(groups, static_cast<const unsigned char*>(a), b, acc, ldacc, load, b + groups * 128);
}

}  // namespace

const gemm_bf16_kernels gemm_bf16_avx512_bf16 = {"gemm_bf16_14x32", kZmmMR, kZmmNR, bf16_pack_a, bf16_pack_b,
                                                 bf16_ukernel};
const gemm_s8_kernels gemm_s8_avx512_bf16 = {"gemm_s8_14x32_vnni", kZmmMR, kZmmNR, 4, s8_a_bytes, s8_b_bytes,
                                             s8_pack_a, s8_pack_b, s8_ukernel};

}  // namespace qkv::kern
