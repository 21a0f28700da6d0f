// SPDX-License-Identifier: MIT
// vec - level-1 fp32 kernels. Contract: contiguous arrays of n floats,
// no allocation, no threads; deterministic summation order per ISA.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct vec_kernels {
  float (*dot)(std::size_t n, const float* x, const float* y);
  void (*axpy)(std::size_t n, float alpha, const float* x, float* y);
  // y[i] = dot(n, x + i*ldx, v) for i < m: each row summed in dot's order
  // (its partial sums, then the tail), v loaded once for a group of rows
  // (the skinny gemm_ex's transposed B: m rows of A against one column).
  void (*dot_rows)(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y);
};

QKV_DECLARE_KERNEL_TABLES_MVE(vec_kernels, vec)

}  // namespace qkv::kern
