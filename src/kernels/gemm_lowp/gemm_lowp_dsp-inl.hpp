// SPDX-License-Identifier: MIT
// gemm_lowp_dsp-inl.hpp - the int8 micro-kernel of the scalar set on cores
// with the Armv7E-M / Armv8-M DSP extension (__ARM_FEATURE_DSP: Cortex-M4,
// M7, M33, M55; also Armv7-A), which gemm_lowp_scalar.cpp picks at compile
// time in place of the portable tile (the plain C kernel stays the scalar
// set everywhere else, and the host suite tests it). Layouts, packers and
// contract are gemm_lowp-inl.hpp's: plain codes, k in quads, one 32-bit word
// per row or column and quad.
//
// Per quad, SXTB16 splits a word into two int16 pairs, (k0, k2) and, with
// its rotation by 8, (k1, k3); SMLAD adds both products of a pair to an
// int32: 4 MACs of a row and a column in two SMLAD, 4 SXTB16 per word shared
// by the tile's row or column. SMLAD's addition is modulo 2^32 (it sets the
// Q flag on overflow and wraps), and int16 x int16 products of int8 codes
// are exact, so the sums are the contract's exact wrapping int32; integer
// addition is associative, so the order within the quad changes no bit.
//
// The 2x2 tile: 4 accumulators, 4 unpacked A halves, 2 of a B column, 3
// pointers/counters: the 13 usable core registers, no spills in the loop.
#pragma once

#include <arm_acle.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/gemm_lowp/dsp_words-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

#if !defined(__ARM_FEATURE_DSP)
#error "gemm_lowp_dsp-inl.hpp needs the Arm DSP extension (SMLAD, SXTB16)"
#endif

namespace qkv::kern {
namespace {

// acc[2 x 2] = (load ? acc : 0) + A panel . B panel, int32 wrapping.
void s8_dsp_ukernel_2x2(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                        bool load) {
  const auto* a = static_cast<const unsigned char*>(a_);
  const auto* b = static_cast<const unsigned char*>(b_);
  std::int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0;
  if (load) c00 = acc[0], c01 = acc[1], c10 = acc[ldacc], c11 = acc[ldacc + 1];
  for (std::size_t g = (kc + kS8Kg - 1) / kS8Kg; g; --g, a += 2 * kS8Kg, b += 2 * kS8Kg) {
    const std::uint32_t a0 = dsp_word(a), a1 = dsp_word(a + 4);
    const int16x2_t a0e = dsp_even(a0), a0o = dsp_odd(a0);
    const int16x2_t a1e = dsp_even(a1), a1o = dsp_odd(a1);
    const std::uint32_t b0 = dsp_word(b);
    const int16x2_t b0e = dsp_even(b0), b0o = dsp_odd(b0);
    c00 = __smlad(a0e, b0e, c00), c00 = __smlad(a0o, b0o, c00);
    c10 = __smlad(a1e, b0e, c10), c10 = __smlad(a1o, b0o, c10);
    const std::uint32_t b1 = dsp_word(b + 4);
    const int16x2_t b1e = dsp_even(b1), b1o = dsp_odd(b1);
    c01 = __smlad(a0e, b1e, c01), c01 = __smlad(a0o, b1o, c01);
    c11 = __smlad(a1e, b1e, c11), c11 = __smlad(a1o, b1o, c11);
  }
  acc[0] = c00, acc[1] = c01, acc[ldacc] = c10, acc[ldacc + 1] = c11;
}

// The DSP int8 table: the portable packers (mr = nr = 2), name
// "gemm_s8_2x2_dsp".
constexpr gemm_s8_kernels make_gemm_s8_dsp_kernels() {
  return {"gemm_s8_2x2_dsp", 2, 2, kS8Kg, s8_plain_panel_bytes<2>, s8_plain_panel_bytes<2>, s8_plain_pack_a<2>,
          s8_plain_pack_b<2>, s8_dsp_ukernel_2x2};
}

}  // namespace
}  // namespace qkv::kern
