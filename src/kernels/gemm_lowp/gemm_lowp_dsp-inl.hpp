// SPDX-License-Identifier: MIT
// gemm_lowp_dsp-inl.hpp - the int8 micro-kernel of the scalar set on cores
// with the Armv7E-M / Armv8-M DSP extension (__ARM_FEATURE_DSP: Cortex-M4,
// M7, M33, M55; also Armv7-A), which gemm_lowp_scalar.cpp picks at compile
// time in place of the portable tile (the plain C kernel stays the scalar
// set everywhere else, and the host suite tests it). Contract:
// gemm_lowp.hpp; k grouped in quads (kg 4), but the panels hold the codes
// already widened to the int16 pairs SMLAD takes, so the loop does no
// unpacking:
//   per quad and row (A) or column (B), two 32-bit words: (k0, k2) and
//   (k1, k3), each an int16 pair (low half first): what SXTB16 and SXTB16
//   ROR 8 make of the quad's four codes. An R-wide panel of depth kc holds
//   round_up(kc, 4) / 4 quads of R such word pairs, 8 * R bytes each, then
//   zero bytes up to a multiple of 64; codes past kc and rows past n are 0.
// The widening is paid once per packed element (an A block is reused by
// every column panel, a B panel by every row panel), not once per tile.
//
// The 2x2 tile: per quad one 64-bit load (LDRD) per row and column and two
// SMLAD per product pair: 4 loads and 8 SMLAD for 16 MACs. SMLAD's addition
// is modulo 2^32 (it sets the Q flag on overflow and wraps) and int16 x
// int16 products of int8 codes are exact, so the sums are the contract's
// exact wrapping int32; integer addition is associative, so the order within
// the quad changes no bit. Registers: 4 accumulators, 4 words of A, 2 of a
// B column, 2 pointers and the count: 13 core registers, no spills.
#pragma once

#include <arm_acle.h>

#include <cstddef>
#include <cstdint>

#include "kernels/gemm_lowp/dsp_words-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

#if !defined(__ARM_FEATURE_DSP)
#error "gemm_lowp_dsp-inl.hpp needs the Arm DSP extension (SMLAD, SXTB16)"
#endif

namespace qkv::kern {
namespace {

// One row's or column's quad as SMLAD operands.
struct dsp_pair {
  int16x2_t even, odd;  // (k0, k2) and (k1, k3)
};

// Bytes of one widened panel of R rows or columns, depth kc.
template <std::size_t R>
std::size_t s8_dsp_panel_bytes(std::size_t kc) {
  return lowp_round_up(R * 2 * lowp_round_up(kc, kS8Kg), 64);
}

// Four codes, k to k + 3 at stride ks, as one word (code k in the low byte).
inline std::uint32_t dsp_gather4(const std::int8_t* p, std::size_t ks) {
  if (ks == 1) return dsp_word(reinterpret_cast<const unsigned char*>(p));
  return static_cast<std::uint8_t>(p[0]) | std::uint32_t{static_cast<std::uint8_t>(p[ks])} << 8 |
         std::uint32_t{static_cast<std::uint8_t>(p[2 * ks])} << 16 |
         std::uint32_t{static_cast<std::uint8_t>(p[3 * ks])} << 24;
}

// Packs R-wide widened panels: element (r, k) of the panel is
// src[r*rs + k*ks] (as lowp_pack_panels). The panel is zeroed, then each
// existing row's quads are read as words (dsp_gather4; the last, partial
// quad code by code) and split by SXTB16. The source pointer is only ever
// formed for elements that exist.
template <std::size_t R>
void s8_dsp_pack_panels(std::size_t n_total, std::size_t kc, const std::int8_t* src, std::size_t rs, std::size_t ks,
                        void* dst_) {
  auto* dst = static_cast<unsigned char*>(dst_);
  const std::size_t full = kc / kS8Kg, bytes = s8_dsp_panel_bytes<R>(kc);
  for (std::size_t r0 = 0; r0 < n_total; r0 += R, dst += bytes) {
    auto* z = reinterpret_cast<dsp_pair*>(dst);  // zeroed by a loop: the library calls no memset
    for (std::size_t i = 0; i < bytes / sizeof(dsp_pair); ++i) z[i].even = z[i].odd = 0;
    for (std::size_t r = 0; r < R && r0 + r < n_total; ++r) {
      const std::int8_t* p = src + (r0 + r) * rs;
      auto* d = reinterpret_cast<dsp_pair*>(dst) + r;
      for (std::size_t g = 0; g < full; ++g, d += R) {
        const std::uint32_t w = dsp_gather4(p + g * kS8Kg * ks, ks);
        d->even = dsp_even(w), d->odd = dsp_odd(w);
      }
      if (const std::size_t left = kc - full * kS8Kg) {
        const std::int8_t* q = p + full * kS8Kg * ks;
        std::uint32_t w = 0;
        for (std::size_t t = left; t--;) w = w << 8 | static_cast<std::uint8_t>(q[t * ks]);
        d->even = dsp_even(w), d->odd = dsp_odd(w);
      }
    }
  }
}

template <std::size_t MR>
void s8_dsp_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst) {
  s8_dsp_pack_panels<MR>(mc, kc, a, trans ? 1 : lda, trans ? lda : 1, dst);
}

template <std::size_t NR>
void s8_dsp_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst) {
  s8_dsp_pack_panels<NR>(nc, kc, b, trans ? ldb : 1, trans ? 1 : ldb, dst);
}

