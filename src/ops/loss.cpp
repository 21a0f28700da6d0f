#include "ops/loss.hpp"

#include <cmath>

#include "dispatch/dispatch.hpp"
#include "kernels/loss/loss.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {
namespace {

// The forward's reduction: rows are cut into at most kBlocks blocks by a rule
// that depends on the row count only; each block sums its rows in order and
// the blocks are added in order. So the result is the same for any thread
// count, and no workspace is needed (the partial sums live on the stack).
constexpr std::size_t kBlocks = 64;

// Per logit: an exp (counted as 10 flops) plus the max and sum passes.
constexpr double kFlopsPerLogit = 15.0;

}  // namespace

double cross_entropy_sum(std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                         const std::int32_t* targets, std::int32_t ignore) noexcept {
  const auto& k = kern::loss_for(dispatch::active());
  const std::size_t blocks = rows < kBlocks ? rows : kBlocks;
  double partial[kBlocks];
  auto block_sum = [&](std::size_t b) {
    const std::size_t r0 = b * rows / blocks, r1 = (b + 1) * rows / blocks;
    double s = 0.0;
    for (std::size_t r = r0; r < r1; ++r) {
      if (targets[r] == ignore) continue;
      const float* x = logits + r * ld;
      float m, sum;
      k.row_max_sumexp_f32(classes, x, &m, &sum);
      s += (static_cast<double>(m) - x[targets[r]]) + std::log(static_cast<double>(sum));
    }
    partial[b] = s;
  };
#ifdef _OPENMP
  const int nt = threads_for(kFlopsPerLogit * static_cast<double>(rows * classes), blocks);
  if (nt > 1) {
    const auto nb = static_cast<long long>(blocks);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long long b = 0; b < nb; ++b) block_sum(static_cast<std::size_t>(b));
  } else
#endif
  {
    for (std::size_t b = 0; b < blocks; ++b) block_sum(b);
  }
  double total = 0.0;
  for (std::size_t b = 0; b < blocks; ++b) total += partial[b];
  return total;
}

void cross_entropy_grad(std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                        const std::int32_t* targets, std::int32_t ignore, float scale, float* dlogits,
                        std::size_t ldd) noexcept {
  const auto& k = kern::loss_for(dispatch::active());
  auto row = [&](std::size_t r) {
    const float* x = logits + r * ld;
    float* y = dlogits + r * ldd;
    if (targets[r] == ignore) {
      for (std::size_t j = 0; j < classes; ++j) y[j] = 0.f;
      return;
    }
    float m, sum;
    k.row_max_sumexp_f32(classes, x, &m, &sum);
    k.row_scaled_exp_f32(classes, x, m, scale / sum, y);
    y[targets[r]] -= scale;
  };
#ifdef _OPENMP
  const int nt = threads_for(1.5 * kFlopsPerLogit * static_cast<double>(rows * classes), rows);
  if (nt > 1) {
    const auto nr = static_cast<long long>(rows);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long long r = 0; r < nr; ++r) row(static_cast<std::size_t>(r));
    return;
  }
#endif
  for (std::size_t r = 0; r < rows; ++r) row(r);
}

}  // namespace qkv::ops
