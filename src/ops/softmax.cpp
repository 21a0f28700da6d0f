// SPDX-License-Identifier: MIT
#include "ops/softmax.hpp"

#include <cmath>

#include "ops/threads.hpp"

namespace qkv::ops {

float softmax_row(const kern::softmax_kernels& k, std::size_t n, float scale, const float* x, float* y,
                  bool log) noexcept {
  constexpr float kNegInf = -__builtin_huge_valf();
  // Exponents are scale*(x - max): the largest is exactly 0, so the sum is in
  // [1, n] however large scale*max is (an fma against a rounded scale*max
  // could overflow there).
  // An all -inf (fully masked) row, or one whose max missed a NaN: subtract
  // 0 instead, so masked entries give exp(-inf) = 0 and a NaN stays NaN.
  const float m = k.max(n, x);
  const float xmax = m == kNegInf ? 0.0f : m;
  const float sum = k.exp_sum(n, scale, xmax, x, log ? nullptr : y);
  if (sum == 0.0f) {  // a fully masked row
    for (std::size_t j = 0; j < n; ++j) y[j] = log ? kNegInf : 0.0f;
    return kNegInf;
  }
  const float log_sum = std::log(sum);
  if (log)
    k.affine(n, scale, xmax, log_sum, x, y);
  else
    k.mul(n, 1.0f / sum, y);
  return scale * xmax + log_sum;
}

void softmax_rows(const exec& xc, std::size_t rows, std::size_t cols, float scale, const float* x, std::size_t ldx,
                  float* y, std::size_t ldy, bool log) noexcept {
  const kern::softmax_kernels& k = kern::softmax_for(xc.isa);
  // ~25 flops per element (max, exp, sum, scale).
  parallel_for_blocks(xc, rows, 25.0f * static_cast<float>(rows) * static_cast<float>(cols),
                      [&](std::size_t i) { softmax_row(k, cols, scale, x + i * ldx, y + i * ldy, log); });
}

}  // namespace qkv::ops
