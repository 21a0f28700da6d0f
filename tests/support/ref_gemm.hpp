// Double-precision SGEMM oracle and the error bound optimized GEMMs are held to.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace qkv_test {

struct gemm_ref_result {
  std::vector<double> value;  // alpha*op(A)*op(B) + beta*C, M x N, exact-ish
  std::vector<double> bound;  // allowed |computed - value| per element
};

// Row-major, ld in elements, op as in qkv_sgemm. beta == 0 ignores C (NaN
// there must not matter).
//
// Bound: the kernels sum K products in float, in order, one rounding per
// multiply-add (u = eps/2 each), then one rounding for alpha*acc and at most
// two for beta*C + t. The classic recursive-summation bound gives
// |err| <= gamma_{K+1} * (|alpha| * sum_k |a_ik b_kj|) + 2u * |beta c_ij|,
// gamma_n = n*u/(1-n*u) < n*eps/2 * 1.01 for the K here. We allow
// (K + 3) * eps, i.e. about twice that, so the test fails on a real bug
// (a dropped or doubled term is >= one |a b| term) but never on an
// admissible summation order.
inline gemm_ref_result ref_sgemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                                 const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
                                 const float* C, std::size_t ldc) {
  gemm_ref_result r;
  r.value.assign(M * N, 0.0);
  r.bound.assign(M * N, 0.0);
  // Dense op(A), op(B) in double (and their magnitudes): the i-k-j loops
  // below then run over contiguous rows and vectorize.
  std::vector<double> a(M * K), b(K * N), a_abs(M * K), b_abs(K * N), mag(M * N, 0.0);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < K; ++k) a[i * K + k] = ta ? A[k * lda + i] : A[i * lda + k];
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < N; ++j) b[k * N + j] = tb ? B[j * ldb + k] : B[k * ldb + j];
  for (std::size_t x = 0; x < a.size(); ++x) a_abs[x] = std::fabs(a[x]);
  for (std::size_t x = 0; x < b.size(); ++x) b_abs[x] = std::fabs(b[x]);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < K; ++k) {
      const double aik = a[i * K + k], aik_abs = a_abs[i * K + k];
      double* v = &r.value[i * N];
      double* m = &mag[i * N];
      const double* bk = &b[k * N];
      const double* bk_abs = &b_abs[k * N];
      for (std::size_t j = 0; j < N; ++j) {
        v[j] += aik * bk[j];
        m[j] += aik_abs * bk_abs[j];
      }
    }
  const double eps = std::numeric_limits<float>::epsilon();
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      double& v = r.value[i * N + j];
      const double c = beta == 0.f ? 0.0 : double(beta) * C[i * ldc + j];
      v = double(alpha) * v + c;
      r.bound[i * N + j] = double(K + 3) * eps * (std::fabs(double(alpha)) * mag[i * N + j] + std::fabs(c)) +
                           std::numeric_limits<float>::denorm_min();
    }
  return r;
}

}  // namespace qkv_test
