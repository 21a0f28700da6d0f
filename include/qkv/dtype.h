/* SPDX-License-Identifier: MIT */
/** @file qkv/dtype.h
 * @brief Element types, conversions between fp32, bf16 and fp16, and int8
 *        quantization (per-row symmetric, and q8_0 blocks).
 *
 * Storage formats. bf16 and fp16 values are passed as their bit patterns in
 * uint16_t (host byte order); int8 values as int8_t.
 *  - bf16 (bfloat16): the upper 16 bits of an IEEE binary32: 8 exponent bits,
 *    7 fraction bits. Every bf16 value is exactly representable in fp32.
 *  - fp16 (IEEE binary16): 5 exponent bits, 10 fraction bits, subnormals,
 *    largest finite 65504. Every fp16 value is exactly representable in fp32.
 *
 * Conversion rules (bitwise identical on every ISA and thread count):
 *  - widening (bf16 or fp16 to fp32) is exact, subnormals and signed zeros
 *    included; Inf stays Inf; bf16 widens by its bit pattern (a NaN keeps
 *    every bit); an fp16 NaN becomes a quiet NaN with its sign and payload
 *    in the top fraction bits (as F16C and Arm's conversions do);
 *  - narrowing (fp32 to bf16 or fp16, bf16 to fp16, fp16 to bf16) rounds to
 *    nearest, ties to even, in one rounding; a finite value beyond the
 *    target's range becomes +-Inf, as IEEE 754 and the hardware conversion
 *    instructions do (no saturation); results below the target's smallest
 *    subnormal round to +-0 (never flushed earlier: fp16 and bf16 subnormals
 *    are produced); Inf stays Inf; NaN stays NaN with its sign, made quiet,
 *    keeping the payload's top bits (a NaN never turns into Inf).
 *  - Unit roundoff of one narrowing: bf16 2^-8, fp16 2^-11 (relative, for
 *    results in the normal range; fp16 subnormals have absolute error at most
 *    2^-25).
 *
 * Quantization to int8 (symmetric, no zero point; codes in [-127, 127], -128
 * never produced) rounds x / s to nearest, ties to even, where s is the
 * scale of x's group (a row, or a block of 32), and saturates at +-127 (x / s
 * can exceed 127 only by the rounding of s). Reconstruction is q * s, with
 * |x - q*s| <= s/2 for every element whose code did not saturate (s = 0: every
 * code and reconstruction is 0). Inputs must be finite.
 *
 * All functions are reentrant, allocate nothing, and on error write nothing.
 * Source and destination must not overlap (not checked). */
#ifndef QKV_DTYPE_H
#define QKV_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/status.h"

/** Element types (the safetensors format's set). Values are part of the ABI. */
typedef enum qkv_dtype {
  QKV_DTYPE_F32 = 0,  /**< "F32": IEEE binary32, the one qkv computes in */
  QKV_DTYPE_F16 = 1,  /**< "F16": IEEE binary16 */
  QKV_DTYPE_BF16 = 2, /**< "BF16": bfloat16 */
  QKV_DTYPE_I8 = 3,   /**< "I8" */
  QKV_DTYPE_U8 = 4,   /**< "U8" */
  QKV_DTYPE_BOOL = 5, /**< "BOOL": one byte */
  QKV_DTYPE_I16 = 6,  /**< "I16" */
  QKV_DTYPE_U16 = 7,  /**< "U16" */
  QKV_DTYPE_I32 = 8,  /**< "I32" */
  QKV_DTYPE_U32 = 9,  /**< "U32" */
  QKV_DTYPE_I64 = 10, /**< "I64" */
  QKV_DTYPE_U64 = 11, /**< "U64" */
  QKV_DTYPE_F64 = 12, /**< "F64": IEEE binary64 */
  QKV_DTYPE_F8_E4M3 = 13, /**< "F8_E4M3" */
  QKV_DTYPE_F8_E5M2 = 14, /**< "F8_E5M2" */
  QKV_DTYPE_COUNT /**< number of values above; not a dtype */
} qkv_dtype;

/** Values per q8_0 block. */
#define QKV_Q8_0_BLOCK 32

/** One q8_0 block (ggml's layout, 34 bytes): 32 int8 codes and their scale
 *  d as an fp16 bit pattern; value i is qs[i] * d. */
