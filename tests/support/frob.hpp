// SPDX-License-Identifier: MIT
// The Frobenius norm of a difference, for the normwise bounds of the
// reduced-precision tests.
#pragma once

#include <cmath>
#include <cstddef>

namespace qkv_test {

// ||a - b|| over n values, in double (b null: ||a||).
inline double frob(const float* a, const float* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = double(a[i]) - (b ? double(b[i]) : 0.0);
    s += e * e;
  }
  return std::sqrt(s);
}

}  // namespace qkv_test
