// SPDX-License-Identifier: MIT
// loss - row kernels of the cross-entropy loss: the stable log-sum-exp
// statistics of a row and the scaled softmax of its gradient. Contract: one
// contiguous row of n >= 1 floats, no allocation, no threads; the summation
// order depends only on n (deterministic for a given ISA).
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct loss_kernels {
  // *max = max_j x[j]; *sum = sum_j exp(x[j] - *max)  (>= 1 for finite x).
  void (*row_max_sumexp_f32)(std::size_t n, const float* x, float* max, float* sum);
  // y[j] = exp(x[j] - shift) * scale for j < n; y may be x (in place).
  void (*row_scaled_exp_f32)(std::size_t n, const float* x, float shift, float scale, float* y);
};

QKV_DECLARE_KERNEL_TABLES(loss_kernels, loss)

}  // namespace qkv::kern
