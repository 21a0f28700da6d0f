// SPDX-License-Identifier: MIT
// Scalar optimizer kernels: the fallback on every CPU and the only set on
// Cortex-M. Plain multiplies and adds (no std::fma: a library call on cores
// without an FMA unit); each element is computed independently.
#include "kernels/optim/optim.hpp"

#include <cmath>

namespace qkv::kern {
namespace {

void sgd_f32_scalar(std::size_t n, const sgd_args& a, float* p, const float* g, float* buf) {
  for (std::size_t i = 0; i < n; ++i) {
    float gi = g[i];
    if (a.weight_decay != 0.f) gi += a.weight_decay * p[i];
    if (a.use_momentum) {
      const float b = a.first ? gi : a.momentum * buf[i] + a.damp_keep * gi;
      buf[i] = b;
      gi = a.nesterov ? gi + a.momentum * b : b;
    }
    p[i] -= a.lr * gi;
  }
}

void adamw_f32_scalar(std::size_t n, const adamw_args& a, float* p, float* g, float* m, float* v) {
  for (std::size_t i = 0; i < n; ++i) {
#ifdef QKV_HOSTED
    const float gi = g[i] * a.grad_scale;
    if (a.zero_grads) g[i] = 0.f;
#else
    const float gi = g[i];
#endif
    const float mi = a.first ? a.one_minus_beta1 * gi : a.beta1 * m[i] + a.one_minus_beta1 * gi;
    const float vi = a.first ? a.one_minus_beta2 * gi * gi : a.beta2 * v[i] + a.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * a.inv_bc2_sqrt + a.eps;
    p[i] = a.decay * p[i] - a.step_size * (mi / denom);
  }
}

}  // namespace

const optim_kernels optim_scalar = {sgd_f32_scalar, adamw_f32_scalar};

}  // namespace qkv::kern
