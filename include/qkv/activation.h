/* SPDX-License-Identifier: MIT */
/** @file qkv/activation.h
 * @brief Feed-forward activations (GELU, SiLU, ReLU, the SwiGLU gate),
 * forward and backward, and a GEMM with bias and activation (a linear layer).
 *
 * Matrices are rows x n, row-major, with leading dimensions in elements
 * (ld >= n). The functions:
 *  - QKV_ACT_GELU_TANH: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *    (PyTorch gelu(approximate='tanh'), GPT-2);
 *  - QKV_ACT_GELU_ERF:  0.5 x (1 + erf(x / sqrt(2))) (PyTorch gelu());
 *  - QKV_ACT_SILU:      x / (1 + exp(-x)) (PyTorch silu, Llama's gate);
 *  - QKV_ACT_RELU:      max(x, 0); its derivative is 1 where x > 0, else 0.
 *
 * Accuracy, fp32 against the exact function of the fp32 input, every ISA
 * (u = 2^-24; y the exact result, t = 2 sqrt(2/pi) (x + 0.044715 x^3)):
 *  - relu: exact;
 *  - silu: |err| <= 8 u |y|;
 *  - gelu_tanh: |err| <= 8 u |y| for x >= 0, (8 + 4|t|) u |y| for x < 0;
 *  - gelu_erf:  |err| <= 8 u |y| for x >= 0, (8 + 4 x^2) u |y| for x < 0;
 *    (for x < 0 the functions' own condition numbers grow as |t| and x^2);
 *    results below 2^-118 in magnitude may be flushed to zero;
 *  - derivatives: |err| <= (16 + 4 c) u S + 2^-100, c = |t| (gelu_tanh)
 *    or x^2 (gelu_erf) for x < 0 and 0 otherwise (and for silu), S the sum
 *    of the magnitudes of the derivative's terms (the derivatives have
 *    zeros, where only an absolute bound holds).
 * Finite inputs never give NaN or infinity (unless a true result overflows):
 * large |x| saturate (gelu(x) = x for large x, -0 for very negative x;
 * silu(-100) = -0).
 *
 * Shared contract:
 *  - rows == 0 or n == 0 does nothing and reads nothing (QKV_OK);
 *  - an output may be an input of the same element (same pointer and leading
 *    dimension) where a function says so; otherwise no output element may
 *    share memory with an input or another output (QKV_ERR_BAD_ARGUMENT);
 *    inputs may overlap each other;
 *  - results are bitwise identical for any thread count; they depend on the
 *    ISA (qkv_get_isa);
 *  - on error nothing is written.
 *
 * Errors, in the order they are checked: QKV_ERR_BAD_ARGUMENT (an enum
 * argument outside its type), QKV_ERR_NULL_POINTER, QKV_ERR_BAD_STRIDE
 * (a leading dimension below its row length), QKV_ERR_SIZE_OVERFLOW (a
 * matrix's extent does not fit in ptrdiff_t), QKV_ERR_BAD_ARGUMENT (outputs
 * overlapping inputs or each other other than as allowed), and for
 * qkv_sgemm_bias_act last the workspace (QKV_ERR_NULL_POINTER,
 * QKV_ERR_WORKSPACE_TOO_SMALL).
 * Thread-safety: reentrant. No allocation.
 *
 * Hosted builds only for now: a bare-metal build (QKV_BAREMETAL, the
 * Cortex-M targets) returns QKV_ERR_UNSUPPORTED from every function here
 * and writes nothing (its 64 KiB .text budget has no room for them yet). */
#ifndef QKV_ACTIVATION_H
#define QKV_ACTIVATION_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/gemm.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** An element-wise activation function. */
typedef enum qkv_activation {
  QKV_ACT_GELU_TANH = 0, /**< GELU, tanh approximation (GPT-2; PyTorch approximate='tanh') */
  QKV_ACT_GELU_ERF = 1,  /**< GELU, exact erf form (PyTorch default) */
  QKV_ACT_SILU = 2,      /**< SiLU (swish): x * sigmoid(x) */
  QKV_ACT_RELU = 3       /**< ReLU: max(x, 0) */
} qkv_activation;

