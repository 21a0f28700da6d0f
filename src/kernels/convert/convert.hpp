// SPDX-License-Identifier: MIT
// convert - per-ISA inner loops of qkv/dtype.h: fp32 <-> bf16 / fp16
// conversions and int8 quantization. Contract: contiguous arrays of n
// elements (any alignment, no overlap), no allocation, no threads. Every
// entry gives the bits of the scalar table (util/half.hpp and the rules
// below) on every ISA: narrowing is integer arithmetic or an instruction
// proven bit-identical (F16C, AArch64 fcvtn), and x / s is an IEEE division.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa_select.hpp"
#include "qkv/dtype.h"

namespace qkv::kern {

struct convert_kernels {
  // y[i] = util::f32_to_bf16(x[i]) / bf16_to_f32 / f32_to_f16 / f16_to_f32.
  void (*f32_to_bf16)(std::size_t n, const float* x, std::uint16_t* y);
  void (*bf16_to_f32)(std::size_t n, const std::uint16_t* x, float* y);
  void (*f32_to_f16)(std::size_t n, const float* x, std::uint16_t* y);
  void (*f16_to_f32)(std::size_t n, const std::uint16_t* x, float* y);
  // max_i (bits(x[i]) & 0x7fffffff): the bits of max|x| when every x[i] is
  // finite (the order of |x| and of these integers agree); a result above
  // 0x7f7fffff means an Inf or NaN is present. 0 for n == 0.
  std::uint32_t (*abs_max_bits)(std::size_t n, const float* x);
  // q[i] = RNE(x[i] / s) saturated to [-127, 127], for s > 0 and finite x:
  // one fp32 division, then rounding to nearest even.
  void (*quantize_s8)(std::size_t n, const float* x, float s, std::int8_t* q);
  // x[i] = float(q[i]) * s, one fp32 multiplication.
  void (*dequantize_s8)(std::size_t n, const std::int8_t* q, float s, float* x);
  // q8_0 blocks: y[b].d = f32_to_f16(max|x_b| / 127), and the codes of x_b
  // at the fp16 value of d (all 0 when it is 0). The caller has checked that
  // x is finite and every max|x_b| / 127 <= 65504.
  void (*quantize_q8_0)(std::size_t blocks, const float* x, qkv_block_q8_0* y);
  // y[32 b + j] = float(x[b].qs[j]) * f16_to_f32(x[b].d), exact.
  void (*dequantize_q8_0)(std::size_t blocks, const qkv_block_q8_0* x, float* y);
};

QKV_DECLARE_KERNEL_TABLES_MVE(convert_kernels, convert)

}  // namespace qkv::kern
