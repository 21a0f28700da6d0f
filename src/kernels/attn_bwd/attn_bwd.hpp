// SPDX-License-Identifier: MIT
// attn_bwd - the per-ISA micro-kernels of the fused attention backward: one
// small GEMM shape with strided A (so Pᵀ and dSᵀ need no transpose), the
// elementwise softmax gradient of a score tile, and the packing of its
// operands (the K_jᵀ / V_jᵀ transposes, the scaled Q rows and dQ). Blocking,
// masks, dropout and threading live in ops/sdpa_backward*.cpp, written once.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// Column counts handed to these kernels are multiples of this (the widest
// vector, in floats), so every ISA's kernel works on whole vectors; the
// driver pads its tiles to it.
constexpr std::size_t kAttnBwdPad = 16;

// How many rows ahead scale_rows prefetches: strided rows (one per token)
// defeat the hardware prefetchers, and a tile is often the first touch of
// its part of the caller's tensors.
constexpr std::size_t kAttnBwdAhead = 8;

struct attn_bwd_kernels {
  // C[m x n] = (accumulate ? C : 0) + A[m x k] * B[k x n].
  // A(r, p) = a[r * a_row + p * a_col] (any strides: row-major or transposed);
  // B row-major with leading dimension ldb; C row-major with ldc.
  // n % kAttnBwdPad == 0; m, k >= 1. Each C element is summed in order of p
  // (fixed association, so results do not depend on where C lives).
  void (*gemm)(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t a_row,
               std::size_t a_col, const float* b, std::size_t ldb, float* c, std::size_t ldc, int accumulate);

  // Softmax gradient of a rows x cols tile (cols % kAttnBwdPad == 0), in place.
  // In: s = the forward's scores (scale Q) Kᵀ, dp = dO Vᵀ. Per row r, columns
  // c < valid[r]:
  //   P = exp(s - lse[r]),  m = drop ? drop[r*ld + c] : 1,
  //   s  <- P * m                  (the dropped weights, for dV)
  //   dp <- P * (dp * m - D[r])    (dS, the gradient of the scores s)
  // columns c >= valid[r] become 0 in both. The exp is the fused forward's
  // own (attn softmax of the same ISA), so with the forward's s and lse, P is
  // the forward's weight bit for bit: exactly 1 in a one-hot row.
  void (*softmax_grad)(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse,
                       const float* D, const float* drop, float* s, float* dp, std::size_t ld);

  // Transpose with zero padding: src [rows][ld] (rows x cols used) into
  // dst [cols][ld_dst]:
  //   dst[f * ld_dst + c] = src[c * ld + f]   for c < rows, f < cols,
  //   dst[f * ld_dst + c] = 0                 for rows <= c < ld_dst.
  // ld >= cols, ld_dst >= rows; src and dst do not overlap. Moves bits only
  // (exact, NaN payloads included).
  void (*transpose)(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                    std::size_t ld_dst);

  // Scaled row copy with zero padding: for r < rows,
  //   dst[r * ld_dst + f] = scale * src[r * ld + f]   for f < cols (one IEEE multiply each),
  //   dst[r * ld_dst + f] = 0                         for cols <= f < cols_pad.
  // ld >= cols, ld_dst >= cols_pad >= cols. dst may be src itself (in place,
  // ld_dst == ld); otherwise they do not overlap. Rows ahead are prefetched:
  // src and dst may be strided rows of the caller's tensors.
  void (*scale_rows)(std::size_t rows, std::size_t cols, std::size_t cols_pad, float scale, const float* src,
                     std::size_t ld, float* dst, std::size_t ld_dst);

  // transpose and scale_rows in one pass (the fused forward's Q^T and O):
  //   dst[f * ld_dst + c] = src[c * ld + f] * s_f   for c < rows, f < cols,
  //   dst[f * ld_dst + c] = 0                       for rows <= c < dst_cols,
  // s_f = col_scale[f] (col_scale not null) or scale; one IEEE multiply
  // each, so the bits are transpose's then scale_rows'. ld >= cols,
  // ld_dst >= dst_cols >= rows; nothing at or past dst_cols is written (dst
  // may be rows of the caller's tensor); src and dst do not overlap. Null
  // in bare-metal tables (no forward transposes there).
  void (*transpose_scaled)(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                           std::size_t ld_dst, std::size_t dst_cols, float scale, const float* col_scale);
};

QKV_DECLARE_KERNEL_TABLES_MVE(attn_bwd_kernels, attn_bwd)

// transpose_scaled element by element from source row c0 on, and the
// padding: the scalar set's whole kernel, the SIMD sets' rows past their
// last W x W block. Internal linkage: each ISA's file its own copy (no
// weak symbol a per-ISA object could lend the baseline).
namespace {
inline void transpose_scaled_rows_from(std::size_t c0, std::size_t rows, std::size_t cols, const float* src,
                                       std::size_t ld, float* dst, std::size_t ld_dst, std::size_t dst_cols,
                                       float scale, const float* col_scale) {
  for (std::size_t f = 0; f < cols; ++f) {
    const float sf = col_scale ? col_scale[f] : scale;
    float* d = dst + f * ld_dst;
    for (std::size_t c = c0; c < rows; ++c) d[c] = src[c * ld + f] * sf;
    for (std::size_t c = rows; c < dst_cols; ++c) d[c] = 0.f;
  }
}
}  // namespace

}  // namespace qkv::kern
