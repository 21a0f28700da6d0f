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
#include "kernels/gemm_lowp/gemm_lowp_zmm_pack-inl.hpp"

namespace qkv::kern {
namespace {

constexpr __mmask16 kRowLanes = (1u << kZmmMR) - 1;  // the 14 lanes of an A group vector

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

void bf16_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst) {
  bf16_pack_b_panels(trans, kc, nc, b, ldb, dst, kZmmNR * 4 * ((kc + 1) / 2));
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

void s8_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst) {
  s8_pack_b_panels<true>(trans, kc, nc, b, ldb, dst, s8_b_bytes(kc));
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
