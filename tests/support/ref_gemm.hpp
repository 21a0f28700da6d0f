// SPDX-License-Identifier: MIT
// ref_gemm - the C++ face of the SGEMM oracle (tests/ref/ref_gemm.h, where
// the arithmetic and the error bound are): vectors out.
#pragma once

#include <cstddef>
#include <vector>

#include "ref/ref_gemm.h"

namespace qkv_test {

struct gemm_ref_result {
  std::vector<double> value;  // alpha*op(A)*op(B) + beta*C, M x N
  std::vector<double> bound;  // allowed |computed - value| per element
};

// Row-major, ld in elements, op as in qkv_sgemm. beta == 0 ignores C.
inline gemm_ref_result ref_sgemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                                 const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
                                 const float* C, std::size_t ldc) {
  gemm_ref_result r;
  r.value.resize(M * N);
  r.bound.resize(M * N);
  qkv_ref_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, r.value.data(), r.bound.data());
  return r;
}

}  // namespace qkv_test
