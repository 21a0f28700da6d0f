// SPDX-License-Identifier: MIT
// self_attention - single-head trainable self-attention, the building block
// of chapter 3 of "Build a Large Language Model (from Scratch)" and of the
// multi-head layer built on it:
//   Q = X W_q, K = X W_k, V = X W_v      X [T, d_in], W_* [d_in, d_out]
//   ctx = softmax(Q K^T / sqrt(d_out) (+ causal mask)) V     [T, d_out]
// The projections run on the GEMM driver, the attention on the fused
// forward. Q, K, V and the row log-sum-exp are outputs: the backward needs
// them. Internal ops API (arguments trusted; the caller validates); hosted
// builds only (no C entry point calls it: bare metal has no use for it).
#pragma once

#include <cstddef>

#include "ops/exec.hpp"

namespace qkv::ops {

struct self_attention_dims {
  std::size_t T, d_in, d_out;
  bool causal;
};

// Bytes of workspace self_attention_forward() needs with up to `threads`
// threads (>= 1); false on size overflow.
bool self_attention_workspace_bytes(const self_attention_dims& d, int threads, std::size_t* bytes) noexcept;

// x [T][ldx >= d_in]; wq, wk, wv [d_in][ldw >= d_out]; q, k, v [T][d_out]
// (dense, written); ctx [T][ldc >= d_out] (written); lse [T] or nullptr.
// ws: at least self_attention_workspace_bytes(d, 1) bytes; with room for
// fewer threads than configured it runs with fewer (same result, bitwise).
void self_attention_forward(const exec& xc, const self_attention_dims& d, const float* x, std::size_t ldx, const float* wq,
                            const float* wk, const float* wv, std::size_t ldw, float* q, float* k, float* v,
                            float* ctx, std::size_t ldc, float* lse, void* ws, std::size_t ws_bytes) noexcept;

}  // namespace qkv::ops
