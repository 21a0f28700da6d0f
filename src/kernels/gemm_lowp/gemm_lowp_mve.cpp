// SPDX-License-Identifier: MIT
// The reduced-precision tables of mve (Helium, Cortex-M55/M85; layouts and
// contract: gemm_lowp.hpp). Plain codes, k grouped 16 at a time: a row's or
// a column's 16 codes of a group are one Q register.
//   gemm_s8_<MR>x<NR>_mve: per group, MR + NR vector loads and MR x NR
//   VMLADAVA.S8 (16 products summed into a core-register accumulator, modulo
//   2^32: exact wrapping int32, the contract's; integer sums in any order give
//   the same bits). VMLADAVA takes even core registers only (r0..r14): 6
//   accumulators leave the odd ones for the pointers and the loop count.
// No bf16 dot product on the M55 (its VCVT and VFMA have no bf16 form): the
// driver widens bf16 to fp32.
#include <arm_mve.h>

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMveKg = 16;  // one Q register of int8 codes per row or column

// acc[MR x NR] = (load ? acc : 0) + A panel . B panel, int32 wrapping.
template <std::size_t MR, std::size_t NR>
void s8_mve_ukernel(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                    bool load) {
  const auto* a = static_cast<const std::int8_t*>(a_);
  const auto* b = static_cast<const std::int8_t*>(b_);
  std::int32_t c[MR][NR];
#pragma GCC unroll 4
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (std::size_t j = 0; j < NR; ++j) c[i][j] = load ? acc[i * ldacc + j] : 0;
  for (std::size_t g = (kc + kMveKg - 1) / kMveKg; g; --g, a += MR * kMveKg, b += NR * kMveKg) {
    int8x16_t bv[NR];
#pragma GCC unroll 4
    for (std::size_t j = 0; j < NR; ++j) bv[j] = vldrbq_s8(b + j * kMveKg);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < MR; ++i) {
      const int8x16_t av = vldrbq_s8(a + i * kMveKg);
#pragma GCC unroll 4
      for (std::size_t j = 0; j < NR; ++j) c[i][j] = vmladavaq_s8(c[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 4
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (std::size_t j = 0; j < NR; ++j) acc[i * ldacc + j] = c[i][j];
}

constexpr std::size_t kS8MveMr = 3, kS8MveNr = 2;

}  // namespace

const gemm_s8_kernels gemm_s8_mve = {"gemm_s8_3x2_mve",
                                     kS8MveMr,
                                     kS8MveNr,
                                     kMveKg,
                                     s8_plain_panel_bytes<kS8MveMr, kMveKg>,
                                     s8_plain_panel_bytes<kS8MveNr, kMveKg>,
                                     s8_plain_pack_a<kS8MveMr, kMveKg>,
                                     s8_plain_pack_b<kS8MveNr, kMveKg>,
                                     s8_mve_ukernel<kS8MveMr, kS8MveNr>};
const gemm_bf16_kernels gemm_bf16_mve = kGemmBf16None;

}  // namespace qkv::kern
