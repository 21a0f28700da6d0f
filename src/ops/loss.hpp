// loss - drivers of the cross-entropy loss: rows in parallel, a reduction
// whose order depends only on the row count. Arguments (targets included)
// are validated by the C boundary.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::ops {

// Sum over rows whose target != ignore of lse(row) - row[target], in double.
double cross_entropy_sum(std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                         const std::int32_t* targets, std::int32_t ignore) noexcept;

// dlogits[r] = scale * (softmax(logits[r]) - onehot(targets[r])) for counted
// rows, 0 for ignored ones. dlogits may be logits (ldd == ld).
void cross_entropy_grad(std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                        const std::int32_t* targets, std::int32_t ignore, float scale, float* dlogits,
                        std::size_t ldd) noexcept;

}  // namespace qkv::ops
