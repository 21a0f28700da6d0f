// gemm-inl.hpp - xsimd gemm kernels, templated on the architecture and the
// register tile. Included only by the per-ISA translation units
// (gemm_<isa>.cpp); everything has internal linkage.
#pragma once

#include "kernels/gemm/gemm_portable-inl.hpp"
#include "kernels/simd.hpp"

namespace qkv::kern {
namespace {

// gemm_f32_<MR>x<NV*W>: MR x NV vectors of accumulators, one broadcast of A
// and NV loads of B per k. The loops have constant bounds and are fully
// unrolled, so the accumulators live in registers.
template <class A, std::size_t MR, std::size_t NV>
void ukernel_simd(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                  std::size_t ldc) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size, NR = NV * W;
  V acc[MR][NV];
#pragma GCC unroll 64
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) acc[i][v] = V(0.f);
  for (std::size_t k = 0; k < kc; ++k, a += MR, b += NR) {
    V bv[NV];
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) bv[v] = V::load_aligned(b + v * W);
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i) {
      const V av(a[i]);
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = simd::fmadd<A>(av, bv[v], acc[i][v]);
    }
  }
  const V va(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) (va * acc[i][v]).store_unaligned(c + i * ldc + v * W);
  } else {
    const V vb(beta);
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) {
        float* p = c + i * ldc + v * W;
        simd::fmadd<A>(vb, V::load_unaligned(p), va * acc[i][v]).store_unaligned(p);
      }
  }
}

// Unpacked rows [R rows of op(A)] x op(B) with op(B) rows contiguous (B not
// transposed): vectors along N, a scalar tail.
template <class A, std::size_t R>
void direct_rows_simd(std::size_t N, std::size_t K, float alpha, const float* a, std::size_t a_rs,
                      std::size_t a_cs, const float* B, std::size_t ldb, float beta, float* c, std::size_t ldc) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V va(alpha), vb(beta);
  std::size_t j = 0;
  for (; j + W <= N; j += W) {
    V acc[R];
#pragma GCC unroll 8
    for (std::size_t r = 0; r < R; ++r) acc[r] = V(0.f);
    for (std::size_t k = 0; k < K; ++k) {
      const V bk = V::load_unaligned(B + k * ldb + j);
#pragma GCC unroll 8
      for (std::size_t r = 0; r < R; ++r) acc[r] = simd::fmadd<A>(V(a[r * a_rs + k * a_cs]), bk, acc[r]);
    }
#pragma GCC unroll 8
    for (std::size_t r = 0; r < R; ++r) {
      float* p = c + r * ldc + j;
      if (beta == 0.f)
        (va * acc[r]).store_unaligned(p);
      else
        simd::fmadd<A>(vb, V::load_unaligned(p), va * acc[r]).store_unaligned(p);
    }
  }
  if (j < N)
    for (std::size_t r = 0; r < R; ++r)
      direct_scalar(a_cs == 1 ? false : true, false, 1, N - j, K, alpha, a + r * a_rs, a_cs == 1 ? a_rs : a_cs,
                    B + j, ldb, beta, c + r * ldc + j, ldc);
}

// A transposed B of up to this many floats is copied to a K x N stack block
// and runs as stored rows (vectors along N) instead of the scalar loop: Q.K^T
// over a few keys. 4 KiB, small enough for any thread's stack.
constexpr std::size_t kPortableBtFloats = 1024;

template <class A>
void direct_simd(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A_,
                 std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  if (tb && N >= simd::vf<A>::size && K * N <= kPortableBtFloats) {
    alignas(64) float bt[kPortableBtFloats];
    copy_op_b_rows(K, N, B, ldb, bt);
    direct_simd<A>(ta, false, M, N, K, alpha, A_, lda, bt, N, beta, C, ldc);
    return;
  }
  if (tb || N < simd::vf<A>::size) {
    direct_scalar(ta, tb, M, N, K, alpha, A_, lda, B, ldb, beta, C, ldc);
    return;
  }
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  std::size_t i = 0;
  for (; i + 4 <= M; i += 4)
    direct_rows_simd<A, 4>(N, K, alpha, A_ + i * a_rs, a_rs, a_cs, B, ldb, beta, C + i * ldc, ldc);
  for (; i < M; ++i) direct_rows_simd<A, 1>(N, K, alpha, A_ + i * a_rs, a_rs, a_cs, B, ldb, beta, C + i * ldc, ldc);
}

}  // namespace
}  // namespace qkv::kern
