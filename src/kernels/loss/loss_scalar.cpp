// SPDX-License-Identifier: MIT
// Scalar cross-entropy row kernels: the fallback on every CPU and the only
// set on Cortex-M. Four partial sums, the same association shape as the SIMD
// kernels, so a Cortex-M7/M55 compiler can overlap the FPU latency. The
// exponentials are the library's own (exp_f32_shared, exp_scalar.hpp), as in every set.
#include "kernels/loss/loss.hpp"

#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {
namespace {

void row_max_sumexp_f32_scalar(std::size_t n, const float* x, float* max, float* sum) {
  float m = x[0];
  for (std::size_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += exp_f32_shared(x[i] - m);
    s1 += exp_f32_shared(x[i + 1] - m);
    s2 += exp_f32_shared(x[i + 2] - m);
    s3 += exp_f32_shared(x[i + 3] - m);
  }
  for (; i < n; ++i) s0 += exp_f32_shared(x[i] - m);
  *max = m;
  *sum = (s0 + s1) + (s2 + s3);
}

void row_scaled_exp_f32_scalar(std::size_t n, const float* x, float shift, float scale, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = exp_f32_shared(x[i] - shift) * scale;
}

}  // namespace

const loss_kernels loss_scalar = {row_max_sumexp_f32_scalar, row_scaled_exp_f32_scalar};

}  // namespace qkv::kern
