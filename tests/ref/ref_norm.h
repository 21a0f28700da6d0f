/* SPDX-License-Identifier: MIT */
/* ref_norm - the double-precision oracle of LayerNorm and RMSNorm
 * (qkv/norm.h), forward and backward. Plain C99 (host, bare metal, C++ via
 * extern "C"); no allocation.
 *
 * Shapes: x and res [rows][n] (leading dimensions ldx, ldr), gamma and beta
 * [n] (NULL: 1 and 0), s and y [rows][n] dense, mean and rstd [rows].
 * Math, per row, every step in double (the float inputs widened exactly):
 *   s = x + res (res NULL: x), mu = mean(s) (RMSNorm: 0),
 *   var = mean((s - mu)^2) (two passes), rstd = 1 / sqrt(var + eps),
 *   y = (s - mu) * rstd * gamma + beta;
 * backward, from the same s (as floats, [rows][n] with leading dimension ldx)
 * and the statistics recomputed in double:
 *   xhat = (s - mu) * rstd, g = dy * gamma,
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))  (RMSNorm: no mean(g)),
 *   dgamma[j] = sum_r dy * xhat, dbeta[j] = sum_r dy (overwritten, not accumulated). */
#ifndef QKV_TESTS_REF_NORM_H
#define QKV_TESTS_REF_NORM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rms: 0 LayerNorm, 1 RMSNorm. s, mean, rstd may be NULL (not written). */
void qkv_ref_norm_forward(int rms, size_t rows, size_t n, double eps, const float* x, size_t ldx, const float* res,
                          size_t ldr, const float* gamma, const float* beta, double* s, double* y, double* mean,
                          double* rstd);

/* x: the forward's s. dx [rows][n] dense; dgamma, dbeta [n] (each may be NULL). */
void qkv_ref_norm_backward(int rms, size_t rows, size_t n, double eps, const float* x, size_t ldx,
                           const float* gamma, const float* dy, size_t ldy, double* dx, double* dgamma,
                           double* dbeta);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_NORM_H */
