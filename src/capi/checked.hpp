// SPDX-License-Identifier: MIT
// checked.hpp - the C boundary's size checks. Every size the boundary
// derives from caller input (products of dims and strides, workspace
// formulas) goes through util/size_math.hpp's overflow-checked arithmetic, so
// a huge dimension is a status, never a wrapped pointer offset.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/size_math.hpp"

namespace qkv::capi {

// Largest element count we accept: every offset must fit in ptrdiff_t when
// scaled by sizeof(float).
constexpr std::size_t kMaxElems = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(float);

using util::add_ok;
using util::mul_ok;

// Elements spanned by a rows x cols row-major matrix with leading dimension
// ld: (rows-1)*ld + cols, 0 for an empty matrix. False on overflow or past
// kMaxElems. Overflow builtins, not divisions: sgemm runs it on every call.
inline bool matrix_extent(std::size_t rows, std::size_t cols, std::size_t ld, std::size_t* elems) noexcept {
  if (rows == 0 || cols == 0) {
    *elems = 0;
    return true;
  }
  std::size_t e;
  if (!mul_ok(rows - 1, ld, &e) || !add_ok(e, cols, &e) || e > kMaxElems) return false;
  *elems = e;
  return true;
}

}  // namespace qkv::capi
