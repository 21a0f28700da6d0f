// SPDX-License-Identifier: MIT
// rows - small row/column helpers of the layers: bias broadcast and column
// sums in a fixed summation order (each column summed top to bottom by one
// thread), so bias gradients are identical for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"

namespace qkv::ops {

// y[r][j] = b[j] for r < rows, j < cols.
void broadcast_rows(std::size_t rows, std::size_t cols, const float* b, float* y, std::size_t ldy);

// acc[j] += sum_r x[r][j], summed in row order.
void add_column_sums(const exec& xc, std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float* acc);

// add_column_sums (the same bits) and, in the same pass over x, y[r][j] =
// x[r][j] rounded to bf16 (qkv_convert's bits): the bf16 layers' gradient
// of a biased projection, summed and rounded for its GEMMs at once. Hosted
// builds only (defined there).
void add_column_sums_to_bf16(const exec& xc, std::size_t rows, std::size_t cols, const float* x, std::size_t ldx,
                             float* acc, std::uint16_t* y, std::size_t ldy);

// y[i] = x[i] rounded to bf16 (qkv_convert's bits) for i < n, on the team.
void round_to_bf16(const exec& xc, std::size_t n, const float* x, std::uint16_t* y);

}  // namespace qkv::ops
