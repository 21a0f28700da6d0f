// SPDX-License-Identifier: MIT
// block - the transformer decoder block of qkv/block.h, composed from the
// norm, activation and GEMM drivers and the attention layer (ops/mha_layer)
// without its output projection. Arguments are validated by the C boundary
// (src/capi/block.cpp); this file only computes. Every intermediate lives in
// caller memory: the training cache or the workspace.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"
#include "ops/mha_layer.hpp"
#include "qkv/block.h"

namespace qkv::ops {

// The attention layer of a valid block: d_in = d_out = d_model, out_proj 0.
qkv_mha_desc block_attention_desc(const qkv_block_desc& d);

// Resolved sizes of one call (rows = batch * seq).
struct block_dims {
  std::size_t batch, seq, rows, d, ff;
  mha_dims attn;  // of block_attention_desc()
};
block_dims block_dims_for(const qkv_block_desc& d, std::size_t batch, std::size_t seq);

// Bytes of the training cache.
std::size_t block_cache_bytes(const qkv_block_desc& d, const block_dims& n);

std::size_t block_forward_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, const block_dims& n, int threads);
std::size_t block_backward_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, const block_dims& n, int threads);
// kv_len: the longest sequence's length after the call (as mha_decode_workspace_bytes).
std::size_t block_decode_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, qkv_kv_format f, std::size_t batch,
                                         std::size_t n_new, std::size_t kv_len, int threads);

// y may be x. Training fills cache (block_cache_bytes(), 64-byte aligned).
// mirror (BF16 compute, else nullptr): the params rounded to bf16, same
// layout; the weights are read from it instead of being rounded (their
// copies in the cache are then not written). nullptr: round them.
void block_forward(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const block_dims& n,
                   const float* params, const float* x, float* y, bool training, float* cache, void* ws,
                   std::size_t ws_bytes, const std::uint16_t* mirror = nullptr);
// dx may be dy or null; grads accumulate. mirror: the forward's.
void block_backward(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const block_dims& n,
                    const float* params, const float* x, const float* cache, const float* dy, float* dx,
                    float* grads, void* ws, std::size_t ws_bytes, const std::uint16_t* mirror = nullptr);
// The attention's mha_decode inside the block (same cache arguments and
// result); y_new may be x_new. The caller advances the lengths.
bool block_decode(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const float* params,
                  qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t length,
                  const std::size_t* lengths, std::size_t n_new, void* kv, const float* x_new, float* y_new, void* ws,
                  std::size_t ws_bytes);

}  // namespace qkv::ops
