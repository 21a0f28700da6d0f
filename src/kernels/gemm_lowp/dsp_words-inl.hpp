// SPDX-License-Identifier: MIT
// dsp_words-inl.hpp - four int8 codes as one 32-bit word, split into int16
// pairs for SMLAD (Arm DSP extension: Cortex-M4, M7, M33, M55, Armv7-A).
// Shared by the DSP GEMM tile (gemm_lowp_dsp-inl.hpp) and the int8 dot
// product (kernels/vec/vec_s8-inl.hpp). Internal linkage.
#pragma once

#include <arm_acle.h>

#include <cstdint>
#include <cstring>

#if !defined(__ARM_FEATURE_DSP)
#error "dsp_words-inl.hpp needs the Arm DSP extension (SMLAD, SXTB16)"
#endif

namespace qkv::kern {
namespace {

inline std::uint32_t dsp_word(const unsigned char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// Codes 0 and 2 of a word as an int16 pair, or codes 1 and 3: SXTB16 of the
// word rotated by 8, in one instruction (its rotation operand). GCC 12 has
// no __ror and does not fold a rotate into __sxtb16 (a separate ROR each).
inline int16x2_t dsp_even(std::uint32_t w) { return __sxtb16(static_cast<int8x4_t>(w)); }
inline int16x2_t dsp_odd(std::uint32_t w) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
}

}  // namespace
}  // namespace qkv::kern
