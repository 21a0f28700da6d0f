// SPDX-License-Identifier: MIT
// copy - float copy and zero-fill: memcpy/memset on hosted builds, plain
// loops on bare metal, which compiles with -fno-tree-loop-distribute-patterns
// so that the library needs nothing from the C library but libm. (GCC 12 at
// -O2 neither vectorizes these loops nor turns them into the libc calls: as
// loops they cost 10 % of the fused attention backward.) Code built for bare
// metal also avoids `= {}` on arrays and large structs, which GCC clears with
// a memset call at -Os.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace qkv::util {

// dst and src do not overlap.
inline void copy_floats(float* dst, const float* src, std::size_t n) noexcept {
#ifdef QKV_HOSTED
  if (n) std::memcpy(dst, src, n * sizeof(float));
#else
  for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
#endif
}

inline void zero_floats(float* dst, std::size_t n) noexcept {
#ifdef QKV_HOSTED
  if (n) std::memset(dst, 0, n * sizeof(float));  // all-zero bits are +0.0f
#else
  for (std::size_t i = 0; i < n; ++i) dst[i] = 0.0f;
#endif
}

// n bytes, dst and src do not overlap (small headers: a plain loop everywhere).
inline void copy_bytes(void* dst, const void* src, std::size_t n) noexcept {
  unsigned char* d = static_cast<unsigned char*>(dst);
  const unsigned char* s = static_cast<const unsigned char*>(src);
  for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
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
