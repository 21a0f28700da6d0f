/* SPDX-License-Identifier: MIT */
/** @file qkv/norm.h
 * @brief LayerNorm and RMSNorm over the rows of a matrix, forward and
 *        backward, with an optional fused residual add before the norm.
 *
 * Shapes and layout. Every matrix is rows x n, row-major, with its own
 * leading dimension (in elements, >= n): x, res, s, y, dy, dx. gamma, beta,
 * dgamma and dbeta hold n floats; mean and rstd hold rows floats.
 *
 * Math, for each row r (s = x[r]; in the fused calls s = fl(x[r] + res[r]),
 * the fp32 sum they store, which the statistics below are of):
 *
 *     LayerNorm: mu = mean_j(s_j),  var = mean_j((s_j - mu)^2)
 *     RMSNorm:   mu = 0,            var = mean_j(s_j^2)
 *     rstd = 1 / sqrt(var + eps),   y_j = (s_j - mu) * rstd * gamma_j + beta_j
 *
 * (gamma NULL: 1; beta NULL: 0; RMSNorm has no beta, as in Llama/T5). The
 * forward saves mean[r] = mu (LayerNorm) and rstd[r] = rstd, which is all the
 * backward needs besides s. The backward, from those statistics, with
 * xhat_j = (s_j - mu) * rstd and g_j = dy_j * gamma_j:
 *
 *     LayerNorm: dx_j = rstd * (g_j - mean_k(g_k) - xhat_j * mean_k(g_k * xhat_k))
 *     RMSNorm:   dx_j = rstd * (g_j - xhat_j * mean_k(g_k * xhat_k))
 *     dgamma_j += sum_r dy[r][j] * xhat[r][j],   dbeta_j += sum_r dy[r][j]
 *
 * dx is overwritten (accumulate = 0) or added to (accumulate = 1, as a
 * residual branch's gradient wants); dgamma and dbeta always accumulate
 * (clear them with qkv_zero(), qkv/init.h, before the first step).
 *
 * Accuracy. Everything is fp32. The statistics are two-pass: the mean of
 * s_j - s_0 first (the shift makes a constant row exact: it gives y = beta),
 * then the sum of squared deviations from that mean, so the variance suffers
 * no cancellation. Sums run over four vector accumulators in an order fixed
 * by n, so each has a relative error (to its sum of magnitudes) of at most
 * L * 2^-24 with L = n / (4 W) + 8 (W = 1 scalar, 4 SSE2/NEON, 8 AVX2, 16
 * AVX-512). Hence, with D = max_j |s_j - s_0|:
 *
 *     |mean - mu| <= (L + 2) * 2^-24 * (D + |mu|),   |rstd - exact| <= (L + 4) * 2^-24 * rstd,
 *     |y_j - exact| <= (L + 4) * 2^-24 * (|gamma_j| * rstd * (D + |mu| + |s_j - mu|) + |beta_j|),
 *
 * i.e. a few L ulps of |xhat_j| for a row whose mean is not much larger than
 * its spread (as activations are); and
 *
 *     |dx_j - exact| <= (L + 8) * 2^-24 * rstd * (|g_j| + mean_k|g_k| + |xhat_j| * mean_k|g_k * xhat_k|)
 *
 * plus the effect of the saved statistics' own errors (the forward's bound).
 * Each column of dgamma and dbeta is added onto its value row after row:
 * within (rows + 2) * 2^-24 of |its value before| + the sum of its terms'
 * magnitudes. When max_j |s_j| > 2^40 the row is scaled by a power of two
 * (exact) for its statistics, so any finite s with |s_j| < 2^126 gives
 * finite results (1e30 included); tiny rows (1e-30) give (s - mu) /
 * sqrt(eps) as they should. Finite input never gives NaN; NaN or infinity in
 * a row makes that row's outputs NaN, no other row's. ARMv7 NEON
 * (QKV_ISA_NEON) flushes subnormal inputs and results to zero, as its
 * hardware does: there a subnormal value reads as 0 and a result below
 * FLT_MIN (2^-126) may come out 0, beyond the bounds above by at most FLT_MIN.
 *
 * Determinism. Rows are split over threads, and each row's operations do not
 * depend on the split; dgamma and dbeta are column sums in row order (threads
 * split the columns). Results are bitwise identical for any thread count
 * and executor; they depend on the ISA (qkv_get_isa()). No workspace.
 * Thread-safety: reentrant.
 *
 * Builds. Hosted builds only for now: in a bare-metal build (Cortex-M) every
 * function here returns ::QKV_ERR_UNSUPPORTED and writes nothing, as the
 * norms do not fit the Cortex-M4 64 KiB .text budget yet.
 *
 * Aliasing. In place is allowed where each function says so, as the same
 * pointer with the same leading dimension; any other overlap between two of
 * a call's buffers (spans from the first to the last element) is refused.
 *
 * Validation, in this order, before anything is written:
 *  1. ::QKV_ERR_NULL_POINTER: a required pointer is NULL (x, y; res in the
 *     fused calls; x, dy, dx, rstd, and mean for LayerNorm, in the backward);
 *  2. ::QKV_ERR_BAD_SHAPE: rows or n is 0;
 *  3. ::QKV_ERR_BAD_STRIDE: a leading dimension smaller than n (of a matrix
 *     that is given);
 *  4. ::QKV_ERR_BAD_ARGUMENT: eps not finite or not > 0 (forward);
 *     accumulate other than 0 or 1 (backward);
 *  5. ::QKV_ERR_SIZE_OVERFLOW: a matrix spans more than PTRDIFF_MAX bytes;
 *  6. ::QKV_ERR_BAD_STRIDE: an allowed in-place pair (same pointer) with
 *     different leading dimensions;
 *  7. ::QKV_ERR_BAD_ARGUMENT: any other overlap of an output with another
 *     buffer of the call. */
