// SPDX-License-Identifier: MIT
// requant - the fixed-point requantization of the int8 layer (the rules:
// qkv/layer_int8.h), written once for the ops (ops/int8_fixed.hpp) and the
// kernels (the int8 row epilogues of kernels/vec). Internal linkage: per-ISA
// kernel objects include it too.
#pragma once

#include <cstdint>

namespace qkv::util {
namespace {

// Plain 32-bit integer code plus one 32x32->64 multiply: no 64-bit shifts by
// a variable count or divisions, so a Cortex-M needs no libgcc helper.

// a * 2^left saturated to int32, left in [0, 30].
inline std::int32_t sat_shl(std::int32_t a, int left) noexcept {
  if (a > (INT32_MAX >> left)) return INT32_MAX;
  if (a < (INT32_MIN >> left)) return INT32_MIN;
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) << left);
}

// Saturating rounding doubling high multiply (gemmlowp, TFLite): ties up.
inline std::int32_t srdhm(std::int32_t a, std::int32_t b) noexcept {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const std::int64_t ab = static_cast<std::int64_t>(a) * b;
  const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : (1 - (std::int64_t{1} << 30));
  return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));
}

// x / 2^e rounded to nearest, ties away from zero; e in [0, 31].
inline std::int32_t rdbpot(std::int32_t x, int e) noexcept {
  const std::uint32_t mask = e ? 0xffffffffu >> (32 - e) : 0u;
  const std::uint32_t rem = static_cast<std::uint32_t>(x) & mask;
  const std::uint32_t threshold = (mask >> 1) + (x < 0 ? 1u : 0u);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

// TFLite's MultiplyByQuantizedMultiplier with the input saturated first:
// requant(acc, m) of qkv/layer_int8.h for m = (multiplier, shift).
inline std::int32_t requant_q31(std::int32_t acc, std::int32_t multiplier, std::int32_t shift) noexcept {
  const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(sat_shl(acc, left), multiplier), right);
}

inline std::int8_t clamp_s8(std::int32_t v) noexcept {
  return static_cast<std::int8_t>(v > 127 ? 127 : v < -128 ? -128 : v);
}

inline std::int32_t sat_add(std::int32_t a, std::int32_t b) noexcept {
  const std::int64_t s = static_cast<std::int64_t>(a) + b;
  return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : static_cast<std::int32_t>(s);
}


}  // namespace
}  // namespace qkv::util
