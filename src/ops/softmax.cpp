#include "ops/softmax.hpp"

#include <cmath>

#include "dispatch/dispatch.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {

float softmax_row(const kern::softmax_kernels& k, std::size_t n, float scale, const float* x, float* y,
                  bool log) noexcept {
  constexpr float kNegInf = -__builtin_huge_valf();
  // scale > 0, and rounding is monotonic, so max(scale*x) == scale*max(x).
  const float m = scale * k.max(n, x);
  // An all -inf (fully masked) row: exp(-inf - 0) = 0 below, and sum == 0.
  const float shift = m == kNegInf ? 0.0f : m;
  const float sum = k.exp_sum(n, scale, shift, x, log ? nullptr : y);
  if (sum == 0.0f) {
    for (std::size_t j = 0; j < n; ++j) y[j] = log ? kNegInf : 0.0f;
    return kNegInf;
  }
  const float lse = shift + std::log(sum);
  if (log)
    k.affine(n, scale, lse, x, y);
  else
    k.mul(n, 1.0f / sum, y);
  return lse;
}

void softmax_rows(std::size_t rows, std::size_t cols, float scale, const float* x, std::size_t ldx, float* y,
                  std::size_t ldy, bool log) noexcept {
  const kern::softmax_kernels& k = kern::softmax_for(dispatch::active());
  // ~25 flops per element (max, exp, sum, scale).
  const int threads = threads_for(25.0 * static_cast<double>(rows) * static_cast<double>(cols), rows);
  const auto n = static_cast<long long>(rows);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (long long r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    softmax_row(k, cols, scale, x + i * ldx, y + i * ldy, log);
  }
  (void)threads;
}

}  // namespace qkv::ops
