/* SPDX-License-Identifier: MIT */
/** @file qkv/gemm_ex.h
 * @brief Mixed-precision GEMM: A and B in fp32, bf16, fp16 or int8; fp32
 *        accumulation (int32 for int8 x int8); C in fp32, bf16 or int32.
 *
 *   C = alpha * op(A) * op(B) + beta * C     (int8 operands with scales:
 *   C(i,j) = alpha * sa(i) * sb(j) * sum_k qa(i,k) * qb(k,j) + beta * C(i,j))
 *
 * Shapes, transposes and leading dimensions (in elements) are those of
 * qkv/gemm.h. Element types (qkv_gemm_ex_desc):
 *  - a_type, b_type: QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_F16 (uint16_t
 *    bit patterns, qkv/dtype.h) or QKV_DTYPE_I8 (int8_t codes with fp32 scales:
 *    a_scales has one per row of op(A), b_scales one per column of op(B), i.e.
 *    per output feature; NULL scales mean 1);
 *  - c_type: QKV_DTYPE_F32, QKV_DTYPE_BF16 (the result rounded once, as
 *    qkv_convert; beta reads the bf16 C widened), or QKV_DTYPE_I32 (only with
 *    a_type == b_type == QKV_DTYPE_I8, NULL scales, alpha == 1, beta 0 or 1:
 *    the exact integer sum, added to C when beta is 1, wrapping modulo 2^32).
 *
 * How each pair is computed (the products of the values as given, never
 * rounded to a narrower type first):
 *  - both I8: integer products summed exactly in int32 (any int8 codes:
 *    |sum| <= K * 128 * 128 <= 2^31 for K <= 131072; a larger K is
 *    QKV_ERR_BAD_SHAPE; the one sum past INT32_MAX, 2^31 from K = 131072
 *    products (-128)(-128), an I32 C holds wrapped as INT32_MIN, a float C
 *    exactly), then scaled in fp32: alpha * sa(i) * sb(j) * acc;
 *  - both BF16 or both I8 on QKV_ISA_AVX512_BF16 with Intel AMX (a CPU with
 *    AMX-TILE and AMX-BF16 / AMX-INT8 and an OS that grants the tile state:
 *    Linux >= 5.16, asked once, on first use; QKV_AMX=0 in the environment
 *    at first use refuses): tile products, tdpbf16ps summing each pair of
 *    products into fp32 as vdpbf16ps does (below), tdpbssd in int32;
 *  - both BF16 on an ISA with bf16 dot products (QKV_ISA_AVX512_BF16,
 *    QKV_ISA_NEON64_BF16) and a CPU that runs them faster than fp32 FMAs
 *    (AMD Zen 4/5, Arm; not Intel Xeons without AMX, whose vdpbf16ps runs
 *    at half their fp32 rate: widened there, below; QKV_BF16_DOT=0|1 in the environment
 *    at first use overrides): pairs of products summed in fp32 (vdpbf16ps,
 *    BFDOT: each product is exact, the sums are rounded, BFDOT's to odd;
 *    bf16 inputs and fp32 products and partial sums below 2^-126 in
 *    magnitude are flushed to zero);
 *  - otherwise: each operand widened to fp32 (exact; an I8 code times its
 *    scale, rounded once), then the fp32 product as qkv_sgemm computes it;
 *  - except, before both of the above, M <= 8 with A F32, BF16 or F16 and
 *    B BF16, F16 or I8 (decode against narrow weights): B widened as it is
 *    read (an I8 code exactly, its scale applied to the sum as
 *    (alpha * sb(j)) * sum), fp32 products summed in fp32 (hosted
 *    builds; bare-metal ones take the kinds above).
 * Error bound (fp32 accumulation): |C - C_exact| <= K * 2^-23 * alpha *
 * sum_k |a(i,k)||b(k,j)| (+ 2^-8 |C| relative for a bf16 C; + the flushing
 * above), against the exact product of the operands as given. Rounding the
 * inputs to bf16/fp16/int8 is the caller's, with the unit roundoffs of
 * qkv/dtype.h.
 *
 * Contract shared with qkv/gemm.h: beta == 0 never reads C; K == 0 or
 * alpha == 0 sets C = beta * C without reading A or B; nothing outside the
 * declared extents is read or written; results are bitwise identical for any
 * thread count and executor (they depend on the ISA); on error nothing is
 * written; C must not overlap A, B or the scales.
 *
 * Errors, in the order they are checked:
 *  - QKV_ERR_NULL_POINTER: desc NULL (also bytes NULL for the size query);
 *  - QKV_ERR_BAD_ARGUMENT: ta or tb not a qkv_trans value;
 *  - QKV_ERR_BAD_DTYPE: a type outside the lists above, or an I32 C with
 *    other operands; I8 scales given for a non-I8 operand;
 *  - QKV_ERR_BAD_ARGUMENT: an I32 C with scales, alpha != 1 or beta not 0/1;
 *  - QKV_ERR_BAD_SHAPE: both I8 with K > 131072;
 *  - QKV_ERR_NULL_POINTER: A, B or C NULL while its matrix has elements;
 *  - QKV_ERR_BAD_STRIDE: lda, ldb or ldc smaller than its stored row length;
 *  - QKV_ERR_SIZE_OVERFLOW: a stored matrix's extent in bytes does not fit
 *    ptrdiff_t;
 *  - qkv_gemm_ex only, last: QKV_ERR_NULL_POINTER when the workspace is NULL
 *    although the call needs one, then QKV_ERR_WORKSPACE_TOO_SMALL. */
