/* GEMM area: qkv_sgemm and qkv_sgemm_ws against a double triple loop, for
 * every transpose pair, sizes 1..17 around the tiles, leading dimensions
 * larger than the rows, beta 0 (C write-only: NaN-filled C must not leak) and
 * beta != 0, under every runnable ISA. */
#include <math.h>

#include "check.h"

#define DMAX 17
#define PAD 3 /* leading dimension = columns + PAD */

static const size_t dims[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};
#define NDIMS (sizeof dims / sizeof dims[0])

/* op(X)[i][j] of a stored row-major X with leading dimension ld. */
static double at(const float* x, size_t ld, qkv_trans t, size_t i, size_t j) {
  return t == QKV_NO_TRANS ? (double)x[i * ld + j] : (double)x[j * ld + i];
}

static void check_case(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha, float beta,
                       const float* A, const float* B, const float* C0, float* C, double* want, float* ws,
                       size_t ws_floats, int use_ws) {
  const size_t lda = (ta == QKV_NO_TRANS ? K : M) + PAD, ldb = (tb == QKV_NO_TRANS ? N : K) + PAD, ldc = N + PAD;
  size_t i, j, p, bytes = 0;
  double mag = 0.0;
  qkv_status st;
  for (i = 0; i < M; ++i)
    for (j = 0; j < N; ++j) {
      double s = 0.0, a = 0.0;
      for (p = 0; p < K; ++p) {
        s += at(A, lda, ta, i, p) * at(B, ldb, tb, p, j);
        a += fabs(at(A, lda, ta, i, p) * at(B, ldb, tb, p, j));
      }
      want[i * ldc + j] = alpha * s + (beta != 0.0f ? beta * (double)C0[i * ldc + j] : 0.0);
      if (fabs(alpha) * a + fabs(beta * C0[i * ldc + j]) > mag) mag = fabs(alpha) * a + fabs(beta * C0[i * ldc + j]);
      C[i * ldc + j] = beta != 0.0f ? C0[i * ldc + j] : NAN;
    }
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
  /* Each element is a K-term sum: error <= about K u sum|a b|; 2(K+2) leaves
   * room for the alpha/beta roundings and FMA vs mul+add. */
  for (i = 0; i < M; ++i)
    if (!qkv_check_close(use_ws ? "sgemm_ws" : "sgemm", C + i * ldc, want + i * ldc, N,
                         2.0 * (double)(K + 2) * QKV_CHECK_FLT_U, mag + 1e-30)) {
      printf("    ta=%d tb=%d M=%lu N=%lu K=%lu alpha=%g beta=%g row %lu\n", (int)ta, (int)tb, (unsigned long)M,
             (unsigned long)N, (unsigned long)K, (double)alpha, (double)beta, (unsigned long)i);
      return;
    }
}

void qkv_check_gemm(void) {
  const size_t stored = (DMAX + PAD) * (DMAX + PAD);
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* A = qkv_check_alloc(stored);
  float* B = qkv_check_alloc(stored);
  float* C0 = qkv_check_alloc(stored);
  float* C = qkv_check_alloc(stored);
  double* want = qkv_check_alloc_double(stored);
  size_t ws_floats = 16384, bytes = 0;
  float* ws = qkv_check_alloc(ws_floats);
  int k, t;
  size_t mi, ni, ki;
  if (!A || !B || !C0 || !C || !want || !ws) return;
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
            check_case(ta, tb, dims[mi], dims[ni], dims[ki], 1.0f, 0.0f, A, B, C0, C, want, ws, ws_floats,
                       (int)((mi + ni) & 1));
      check_case(ta, tb, 13, 11, 17, -0.5f, 0.75f, A, B, C0, C, want, ws, ws_floats, 0);
      check_case(ta, tb, 17, 16, 9, 2.0f, 1.0f, A, B, C0, C, want, ws, ws_floats, 1);
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