// acc[2 x 2] = (load ? acc : 0) + A panel . B panel, int32 wrapping.
void s8_dsp_ukernel_2x2(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                        bool load) {
  const auto* a = static_cast<const dsp_pair*>(a_);
  const auto* b = static_cast<const dsp_pair*>(b_);
  std::int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0;
  if (load) c00 = acc[0], c01 = acc[1], c10 = acc[ldacc], c11 = acc[ldacc + 1];
  std::size_t g = (kc + kS8Kg - 1) / kS8Kg;
#if defined(__thumb2__)
  // GCC keeps neither the count nor the pointers in registers here (-Os
  // spills and reloads them every quad), so the loop is written out: 14
  // instructions per quad (16 MACs). Thumb-2 only: its LDRD takes any two
  // registers (ARM state's needs an even/odd pair, which no constraint names).
  if (g) {
    int16x2_t x0, x1, x2, x3, y0, y1;
    __asm__ volatile(
        "1:\n\t"
        "ldrd %[x0], %[x1], [%[a]], #8\n\t"
        "ldrd %[x2], %[x3], [%[a]], #8\n\t"
        "ldrd %[y0], %[y1], [%[b]], #8\n\t"
        "smlad %[c00], %[x0], %[y0], %[c00]\n\t"
        "smlad %[c00], %[x1], %[y1], %[c00]\n\t"
        "smlad %[c10], %[x2], %[y0], %[c10]\n\t"
        "smlad %[c10], %[x3], %[y1], %[c10]\n\t"
        "ldrd %[y0], %[y1], [%[b]], #8\n\t"
        "smlad %[c01], %[x0], %[y0], %[c01]\n\t"
        "smlad %[c01], %[x1], %[y1], %[c01]\n\t"
        "smlad %[c11], %[x2], %[y0], %[c11]\n\t"
        "smlad %[c11], %[x3], %[y1], %[c11]\n\t"
        "subs %[g], %[g], #1\n\t"
        "bne 1b"
        : [c00] "+r"(c00), [c01] "+r"(c01), [c10] "+r"(c10), [c11] "+r"(c11), [a] "+r"(a), [b] "+r"(b), [g] "+r"(g),
          [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [y0] "=&r"(y0), [y1] "=&r"(y1)
        :
        : "cc", "memory");
  }
#else
  for (; g; --g, a += 2, b += 2) {
    const dsp_pair a0 = a[0], a1 = a[1], b0 = b[0], b1 = b[1];
    c00 = __smlad(a0.even, b0.even, c00);
    c00 = __smlad(a0.odd, b0.odd, c00);
    c10 = __smlad(a1.even, b0.even, c10);
    c10 = __smlad(a1.odd, b0.odd, c10);
    c01 = __smlad(a0.even, b1.even, c01);
    c01 = __smlad(a0.odd, b1.odd, c01);
    c11 = __smlad(a1.even, b1.even, c11);
    c11 = __smlad(a1.odd, b1.odd, c11);
  }
#endif
  acc[0] = c00, acc[1] = c01, acc[ldacc] = c10, acc[ldacc + 1] = c11;
}

// The DSP int8 table (mr = nr = 2, widened panels), name "gemm_s8_2x2_dsp".
constexpr gemm_s8_kernels make_gemm_s8_dsp_kernels() {
  return {
      "gemm_s8_2x2_dsp", 2, 2, kS8Kg, s8_dsp_panel_bytes<2>, s8_dsp_panel_bytes<2>, s8_dsp_pack_a<2>, s8_dsp_pack_b<2>,
      s8_dsp_ukernel_2x2};
}

}  // namespace
}  // namespace qkv::kern
