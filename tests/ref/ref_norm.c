/* SPDX-License-Identifier: MIT */
#include "ref/ref_norm.h"

#include <math.h>

/* The statistics of one row of n values v[j] (+ r[j] when r is not NULL). */
static void row_stats(int rms, size_t n, double eps, const float* v, const float* r, double* mu, double* rstd) {
  double m = 0.0, q = 0.0;
  size_t j;
  if (!rms) {
    for (j = 0; j < n; ++j) m += (double)v[j] + (r ? (double)r[j] : 0.0);
    m /= (double)n;
  }
  for (j = 0; j < n; ++j) {
    const double d = (double)v[j] + (r ? (double)r[j] : 0.0) - m;
    q += d * d;
  }
  *mu = m;
  *rstd = 1.0 / sqrt(q / (double)n + eps);
}

void qkv_ref_norm_forward(int rms, size_t rows, size_t n, double eps, const float* x, size_t ldx, const float* res,
                          size_t ldr, const float* gamma, const float* beta, double* s, double* y, double* mean,
                          double* rstd) {
  size_t i, j;
  for (i = 0; i < rows; ++i) {
    const float* v = x + i * ldx;
    const float* r = res ? res + i * ldr : NULL;
    double mu, rs;
    row_stats(rms, n, eps, v, r, &mu, &rs);
    for (j = 0; j < n; ++j) {
      const double sj = (double)v[j] + (r ? (double)r[j] : 0.0);
      if (s) s[i * n + j] = sj;
      y[i * n + j] = (sj - mu) * rs * (gamma ? (double)gamma[j] : 1.0) + (beta ? (double)beta[j] : 0.0);
    }
    if (mean) mean[i] = mu;
    if (rstd) rstd[i] = rs;
  }
}

void qkv_ref_norm_backward(int rms, size_t rows, size_t n, double eps, const float* x, size_t ldx,
                           const float* gamma, const float* dy, size_t ldy, double* dx, double* dgamma,
                           double* dbeta) {
  size_t i, j;
  for (j = 0; j < n; ++j) {
    if (dgamma) dgamma[j] = 0.0;
    if (dbeta) dbeta[j] = 0.0;
  }
  for (i = 0; i < rows; ++i) {
    const float* v = x + i * ldx;
    const float* d = dy + i * ldy;
    double mu, rs, mg = 0.0, mgx = 0.0;
    row_stats(rms, n, eps, v, NULL, &mu, &rs);
    for (j = 0; j < n; ++j) {
      const double g = (double)d[j] * (gamma ? (double)gamma[j] : 1.0);
      mg += g;
      mgx += g * ((double)v[j] - mu) * rs;
    }
    mg = rms ? 0.0 : mg / (double)n;
    mgx /= (double)n;
    for (j = 0; j < n; ++j) {
      const double xh = ((double)v[j] - mu) * rs;
      const double g = (double)d[j] * (gamma ? (double)gamma[j] : 1.0);
      dx[i * n + j] = rs * (g - mg - xh * mgx);
      if (dgamma) dgamma[j] += (double)d[j] * xh;
      if (dbeta) dbeta[j] += (double)d[j];
    }
  }
}
