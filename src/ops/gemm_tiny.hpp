// SPDX-License-Identifier: MIT
// gemm_tiny - the tiny-call path of sgemm, inline so that the C boundary
// calls the kernel's unpacked routine directly: no second frame, no
// arguments passed twice (the book's 6x2x3 costs ~25 ns in all).
//
// Library-internal: kern::gemm_for() depends on the QKV_HAVE_* definitions
// of the library's own translation units. Never include this from outside
// src/ (an inline copy compiled without them would pick other kernels).
#pragma once

#include <cstddef>

#include "kernels/gemm/gemm.hpp"
#include "ops/gemm.hpp"

namespace qkv::ops {

// Runs C = alpha*op(A)*op(B) + beta*C on `isa` (< 0: not decided yet) and
// returns true when the problem is for the unpacked kernel (non-empty,
// alpha != 0, sgemm_is_small); returns false, touching nothing, otherwise.
inline bool sgemm_tiny(int isa, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                       const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                       std::size_t ldc) {
  if (__builtin_expect(isa >= 0 && M && N && K && alpha != 0.f && sgemm_is_small(M, N, K), 1)) {
    kern::gemm_for(static_cast<qkv_isa>(isa)).direct(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return true;
  }
  return false;
}

}  // namespace qkv::ops
