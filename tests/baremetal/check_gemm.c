/* SPDX-License-Identifier: MIT */
/* GEMM area: qkv_sgemm and qkv_sgemm_ws against the double reference and its
 * per-element error bound (tests/ref/ref_gemm.h), for every transpose pair,
 * sizes 1..17 around the tiles, leading dimensions larger than the rows,
 * beta 0 (C write-only: NaN-filled C must not leak) and beta != 0, under
 * every runnable ISA. */
#include <math.h>

#include "check.h"
#include "ref/ref_gemm.h"

#define DMAX 17
#define PAD 3 /* leading dimension = columns + PAD */

static const size_t dims[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};
#define NDIMS (sizeof dims / sizeof dims[0])

/* C (leading dimension ldc) against the reference: |C - value| <= bound
 * element by element (tests/ref/ref_gemm.h derives the bound). Reports the
 * worst element; returns 1 if all pass. */
static int compare(const char* what, const float* C, size_t ldc, const double* value, const double* bound, size_t M,
                   size_t N) {
  size_t i, j, wi = 0, wj = 0;
  double worst = 0.0; /* largest |error| / bound; > 1 fails */
  for (i = 0; i < M; ++i)
    for (j = 0; j < N; ++j) {
      const double err = fabs((double)C[i * ldc + j] - value[i * N + j]) / bound[i * N + j];
      if (!(err <= worst)) { /* also catches NaN */
        worst = err;
        wi = i;
        wj = j;
      }
    }
  if (worst <= 1.0) return 1;
  QKV_CHECK(!"sgemm error above the reference bound");
  printf("    %s: C[%lu][%lu] = %.9g, want %.17g +- %.3g\n", what, (unsigned long)wi, (unsigned long)wj,
         (double)C[wi * ldc + wj], value[wi * N + wj], bound[wi * N + wj]);
  return 0;
}

static void check_case(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha, float beta,
                       const float* A, const float* B, const float* C0, float* C, double* value, double* bound,
                       float* ws, size_t ws_floats, int use_ws) {
  const size_t lda = (ta == QKV_NO_TRANS ? K : M) + PAD, ldb = (tb == QKV_NO_TRANS ? N : K) + PAD, ldc = N + PAD;
  size_t i, j, bytes = 0;
  qkv_status st;
  qkv_ref_sgemm(ta == QKV_TRANS, tb == QKV_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, value, bound);
  for (i = 0; i < M; ++i)
    for (j = 0; j < N; ++j) C[i * ldc + j] = beta != 0.0f ? C0[i * ldc + j] : NAN;
  if (use_ws) {
    QKV_CHECK_STATUS(qkv_sgemm_workspace_size(ta, tb, M, N, K, 1, &bytes), QKV_OK);
    if (bytes > ws_floats * sizeof(float)) {
      QKV_CHECK(!"sgemm workspace larger than the check's buffer");
      return;
    }
    st = qkv_sgemm_ws(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws, bytes);
  } else {
    st = qkv_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  QKV_CHECK_STATUS(st, QKV_OK);
  if (!compare(use_ws ? "sgemm_ws" : "sgemm", C, ldc, value, bound, M, N))
    printf("    ta=%d tb=%d M=%lu N=%lu K=%lu alpha=%g beta=%g\n", (int)ta, (int)tb, (unsigned long)M,
           (unsigned long)N, (unsigned long)K, (double)alpha, (double)beta);
}

void qkv_check_gemm(void) {
  const size_t stored = (DMAX + PAD) * (DMAX + PAD);
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* A = qkv_check_alloc(stored);
  float* B = qkv_check_alloc(stored);
  float* C0 = qkv_check_alloc(stored);
  float* C = qkv_check_alloc(stored);
  double* value = qkv_check_alloc_double(DMAX * DMAX);
  double* bound = qkv_check_alloc_double(DMAX * DMAX);
  size_t ws_floats = 16384, bytes = 0;
  float* ws = qkv_check_alloc(ws_floats);
  int k, t;
  size_t mi, ni, ki;
  if (!A || !B || !C0 || !C || !value || !bound || !ws) return;
  qkv_check_fill(A, stored, -1.0f, 1.0f, 11);
  qkv_check_fill(B, stored, -1.0f, 1.0f, 12);
  qkv_check_fill(C0, stored, -1.0f, 1.0f, 13);

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (t = 0; t < 4; ++t) {
      const qkv_trans ta = (t & 1) ? QKV_TRANS : QKV_NO_TRANS, tb = (t & 2) ? QKV_TRANS : QKV_NO_TRANS;
      for (mi = 0; mi < NDIMS; ++mi)
        for (ni = 0; ni < NDIMS; ++ni)
          for (ki = 0; ki < NDIMS; ki += 3)
            check_case(ta, tb, dims[mi], dims[ni], dims[ki], 1.0f, 0.0f, A, B, C0, C, value, bound, ws, ws_floats,
                       (int)((mi + ni) & 1));
      check_case(ta, tb, 13, 11, 17, -0.5f, 0.75f, A, B, C0, C, value, bound, ws, ws_floats, 0);
      check_case(ta, tb, 17, 16, 9, 2.0f, 1.0f, A, B, C0, C, value, bound, ws, ws_floats, 1);
    }
  }

  /* Bad arguments: a status, C untouched. */
  C[0] = 7.0f;
  QKV_CHECK_STATUS(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 2, 1.0f, NULL, 2, B, 2, 0.0f, C, 2),
                   QKV_ERR_NULL_POINTER);
  QKV_CHECK_STATUS(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 3, 1.0f, A, 2, B, 2, 0.0f, C, 2),
                   QKV_ERR_BAD_STRIDE);
  QKV_CHECK_STATUS(qkv_sgemm((qkv_trans)2, QKV_NO_TRANS, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2),
                   QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, 64, 64, 64, 1, &bytes), QKV_OK);
  if (bytes > 0)
    QKV_CHECK_STATUS(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, 64, 64, 64, 1.0f, A, 64, B, 64, 0.0f, C, 64, ws,
                                  bytes - 1),
                     QKV_ERR_WORKSPACE_TOO_SMALL);
  QKV_CHECK(C[0] == 7.0f);
}
