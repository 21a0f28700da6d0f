// SPDX-License-Identifier: MIT
// gemm_lowp-inl.hpp - the portable reduced-precision kernel tables (layouts
// and contract: gemm_lowp.hpp). Plain C++, no xsimd: each ISA's file
// instantiates it with its own flags and the compiler vectorises the column
// loops (scalar, sse2, neon, neon64 use it whole; avx2 and avx512 keep the
// packers and panels under intrinsic tiles, gemm_lowp_<isa>.cpp). int8 codes
// are stored as they are (no bias, no corrections); bf16 has no dot product
// here ("none": the driver widens to fp32). Include inside per-ISA
// translation units only: everything has internal linkage
// (scripts/check-isa-objects.sh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_lowp/gemm_lowp.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kS8Kg = 4;  // int8: a quad of k per 32-bit lane

inline constexpr std::size_t lowp_round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

// One panel of R rows (A) or columns (B), kc deep, k grouped by KG (4, or 8
// for SMMLA's 2x8 operands): the data bytes R * round_up(kc, KG), the panel
// rounded up to 64 bytes.
template <std::size_t R, std::size_t KG = kS8Kg>
std::size_t s8_plain_panel_bytes(std::size_t kc) {
  return lowp_round_up(R * lowp_round_up(kc, KG), 64);
}

// Packs R-wide panels of an operand, k grouped by KG: element (r, k) of the
// panel (row r of op(A), or column r of op(B)) is src[r*rs + k*ks], stored at
// (k/KG)*R*KG + r*KG + k%KG; a panel is panel_elems long. Rows past n and k
// past kc (up to the panel's padded size) are zero codes. Both A and B use
// it: op(A)(i,k) has rs = lda (ks = 1) or, transposed, rs = 1 (ks = lda);
// op(B)(k,j) has ks = ldb, rs = 1 or, transposed, rs = ldb, ks = 1.
template <class T, std::size_t R, std::size_t KG>
void lowp_pack_panels(std::size_t n_total, std::size_t kc, const T* src, std::size_t rs, std::size_t ks, T* dst,
                      std::size_t panel_elems) {
  // src + r0 * rs per panel, never advanced past the last row: with one row
  // and a huge leading dimension, one more step would overflow the pointer.
  for (std::size_t r0 = 0; r0 < n_total; r0 += R, dst += panel_elems) {
    const std::size_t n = n_total - r0 < R ? n_total - r0 : R;
    const T* p = src + r0 * rs;
    for (std::size_t i = 0; i < panel_elems; ++i) dst[i] = 0;
    for (std::size_t k = 0; k < kc; ++k) {
      T* d = dst + (k / KG) * R * KG + k % KG;
      for (std::size_t r = 0; r < n; ++r) d[r * KG] = p[r * rs + k * ks];
    }
  }
}

// int8 panels, each s8_plain_panel_bytes<R, KG>(kc) long.
template <std::size_t R, std::size_t KG = kS8Kg>
void s8_pack_panels(std::size_t n_total, std::size_t kc, const std::int8_t* src, std::size_t rs, std::size_t ks,
                    std::int8_t* dst) {
  lowp_pack_panels<std::int8_t, R, KG>(n_total, kc, src, rs, ks, dst, s8_plain_panel_bytes<R, KG>(kc));
}

template <std::size_t MR, std::size_t KG = kS8Kg>
void s8_plain_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst) {
  s8_pack_panels<MR, KG>(mc, kc, a, trans ? 1 : lda, trans ? lda : 1, static_cast<std::int8_t*>(dst));
}

template <std::size_t NR, std::size_t KG = kS8Kg>
void s8_plain_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst) {
  s8_pack_panels<NR, KG>(nc, kc, b, trans ? ldb : 1, trans ? 1 : ldb, static_cast<std::int8_t*>(dst));
}

// Code q (0..3) of a group read as a 32-bit word, sign-extended by a shift
// left and an arithmetic shift right: lane-wise operations the compiler
// vectorises across columns (bytes read at stride 4 became scalar loads).
// (Both shifts are modular / arithmetic on every compiler qkv supports, and
// defined so from C++20.)
inline std::int32_t s8_code(std::uint32_t word, unsigned q) {
  return static_cast<std::int32_t>(word << (24 - 8 * q)) >> 24;
}

// acc[MR x NR] = (load ? acc : 0) + A.B over round_up(kc, 4) (the padding
// is zero codes). Per group, B's NR words are split into 4 int32 column
// vectors, then MR x 4 broadcast multiply-adds of NR lanes; the tile stays in
// registers where it fits. The sums are computed in unsigned arithmetic:
// wrapping modulo 2^32 is the contract, and signed overflow would be
// undefined.
template <std::size_t MR, std::size_t NR>
void s8_plain_ukernel(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                      bool load) {
  const auto* a = static_cast<const unsigned char*>(a_);
  const auto* b = static_cast<const unsigned char*>(b_);
  std::uint32_t c[MR][NR];
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NR; ++j) c[i][j] = load ? static_cast<std::uint32_t>(acc[i * ldacc + j]) : 0u;
  const std::size_t groups = (kc + kS8Kg - 1) / kS8Kg;
  for (std::size_t g = 0; g < groups; ++g, a += MR * kS8Kg, b += NR * kS8Kg) {
    std::uint32_t bw[NR], aw[MR];
    std::memcpy(bw, b, sizeof bw);
    std::memcpy(aw, a, sizeof aw);
    std::uint32_t bq[kS8Kg][NR];
#pragma GCC unroll 4
    for (unsigned q = 0; q < kS8Kg; ++q)
      for (std::size_t j = 0; j < NR; ++j) bq[q][j] = static_cast<std::uint32_t>(s8_code(bw[j], q));
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (unsigned q = 0; q < kS8Kg; ++q) {
        const auto av = static_cast<std::uint32_t>(s8_code(aw[i], q));
        for (std::size_t j = 0; j < NR; ++j) c[i][j] += av * bq[q][j];
      }
  }
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NR; ++j) acc[i * ldacc + j] = static_cast<std::int32_t>(c[i][j]);
}

// The portable int8 table with an MR x NR tile; name "gemm_s8_<MR>x<NR>".
template <std::size_t MR, std::size_t NR>
constexpr gemm_s8_kernels make_gemm_s8_kernels(const char* name) {
  return {name,
          MR,
          NR,
          kS8Kg,
          s8_plain_panel_bytes<MR>,
          s8_plain_panel_bytes<NR>,
          s8_plain_pack_a<MR>,
          s8_plain_pack_b<NR>,
          s8_plain_ukernel<MR, NR>};
}

// No bf16 dot product on this ISA: the driver widens bf16 to fp32.
constexpr gemm_bf16_kernels kGemmBf16None = {"none", 0, 0, nullptr, nullptr, nullptr};

}  // namespace
}  // namespace qkv::kern
