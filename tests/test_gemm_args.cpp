// SPDX-License-Identifier: MIT
// The SGEMM C boundary: every bad argument gets its status and leaves C
// (and the size query's output) untouched.
#include <cstdint>
#include <cstring>
#include <vector>

#include "qkv/gemm.h"
#include "support/isa.hpp"

namespace {

struct fixture {
  // op(A) 3x4, op(B) 4x5, C 3x5, no padding.
  std::vector<float> A = std::vector<float>(12, 1.f), B = std::vector<float>(20, 1.f), C = std::vector<float>(15, 7.f);
  qkv_status call(qkv_trans ta, qkv_trans tb, std::size_t lda, std::size_t ldb, std::size_t ldc, const float* a,
                  const float* b, float* c) {
    return qkv_sgemm(ta, tb, 3, 5, 4, 1.f, a, lda, b, ldb, 0.f, c, ldc);
  }
  bool untouched() const {
    for (float x : C)
      if (x != 7.f) return false;
    return true;
  }
};

// An out-of-range enum value as C code can pass it (C++ cannot spell one
// without a conversion warning, so copy the bytes).
qkv_trans bad_trans(int v) {
  qkv_trans t;
  static_assert(sizeof t == sizeof v, "qkv_trans is int-sized");
  std::memcpy(&t, &v, sizeof t);
  return t;
}

}  // namespace

TEST_CASE("sgemm rejects bad arguments and leaves C untouched", "[gemm][args]") {
  fixture f;
  float *a = f.A.data(), *b = f.B.data(), *c = f.C.data();
  const auto N = QKV_NO_TRANS, T = QKV_TRANS;
  CHECK(f.call(bad_trans(2), N, 4, 5, 5, a, b, c) == QKV_ERR_BAD_ARGUMENT);
  CHECK(f.call(N, bad_trans(-1), 4, 5, 5, a, b, c) == QKV_ERR_BAD_ARGUMENT);
  CHECK(f.call(N, N, 4, 5, 5, nullptr, b, c) == QKV_ERR_NULL_POINTER);
  CHECK(f.call(N, N, 4, 5, 5, a, nullptr, c) == QKV_ERR_NULL_POINTER);
  CHECK(f.call(N, N, 4, 5, 5, a, b, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(f.call(N, N, 3, 5, 5, a, b, c) == QKV_ERR_BAD_STRIDE);  // lda < K
  CHECK(f.call(T, N, 2, 5, 5, a, b, c) == QKV_ERR_BAD_STRIDE);  // transposed: lda < M
  CHECK(f.call(N, N, 4, 4, 5, a, b, c) == QKV_ERR_BAD_STRIDE);  // ldb < N
  CHECK(f.call(N, T, 4, 3, 5, a, b, c) == QKV_ERR_BAD_STRIDE);  // transposed: ldb < K
  CHECK(f.call(N, N, 4, 5, 4, a, b, c) == QKV_ERR_BAD_STRIDE);  // ldc < N
  // (rows-1)*ld + cols past PTRDIFF_MAX bytes: never dereferenced, refused first.
  const std::size_t huge = SIZE_MAX / 8;
  CHECK(f.call(N, N, huge, 5, 5, a, b, c) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(f.call(N, N, 4, 5, huge, a, b, c) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_sgemm(N, N, 3, huge, 4, 1.f, a, 4, b, huge, 0.f, c, huge) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(f.untouched());
  // The same checks guard qkv_sgemm_ws.
  CHECK(qkv_sgemm_ws(N, N, 3, 5, 4, 1.f, a, 3, b, 5, 0.f, c, 5, nullptr, 0) == QKV_ERR_BAD_STRIDE);
  CHECK(f.untouched());
}

TEST_CASE("sgemm_ws checks the workspace and the size query its arguments", "[gemm][args]") {
  const std::size_t M = 64, N = 64, K = 64;  // large enough to pack (B^T is always packed)
  std::vector<float> A(M * K, 1.f), B(K * N, 1.f), C(M * N, 7.f);
  std::size_t bytes = 0;
  REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1, &bytes) == QKV_OK);
  REQUIRE(bytes > 0);
  std::size_t bytes2 = 0;
  REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, 2, &bytes2) == QKV_OK);
  CHECK(bytes2 >= bytes);  // equal where A is never packed (AVX-512)
  std::vector<unsigned char> ws(bytes);
  CHECK(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N, nullptr,
                     bytes) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N, ws.data(),
                     bytes - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  for (float x : C) REQUIRE(x == 7.f);
  CHECK(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N, ws.data(),
                     bytes) == QKV_OK);
  CHECK(C[0] == float(K));
  // Small problems need no workspace at all.
  std::size_t small = 1;
  REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, 6, 2, 3, 1, &small) == QKV_OK);
  CHECK(small == 0);
  std::size_t untouched = 42;
  CHECK(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, 0, &untouched) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_sgemm_workspace_size(bad_trans(5), QKV_NO_TRANS, M, N, K, 1, &untouched) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, 1, nullptr) == QKV_ERR_NULL_POINTER);
  const qkv_status many = qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1 << 30, &untouched);
  if (sizeof(std::size_t) >= 8 || many == QKV_OK) {
    CHECK(many == QKV_OK);
    CHECK(untouched >= bytes);
  } else {  // a 32-bit size_t may not hold the packed blocks of 2^30 threads (armhf)
    CHECK(many == QKV_ERR_SIZE_OVERFLOW);
    CHECK(untouched == 42);
  }
}
