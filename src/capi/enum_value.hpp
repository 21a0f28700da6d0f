// SPDX-License-Identifier: MIT
// enum_value.hpp - reading a C caller's enum argument without UB.
//
// C lets a caller pass any int where a function takes an enum, and the API
// promises a status for values outside it. In C++, loading a value outside
// the range of an enum without a fixed underlying type is undefined
// (UBSan -fsanitize=enum reports it), so the boundary reads the argument's
// bits as an integer first and compares integers.
#pragma once

#include <cstring>
#include <type_traits>

namespace qkv::capi {

template <class E>
inline long long enum_value(const E& e) noexcept {
  static_assert(std::is_enum<E>::value, "enums only");
  std::underlying_type_t<E> v;
  std::memcpy(&v, &e, sizeof v);
  return static_cast<long long>(v);
}

}  // namespace qkv::capi
