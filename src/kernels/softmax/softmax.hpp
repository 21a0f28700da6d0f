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
  // y[i] = exp(scale*x[i] - shift), returns sum_i y[i]. y may equal x, or be
  // nullptr to get the sum only.
  float (*exp_sum)(std::size_t n, float scale, float shift, const float* x, float* y);
  // y[i] = scale*x[i] - shift (one rounding). y may equal x.
  void (*affine)(std::size_t n, float scale, float shift, const float* x, float* y);
  // y[i] *= a.
  void (*mul)(std::size_t n, float a, float* y);
};

QKV_DECLARE_KERNEL_TABLES(softmax_kernels, softmax)

}  // namespace qkv::kern