/** y = act(x), element-wise.
 * @param[in]  kind  the activation.
 * @param[in]  rows  number of rows.
 * @param[in]  n     elements per row.
 * @param[in]  x     rows x n input, leading dimension ldx.
 * @param[in]  ldx   >= n.
 * @param[out] y     rows x n output, leading dimension ldy; may be x (in
 *                   place, then ldy == ldx), otherwise must not overlap it.
 * @param[in]  ldy   >= n.
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_activation_forward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx,
                                          float* y, size_t ldy);

/** dx = dy * act'(x), element-wise (x is the pre-activation input of the
 *  forward).
 * @param[in]  kind  the activation.
 * @param[in]  rows  number of rows.
 * @param[in]  n     elements per row.
 * @param[in]  x     rows x n pre-activations, leading dimension ldx.
 * @param[in]  ldx   >= n.
 * @param[in]  dy    rows x n gradient of the output, leading dimension ldy.
 * @param[in]  ldy   >= n.
 * @param[out] dx    rows x n gradient of x, leading dimension lddx; may be
 *                   dy or x (in place, with the same leading dimension),
 *                   otherwise must not overlap them.
 * @param[in]  lddx  >= n.
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_activation_backward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx,
                                           const float* dy, size_t ldy, float* dx, size_t lddx);

/** SwiGLU gate: y = silu(g) * u, element-wise (g and u may be two halves of
 *  one fused projection: g = h, u = h + n, ldg = ldu = 2n).
 * @param[in]  rows  number of rows.
 * @param[in]  n     elements per row.
 * @param[in]  g     rows x n gate pre-activations, leading dimension ldg.
 * @param[in]  ldg   >= n.
 * @param[in]  u     rows x n values, leading dimension ldu.
 * @param[in]  ldu   >= n.
 * @param[out] y     rows x n output, leading dimension ldy; may be g or u
 *                   (in place, with the same leading dimension), otherwise
 *                   must not overlap them.
 * @param[in]  ldy   >= n.
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_swiglu_forward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu,
                                      float* y, size_t ldy);

/** SwiGLU backward: dg = dy * u * silu'(g), du = dy * silu(g).
 * @param[in]  rows  number of rows.
 * @param[in]  n     elements per row.
 * @param[in]  g     rows x n gate pre-activations, leading dimension ldg.
 * @param[in]  ldg   >= n.
 * @param[in]  u     rows x n values, leading dimension ldu.
 * @param[in]  ldu   >= n.
 * @param[in]  dy    rows x n gradient of y, leading dimension ldy.
 * @param[in]  ldy   >= n.
 * @param[out] dg    rows x n gradient of g, leading dimension lddg; may be
 *                   g or dy (in place, same leading dimension).
 * @param[in]  lddg  >= n.
 * @param[out] du    rows x n gradient of u, leading dimension lddu; may be
 *                   u or dy (in place, same leading dimension); dg and du
 *                   must not overlap.
 * @param[in]  lddu  >= n.
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_swiglu_backward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu,
                                       const float* dy, size_t ldy, float* dg, size_t lddg, float* du, size_t lddu);

/** Workspace qkv_sgemm_bias_act needs to run this problem with up to
 *  @p threads threads on the active ISA (0: none). Any alignment works.
 * @param[in]  ta, tb, M, N, K  as for qkv_sgemm_bias_act.
 * @param[in]  threads  >= 1.
 * @param[out] bytes    the size in bytes.
 * @return QKV_OK, QKV_ERR_NULL_POINTER (bytes NULL), QKV_ERR_BAD_ARGUMENT
 *  (bad ta/tb or threads < 1), QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_sgemm_bias_act_workspace_size(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K,
                                                     int threads, size_t* bytes);

/** A linear layer with activation:
 *    pre = op(A) * op(B) + bias (bias broadcast over the rows; none if NULL),
 *    C = act(pre).
 *  The same bits as qkv_sgemm_ws (alpha 1, beta 0; C preset to the bias
 *  and beta 1 with a bias) followed by qkv_activation_forward. op(A) is
 *  M x K, op(B) is K x N, as in qkv/gemm.h (whose checks and their order
 *  apply to A, B and C).
 * @param[in]  ta, tb   QKV_NO_TRANS or QKV_TRANS for A and B.
 * @param[in]  M, N, K  sizes; K == 0 gives pre = bias (or 0).
 * @param[in]  A, lda   the stored A and its leading dimension.
 * @param[in]  B, ldb   the stored B and its leading dimension.
 * @param[in]  bias     N floats, or NULL for none.
 * @param[in]  kind     the activation.
 * @param[out] pre      M x N pre-activations (what the backward needs), or
 *                      NULL not to keep them; must not overlap A, B, bias or C.
 * @param[in]  ldp      >= N when pre is not NULL (ignored otherwise).
 * @param[out] C        M x N activations; must not overlap A, B or bias.
 * @param[in]  ldc      >= N.
 * @param[in]  workspace        scratch memory owned by the caller, not kept;
 *                              may be NULL when the size query gives 0.
 * @param[in]  workspace_bytes  its size; at least
 *                              qkv_sgemm_bias_act_workspace_size(..., 1, ...).
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_sgemm_bias_act(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, const float* A,
                                      size_t lda, const float* B, size_t ldb, const float* bias,
                                      qkv_activation kind, float* pre, size_t ldp, float* C, size_t ldc,
                                      void* workspace, size_t workspace_bytes);

QKV_EXTERN_C_END

#endif /* QKV_ACTIVATION_H */
