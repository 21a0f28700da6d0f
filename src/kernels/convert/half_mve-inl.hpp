// SPDX-License-Identifier: MIT
// half_mve-inl.hpp - Helium's hardware fp16 -> fp32 widening, VCVTB.F32.F16
// on four 32-bit lanes, for the *_mve.cpp files (convert, gemm_widen).
//
// What it gives: every MVE floating-point instruction runs under the
// standard FPSCR value (Armv8.1-M: round to nearest, flush-to-zero, default
// NaN), but for FPSCR.AHP (IEEE half at reset; the library never sets it).
// A conversion never flushes its half operand (FZ16 does not apply), and
// every fp16 value but NaN is exact in fp32: a subnormal widens to a normal
// fp32, +-0 and +-Inf to themselves, so these lanes are util::f16_to_f32's
// bits. A NaN widens to the default NaN (0x7fc00000), not to the scalar
// rule's quiet NaN with the sign and payload kept: callers that owe those
// bits patch NaN lanes (convert_mve.cpp), or show that they cannot matter
// (gemm_widen_mve.cpp).
//
// Why not arm_mve.h's vcvtbq_f32_f16: GNU as 2.40 (Debian 12's
// binutils-arm-none-eabi) encodes this mnemonic's Q registers doubled, as
// D-register numbers (q3 assembles as q6, q1 as q2; only q0 survives), so
// the intrinsic converts another register's bits. The instruction is emitted
// by its encoding instead (T1: 0xfe3f0e01 with Qd in bits 15:13 and Qm in
// bits 3:1), Qd = Qm = the register GCC chose, named by %q0.
#pragma once

#include <arm_mve.h>

namespace qkv::kern {
namespace {

// One register's case; the assembly fails (.error) if none matched.
#define QKV_MVE_VCVTB_F32_F16(n, enc) ".ifc %q0,q" #n "\n\t.inst.w " #enc "\n\t.set .Lqkv_vcvtb_hit, 1\n\t.endif\n\t"

// The fp16 value in the bottom half of each 32-bit lane of h, as fp32 (a
// zero lane, as a zeroing load leaves it, is +0).
inline float32x4_t mve_f32_of_f16_bottom(uint32x4_t h) {
  asm(".set .Lqkv_vcvtb_hit, 0\n\t"  // vcvtb.f32.f16 %q0, %q0
      QKV_MVE_VCVTB_F32_F16(0, 0xfe3f0e01) QKV_MVE_VCVTB_F32_F16(1, 0xfe3f2e03)
      QKV_MVE_VCVTB_F32_F16(2, 0xfe3f4e05) QKV_MVE_VCVTB_F32_F16(3, 0xfe3f6e07)
      QKV_MVE_VCVTB_F32_F16(4, 0xfe3f8e09) QKV_MVE_VCVTB_F32_F16(5, 0xfe3fae0b)
      QKV_MVE_VCVTB_F32_F16(6, 0xfe3fce0d) QKV_MVE_VCVTB_F32_F16(7, 0xfe3fee0f)
      ".if .Lqkv_vcvtb_hit == 0\n\t.error \"vcvtb.f32.f16: no encoding for %q0\"\n\t.endif"
      : "+w"(h));
  return vreinterpretq_f32_u32(h);
}

#undef QKV_MVE_VCVTB_F32_F16

}  // namespace
}  // namespace qkv::kern
