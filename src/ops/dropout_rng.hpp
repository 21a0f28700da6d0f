// SPDX-License-Identifier: MIT
// dropout_rng - the counter-based random stream behind attention dropout.
// A weight (b, h, i, j) is kept iff bits(row_key(seed, b, h, i), j) >=
// threshold(p). Being a pure function of its coordinates, the mask is the
// same in the forward and the backward pass and for any thread count or
// tiling, and it is never stored.
#pragma once

#include <cstdint>

namespace qkv::ops::dropout {

// splitmix64's finalizer: a bijective 64-bit mixer with full avalanche.
inline std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Per query row, computed once per row so the per-key cost is one mix.
inline std::uint64_t row_key(std::uint64_t seed, std::uint64_t batch, std::uint64_t head,
                             std::uint64_t query) noexcept {
  std::uint64_t z = mix64(seed ^ 0x6A09E667F3BCC909ull);
  z = mix64(z ^ (batch * 0x9E3779B97F4A7C15ull));
  z = mix64(z ^ (head * 0xC2B2AE3D27D4EB4Full));
  return mix64(z ^ (query * 0x165667B19E3779F9ull));
}

inline std::uint32_t bits(std::uint64_t row, std::uint64_t key) noexcept {
  return static_cast<std::uint32_t>(mix64(row + (key + 1) * 0xD6E8FEB86659FD93ull) >> 32);
}

// Keep iff bits >= threshold: P(drop) = threshold / 2^32 = p to within 2^-32.
inline std::uint32_t threshold(float p) noexcept {
  // Exact in float (a power-of-two scale), so no double is needed.
  const float t = p * 4294967296.0f;
  return t >= 4294967295.0f ? 0xFFFFFFFFu : static_cast<std::uint32_t>(t);
}

inline bool keep(std::uint64_t row, std::uint64_t key, std::uint32_t thresh) noexcept {
  return bits(row, key) >= thresh;
}

}  // namespace qkv::ops::dropout
