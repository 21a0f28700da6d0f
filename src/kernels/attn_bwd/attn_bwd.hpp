// attn_bwd - the per-ISA micro-kernels of the fused attention backward: one
// small GEMM shape with strided A (so Pᵀ and dSᵀ need no transpose) and the
// elementwise softmax gradient of a score tile. Blocking, masks, dropout and
// threading live in ops/sdpa_backward*.cpp, written once.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// Column counts handed to these kernels are multiples of this (the widest
// vector, in floats), so every ISA's kernel works on whole vectors; the
// driver pads its tiles to it.
constexpr std::size_t kAttnBwdPad = 16;

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
};

QKV_DECLARE_KERNEL_TABLES(attn_bwd_kernels, attn_bwd)

}  // namespace qkv::kern
