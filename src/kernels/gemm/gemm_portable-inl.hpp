// SPDX-License-Identifier: MIT
// gemm_portable-inl.hpp - plain C++ pieces shared by every gemm kernel set:
// reference packers, the any-corner wrapper around a full tile and the unpacked
// scalar kernel. No xsimd here: the scalar set (Cortex-M) includes it too.
// Include inside an anonymous namespace user only (internal linkage).
#pragma once

#include <cstddef>

#include "kernels/gemm/gemm.hpp"

namespace qkv::kern {
namespace {

// op(A)(i,k) reads, as the packers and direct kernels see them.
inline const float* a_at(bool trans, const float* a, std::size_t lda, std::size_t i, std::size_t k) {
  return trans ? a + k * lda + i : a + i * lda + k;
}

// op(B) of a transposed B (N x K, rows ldb apart) written out as a dense
// K x N block, for the unpacked kernels that want op(B)'s rows contiguous.
inline void copy_op_b_rows(std::size_t K, std::size_t N, const float* B, std::size_t ldb, float* dst) {
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < N; ++j) dst[k * N + j] = B[j * ldb + k];
}

// A block -> MR-row panels, k-major, rows past mc zero.
template <std::size_t MR>
void pack_a_ref(bool trans, std::size_t mc, std::size_t kc, const float* a, std::size_t lda, float* dst) {
  for (std::size_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const std::size_t m = mc - i0 < MR ? mc - i0 : MR;
    if (trans) {  // rows of the panel are contiguous in A
      for (std::size_t k = 0; k < kc; ++k) {
        const float* src = a + k * lda + i0;
        for (std::size_t i = 0; i < m; ++i) dst[k * MR + i] = src[i];
        for (std::size_t i = m; i < MR; ++i) dst[k * MR + i] = 0.f;
      }
    } else {  // each row of A read sequentially, written with stride MR
      for (std::size_t i = 0; i < m; ++i) {
        const float* src = a + (i0 + i) * lda;
        for (std::size_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
      }
      for (std::size_t i = m; i < MR; ++i)
        for (std::size_t k = 0; k < kc; ++k) dst[k * MR + i] = 0.f;
    }
  }
}

// B block -> NR-column panels, k-major, columns past nc zero: op(B)'s
// columns are the panel's lines as op(A)'s rows are, so this is the A
// packer on the transposed view (one body where MR == NR, as in the scalar
// set).
template <std::size_t NR>
void pack_b_ref(bool trans, std::size_t kc, std::size_t nc, const float* b, std::size_t ldb, float* dst) {
  pack_a_ref<NR>(!trans, nc, kc, b, ldb, dst);
}

using ukernel_fn = void (*)(std::size_t, float, const float*, const float*, float, float*, std::size_t);

// Any corner, operands packed or in place, through the packed kernel: A
// and B micro-panels not already packed are packed into stack buffers
// (kc <= KC), and a partial tile goes through a full one in a local buffer.
// The same operations per element as the full tile, so edges and in-place
// operands round exactly like interior tiles.
template <std::size_t MR, std::size_t NR, std::size_t KC, ukernel_fn Full>
void strided_via_pack(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a, std::size_t a_rs,
                      std::size_t a_cs, const float* b, std::size_t b_rs, float beta, float* c, std::size_t ldc) {
  alignas(64) float apanel[MR * KC];
  if (a_rs != 1 || a_cs != MR) {
    for (std::size_t k = 0; k < kc; ++k) {
      for (std::size_t i = 0; i < m; ++i) apanel[k * MR + i] = a[i * a_rs + k * a_cs];
      for (std::size_t i = m; i < MR; ++i) apanel[k * MR + i] = 0.f;
    }
    a = apanel;
  }
  alignas(64) float bpanel[KC * NR];
  if (b_rs != 0) {
    for (std::size_t k = 0; k < kc; ++k) {
      for (std::size_t j = 0; j < n; ++j) bpanel[k * NR + j] = b[k * b_rs + j];
      for (std::size_t j = n; j < NR; ++j) bpanel[k * NR + j] = 0.f;
    }
    b = bpanel;
  }
  if (m == MR && n == NR) {
    Full(kc, alpha, a, b, beta, c, ldc);
    return;
  }
  alignas(64) float tile[MR * NR];
  if (beta != 0.f) {
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) tile[i * NR + j] = c[i * ldc + j];
  }
  Full(kc, alpha, a, b, beta, tile, NR);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = tile[i * NR + j];
}

// One C element's epilogue, unfused (the scalar set's rounding).
inline float epilogue_scalar(float acc, float alpha, float beta, const float* c) {
  const float t = alpha * acc;
  return beta == 0.f ? t : beta * *c + t;
}

// Unpacked scalar GEMM, 4 columns of one row at a time so that the four sums
// overlap in the FPU pipeline; each element is one in-order sum over k.
inline void direct_scalar(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                          std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  const std::size_t b_rs = tb ? 1 : ldb, b_cs = tb ? ldb : 1;
  for (std::size_t i = 0; i < M; ++i) {
    const float* ai = A + i * a_rs;
    float* ci = C + i * ldc;
    std::size_t j = 0;
    for (; j + 4 <= N; j += 4) {
      float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
      const float* bj = B + j * b_cs;
      for (std::size_t k = 0; k < K; ++k) {
        const float av = ai[k * a_cs];
        const float* bk = bj + k * b_rs;
        s0 += av * bk[0];
        s1 += av * bk[b_cs];
        s2 += av * bk[2 * b_cs];
        s3 += av * bk[3 * b_cs];
      }
      ci[j] = epilogue_scalar(s0, alpha, beta, ci + j);
      ci[j + 1] = epilogue_scalar(s1, alpha, beta, ci + j + 1);
      ci[j + 2] = epilogue_scalar(s2, alpha, beta, ci + j + 2);
      ci[j + 3] = epilogue_scalar(s3, alpha, beta, ci + j + 3);
    }
    for (; j < N; ++j) {
      float s = 0.f;
      const float* bj = B + j * b_cs;
      for (std::size_t k = 0; k < K; ++k) s += ai[k * a_cs] * bj[k * b_rs];
      ci[j] = epilogue_scalar(s, alpha, beta, ci + j);
    }
  }
}

}  // namespace
}  // namespace qkv::kern
