/* SPDX-License-Identifier: MIT */
/* ref_optim - see ref_optim.h. */
#include "ref/ref_optim.h"

#include <math.h>

void qkv_ref_sgd_step(const qkv_sgd_config* c, uint64_t t, size_t n, double* p, const float* g, double* buf,
                      double* dir) {
  const double lr = c->lr, mu = c->momentum, damp = c->dampening, wd = c->weight_decay;
  size_t i;
  for (i = 0; i < n; ++i) {
    double gi = (double)g[i] + wd * p[i];
    if (c->momentum != 0.0f) {
      buf[i] = t == 1 ? gi : mu * buf[i] + (1.0 - damp) * gi;
      gi = c->nesterov ? gi + mu * buf[i] : buf[i];
    }
    p[i] -= lr * gi;
    if (dir) dir[i] = gi;
  }
}

void qkv_ref_adamw_step(const qkv_adamw_config* c, uint64_t t, size_t n, double* p, const float* g, double* m,
                        double* v, double* update, double* update_mag) {
  const double lr = c->lr, b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
  const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
  size_t i;
  for (i = 0; i < n; ++i) {
    const double gi = g[i], m0 = t == 1 ? 0.0 : m[i], v0 = t == 1 ? 0.0 : v[i];
    double denom, u;
    p[i] *= 1.0 - lr * wd;
    m[i] = b1 * m0 + (1.0 - b1) * gi;
    v[i] = b2 * v0 + (1.0 - b2) * gi * gi;
    denom = sqrt(v[i]) / sqrt(bc2) + eps;
    u = (lr / bc1) * m[i] / denom;
    p[i] -= u;
    if (update) update[i] = u;
    if (update_mag) update_mag[i] = (lr / bc1) * (fabs(b1 * m0) + fabs((1.0 - b1) * gi)) / denom;
  }
}
