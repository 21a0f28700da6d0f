// SPDX-License-Identifier: MIT
#include "ops/optim_init.hpp"

#include "ops/threads.hpp"

namespace qkv::ops {

void init_uniform(const exec& x, float* p, std::size_t n, float bound, std::uint64_t seed) noexcept {
  const std::uint64_t key = init_key(seed);
  // ~10 integer ops per element; every element independent.
  parallel_for_blocks(x, n, 10.0f * static_cast<float>(n),
                      [&](std::size_t i) { p[i] = init_uniform_value(key, i, bound); });
}

}  // namespace qkv::ops
