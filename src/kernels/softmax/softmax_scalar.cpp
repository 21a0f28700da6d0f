// SPDX-License-Identifier: MIT
// Scalar softmax row kernels: the fallback on every CPU and the only set on
// Cortex-M. Same passes and the same exp as the SIMD sets.
#include "kernels/softmax/exp_scalar.hpp"
#include "kernels/softmax/softmax.hpp"

namespace qkv::kern {
namespace {

void softmax_exp_f32_scalar(std::size_t n, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = exp_f32_shared(x[i]);
}

float softmax_max_f32_scalar(std::size_t n, const float* x) {
  float m = -__builtin_huge_valf();
  for (std::size_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// Two partial sums, like the SIMD kernels' two accumulators.
float softmax_exp_sum_f32_scalar(std::size_t n, float scale, float xmax, const float* x, float* y) {
  float s0 = 0.f, s1 = 0.f;
  std::size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const float e0 = exp_f32_shared(scale * (x[i] - xmax));
    const float e1 = exp_f32_shared(scale * (x[i + 1] - xmax));
    if (y) {
      y[i] = e0;
      y[i + 1] = e1;
    }
    s0 += e0;
    s1 += e1;
  }
  if (i < n) {
    const float e = exp_f32_shared(scale * (x[i] - xmax));
    if (y) y[i] = e;
    s0 += e;
  }
  return s0 + s1;
}

void softmax_affine_f32_scalar(std::size_t n, float scale, float xmax, float offset, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = scale * (x[i] - xmax) - offset;
}

void softmax_mul_f32_scalar(std::size_t n, float a, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] *= a;
}

}  // namespace

const softmax_kernels softmax_scalar = {softmax_exp_f32_scalar, softmax_max_f32_scalar,
                                        softmax_exp_sum_f32_scalar, softmax_affine_f32_scalar,
                                        softmax_mul_f32_scalar};

}  // namespace qkv::kern
