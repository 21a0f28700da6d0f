// SPDX-License-Identifier: MIT
#include "ops/rows.hpp"

#include <cfloat>

#include "kernels/convert/convert.hpp"
#include "ops/threads.hpp"
#include "util/copy.hpp"

namespace qkv::ops {

void broadcast_rows(std::size_t rows, std::size_t cols, const float* b, float* y, std::size_t ldy) {
  for (std::size_t r = 0; r < rows; ++r) util::copy_floats(y + r * ldy, b, cols);
}

void add_column_sums(const exec& xc, std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float* acc) {
  // Column blocks of 64 are independent; inside one, rows are added in order
  // (vectorized across columns, which does not reorder any column's sum).
  constexpr std::size_t kBlock = 64;
  const std::size_t blocks = (cols + kBlock - 1) / kBlock;
  parallel_for_blocks(xc, blocks, float(rows) * float(cols), [&](std::size_t blk) {
    const std::size_t j0 = blk * kBlock;
    const std::size_t j1 = j0 + kBlock < cols ? j0 + kBlock : cols;
    float sum[kBlock];  // not `= {}`: no memset call (util/copy.hpp)
    for (float& s : sum) s = 0.0f;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = j0; j < j1; ++j) sum[j - j0] += x[r * ldx + j];
    for (std::size_t j = j0; j < j1; ++j) acc[j] += sum[j - j0];
  });
}

#ifdef QKV_HOSTED
void add_column_sums_to_bf16(const exec& xc, std::size_t rows, std::size_t cols, const float* x, std::size_t ldx,
                             float* acc, std::uint16_t* y, std::size_t ldy) {
  const kern::convert_kernels& k = kern::convert_for(xc.isa);
#if FLT_EVAL_METHOD != 0
  // x87 (i686) keeps sums in extended precision wherever the compiler likes:
  // add_column_sums' bits only by calling it, then the rounding pass.
  add_column_sums(xc, rows, cols, x, ldx, acc);
  for (std::size_t r = 0; r < rows; ++r) k.f32_to_bf16(cols, x + r * ldx, y + r * ldy);
  return;
#endif
  // Blocks of 128 columns: each row's piece rounded by one kernel call, then
  // added while it is in L1 (add_column_sums' order and bits).
  constexpr std::size_t kBlock = 128;
  const std::size_t blocks = (cols + kBlock - 1) / kBlock;
  parallel_for_blocks(xc, blocks, 2.0f * float(rows) * float(cols), [&](std::size_t blk) {
    const std::size_t j0 = blk * kBlock, w = j0 + kBlock < cols ? kBlock : cols - j0;
    float sum[kBlock];  // not `= {}`: no memset call (util/copy.hpp)
    for (float& s : sum) s = 0.0f;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* xr = x + r * ldx + j0;
      k.f32_to_bf16(w, xr, y + r * ldy + j0);
      for (std::size_t j = 0; j < w; ++j) sum[j] += xr[j];
    }
    for (std::size_t j = 0; j < w; ++j) acc[j0 + j] += sum[j];
  });
}
#endif

// Rounds n >= 0 floats to bf16 in blocks of 16 Ki elements on the team.
// Elementwise, so any number of threads gives the same bits.
void round_to_bf16(const exec& xc, std::size_t n, const float* x, std::uint16_t* y) {
  if (n == 0) return;
  constexpr std::size_t kBlock = 16384;
  const kern::convert_kernels& k = kern::convert_for(xc.isa);
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for_blocks(xc, blocks, static_cast<float>(n) * 4, [&](std::size_t b) {
    const std::size_t i = b * kBlock;
    k.f32_to_bf16(kBlock < n - i ? kBlock : n - i, x + i, y + i);
  });
}

}  // namespace qkv::ops