#ifndef QKV_NORM_H
#define QKV_NORM_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** LayerNorm of each row of x.
 *  @param[in]  rows   number of rows, >= 1.
 *  @param[in]  n      features per row, >= 1.
 *  @param[in]  eps    added to the variance: finite and > 0 (1e-5 as in PyTorch).
 *  @param[in]  x      rows x n input, leading dimension ldx.
 *  @param[in]  ldx    >= n.
 *  @param[in]  gamma  n scales, or NULL for 1.
 *  @param[in]  beta   n shifts, or NULL for 0.
 *  @param[out] y      rows x n output, leading dimension ldy; y == x (ldy == ldx) runs in place.
 *  @param[in]  ldy    >= n.
 *  @param[out] mean   rows means (for the backward), or NULL.
 *  @param[out] rstd   rows reciprocal standard deviations 1 / sqrt(var + eps), or NULL.
 *  @return QKV_OK or the first failing check of the file's list. */
QKV_API qkv_status qkv_layernorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx,
                                         const float* gamma, const float* beta, float* y, size_t ldy, float* mean,
                                         float* rstd);

/** The residual add and LayerNorm in one pass: s = x + res, y = LayerNorm(s).
 *  @param[in]  rows, n, eps  as in qkv_layernorm_forward().
 *  @param[in]  x      rows x n input, leading dimension ldx.
 *  @param[in]  ldx    >= n.
 *  @param[in]  res    rows x n residual, leading dimension ldr; may overlap x.
 *  @param[in]  ldr    >= n.
 *  @param[out] s      rows x n sum x + res (the input of the backward and of the
 *                     next residual), leading dimension lds, or NULL to not keep it;
 *                     s == x (lds == ldx) or s == res (lds == ldr) runs in place.
 *  @param[in]  lds    >= n (unused when s is NULL).
 *  @param[in]  gamma  n scales, or NULL for 1.
 *  @param[in]  beta   n shifts, or NULL for 0.
 *  @param[out] y      rows x n output, leading dimension ldy; y == x (ldy == ldx) is
 *                     allowed when s is not x; y must not overlap res or s.
 *  @param[in]  ldy    >= n.
 *  @param[out] mean   rows means, or NULL.
 *  @param[out] rstd   rows reciprocal standard deviations, or NULL.
 *  @return as qkv_layernorm_forward(); QKV_ERR_NULL_POINTER also for a NULL res. */
QKV_API qkv_status qkv_add_layernorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx,
                                             const float* res, size_t ldr, float* s, size_t lds,
                                             const float* gamma, const float* beta, float* y, size_t ldy,
                                             float* mean, float* rstd);

