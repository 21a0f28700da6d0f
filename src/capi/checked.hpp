// checked.hpp - overflow-checked size arithmetic for the C boundary. Every
// size the boundary derives from caller input (products of dims and strides,
// workspace formulas) goes through these, so a huge dimension is a status,
// never a wrapped pointer offset.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::capi {

// Largest element count we accept: every offset must fit in ptrdiff_t when
// scaled by sizeof(float).
constexpr std::size_t kMaxElems = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(float);

inline bool mul_ok(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool add_ok(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  return !__builtin_add_overflow(a, b, out);
}

// Elements spanned by a rows x cols row-major matrix with leading dimension
// ld: (rows-1)*ld + cols, 0 for an empty matrix. False on overflow.
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
