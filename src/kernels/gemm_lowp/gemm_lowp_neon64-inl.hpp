// SPDX-License-Identifier: MIT
// gemm_lowp_neon64-inl.hpp - the AArch64 by-element dot-product tile of
// neon64_dot and neon64_bf16 (gemm_lowp_neon64_dot.cpp,
// gemm_lowp_neon64_bf16.cpp; layouts and contract: gemm_lowp.hpp). Both
// kinds' packed k groups are 4 bytes per row or column (an int8 quad, a bf16
// pair), so one tile serves SDOT and BFDOT: per group, A is MR/4 q registers
// (4 rows each), B NR/4 (4 columns each), and row i's accumulators take lane
// i%4 of A register i/4 (vdotq_laneq_s32, vbfdotq_laneq_f32). Include inside
// those per-ISA translation units only: internal linkage, as
// gemm_lowp-inl.hpp.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

#if !defined(__aarch64__) || !defined(__ARM_FEATURE_DOTPROD)
#error "gemm_lowp_neon64-inl.hpp needs an AArch64 target with the dot product (+dotprod)"
#endif

namespace qkv::kern {
namespace {

template <class F, std::size_t... I>
inline void neon_unroll(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

// int8 x int8 -> int32 (SDOT): four products per lane summed into the int32
// accumulator, wrapping modulo 2^32 (the contract's arithmetic; SDOT does
// not saturate).
struct sdot_step {
  using vec = int32x4_t;
  using value = std::int32_t;
  static vec zero() { return vdupq_n_s32(0); }
  static vec load(const value* p) { return vld1q_s32(p); }
  static void store(value* p, vec v) { vst1q_s32(p, v); }
  template <int L>
  static vec step(vec c, uint8x16_t b, uint8x16_t a) {
    return vdotq_laneq_s32(c, vreinterpretq_s8_u8(b), vreinterpretq_s8_u8(a), L);
  }
};

// acc[MR x NR] = (load ? acc : 0) + A panel . B panel over `groups` k
// groups (each MR * 4 bytes of A, NR * 4 of B). MR and NR are multiples of
// 4; MR * NR / 4 accumulators + MR/4 + NR/4 operands must fit the 32 q
// registers. Every element takes its groups in k order, one dot step each,
// whichever tile computes it.
template <class Dot, std::size_t MR, std::size_t NR>
void dot_tile(std::size_t groups, const unsigned char* a, const unsigned char* b, typename Dot::value* acc,
              std::size_t ldacc, bool load) {
  static_assert(MR % 4 == 0 && NR % 4 == 0, "whole q registers of rows and columns");
  constexpr std::size_t AV = MR / 4, NV = NR / 4;
  static_assert(MR * NV + AV + NV <= 32, "the tile must fit the register file");
  using V = typename Dot::vec;
  V c[MR][NV];
  neon_unroll(
      [&](auto i) {
        neon_unroll([&](auto v) { c[i][v] = load ? Dot::load(acc + i * ldacc + 4 * v) : Dot::zero(); },
                    std::make_index_sequence<NV>{});
      },
      std::make_index_sequence<MR>{});
  for (std::size_t g = 0; g < groups; ++g, a += MR * 4, b += NR * 4) {
    uint8x16_t av[AV], bv[NV];
    neon_unroll([&](auto r) { av[r] = vld1q_u8(a + 16 * r); }, std::make_index_sequence<AV>{});
    neon_unroll([&](auto v) { bv[v] = vld1q_u8(b + 16 * v); }, std::make_index_sequence<NV>{});
    neon_unroll(
        [&](auto i) {
          neon_unroll([&](auto v) { c[i][v] = Dot::template step<int(i % 4)>(c[i][v], bv[v], av[i / 4]); },
                      std::make_index_sequence<NV>{});
        },
        std::make_index_sequence<MR>{});
  }
  neon_unroll(
      [&](auto i) {
        neon_unroll([&](auto v) { Dot::store(acc + i * ldacc + 4 * v, c[i][v]); }, std::make_index_sequence<NV>{});
      },
      std::make_index_sequence<MR>{});
}

// The int8 table on SDOT with an MR x NR tile: the portable packers and
// panels (plain codes, kg 4), name "gemm_s8_<MR>x<NR>_dot".
template <std::size_t MR, std::size_t NR>
void s8_sdot_ukernel(std::size_t kc, const void* a, const void* b, std::int32_t* acc, std::size_t ldacc, bool load) {
  dot_tile<sdot_step, MR, NR>((kc + kS8Kg - 1) / kS8Kg, static_cast<const unsigned char*>(a),
                              static_cast<const unsigned char*>(b), acc, ldacc, load);
}

template <std::size_t MR, std::size_t NR>
constexpr gemm_s8_kernels make_gemm_s8_sdot_kernels(const char* name) {
  return {name,
          MR,
          NR,
          kS8Kg,
          s8_plain_panel_bytes<MR>,
          s8_plain_panel_bytes<NR>,
          s8_plain_pack_a<MR>,
          s8_plain_pack_b<NR>,
          s8_sdot_ukernel<MR, NR>};
}

}  // namespace
}  // namespace qkv::kern
