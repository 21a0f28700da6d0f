#include "ops/rows.hpp"

#include <cstring>

#include "ops/threads.hpp"

namespace qkv::ops {

void broadcast_rows(std::size_t rows, std::size_t cols, const float* b, float* y, std::size_t ldy) {
  for (std::size_t r = 0; r < rows; ++r) std::memcpy(y + r * ldy, b, cols * sizeof(float));
}

void add_column_sums(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, float* acc) {
  // Column blocks of 64 are independent; inside one, rows are added in order
  // (vectorized across columns, which does not reorder any column's sum).
  constexpr std::size_t kBlock = 64;
  const std::size_t blocks = (cols + kBlock - 1) / kBlock;
  parallel_for_blocks(blocks, double(rows) * double(cols), [&](std::size_t blk) {
    const std::size_t j0 = blk * kBlock;
    const std::size_t j1 = j0 + kBlock < cols ? j0 + kBlock : cols;
    float sum[kBlock] = {};
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = j0; j < j1; ++j) sum[j - j0] += x[r * ldx + j];
    for (std::size_t j = j0; j < j1; ++j) acc[j] += sum[j - j0];
  });
}

}  // namespace qkv::ops
