/* SPDX-License-Identifier: MIT */
/* Softmax area: qkv_softmax and qkv_log_softmax against the double-precision
 * reference (tests/ref/ref_softmax.h), for column counts around the vector
 * widths, ld > cols, scale 1 and != 1, a -INFINITY-masked entry, a fully
 * masked row, large logits, in place, a NaN row and bad arguments, under
 * every runnable ISA. */
#include <math.h>

#include "check.h"
#include "ref/ref_softmax.h"

#define ROWS 6
#define CMAX 33
#define PAD 3

/* Compares one row: -INFINITY references must be matched exactly (the
 * comparison of infinities would give NaN), the rest within tol * scale. */
static void compare_row(const char* what, const float* got, const double* want, size_t cols, double tol,
                        double scale, float* tmp, double* tmpw) {
  size_t j;
  for (j = 0; j < cols; ++j) {
    if (want[j] == -INFINITY) {
      QKV_CHECK(got[j] == -INFINITY);
      tmp[j] = 0.0f;
      tmpw[j] = 0.0;
    } else {
      tmp[j] = got[j];
      tmpw[j] = want[j];
    }
  }
  qkv_check_close(what, tmp, tmpw, cols, tol, scale);
}

void qkv_check_softmax(void) {
  static const size_t col_counts[] = {1, 2, 3, 4, 7, 8, 9, 16, 17, 31, 33};
  static const float scales[] = {1.0f, 0.3535533905932738f};
  const size_t ld = CMAX + PAD;
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* x = qkv_check_alloc(ROWS * ld);
  float* y = qkv_check_alloc(ROWS * ld);
  float* inplace = qkv_check_alloc(ROWS * ld);
  float* tmp = qkv_check_alloc(CMAX);
  double* want = qkv_check_alloc_double(ROWS * ld);
  double* tmpw = qkv_check_alloc_double(CMAX);
  int k, lg;
  size_t ci, si, r, j;
  if (!x || !y || !inplace || !tmp || !want || !tmpw) return;

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (ci = 0; ci < sizeof col_counts / sizeof col_counts[0]; ++ci) {
      const size_t cols = col_counts[ci];
      qkv_check_fill(x, ROWS * ld, -8.0f, 8.0f, (unsigned)(31 + ci));
      /* Row 1: one masked entry (if the row has another). Row 2: fully
       * masked. Row 3: large logits (+-1e4) whose exp overflows unless the
       * max is subtracted. */
      if (cols > 1) x[1 * ld + cols / 2] = -INFINITY;
      for (j = 0; j < cols; ++j) x[2 * ld + j] = -INFINITY;
      for (j = 0; j < cols; ++j) x[3 * ld + j] = (j & 1) ? 1.0e4f : -1.0e4f + (float)j;
      for (si = 0; si < sizeof scales / sizeof scales[0]; ++si) {
        const float scale = scales[si];
        for (lg = 0; lg < 2; ++lg) {
          const char* name = lg ? "log_softmax" : "softmax";
          for (r = 0; r < ROWS * ld; ++r) y[r] = NAN; /* padding must stay untouched; values overwritten */
          for (r = 0; r < ROWS; ++r) qkv_ref_softmax_row(x + r * ld, cols, (double)scale, lg, want + r * ld);
          QKV_CHECK_STATUS(lg ? qkv_log_softmax(ROWS, cols, scale, x, ld, y, ld)
                              : qkv_softmax(ROWS, cols, scale, x, ld, y, ld),
                           QKV_OK);
          for (r = 0; r < ROWS; ++r) {
            double mag = 1.0;
            if (lg) {
              /* log-softmax = scale*x - m - log(sum): absolute error a few ulps
               * of the largest term, |scale*x| + |m| + log(cols). */
              double mx = 0.0;
              for (j = 0; j < cols; ++j)
                if (x[r * ld + j] != -INFINITY && fabs((double)scale * x[r * ld + j]) > mx)
                  mx = fabs((double)scale * x[r * ld + j]);
              mag = 2.0 * mx + log((double)cols) + 1.0;
            }
            /* Softmax weights are in [0, 1]: each is exp (2 ulp) of a rounded
             * argument over a cols-term sum, so the absolute error is at most
             * about (cols + 8) u times 1 (and the argument rounding, |scale x|
             * u, relative). 4 (cols + 8) u leaves room for either ordering of
             * the sum and the scale multiplication. */
            compare_row(name, y + r * ld, want + r * ld, cols, 4.0 * (double)(cols + 8) * QKV_CHECK_FLT_U,
                        lg ? mag : 1.0, tmp, tmpw);
          }
          /* The fully masked row and the masked entry exactly. */
          for (j = 0; j < cols; ++j) QKV_CHECK(lg ? y[2 * ld + j] == -INFINITY : y[2 * ld + j] == 0.0f);
          if (cols > 1) QKV_CHECK(lg ? y[1 * ld + cols / 2] == -INFINITY : y[1 * ld + cols / 2] == 0.0f);
          /* Padding beyond cols untouched. */
          for (r = 0; r < ROWS; ++r)
            for (j = cols; j < ld; ++j) QKV_CHECK(y[r * ld + j] != y[r * ld + j]);
          /* In place gives the same bits. */
          for (r = 0; r < ROWS * ld; ++r) inplace[r] = x[r];
          QKV_CHECK_STATUS(lg ? qkv_log_softmax(ROWS, cols, scale, inplace, ld, inplace, ld)
                              : qkv_softmax(ROWS, cols, scale, inplace, ld, inplace, ld),
                           QKV_OK);
          for (r = 0; r < ROWS; ++r)
            for (j = 0; j < cols; ++j) {
              const float a = inplace[r * ld + j], b = y[r * ld + j];
              QKV_CHECK(a == b || (a != a && b != b));
            }
        }
      }
    }

    /* A NaN makes its row NaN, and only that row. */
    qkv_check_fill(x, 2 * ld, -1.0f, 1.0f, 77);
    x[3] = NAN;
    QKV_CHECK_STATUS(qkv_softmax(2, 8, 1.0f, x, ld, y, ld), QKV_OK);
    for (j = 0; j < 8; ++j) QKV_CHECK(y[j] != y[j]);
    for (j = 0; j < 8; ++j) QKV_CHECK(y[ld + j] == y[ld + j]);
  }

  /* Bad arguments: a status, nothing written. */
  y[0] = 5.0f;
  QKV_CHECK_STATUS(qkv_softmax(2, 8, 1.0f, NULL, ld, y, ld), QKV_ERR_NULL_POINTER);
  QKV_CHECK_STATUS(qkv_softmax(2, 8, 1.0f, x, 7, y, ld), QKV_ERR_BAD_STRIDE);
  QKV_CHECK_STATUS(qkv_log_softmax(2, 8, 1.0f, x, ld, y, 7), QKV_ERR_BAD_STRIDE);
  QKV_CHECK_STATUS(qkv_softmax(2, 8, 0.0f, x, ld, y, ld), QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_log_softmax(2, 8, INFINITY, x, ld, y, ld), QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_softmax(2, 8, 1.0f, x, ld, x, ld + 1), QKV_ERR_BAD_STRIDE);
  QKV_CHECK(y[0] == 5.0f);
  QKV_CHECK_STATUS(qkv_softmax(0, 8, 1.0f, x, ld, y, ld), QKV_OK);
  QKV_CHECK(y[0] == 5.0f);
}
