// SPDX-License-Identifier: MIT
// half - scalar bf16 / fp16 <-> fp32 conversions by the rules of
// qkv/dtype.h (round to nearest even, NaN kept quiet with its sign and top
// payload bits, overflow to Inf, subnormals produced, never flushed). The
// reference every vectorised conversion matches bit for bit, and the
// conversion used where one value at a time is converted (packing edges).
// Integer arithmetic only: no FPU mode (rounding, flush-to-zero) changes it.
#pragma once

#include <cstdint>

namespace qkv::util {
// Internal linkage: per-ISA kernel objects include this too, and a shared
// weak copy could carry one ISA's instructions into another's path.
namespace {

inline std::uint32_t f32_bits(float x) noexcept {
  std::uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  return u;
}
inline float f32_from_bits(std::uint32_t u) noexcept {
  float x;
  __builtin_memcpy(&x, &u, sizeof x);
  return x;
}

// Each conversion exists on bit patterns (*_bits: what the kernels use, so
// that no value passes through an FPU register: i686's x87 loads quiet a
// signaling NaN) and on values.

// bf16 -> fp32: exact.
inline std::uint32_t bf16_to_f32_bits(std::uint16_t h) noexcept { return static_cast<std::uint32_t>(h) << 16; }

// fp32 -> bf16: round to nearest even; NaN quiet, sign and top payload kept.
inline std::uint16_t f32_bits_to_bf16(std::uint32_t u) noexcept {
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// fp16 -> fp32: exact (subnormals normalised; NaN made quiet, payload shifted
// up, as F16C and NEON do).
inline std::uint32_t f16_to_f32_bits(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return sign | 0x7f800000u | (man ? 0x400000u : 0u) | (man << 13);  // Inf, NaN (quiet)
  if (exp == 0) {
    if (man == 0) return sign;  // +-0
    exp = 113;                  // subnormal: normalise (2^-14 * 0.man)
    while ((man & 0x400u) == 0) {
      man <<= 1;
      --exp;
    }
    man &= 0x3ffu;
    return sign | (exp << 23) | (man << 13);
  }
  return sign | ((exp + 112) << 23) | (man << 13);
}

// fp32 -> fp16: round to nearest even, one rounding; overflow to Inf;
// subnormal results produced; NaN quiet, sign and top payload kept.
inline std::uint16_t f32_bits_to_f16(std::uint32_t u) noexcept {
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (a >= 0x38800000u) {  // normal fp16 result (|x| >= 2^-14)
    const std::uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return static_cast<std::uint16_t>(sign | (r >> 13));
  }
  if (a < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): +-0
  // Subnormal result: value = m * 2^(e-150) with the implicit bit; shift to
  // units of 2^-24 with round to nearest even.
  const std::uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126 - e;  // 14..24 for e in [102, 112]
  const std::uint32_t half = 1u << (shift - 1), rest = m & ((1u << shift) - 1u);
  std::uint32_t q = m >> shift;
  if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry into the smallest normal: correct
  return static_cast<std::uint16_t>(sign | q);
}

inline float bf16_to_f32(std::uint16_t h) noexcept { return f32_from_bits(bf16_to_f32_bits(h)); }
inline std::uint16_t f32_to_bf16(float x) noexcept { return f32_bits_to_bf16(f32_bits(x)); }
inline float f16_to_f32(std::uint16_t h) noexcept { return f32_from_bits(f16_to_f32_bits(h)); }
inline std::uint16_t f32_to_f16(float x) noexcept { return f32_bits_to_f16(f32_bits(x)); }

}  // namespace
}  // namespace qkv::util
