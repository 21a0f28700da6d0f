// SPDX-License-Identifier: MIT
// softmax - fp32 row kernels behind the stable softmax and the attention
// softmax: a vectorized exp and the passes of a max-subtracted softmax.
// Contract: contiguous rows of n floats, no allocation, no threads; each
// result depends only on its inputs and the ISA (never on the thread count).
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct softmax_kernels {
  // y[i] = exp(x[i]) for x <= 88.3 (+inf above; 0 below -87.33, where the
  // result would be subnormal). Within 2 ulp of the exact value; NaN stays NaN.
  // y may equal x.
  void (*exp)(std::size_t n, const float* x, float* y);
  // max_i x[i] (-INFINITY for n == 0).
  float (*max)(std::size_t n, const float* x);
  // y[i] = exp(scale*(x[i] - xmax)), returns sum_i y[i]; xmax finite and
  // >= every x[i]. Subtracting before scaling makes the largest exponent
  // exactly 0 however large scale*xmax is. y may equal x, or be nullptr to
  // get the sum only.
  float (*exp_sum)(std::size_t n, float scale, float xmax, const float* x, float* y);
  // y[i] = scale*(x[i] - xmax) - offset. y may equal x.
  void (*affine)(std::size_t n, float scale, float xmax, float offset, const float* x, float* y);
  // y[i] *= a.
  void (*mul)(std::size_t n, float a, float* y);
};

QKV_DECLARE_KERNEL_TABLES_MVE(softmax_kernels, softmax)

}  // namespace qkv::kern
