/* SPDX-License-Identifier: MIT */
/* ref_loss - see ref_loss.h. */
#include "ref/ref_loss.h"

#include <math.h>

/* log sum_j exp(x_j), shifted by the row's max. */
static double row_lse(const float* x, size_t classes) {
  double m = -INFINITY, sum = 0.0;
  size_t j;
  /* Not fmax(): aarch64-linux-gnu-gcc 12 -O3 crashes (ICE in
   * vect_transform_reduction) vectorizing that reduction. */
  for (j = 0; j < classes; ++j)
    if ((double)x[j] > m) m = (double)x[j];
  for (j = 0; j < classes; ++j) sum += exp((double)x[j] - m);
  return m + log(sum);
}

static size_t counted_rows(size_t rows, const int32_t* targets, int32_t ignore_index) {
  size_t r, count = 0;
  for (r = 0; r < rows; ++r) count += targets[r] != ignore_index;
  return count;
}

double qkv_ref_cross_entropy_forward(size_t rows, size_t classes, const float* logits, size_t ld,
                                     const int32_t* targets, int32_t ignore_index, double* losses) {
  const size_t count = counted_rows(rows, targets, ignore_index);
  double sum = 0.0;
  size_t r;
  for (r = 0; r < rows; ++r) {
    const float* x = logits + r * ld;
    double term = 0.0;
    if (targets[r] != ignore_index) term = row_lse(x, classes) - (double)x[(size_t)targets[r]];
    sum += term;
    if (losses) losses[r] = term;
  }
  return count ? sum / (double)count : 0.0;
}

void qkv_ref_cross_entropy_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                    const int32_t* targets, int32_t ignore_index, double dloss, double* dlogits,
                                    size_t ldd) {
  const size_t count = counted_rows(rows, targets, ignore_index);
  size_t r, j;
  for (r = 0; r < rows; ++r) {
    const float* x = logits + r * ld;
    double* d = dlogits + r * ldd;
    double lse;
    if (targets[r] == ignore_index) {
      for (j = 0; j < classes; ++j) d[j] = 0.0;
      continue;
    }
    lse = row_lse(x, classes);
    for (j = 0; j < classes; ++j)
      d[j] = dloss / (double)count * (exp((double)x[j] - lse) - (j == (size_t)targets[r] ? 1.0 : 0.0));
  }
}
