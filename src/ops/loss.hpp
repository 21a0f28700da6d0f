// SPDX-License-Identifier: MIT
// loss - the cross-entropy driver: rows in parallel, a reduction whose order
// depends only on the row count. Arguments (targets included) are validated
// by the C boundary.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"
#include "ops/wide.hpp"

namespace qkv::ops {

// Returns the sum, in `wide` (ops/wide.hpp), of lse(row) - row[target] over rows whose
// target != ignore. When dlogits is not null also writes
//   dlogits[r] = scale * (softmax(logits[r]) - onehot(targets[r]))
// for counted rows and zeros for ignored ones; dlogits may be logits (ldd ==
// ld). The sum does not depend on whether the gradient is written.
wide cross_entropy(const exec& x, std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                     const std::int32_t* targets, std::int32_t ignore, float scale, float* dlogits,
                     std::size_t ldd) noexcept;

}  // namespace qkv::ops
