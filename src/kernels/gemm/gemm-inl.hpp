// SPDX-License-Identifier: MIT
// gemm-inl.hpp - xsimd gemm kernels, templated on the architecture and the
// register tile. Included only by the per-ISA translation units
// (tables_<isa>.cpp, gemm_avx512.cpp); everything has internal linkage.
#pragma once

#include "kernels/gemm/gemm_portable-inl.hpp"
#include "kernels/tile/tile_simd-inl.hpp"

namespace qkv::kern {
namespace {

// gemm_f32_<MR>x<NV*W>: the register tile (kernels/tile) on a packed A
// panel (stride MR per k) and a packed, aligned B panel (NR per k).
template <class A, std::size_t MR, std::size_t NV>
void ukernel_simd(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                  std::size_t ldc) {
  using V = simd::vf<A>;
  constexpr std::size_t NR = NV * V::size;
  tile_fma<V, MR, NV>(kc, a, fixed<1>(), fixed<MR>(), make_rows_b<V>(b, fixed<NR>(), aligned_io<A>()),
                      zero_init<V>(), axpby_store<V, unaligned_io<A>>(c, ldc, alpha, beta, {}));
}

// Unpacked rows [R rows of op(A)] x op(B) with op(B) rows contiguous (B not
// transposed): R x 1-vector tiles along N, a scalar tail.
template <class A, std::size_t R>
void direct_rows_simd(std::size_t N, std::size_t K, float alpha, const float* a, std::size_t a_rs,
                      std::size_t a_cs, const float* B, std::size_t ldb, float beta, float* c, std::size_t ldc) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  std::size_t j = 0;
  for (; j + W <= N; j += W)
    tile_fma<V, R, 1>(K, a, a_rs, a_cs, make_rows_b<V>(B + j, ldb, unaligned_io<A>()), zero_init<V>(),
                      axpby_store<V, unaligned_io<A>>(c + j, ldc, alpha, beta, {}));
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

// The GEMM table of an xsimd ISA: an MR x NV-vector micro-kernel, the
// reference packers, edges and strided operands through the full tile
// (the same operations per element), the unpacked small-matrix path.
template <class A, std::size_t MR, std::size_t NV, std::size_t MC, std::size_t KC, std::size_t NC>
constexpr gemm_kernels make_gemm_kernels(const char* name) {
  constexpr std::size_t NR = NV * simd::vf<A>::size;
  constexpr std::size_t KC_MAX = kGemmKcLimit;
  static_assert(MC % MR == 0 && NC % NR == 0 && KC <= KC_MAX, "blocks must hold whole tiles");
  static_assert(KC_MAX * NR <= kGemmStackBFloats, "a B panel exceeds the stack B block");
  constexpr ukernel_fn full = ukernel_simd<A, MR, NV>;
  return {name, MR, NR, MC, KC, NC, KC_MAX, 4 * NR, 0, full, strided_via_pack<MR, NR, KC_MAX, full>,
          pack_a_ref<MR>, pack_b_ref<NR>, direct_simd<A>, nullptr};
}

}  // namespace
}  // namespace qkv::kern
