// SPDX-License-Identifier: MIT
// dtype - drivers of qkv/dtype.h: conversions between fp32, bf16 and fp16
// (chunked through fp32 where neither side is fp32) and int8 quantization
// (per-row scales, q8_0 blocks). Arguments are validated by the C boundary;
// the quantizers check finiteness first and return false, having written
// nothing, when a value (or a q8_0 scale) is out of range. Single-threaded:
// every pass is memory-bound.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// n >= 1 elements; src_type and dst_type are F32, BF16 or F16.
void convert(const kern::convert_kernels& k, std::size_t n, qkv_dtype src_type, const void* src, qkv_dtype dst_type,
             void* dst) noexcept;

// rows, cols >= 1; ldx, ldq >= cols. False (nothing written) if x has a
// NaN or Inf.
bool quantize_rows_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const float* x,
                      std::size_t ldx, std::int8_t* q, std::size_t ldq, float* scales) noexcept;
// The per-row format of x^T without forming x^T: for each column c of the
// rows x cols matrix x (rows, cols >= 1, ldx >= cols), scales[c] and the
// codes of that column as row c of q (ldq >= rows): the bits
// quantize_rows_s8 writes for x^T. False (nothing written) if x has a NaN
// or Inf.
bool quantize_cols_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const float* x,
                      std::size_t ldx, std::int8_t* q, std::size_t ldq, float* scales) noexcept;
void dequantize_rows_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const std::int8_t* q,
                        std::size_t ldq, const float* scales, float* x, std::size_t ldx) noexcept;

// blocks >= 1 blocks of QKV_Q8_0_BLOCK values. False (nothing written) if x
// has a NaN or Inf or a block's max|x| / 127 exceeds 65504.
// Can n values (n % 32 == 0) be quantized to q8_0: all finite, and every
// block's scale max|x| / 127 within fp16's 65504?
bool q8_0_storable(const kern::convert_kernels& k, std::size_t n, const float* x) noexcept;
bool quantize_q8_0(const kern::convert_kernels& k, std::size_t blocks, const float* x, qkv_block_q8_0* y) noexcept;
void dequantize_q8_0(const kern::convert_kernels& k, std::size_t blocks, const qkv_block_q8_0* x, float* y) noexcept;

}  // namespace qkv::ops
