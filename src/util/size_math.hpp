// SPDX-License-Identifier: MIT
// size_math - the one home of size arithmetic: overflow-checked products and
// sums (the C boundary checks every size it derives from caller input with
// these; the ops size their workspaces with them) and rounding to a multiple
// or an alignment.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::util {

// a * b and a + b into *out; false (and *out unspecified) on overflow.
inline bool mul_ok(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool add_ok(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  return !__builtin_add_overflow(a, b, out);
}

// x rounded up to a multiple of m (m >= 1; the caller knows it cannot overflow).
constexpr std::size_t round_up(std::size_t x, std::size_t m) noexcept { return (x + m - 1) / m * m; }

// The first address at or after p that is a multiple of `align` (a power of two).
template <class T = float>
inline T* align_up(void* p, std::size_t align) noexcept {
  const auto u = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<T*>((u + align - 1) & ~static_cast<std::uintptr_t>(align - 1));
}

}  // namespace qkv::util