#ifndef QKV_GEMM_EX_H
#define QKV_GEMM_EX_H

#include <stddef.h>

#include "qkv/dtype.h"
#include "qkv/export.h"
#include "qkv/gemm.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** One mixed-precision GEMM problem (the operands' pointers are arguments of
 *  qkv_gemm_ex, so one descriptor serves many calls). */
typedef struct qkv_gemm_ex_desc {
  qkv_trans ta;       /**< QKV_NO_TRANS or QKV_TRANS for A */
  qkv_trans tb;       /**< QKV_NO_TRANS or QKV_TRANS for B */
  size_t M;           /**< rows of op(A) and C */
  size_t N;           /**< columns of op(B) and C */
  size_t K;           /**< columns of op(A), rows of op(B) */
  qkv_dtype a_type;   /**< element type of A */
  qkv_dtype b_type;   /**< element type of B */
  qkv_dtype c_type;   /**< element type of C */
  size_t lda;         /**< leading dimension of the stored A, in elements */
  size_t ldb;         /**< leading dimension of the stored B, in elements */
  size_t ldc;         /**< leading dimension of C, in elements */
  float alpha;        /**< scale of the product */
  float beta;         /**< scale of the previous C (0: C is write-only) */
  const float* a_scales; /**< a_type I8: M scales (per row of op(A)); NULL: all 1; else NULL */
  const float* b_scales; /**< b_type I8: N scales (per column of op(B)); NULL: all 1; else NULL */
} qkv_gemm_ex_desc;

/** Workspace bytes qkv_gemm_ex needs for @p desc on @p threads threads (the
 *  workspace holds packed blocks of A and B (a small single B block once
 *  per thread: docs/gemm_ex.md) and, when K is split into blocks
 *  and the sum cannot accumulate in C itself (a bf16 C; an fp32 C of I8 x
 *  I8, or of BF16 x BF16 on an ISA with bf16 dot products when beta != 0,
 *  unless alpha == beta == 1),
 *  an fp32/int32 accumulator of C's rows times one column block); 0 when
 *  nothing is multiplied (an empty C, K == 0 or alpha == 0). Pointers in
 *  @p desc are not read.
 *  @param[in]  desc     the problem.
 *  @param[in]  threads  threads the call may use (< 1 counts as 1); a smaller
 *                       workspace limits the threads, never the result.
 *  @param[out] bytes    the size.
 *  @return QKV_OK or an error of the list above (no operand pointer or
 *          workspace ones), then QKV_ERR_SIZE_OVERFLOW when the size does
 *          not fit size_t. */
QKV_API qkv_status qkv_gemm_ex_workspace_size(const qkv_gemm_ex_desc* desc, int threads, size_t* bytes);

/** C = alpha * op(A) * op(B) + beta * C in the types of @p desc.
 *  @param[in]     desc   the problem.
 *  @param[in]     A, B   the stored operands (element types of desc).
 *  @param[in,out] C      the result.
 *  @param[in]     workspace        caller scratch of at least
 *                                  qkv_gemm_ex_workspace_size(desc, 1) bytes,
 *                                  any alignment; NULL only when that is 0.
 *  @param[in]     workspace_bytes  its size.
 *  Thread-safety: reentrant; concurrent calls need distinct workspaces.
 *  @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_gemm_ex(const qkv_gemm_ex_desc* desc, const void* A, const void* B, void* C,
                               void* workspace, size_t workspace_bytes);

QKV_EXTERN_C_END

#endif /* QKV_GEMM_EX_H */
