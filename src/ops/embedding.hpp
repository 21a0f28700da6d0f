// SPDX-License-Identifier: MIT
// embedding - drivers of the token + position embedding. Arguments (ids
// included) are validated by the C boundary; `pos`/`dpos` null means no
// positional table, `dtok` null skips the token-table gradient.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"

namespace qkv::ops {

struct embedding_shape {
  std::size_t rows;        // batch * seq_len token rows, row r = b * seq_len + t
  std::size_t seq_len;     // >= 1
  std::size_t dim;         // >= 1
  std::size_t pos_offset;  // position of t = 0
};

// out[r] = tok[ids[r]] + pos[pos_offset + r % seq_len] (pos may be null).
void embedding_forward(const exec& x, const embedding_shape& s, const std::int32_t* ids, const float* tok,
                       const float* pos, float* out, std::size_t ld_out) noexcept;

// dtok[ids[r]] += dout[r] and dpos[pos_offset + r % seq_len] += dout[r], r in order.
void embedding_backward(const exec& x, const embedding_shape& s, const std::int32_t* ids, const float* dout,
                        std::size_t ld_dout, float* dtok, float* dpos) noexcept;

}  // namespace qkv::ops
