/* SPDX-License-Identifier: MIT */
/* ref_gemm - the double-precision SGEMM oracle and the error bound an
 * optimized GEMM is held to. Plain C99 (host, bare metal, C++ via extern "C").
 *
 * Shapes (row-major, ld in elements, op as in qkv_sgemm):
 *   op(A) [M][K], op(B) [K][N], C [M][N] with leading dimension ldc,
 *   value, bound [M][N] dense (the caller's buffers). */
#ifndef QKV_TESTS_REF_GEMM_H
#define QKV_TESTS_REF_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* value = alpha * op(A) op(B) + beta * C, summed in double. beta == 0
 * ignores C (NaN there must not matter; C may then be NULL).
 *
 * bound (NULL to skip): the allowed |computed - value| per element. The
 * kernels sum K products in float, one rounding per multiply-add (u = eps/2
 * each), then one rounding for alpha * acc and at most two for beta * C + t.
 * The recursive-summation bound gives
 *   |err| <= gamma_{K+1} (|alpha| sum_k |a_ik b_kj|) + 2u |beta c_ij|,
 * gamma_n = n u / (1 - n u) < n eps/2 * 1.01 for the K here. We allow
 * (K + 3) eps times that scale (plus the smallest denormal), about twice the
 * bound: a real bug (a dropped or doubled term is >= one |a b| term) fails,
 * an admissible summation order never does. */
void qkv_ref_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                   const float* B, size_t ldb, float beta, const float* C, size_t ldc, double* value, double* bound);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_GEMM_H */
