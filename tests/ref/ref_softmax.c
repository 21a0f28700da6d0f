/* SPDX-License-Identifier: MIT */
/* ref_softmax - see ref_softmax.h. */
#include "ref/ref_softmax.h"

#include <math.h>

double qkv_ref_softmax_inplace(double* s, size_t n) {
  double m = -INFINITY, sum = 0.0;
  size_t j;
  for (j = 0; j < n; ++j)
    if (s[j] > m) m = s[j];
  if (m == -INFINITY) { /* sees nothing */
    for (j = 0; j < n; ++j) s[j] = 0.0;
    return -INFINITY;
  }
  for (j = 0; j < n; ++j) sum += s[j] = exp(s[j] - m);
  for (j = 0; j < n; ++j) s[j] /= sum;
  return m + log(sum);
}

void qkv_ref_softmax_row(const float* x, size_t cols, double scale, int log_out, double* out) {
  double lse;
  size_t j;
  for (j = 0; j < cols; ++j) out[j] = scale * (double)x[j];
  if (!log_out) {
    qkv_ref_softmax_inplace(out, cols);
    return;
  }
  lse = qkv_ref_softmax_inplace(out, cols);
  /* log y_j = scale x_j - lse: from the inputs, not log of the weights,
   * which underflow to 0 long before the log-probabilities lose precision. */
  for (j = 0; j < cols; ++j) out[j] = lse == -INFINITY ? -INFINITY : scale * (double)x[j] - lse;
}
