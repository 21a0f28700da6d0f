/* SPDX-License-Identifier: MIT */
#include "ref/ref_rope.h"

#include <math.h>

void qkv_ref_rope(const qkv_rope_desc* d, const float* x, int inverse, double* y, double* mag) {
  const size_t dim = d->head_dim, r = d->rotary_dim ? d->rotary_dim : dim, half = r / 2;
  const double theta = d->theta != 0.f ? (double)d->theta : 10000.0;
  const int interleaved = d->layout == QKV_ROPE_INTERLEAVED;
  size_t b, h, t, k, f;
  for (b = 0; b < d->batch; ++b)
    for (h = 0; h < d->heads; ++h)
      for (t = 0; t < d->tokens; ++t) {
        const float* in = x + b * d->x.batch + h * d->x.head + t * d->x.token;
        double* out = y + ((b * d->heads + h) * d->tokens + t) * dim;
        double* m = mag ? mag + ((b * d->heads + h) * d->tokens + t) * dim : NULL;
        const size_t pos = d->positions ? d->positions[b * d->positions_batch_stride + t] : d->pos_offset + t;
        for (f = r; f < dim; ++f) {
          out[f] = in[f];
          if (m) m[f] = fabs((double)in[f]);
        }
        for (k = 0; k < half; ++k) {
          const size_t i1 = interleaved ? 2 * k : k, i2 = interleaved ? 2 * k + 1 : k + half;
          const double inv_freq = pow(theta, -(double)(2 * k) / (double)r);
          const double angle = (double)pos * inv_freq;
          const double c = cos(angle), s = inverse ? -sin(angle) : sin(angle);
          const double x1 = in[i1], x2 = in[i2];
          out[i1] = x1 * c - x2 * s;
          out[i2] = x1 * s + x2 * c;
          if (m) m[i1] = m[i2] = fabs(x1) + fabs(x2);
        }
      }
}
