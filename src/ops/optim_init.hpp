// SPDX-License-Identifier: MIT
// optim_init - the counter-based uniform initializer behind qkv_init_uniform.
// Element i is a pure function of (seed, i): integer hashing, an exact
// conversion to float and one rounding (the multiply by bound), so every
// platform, ISA and thread count gives the same bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"

namespace qkv::ops {

// splitmix64's finalizer: a bijective 64-bit mixer with full avalanche.
inline std::uint64_t init_mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The value of element i: (2k + 1 - 2^23) / 2^23 * bound, k the top 23 bits
// of the hash of (seed, i). 2k + 1 - 2^23 is odd and below 2^23 in
// magnitude, so the conversion and the scaling by 2^-23 are exact.
inline float init_uniform_value(std::uint64_t key, std::uint64_t i, float bound) noexcept {
  const auto k = static_cast<std::int32_t>(init_mix64(key + (i + 1) * 0x9E3779B97F4A7C15ull) >> 41);
  const auto centered = static_cast<float>(2 * k + 1 - (std::int32_t{1} << 23));
  return centered * (1.0f / 8388608.0f) * bound;
}

// The per-seed key, mixed once per call.
inline std::uint64_t init_key(std::uint64_t seed) noexcept { return init_mix64(seed ^ 0x243F6A8885A308D3ull); }

void init_uniform(const exec& x, float* p, std::size_t n, float bound, std::uint64_t seed) noexcept;

}  // namespace qkv::ops
