// SPDX-License-Identifier: MIT
// avx512's int8 table (AVX-512 without VNNI: Skylake-X/SP), compiled with
// avx512's flags only (the *_avx512.cpp rule in src/CMakeLists.txt): the
// portable packers and panels (plain codes, kg 4) with an intrinsic 8x16
// tile on vpmaddwd, as avx2's (gemm_lowp_avx2.cpp) on zmm: codes widened to
// int16, pair sums |a0 b0 + a1 b1| <= 2^15 exact in int32, lanes wrapping as
// the contract allows. (avx512_bf16 has its own VNNI tile.)
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 8, kNR = 16;  // 16 accumulators + 2 B + the A broadcast

template <class F, std::size_t... I>
inline void unroll(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

// Each row keeps two accumulators of 8 columns x 2 half-sums (lane 2c: k0 k1
// of column c, lane 2c+1: k2 k3); at the end each qword's two halves are
// added and the 16 low dwords gathered in column order.
void s8_ukernel_8x16(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                     bool load) {
  const auto* a = static_cast<const unsigned char*>(a_);
  const auto* b = static_cast<const unsigned char*>(b_);
  __m512i c[kMR][2];
  unroll([&](auto i) { c[i][0] = c[i][1] = _mm512_setzero_si512(); }, std::make_index_sequence<kMR>{});
  const std::size_t groups = (kc + kS8Kg - 1) / kS8Kg;
  for (std::size_t g = 0; g < groups; ++g, a += kMR * kS8Kg, b += kNR * kS8Kg) {
    // Columns 0-7 and 8-15 as int16 quads (32-byte groups).
    const __m512i b0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
    const __m512i b1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32)));
    unroll(
        [&](auto i) {
          // Row i's quad broadcast (vpbroadcastd from memory), widened.
          std::int32_t q;
          std::memcpy(&q, a + i * kS8Kg, 4);
          const __m512i ai = _mm512_cvtepi8_epi16(_mm256_set1_epi32(q));
          c[i][0] = _mm512_add_epi32(c[i][0], _mm512_madd_epi16(ai, b0));
          c[i][1] = _mm512_add_epi32(c[i][1], _mm512_madd_epi16(ai, b1));
        },
        std::make_index_sequence<kMR>{});
  }
  // (The zero-masked shift keeping every lane is the plain one: GCC 12's
  // unmasked form passes an undefined merge source -Wuninitialized reports.)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  unroll(
      [&](auto i) {
        const __m512i x = _mm512_add_epi32(c[i][0], _mm512_maskz_srli_epi64(0xFF, c[i][0], 32));
        const __m512i y = _mm512_add_epi32(c[i][1], _mm512_maskz_srli_epi64(0xFF, c[i][1], 32));
        __m512i s = _mm512_permutex2var_epi32(x, even, y);
        std::int32_t* row = acc + i * ldacc;
        if (load) s = _mm512_add_epi32(s, _mm512_loadu_si512(row));
        _mm512_storeu_si512(row, s);
      },
      std::make_index_sequence<kMR>{});
}

}  // namespace

const gemm_s8_kernels gemm_s8_avx512 = {"gemm_s8_8x16",
                                        kMR,
                                        kNR,
                                        kS8Kg,
                                        s8_plain_panel_bytes<kMR>,
                                        s8_plain_panel_bytes<kNR>,
                                        s8_plain_pack_a<kMR>,
                                        s8_plain_pack_b<kNR>,
                                        s8_ukernel_8x16};

}  // namespace qkv::kern
