// SPDX-License-Identifier: MIT
// act - element-wise kernels of the feed-forward activations (GELU, tanh and
// erf forms; SiLU; ReLU; the SwiGLU gate), forward and backward. Contract:
// one contiguous row of n >= 1 floats, no allocation, no threads. An
// element's result depends on its inputs and the ISA only, never on its
// position in the row or on n (vector sets run a row's tail through the
// same vector code on a zero-padded copy), so any split of a matrix into
// pieces gives the same bits; the GEMM's activation epilogue relies on it.
// The math is written once (act_math.hpp) for floats and for xsimd batches.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// Slots of act_kernels::forward/backward (ops::act_kind has the same order).
enum act_fn : int { kActGeluTanh = 0, kActGeluErf = 1, kActSilu = 2, kActRelu = 3, kActCount = 4 };

struct act_kernels {
  // y[j] = f(x[j]) for j < n; y may be x.
  void (*forward[kActCount])(std::size_t n, const float* x, float* y);
  // dx[j] = dy[j] * f'(x[j]) for j < n; dx may be dy or x.
  void (*backward[kActCount])(std::size_t n, const float* x, const float* dy, float* dx);
  // y[j] = silu(g[j]) * u[j]; y may be g or u.
  void (*swiglu_forward)(std::size_t n, const float* g, const float* u, float* y);
  // dg[j] = dy[j] * u[j] * silu'(g[j]), du[j] = dy[j] * silu(g[j]); each
  // element's inputs are read before its outputs are written (dg may be g or
  // dy, du may be u or dy).
  void (*swiglu_backward)(std::size_t n, const float* g, const float* u, const float* dy, float* dg, float* du);
};

QKV_DECLARE_KERNEL_TABLES(act_kernels, act)

}  // namespace qkv::kern
