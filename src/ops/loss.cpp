// SPDX-License-Identifier: MIT
#include "ops/loss.hpp"

#include <cmath>

#include "kernels/loss/loss.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {
namespace {

// The reduction: rows are cut into at most kBlocks blocks by a rule that
// depends on the row count only; each block sums its rows in order and the
// blocks are added in order. So the result is the same for any thread count,
// and no workspace is needed (the partial sums live on the stack).
constexpr std::size_t kBlocks = 64;

// Per logit: an exp (counted as 10 flops) plus the max and sum passes.
constexpr float kFlopsPerLogit = 15.0f;

}  // namespace

wide cross_entropy(const exec& xc, std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                     const std::int32_t* targets, std::int32_t ignore, float scale, float* dlogits,
                     std::size_t ldd) noexcept {
  const auto& k = kern::loss_for(xc.isa);
  const std::size_t blocks = rows < kBlocks ? rows : kBlocks;
  wide partial[kBlocks];
  auto block = [&](std::size_t b) {
    const std::size_t r0 = b * rows / blocks, r1 = (b + 1) * rows / blocks;
    wide_sum s;
    for (std::size_t r = r0; r < r1; ++r) {
      const float* x = logits + r * ld;
      float* y = dlogits ? dlogits + r * ldd : nullptr;
      const std::int32_t t = targets[r];
      if (t == ignore) {
        if (y)
          for (std::size_t j = 0; j < classes; ++j) y[j] = 0.f;
        continue;
      }
      float m, sum;
      k.row_max_sumexp_f32(classes, x, &m, &sum);
      // Read x[t] before y (possibly x itself) is overwritten.
      s.add((static_cast<wide>(m) - static_cast<wide>(x[t])) + std::log(static_cast<wide>(sum)));
      if (y) {
        k.row_scaled_exp_f32(classes, x, m, scale / sum, y);
        y[t] -= scale;
      }
    }
    partial[b] = s.value();
  };
  const float flops = (dlogits ? 1.5f : 1.0f) * kFlopsPerLogit * static_cast<float>(rows * classes);
  parallel_for_blocks(xc, blocks, flops, block);
  wide_sum total;
  for (std::size_t b = 0; b < blocks; ++b) total.add(partial[b]);
  return total.value();
}

}  // namespace qkv::ops
