// SPDX-License-Identifier: MIT
// softmax - the row-wise stable softmax driver: max, exp-sum, normalize per
// row with the call's ISA's kernels, rows threaded (each row is computed by
// one thread, so the result does not depend on the thread count).
#pragma once

#include <cstddef>

#include "kernels/softmax/softmax.hpp"
#include "ops/exec.hpp"

namespace qkv::ops {

// One row of n >= 1 floats: y = softmax(scale*x) (or log-softmax when `log`).
// y may equal x. Returns the row's log-sum-exp of scale*x (-INFINITY for a
// row that is entirely -INFINITY, which gives zeros / -INFINITY).
float softmax_row(const kern::softmax_kernels& k, std::size_t n, float scale, const float* x, float* y,
                  bool log) noexcept;

// rows x cols, leading dimensions ldx, ldy (validated by the caller).
void softmax_rows(const exec& xc, std::size_t rows, std::size_t cols, float scale, const float* x, std::size_t ldx, float* y,
                  std::size_t ldy, bool log) noexcept;

}  // namespace qkv::ops
