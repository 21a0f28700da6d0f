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

// Unpacked scalar GEMM (no workspace: bare metal's path without one, and
// small products): 4 x 4 tiles of C in registers, A and B read in place, 4 +
// 4 loads per 16 multiply-adds (16 accumulators and 8 operands fit the 32
// single registers of a Cortex-M4F/M7 FPU); the edges one element at a time.
// Each element is one in-order sum over k.
inline void direct_scalar(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                          std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  const std::size_t b_rs = tb ? 1 : ldb, b_cs = tb ? ldb : 1;
  const std::size_t M4 = M / 4 * 4, N4 = N / 4 * 4;
  for (std::size_t i = 0; i < M4; i += 4)
    for (std::size_t j = 0; j < N4; j += 4) {
      float s00 = 0.f, s01 = 0.f, s02 = 0.f, s03 = 0.f, s10 = 0.f, s11 = 0.f, s12 = 0.f, s13 = 0.f;
      float s20 = 0.f, s21 = 0.f, s22 = 0.f, s23 = 0.f, s30 = 0.f, s31 = 0.f, s32 = 0.f, s33 = 0.f;
      // Addresses of elements only (never a pointer stepped past the last k:
      // with a huge leading dimension that step would overflow).
      for (std::size_t k = 0; k < K; ++k) {
        const float* a = A + i * a_rs + k * a_cs;
        const float* b = B + j * b_cs + k * b_rs;
        const float x0 = a[0], x1 = a[a_rs], x2 = a[2 * a_rs], x3 = a[3 * a_rs];
        const float y0 = b[0], y1 = b[b_cs], y2 = b[2 * b_cs], y3 = b[3 * b_cs];
        s00 += x0 * y0, s01 += x0 * y1, s02 += x0 * y2, s03 += x0 * y3;
        s10 += x1 * y0, s11 += x1 * y1, s12 += x1 * y2, s13 += x1 * y3;
        s20 += x2 * y0, s21 += x2 * y1, s22 += x2 * y2, s23 += x2 * y3;
        s30 += x3 * y0, s31 += x3 * y1, s32 += x3 * y2, s33 += x3 * y3;
      }
      const float t[16] = {s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33};
      for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t q = 0; q < 4; ++q) {
          float* c = C + (i + r) * ldc + j + q;
          *c = epilogue_scalar(t[r * 4 + q], alpha, beta, c);
        }
    }
  // The edges: rows past M4 (every column), then columns past N4 of the tiled rows.
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = i < M4 ? N4 : 0; j < N; ++j) {
      float s = 0.f;
      const float* a = A + i * a_rs;
      const float* b = B + j * b_cs;
      for (std::size_t k = 0; k < K; ++k) s += a[k * a_cs] * b[k * b_rs];
      C[i * ldc + j] = epilogue_scalar(s, alpha, beta, C + i * ldc + j);
    }
}

}  // namespace
}  // namespace qkv::kern
