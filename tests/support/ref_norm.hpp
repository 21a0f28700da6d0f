// SPDX-License-Identifier: MIT
// ref_norm - the C++ face of the LayerNorm/RMSNorm oracle (tests/ref/ref_norm.h,
// where the arithmetic is): results as dense vectors.
#pragma once

#include <cstddef>
#include <vector>

#include "ref/ref_norm.h"

namespace qkv_test {

struct ref_norm_fwd {
  std::vector<double> s, y, mean, rstd;  // s, y: [rows][n] dense
};

inline ref_norm_fwd ref_norm_forward(bool rms, std::size_t rows, std::size_t n, double eps, const float* x,
                                     std::size_t ldx, const float* res, std::size_t ldr, const float* gamma,
                                     const float* beta) {
  ref_norm_fwd f{std::vector<double>(rows * n), std::vector<double>(rows * n), std::vector<double>(rows),
                 std::vector<double>(rows)};
  qkv_ref_norm_forward(rms ? 1 : 0, rows, n, eps, x, ldx, res, ldr, gamma, beta, f.s.data(), f.y.data(),
                       f.mean.data(), f.rstd.data());
  return f;
}

struct ref_norm_bwd {
  std::vector<double> dx, dgamma, dbeta;  // dx: [rows][n] dense
};

inline ref_norm_bwd ref_norm_backward(bool rms, std::size_t rows, std::size_t n, double eps, const float* x,
                                      std::size_t ldx, const float* gamma, const float* dy, std::size_t ldy) {
  ref_norm_bwd b{std::vector<double>(rows * n), std::vector<double>(n), std::vector<double>(n)};
  qkv_ref_norm_backward(rms ? 1 : 0, rows, n, eps, x, ldx, gamma, dy, ldy, b.dx.data(), b.dgamma.data(),
                        b.dbeta.data());
  return b;
}

}  // namespace qkv_test