typedef struct qkv_block_q8_0 {
  uint16_t d;                 /**< scale, fp16 bits: max|x| / 127 rounded to fp16 */
  int8_t qs[QKV_Q8_0_BLOCK];  /**< codes in [-127, 127] */
} qkv_block_q8_0;

QKV_EXTERN_C_BEGIN

/** @param[in]  dtype  an element type (any int a C caller passes).
 *  @param[out] bytes  size of one element of @p dtype.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_DTYPE for a value outside the enum. */
QKV_API qkv_status qkv_dtype_size(qkv_dtype dtype, size_t* bytes);

/** @param[in] dtype  an element type (any int a C caller passes).
 *  @return the format's name of @p dtype ("F32", "BF16", ...), "unknown" for
 *  values outside the enum. A constant lookup: never fails. */
QKV_API const char* qkv_dtype_name(qkv_dtype dtype);

/** Converts @p n elements between F32, BF16 and F16 (any pair, the same type
 *  included: a copy) by the rules at the top of this header.
 *  Vectorised on every ISA; the bits do not depend on it.
 *  @param[in]  n         number of elements (0: nothing is read or written).
 *  @param[in]  src_type  QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16.
 *  @param[in]  src       @p n elements of @p src_type.
 *  @param[in]  dst_type  QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16.
 *  @param[out] dst       @p n elements of @p dst_type.
 *  @return QKV_OK; QKV_ERR_BAD_DTYPE (a type outside the three);
 *  QKV_ERR_NULL_POINTER (src or dst NULL while n > 0). */
QKV_API qkv_status qkv_convert(size_t n, qkv_dtype src_type, const void* src, qkv_dtype dst_type, void* dst);

/** Per-row symmetric int8 quantization (weights: one scale per output
 *  feature): for each row r, scales[r] = max_j |x(r,j)| / 127 (an fp32
 *  division) and q(r,j) = the code of x(r,j) by the rules at the top.
 *  @param[in]  rows, cols  the matrix (either 0: nothing is done).
 *  @param[in]  x, ldx      rows x cols fp32, leading dimension ldx >= cols.
 *  @param[out] q, ldq      rows x cols codes, ldq >= cols.
 *  @param[out] scales      rows scales.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_STRIDE (ldx or ldq < cols);
 *  QKV_ERR_SIZE_OVERFLOW; QKV_ERR_NOT_FINITE (an element of x is NaN or Inf;
 *  checked before anything is written). */
QKV_API qkv_status qkv_quantize_rows_s8(size_t rows, size_t cols, const float* x, size_t ldx, int8_t* q,
                                        size_t ldq, float* scales);

/** x(r,j) = q(r,j) * scales[r], one fp32 multiplication (rounded once).
 *  @param[in]  rows, cols  the matrix (either 0: nothing is done).
 *  @param[in]  q, ldq      rows x cols codes, ldq >= cols.
 *  @param[in]  scales      rows scales.
 *  @param[out] x, ldx      rows x cols fp32, ldx >= cols.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_STRIDE; QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_dequantize_rows_s8(size_t rows, size_t cols, const int8_t* q, size_t ldq,
                                          const float* scales, float* x, size_t ldx);

/** Quantizes @p n values into n / 32 q8_0 blocks: each block's d is
 *  max|x| / 127 (fp32) rounded to fp16, and its codes are x / d by the rules
 *  at the top (d = 0: all codes 0).
 *  @param[in]  n  a multiple of QKV_Q8_0_BLOCK (0: nothing is done).
 *  @param[in]  x  n fp32 values.
 *  @param[out] y  n / 32 blocks.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (n not a multiple
 *  of 32); QKV_ERR_NOT_FINITE (a value is NaN or Inf, or a block's scale
 *  exceeds fp16's largest finite 65504, i.e. max|x| > 65504 * 127; checked
 *  before anything is written). */
QKV_API qkv_status qkv_quantize_q8_0(size_t n, const float* x, qkv_block_q8_0* y);

/** y[i] = qs * d in fp32 (exact: an 8-bit code times an fp16 scale fits
 *  fp32's 24-bit significand), for @p n values from n / 32 blocks.
 *  @param[in]  n  a multiple of QKV_Q8_0_BLOCK (0: nothing is done).
 *  @param[in]  x  n / 32 blocks.
 *  @param[out] y  n fp32 values.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE. */
QKV_API qkv_status qkv_dequantize_q8_0(size_t n, const qkv_block_q8_0* x, float* y);

QKV_EXTERN_C_END

#endif /* QKV_DTYPE_H */
