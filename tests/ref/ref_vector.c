/* SPDX-License-Identifier: MIT */
/* ref_vector - see ref_vector.h. */
#include "ref/ref_vector.h"

#include <math.h>

double qkv_ref_sdot(size_t n, const float* x, const float* y, double* mag) {
  double s = 0.0, a = 0.0;
  size_t i;
  for (i = 0; i < n; ++i) {
    s += (double)x[i] * (double)y[i];
    a += fabs((double)x[i] * (double)y[i]);
  }
  if (mag) *mag = a;
  return s;
}

void qkv_ref_saxpy(size_t n, float alpha, const float* x, const float* y, double* out, double* mag) {
  size_t i;
  for (i = 0; i < n; ++i) {
    const double ax = (double)alpha * (double)x[i];
    out[i] = (double)y[i] + ax;
    if (mag) mag[i] = fabs((double)y[i]) + fabs(ax);
  }
}