/** Gradient of qkv_layernorm_forward() (and of the norm part of
 *  qkv_add_layernorm_forward(), whose dx is also res's gradient).
 *  @param[in]  rows, n      as in the forward.
 *  @param[in]  x            the forward's normalised input (x, or s of the fused call), leading dimension ldx.
 *  @param[in]  ldx          >= n.
 *  @param[in]  gamma        the forward's n scales, or NULL for 1.
 *  @param[in]  mean         the forward's rows means.
 *  @param[in]  rstd         the forward's rows reciprocal standard deviations.
 *  @param[in]  dy           rows x n gradient of y, leading dimension ldy.
 *  @param[in]  ldy          >= n.
 *  @param[in,out] dx        rows x n gradient of x, leading dimension lddx; dx == dy
 *                           (lddx == ldy) runs in place; must not overlap x.
 *  @param[in]  lddx         >= n.
 *  @param[in]  accumulate   0: dx is overwritten; 1: the gradient is added to dx.
 *  @param[in,out] dgamma    n floats the gamma gradient is added to, or NULL.
 *  @param[in,out] dbeta     n floats the beta gradient is added to, or NULL.
 *  @return as qkv_layernorm_forward(), with accumulate in place of eps. */
QKV_API qkv_status qkv_layernorm_backward(size_t rows, size_t n, const float* x, size_t ldx, const float* gamma,
                                          const float* mean, const float* rstd, const float* dy, size_t ldy,
                                          float* dx, size_t lddx, int accumulate, float* dgamma, float* dbeta);

/** RMSNorm of each row of x: y = x * rstd * gamma.
 *  @param[in]  rows   number of rows, >= 1.
 *  @param[in]  n      features per row, >= 1.
 *  @param[in]  eps    added to the mean square: finite and > 0 (1e-6 in Llama).
 *  @param[in]  x      rows x n input, leading dimension ldx.
 *  @param[in]  ldx    >= n.
 *  @param[in]  gamma  n scales, or NULL for 1.
 *  @param[out] y      rows x n output, leading dimension ldy; y == x (ldy == ldx) runs in place.
 *  @param[in]  ldy    >= n.
 *  @param[out] rstd   rows values 1 / sqrt(mean(x^2) + eps), or NULL.
 *  @return as qkv_layernorm_forward(). */
QKV_API qkv_status qkv_rmsnorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx,
                                       const float* gamma, float* y, size_t ldy, float* rstd);

/** The residual add and RMSNorm in one pass: s = x + res, y = RMSNorm(s).
 *  @param[in]  rows, n, eps  as in qkv_rmsnorm_forward().
 *  @param[in]  x      rows x n input, leading dimension ldx.
 *  @param[in]  ldx    >= n.
 *  @param[in]  res    rows x n residual, leading dimension ldr; may overlap x.
 *  @param[in]  ldr    >= n.
 *  @param[out] s      rows x n sum, leading dimension lds, or NULL; in place as in
 *                     qkv_add_layernorm_forward().
 *  @param[in]  lds    >= n (unused when s is NULL).
 *  @param[in]  gamma  n scales, or NULL for 1.
 *  @param[out] y      rows x n output, leading dimension ldy; as in qkv_add_layernorm_forward().
 *  @param[in]  ldy    >= n.
 *  @param[out] rstd   rows values 1 / sqrt(mean(s^2) + eps), or NULL.
 *  @return as qkv_add_layernorm_forward(). */
QKV_API qkv_status qkv_add_rmsnorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx,
                                           const float* res, size_t ldr, float* s, size_t lds, const float* gamma,
                                           float* y, size_t ldy, float* rstd);

/** Gradient of qkv_rmsnorm_forward() (and of the norm part of qkv_add_rmsnorm_forward()).
 *  @param[in]  rows, n      as in the forward.
 *  @param[in]  x            the forward's normalised input, leading dimension ldx.
 *  @param[in]  ldx          >= n.
 *  @param[in]  gamma        the forward's n scales, or NULL for 1.
 *  @param[in]  rstd         the forward's rows values of rstd.
 *  @param[in]  dy           rows x n gradient of y, leading dimension ldy.
 *  @param[in]  ldy          >= n.
 *  @param[in,out] dx        rows x n gradient of x, leading dimension lddx; dx == dy
 *                           (lddx == ldy) runs in place; must not overlap x.
 *  @param[in]  lddx         >= n.
 *  @param[in]  accumulate   0: dx is overwritten; 1: the gradient is added to dx.
 *  @param[in,out] dgamma    n floats the gamma gradient is added to, or NULL.
 *  @return as qkv_layernorm_backward(). */
QKV_API qkv_status qkv_rmsnorm_backward(size_t rows, size_t n, const float* x, size_t ldx, const float* gamma,
                                        const float* rstd, const float* dy, size_t ldy, float* dx, size_t lddx,
                                        int accumulate, float* dgamma);

QKV_EXTERN_C_END

#endif /* QKV_NORM_H */
