// copy - float copy and zero-fill as plain loops instead of memcpy/memset.
// Hosted compilers turn these loops back into the libc calls (or inline
// vector code); bare-metal builds compile with -fno-tree-loop-distribute-
// patterns, so the library needs nothing from the C library but libm. Code
// built for bare metal also avoids `= {}` on arrays and large structs, which
// GCC clears with a memset call at -Os.
#pragma once

#include <cstddef>
#include <type_traits>

namespace qkv::util {

inline void copy_floats(float* dst, const float* src, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
}

inline void zero_floats(float* dst, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) dst[i] = 0.0f;
}

// A trivially copyable T with every byte zero, for aggregates that `T t{}`
// would clear with a memset call: all-zero bits are 0, 0.0f and nullptr on
// every target. The loop is written bytewise so no type is punned.
template <class T>
T zeroed() noexcept {
  static_assert(std::is_trivially_copyable<T>::value, "zeroed() is for plain structs");
  T t;
  auto* p = reinterpret_cast<unsigned char*>(&t);
  for (std::size_t i = 0; i < sizeof t; ++i) p[i] = 0;
  return t;
}

}  // namespace qkv::util
