/* SPDX-License-Identifier: MIT */
/* Vector area: qkv_sdot and qkv_saxpy against the double references
 * (tests/ref/ref_vector.h), on lengths around every vector width (1..17,
 * 31..33, 63..65) and a longer one, under every runnable ISA; NULL arguments
 * get a status and leave outputs untouched. */
#include "check.h"
#include "ref/ref_vector.h"

static const size_t lengths[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257, 1000};
#define NLEN (sizeof lengths / sizeof lengths[0])
#define NMAX 1000

void qkv_check_vector(void) {
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* x = qkv_check_alloc(NMAX);
  float* y = qkv_check_alloc(NMAX);
  float* y0 = qkv_check_alloc(NMAX);
  double* want = qkv_check_alloc_double(NMAX);
  float dot = 0.0f;
  int k;
  size_t li, i;
  if (!x || !y || !y0 || !want) return;
  qkv_check_fill(x, NMAX, -1.0f, 1.0f, 1);
  qkv_check_fill(y0, NMAX, -1.0f, 1.0f, 2);

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (li = 0; li < NLEN; ++li) {
      const size_t n = lengths[li];
      double mag = 0.0;
      const double ref = qkv_ref_sdot(n, x, y0, &mag);
      /* Any summation order of n float products errs by at most about
       * n * u * sum|x_i y_i|; 2n leaves room for FMA vs mul+add. */
      QKV_CHECK_STATUS(qkv_sdot(n, x, y0, &dot), QKV_OK);
      qkv_check_close("sdot", &dot, &ref, 1, 2.0 * (double)(n + 1) * QKV_CHECK_FLT_U, mag + 1e-30);

      /* saxpy: one rounding of a*x (unless fused) and one of the add. */
      for (i = 0; i < n; ++i) y[i] = y0[i];
      qkv_ref_saxpy(n, 0.75f, x, y0, want, NULL);
      QKV_CHECK_STATUS(qkv_saxpy(n, 0.75f, x, y), QKV_OK);
      qkv_check_close("saxpy", y, want, n, 4.0 * QKV_CHECK_FLT_U, 2.0);
    }
  }

  dot = 42.0f;
  QKV_CHECK_STATUS(qkv_sdot(3, NULL, y0, &dot), QKV_ERR_NULL_POINTER);
  QKV_CHECK_STATUS(qkv_sdot(3, x, y0, NULL), QKV_ERR_NULL_POINTER);
  QKV_CHECK(dot == 42.0f);
  y[0] = 5.0f;
  QKV_CHECK_STATUS(qkv_saxpy(1, 1.0f, NULL, y), QKV_ERR_NULL_POINTER);
  QKV_CHECK(y[0] == 5.0f);
  QKV_CHECK_STATUS(qkv_sdot(0, NULL, NULL, &dot), QKV_OK);
  QKV_CHECK(dot == 0.0f);
}
