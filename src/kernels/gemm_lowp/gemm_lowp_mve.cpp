// SPDX-License-Identifier: MIT
// The reduced-precision tables of mve (Helium, Cortex-M55/M85; layouts and
// contract: gemm_lowp.hpp). Plain codes, k grouped 16 at a time: a row's or
// a column's 16 codes of a group are one Q register.
//   gemm_s8_4x2_mve: per group, 6 vector loads and 8 VMLADAVA.S8 (16
//   products summed into a core-register accumulator, modulo 2^32: exact
//   wrapping int32, the contract's; integer sums in any order give the same
//   bits). VMLADAVA takes even core registers only (r0..r14): 8
//   accumulators, the pointers and the loop count in the odd ones (GCC adds
//   a few moves). 4x2 rather than 3x2: fewer tiles per product, and the
//   driver's per-tile work is much of the cost at small K (figures:
//   bench/README.md).
// No bf16 dot product in MVE: the driver widens bf16 to fp32.
#include <arm_mve.h>

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMveKg = 16;  // one Q register of int8 codes per row or column

// acc[4 x 2] = (load ? acc : 0) + A panel . B panel, int32 wrapping. The
// loop is written out: VMLADAVA takes even core registers only, and GCC
// keeps some accumulators in odd ones, moving them through r0 around every
// VMLADAVA (24 instructions a group instead of 16). Here the 8 accumulators
// are pinned to r0, r2, ..., r12 and lr (so the count is a SUBS/BNE pair in
// an odd register, not LE); per group 6 post-incremented loads and 8
// VMLADAVA.S8, loads interleaved with the sums that use them.
void s8_mve_ukernel_4x2(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                        bool load) {
  std::int32_t* r1p = acc + ldacc;
  std::int32_t* r2p = r1p + ldacc;
  std::int32_t* r3p = r2p + ldacc;
  register std::int32_t c00 __asm__("r0") = load ? acc[0] : 0;
  register std::int32_t c01 __asm__("r2") = load ? acc[1] : 0;
  register std::int32_t c10 __asm__("r4") = load ? r1p[0] : 0;
  register std::int32_t c11 __asm__("r6") = load ? r1p[1] : 0;
  register std::int32_t c20 __asm__("r8") = load ? r2p[0] : 0;
  register std::int32_t c21 __asm__("r10") = load ? r2p[1] : 0;
  register std::int32_t c30 __asm__("r12") = load ? r3p[0] : 0;
  register std::int32_t c31 __asm__("lr") = load ? r3p[1] : 0;
  register const void* a __asm__("r1") = a_;
  register const void* b __asm__("r3") = b_;
  register std::size_t g __asm__("r5") = (kc + kMveKg - 1) / kMveKg;
  if (g)
    __asm__ volatile(
        "1:\n\t"
        "vldrb.u8 q0, [%[b]], #16\n\t"
        "vldrb.u8 q1, [%[b]], #16\n\t"
        "vldrb.u8 q2, [%[a]], #16\n\t"
        "vmladava.s8 %[c00], q2, q0\n\t"
        "vmladava.s8 %[c01], q2, q1\n\t"
        "vldrb.u8 q3, [%[a]], #16\n\t"
        "vmladava.s8 %[c10], q3, q0\n\t"
        "vmladava.s8 %[c11], q3, q1\n\t"
        "vldrb.u8 q2, [%[a]], #16\n\t"
        "vmladava.s8 %[c20], q2, q0\n\t"
        "vmladava.s8 %[c21], q2, q1\n\t"
        "vldrb.u8 q3, [%[a]], #16\n\t"
        "vmladava.s8 %[c30], q3, q0\n\t"
        "vmladava.s8 %[c31], q3, q1\n\t"
        "subs %[g], %[g], #1\n\t"
        "bne 1b"
        : [c00] "+r"(c00), [c01] "+r"(c01), [c10] "+r"(c10), [c11] "+r"(c11), [c20] "+r"(c20), [c21] "+r"(c21),
          [c30] "+r"(c30), [c31] "+r"(c31), [a] "+r"(a), [b] "+r"(b), [g] "+r"(g)
        :
        : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "cc", "memory");
  acc[0] = c00, acc[1] = c01, r1p[0] = c10, r1p[1] = c11, r2p[0] = c20, r2p[1] = c21, r3p[0] = c30, r3p[1] = c31;
}

