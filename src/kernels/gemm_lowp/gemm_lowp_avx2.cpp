// SPDX-License-Identifier: MIT
// avx2's int8 table, compiled with avx2's flags only (the *_avx2.cpp rule in
// src/CMakeLists.txt): the portable packers and panels (plain codes, kg 4),
// with an intrinsic 4x8 tile on vpmaddwd. AVX2 has no exact byte dot
// product (vpmaddubsw saturates its 16-bit pair sums), so codes are widened
// to int16 and vpmaddwd sums pairs into int32: |a0 b0 + a1 b1| <= 2^15,
// exact; the int32 lanes wrap as the contract allows.
#include <immintrin.h>

#include <type_traits>
#include <utility>

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 4, kNR = 8;  // 8 accumulators + 2 B + A + its broadcast

template <class F, std::size_t... I>
inline void unroll(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

// Each row keeps two accumulators of 4 columns x 2 half-sums (lane 2c: k0 k1
// of column c, lane 2c+1: k2 k3), so no horizontal add in the k loop; one
// vphaddd per row pair of vectors at the end gives the 8 column sums.
void s8_ukernel_4x8(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                    bool load) {
  const auto* a = static_cast<const unsigned char*>(a_);
  const auto* b = static_cast<const unsigned char*>(b_);
  __m256i c[kMR][2];
  unroll([&](auto i) { c[i][0] = c[i][1] = _mm256_setzero_si256(); }, std::make_index_sequence<kMR>{});
  const std::size_t groups = (kc + kS8Kg - 1) / kS8Kg;
  for (std::size_t g = 0; g < groups; ++g, a += kMR * kS8Kg, b += kNR * kS8Kg) {
    // Columns 0-3 and 4-7, and the 4 rows, as int16 quads (a 16-byte group
    // each). A 6-row tile measured slower: GCC spilled 9 of its 12
    // accumulators.
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
    const __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16)));
    const __m256i a03 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
    unroll(
        [&](auto i) {
          // Row i's quad in every 64-bit lane.
          const __m256i ai = _mm256_permute4x64_epi64(a03, i * 0x55);
          c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(ai, b0));
          c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(ai, b1));
        },
        std::make_index_sequence<kMR>{});
  }
  unroll(
      [&](auto i) {
        // hadd: (c0 c1 c4 c5 | c2 c3 c6 c7); the qword permute puts them in order.
        __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(c[i][0], c[i][1]), 0xD8);
        auto* row = reinterpret_cast<__m256i*>(acc + i * ldacc);
        if (load) s = _mm256_add_epi32(s, _mm256_loadu_si256(row));
        _mm256_storeu_si256(row, s);
      },
      std::make_index_sequence<kMR>{});
}

}  // namespace

const gemm_s8_kernels gemm_s8_avx2 = {"gemm_s8_4x8",
                                      kMR,
                                      kNR,
                                      kS8Kg,
                                      s8_plain_panel_bytes<kMR>,
                                      s8_plain_panel_bytes<kNR>,
                                      s8_plain_pack_a<kMR>,
                                      s8_plain_pack_b<kNR>,
                                      s8_ukernel_4x8};

}  // namespace qkv::kern
