// SPDX-License-Identifier: MIT
// ops/act - the feed-forward network's activations, forward and backward,
// and a GEMM whose result goes through one (the linear layer with bias and
// activation). Row-major [rows, n] matrices with leading dimensions in
// elements; arguments trusted (checked by the C boundary, qkv/activation.h,
// or by the calling op). Threads split rows (parallel_for_blocks); every
// element goes through the same operations whatever the split, so results
// are bitwise identical for any thread count. No allocation. Hosted builds
// only (QKV_HOSTED; not compiled for bare metal, the Cortex-M4 size budget).
//
// Error bounds of the fp32 kernels against the exact function of the fp32
// input, every ISA (u = 2^-24; tests/test_act.cpp checks them on a dense
// sweep of [-20, 20] and at +-1e-30, +-1e30, +-0):
//   relu, its derivative:         exact.
//   silu (and swiglu's silu):     |err| <= 8 u |y|.
//   gelu_tanh, x >= 0:            |err| <= 8 u |y|;
//            x < 0:               |err| <= (8 + 4 |t|) u |y|, t = 2 sqrt(2/pi)(x + 0.044715 x^3)
//                                 (the function's own condition number there is ~|t|).
//   gelu_erf,  x >= 0:            |err| <= 8 u |y|;
//            x < 0:               |err| <= (8 + 4 x^2) u |y| (condition number ~x^2).
//   Results below 2^-118 in magnitude may be flushed to (signed) zero.
//   Derivatives: |err| <= (16 + 4 c) u (sum of the absolute values of the
//   derivative's terms) + 2^-100 (c = |t| or x^2 for gelu at x < 0, else 0): the
//   derivatives of gelu and silu have zeros, near which only an absolute
//   bound holds.
// Finite inputs never give NaN or inf: large |x| saturate (gelu(x) = x,
// gelu(-x) = -0 or +0, silu(-x) = -0).
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/runtime.h"

namespace qkv::ops {

enum class act_kind { gelu_tanh, gelu_erf, silu, relu };

// y[r][j] = act(x[r][j]); y may alias x.
//   gelu_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (PyTorch approximate='tanh')
//   gelu_erf:  0.5 x (1 + erf(x / sqrt(2)))                       (PyTorch default)
//   silu:      x / (1 + exp(-x));  relu: max(x, 0)
void act_forward(const exec& xc, act_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                 float* y, std::size_t ldy);
// dx = dy * act'(x) (x: the pre-activation); dx may alias dy.
void act_backward(const exec& xc, act_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                  const float* dy, std::size_t ldy, float* dx, std::size_t lddx);
// SwiGLU: y = silu(g) * u; y may alias g or u.
void swiglu_forward(const exec& xc, std::size_t rows, std::size_t n, const float* g, std::size_t ldg, const float* u,
                    std::size_t ldu, float* y, std::size_t ldy);
// dg = dy * u * silu'(g), du = dy * silu(g); dg may alias g, du may alias u (element-wise in place is fine).
void swiglu_backward(const exec& xc, std::size_t rows, std::size_t n, const float* g, std::size_t ldg,
                     const float* u, std::size_t ldu, const float* dy, std::size_t ldy, float* dg, std::size_t lddg,
                     float* du, std::size_t lddu);
// pre = op(A)·op(B) + bias (bias: N floats or nullptr), written to pre when pre != nullptr;
// C = act(pre). Same bits as ops::sgemm_bias (or sgemm with beta 0 when bias is null) followed by act_forward.
// Workspace: sgemm_workspace_bytes of the same problem (plus whatever you need, via a
// sgemm_bias_act_workspace_bytes function with the same arguments as sgemm_workspace_bytes).
std::size_t sgemm_bias_act_workspace_bytes(qkv_isa isa, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, int threads);
void sgemm_bias_act(const exec& xc, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                    std::size_t lda, const float* B, std::size_t ldb, const float* bias, act_kind kind,
                    float* pre, std::size_t ldp, float* C, std::size_t ldc, void* ws, std::size_t ws_bytes);
}  // namespace qkv::ops
