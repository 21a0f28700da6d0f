// SPDX-License-Identifier: MIT
// mha_layer - the multi-head attention layer composed from the GEMM driver
// and the fused attention kernels. Arguments are validated by the C boundary
// (src/capi/layer.cpp); this layer only computes. Shapes follow
// include/qkv/layer.h; every intermediate lives in caller memory.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/attention.h"
#include "qkv/layer.h"

namespace qkv::ops {

// Resolved sizes of one call.
struct mha_dims {
  std::size_t batch, seq, d_in, d_out, heads, d_head, rows;  // rows = batch * seq
};

// Where each piece of the training cache lives (float offsets), 64-byte aligned.
struct mha_cache_layout {
  std::size_t q, k, v, a, lse, floats;
};
mha_cache_layout mha_cache_layout_for(const mha_dims& n);

// The attention description of a layer call (for ops::resolve_sdpa) on [B, T, H, d_head] tensors
// stored as [B*T][d_out] rows (heads interleaved).
qkv_sdpa_desc mha_sdpa_desc(const qkv_mha_desc& layer, const mha_dims& n, bool training);

std::size_t mha_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads);
std::size_t mha_backward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads);

void mha_forward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n, const float* params,
                 const float* x, float* y, bool training, float* cache, void* ws, std::size_t ws_bytes);

void mha_backward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n,
                  const float* params, const float* x, const float* cache, const float* dy, float* dx, float* grads,
                  void* ws, std::size_t ws_bytes);

// KV-cache decoding: K and V rows in kv = [K: batch][capacity][row] then V,
// a row being d_out elements of the format (ops/kv_decode.hpp).
std::size_t mha_kv_cache_bytes(qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t d_out);
std::size_t mha_decode_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_kv_format f, std::size_t batch,
                                       std::size_t n_new, std::size_t kv_len, int threads);
// false (cache and y_new untouched): a new K or V value cannot be stored in
// the format (q8_0: not finite, or a scale beyond fp16).
bool mha_decode(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const float* params,
                qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t length, std::size_t n_new,
                void* kv, const float* x_new, float* y_new, void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
