// SPDX-License-Identifier: MIT
// mha_layer - the multi-head attention layer composed from the GEMM driver
// and the fused attention kernels. Arguments are validated by the C boundary
// (src/capi/layer.cpp); this layer only computes. Shapes follow
// include/qkv/layer.h; every intermediate lives in caller memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"
#include "qkv/attention.h"
#include "qkv/layer.h"

namespace qkv::ops {

// Resolved sizes of one call.
struct mha_dims {
  std::size_t batch, seq, d_in, d_out, heads, d_head, rows;  // rows = batch * seq
  std::size_t kv_heads, d_kv;                                // d_kv = kv_heads * d_head: K and V rows
};

// d_kv of a valid description: num_kv_heads (0: num_heads) times d_head.
inline std::size_t mha_kv_width(const qkv_mha_desc& d) {
  return d.num_kv_heads ? d.num_kv_heads * (d.d_out / d.num_heads) : d.d_out;
}
// The sizes of a call on a valid description.
inline mha_dims mha_dims_for(const qkv_mha_desc& d, std::size_t batch, std::size_t seq) {
  mha_dims n;
  n.batch = batch, n.seq = seq, n.d_in = d.d_in, n.d_out = d.d_out, n.heads = d.num_heads;
  n.d_head = d.d_out / d.num_heads, n.rows = batch * seq;
  n.kv_heads = d.num_kv_heads ? d.num_kv_heads : d.num_heads, n.d_kv = mha_kv_width(d);
  return n;
}

// Where each piece of the training cache lives (float offsets), 64-byte
// aligned. With BF16 compute the forward also leaves its bf16 GEMM operands
// there for the backward: the rounded weights (w16, index Q, K, V, O), X
// and A (SIZE_MAX without BF16 compute, or without out_proj for w16[3], a16).
struct mha_cache_layout {
  std::size_t q, k, v, a, lse, w16[4], x16, a16, floats;
};
mha_cache_layout mha_cache_layout_for(const qkv_mha_desc& d, const mha_dims& n);

// The attention description of a layer call (for ops::resolve_sdpa) on [B, T, H, d_head] tensors
// stored as [B*T][d_out] rows (heads interleaved).
qkv_sdpa_desc mha_sdpa_desc(const qkv_mha_desc& layer, const mha_dims& n, bool training);

// Where a call's weights come from: the fp32 params (wtype F32, with the
// layer's compute_type: BF16 rounds them to bf16 in the workspace each
// call), or a buffer of qkv_mha_pack_weights (wtype BF16 or I8).
struct mha_weights {
  qkv_dtype wtype;
  const float* params;           // wtype F32
  const qkv_mha_layout* layout;  // wtype F32
  const void* packed;            // wtype BF16 or I8
  // wtype F32 with BF16 compute: the params rounded to bf16, same layout
  // (qkv_mha_forward_mirror); the weights are read from it instead of being
  // rounded per call. nullptr: round them.
  const std::uint16_t* mirror = nullptr;
};

// Byte offsets of a packed-weights buffer (layout in qkv/layer.h); SIZE_MAX
// for pieces the layer does not have. Index 0..3: Q, K, V, O. The C boundary
// bounds the sizes (the parameter count fits), so nothing overflows.
struct mha_packed_layout {
  std::size_t w[4], s[4], b[4], bytes;
};
constexpr std::size_t kMhaPackedHeader = 64;
mha_packed_layout mha_packed_layout_for(const qkv_mha_desc& d, qkv_dtype wtype);
// Writes the header and every piece; false (nothing written) when wtype is
// I8 and a weight is not finite.
bool mha_pack_weights(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const float* params,
                      qkv_dtype wtype, void* packed);

// wtype: F32 (the params; sizes the backward's GEMMs too, for the training
// forward) or the packed buffer's type (inference: qkv_mha_forward_packed).
std::size_t mha_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_dtype wtype, const mha_dims& n,
                                        int threads);
std::size_t mha_backward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads);

// training only with fp32 params (w.wtype F32).
void mha_forward(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const mha_weights& w, const float* x,
                 float* y, bool training, float* cache, void* ws, std::size_t ws_bytes);

// mirror (BF16 compute, else nullptr): the bf16 weights the forward read
// (mha_weights::mirror); nullptr: the forward's copies in the cache.
void mha_backward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n,
                  const float* params, const float* x, const float* cache, const float* dy, float* dx, float* grads,
                  void* ws, std::size_t ws_bytes, const std::uint16_t* mirror = nullptr);

// KV-cache decoding: K and V rows in kv = [K: batch][capacity][row] then V,
// a row being d_kv elements of the format (ops/kv_decode.hpp).
std::size_t mha_kv_cache_bytes(qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t d_kv);
// wtype: F32 (the params) or the packed buffer's type.
std::size_t mha_decode_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_dtype wtype, qkv_kv_format f,
                                       std::size_t batch, std::size_t n_new, std::size_t kv_len, int threads);
// false (cache and y_new untouched): a new K or V value cannot be stored in
// the format (q8_0: not finite, or a scale beyond fp16).
// lengths: null (every sequence holds `length` tokens) or each sequence's.
// kv_len of the workspace query: the longest sequence's length + n_new.
bool mha_decode(const exec& xc, const qkv_mha_desc& d, const mha_weights& w, qkv_kv_format f, std::size_t batch,
                std::size_t capacity, std::size_t length, const std::size_t* lengths, std::size_t n_new, void* kv,
                const float* x_new, float* y_new, void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
