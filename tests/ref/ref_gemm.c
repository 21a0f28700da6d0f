/* SPDX-License-Identifier: MIT */
/* ref_gemm - see ref_gemm.h. One dot product per output element. */
#include "ref/ref_gemm.h"

#include <float.h>
#include <math.h>

void qkv_ref_sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                   const float* B, size_t ldb, float beta, const float* C, size_t ldc, double* value, double* bound) {
  const double eps = (double)FLT_EPSILON, denorm_min = ldexp(1.0, -149); /* FLT_TRUE_MIN is C11 */
  size_t i, j, k;
  for (i = 0; i < M; ++i)
    for (j = 0; j < N; ++j) {
      double s = 0.0, mag = 0.0, c;
      for (k = 0; k < K; ++k) {
        const double a = trans_a ? (double)A[k * lda + i] : (double)A[i * lda + k];
        const double b = trans_b ? (double)B[j * ldb + k] : (double)B[k * ldb + j];
        s += a * b;
        mag += fabs(a * b);
      }
      c = beta == 0.0f ? 0.0 : (double)beta * (double)C[i * ldc + j];
      value[i * N + j] = (double)alpha * s + c;
      if (bound)
        bound[i * N + j] = (double)(K + 3) * eps * (fabs((double)alpha) * mag + fabs(c)) + denorm_min;
    }
}