// Packs R-wide panels as s8_pack_panels<R, 16> (same bytes), a row's or
// column's 16 codes of a group per vector: element (r, k) is
// src[r*rs + k*ks]. Contiguous codes (ks 1: A, or B transposed) are one
// predicated load per group; strided ones (rs 1: A transposed, B) two
// 8-lane byte gathers of 16-bit offsets k*ks, narrowed on the store, while
// 7*ks fits 16 bits (the portable packer beyond). k past kc and rows past n
// are zero codes (zeroing predicated loads), as are the panel's padding
// bytes.
template <std::size_t R>
void s8_mve_pack_panels(std::size_t n_total, std::size_t kc, const std::int8_t* src, std::size_t rs,
                        std::size_t ks, std::int8_t* dst) {
  if (ks != 1 && (rs != 1 || ks > 65535 / 7)) {
    s8_pack_panels<R, kMveKg>(n_total, kc, src, rs, ks, dst);
    return;
  }
  const std::size_t groups = (kc + kMveKg - 1) / kMveKg, panel = s8_plain_panel_bytes<R, kMveKg>(kc);
  const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0u, 1), static_cast<std::uint16_t>(ks));
  for (std::size_t r0 = 0; r0 < n_total; r0 += R, dst += panel) {
    const std::size_t n = n_total - r0 < R ? n_total - r0 : R;
    for (std::size_t r = 0; r < R; ++r) {
      const std::int8_t* p = src + (r0 + (r < n ? r : 0)) * rs;  // never past the last row
      std::int8_t* d = dst + r * kMveKg;
      for (std::size_t g = 0; g < groups; ++g, d += R * kMveKg) {
        const std::size_t left = r < n ? kc - g * kMveKg : 0;  // codes of this group (16 or more: all)
        if (ks == 1) {
          vstrbq_s8(d, vldrbq_z_s8(p + g * kMveKg, vctp8q(static_cast<std::uint32_t>(left))));
        } else {
          const std::int8_t* q = p + g * kMveKg * ks;
          vstrbq_s16(d, vldrbq_gather_offset_z_s16(q, offs, vctp16q(static_cast<std::uint32_t>(left))));
          const std::uint32_t hi = left > 8 ? static_cast<std::uint32_t>(left - 8) : 0u;
          // The second half's base only where it has codes: never past the operand.
          vstrbq_s16(d + 8, hi ? vldrbq_gather_offset_z_s16(q + 8 * ks, offs, vctp16q(hi)) : vdupq_n_s16(0));
        }
      }
    }
    for (std::size_t e = groups * R * kMveKg; e < panel; e += kMveKg) vstrbq_s8(dst + e, vdupq_n_s8(0));
  }
}

template <std::size_t MR>
void s8_mve_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst) {
  s8_mve_pack_panels<MR>(mc, kc, a, trans ? 1 : lda, trans ? lda : 1, static_cast<std::int8_t*>(dst));
}

template <std::size_t NR>
void s8_mve_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst) {
  s8_mve_pack_panels<NR>(nc, kc, b, trans ? ldb : 1, trans ? 1 : ldb, static_cast<std::int8_t*>(dst));
}

constexpr std::size_t kS8MveMr = 4, kS8MveNr = 2;

}  // namespace

const gemm_s8_kernels gemm_s8_mve = {"gemm_s8_4x2_mve",
                                     kS8MveMr,
                                     kS8MveNr,
                                     kMveKg,
                                     s8_plain_panel_bytes<kS8MveMr, kMveKg>,
                                     s8_plain_panel_bytes<kS8MveNr, kMveKg>,
                                     s8_mve_pack_a<kS8MveMr>,
                                     s8_mve_pack_b<kS8MveNr>,
                                     s8_mve_ukernel_4x2};
const gemm_bf16_kernels gemm_bf16_mve = kGemmBf16None;

}  // namespace qkv::kern
