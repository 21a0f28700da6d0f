// SPDX-License-Identifier: MIT
// rows - small row/column helpers of the layers: bias broadcast and column
// sums in a fixed summation order (each column summed top to bottom by one
// thread), so bias gradients are identical for any thread count.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"

namespace qkv::ops {

// y[r][j] = b[j] for r < rows, j < cols.
void broadcast_rows(std::size_t rows, std::size_t cols, const float* b, float* y, std::size_t ldy);

// acc[j] += sum_r x[r][j], summed in row order.
void add_column_sums(const exec& xc, std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float* acc);

}  // namespace qkv::ops
