// SPDX-License-Identifier: MIT
// kv_decode - a KV cache stored in bf16, fp16 or q8_0 (qkv_kv_format), or
// fp32 as the ring of a windowed layer: appending rows (rounded or
// quantized once), and causal decode attention that reads the cached rows
// in place, widening each element to fp32 as the kernel loads it
// (kernels/kv; a task is one query row and some of its heads, and for a
// single query row also a chunk of its keys: decode reads every cached
// byte once per query).
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/layer.h"

namespace qkv::ops {

// Bytes of one cached row of d elements (q8_0: d % 32 == 0).
std::size_t kv_row_bytes(qkv_kv_format f, std::size_t d) noexcept;

// Can rows x d fp32 values (leading dimension ld) be stored in format f?
// (q8_0: every value finite and every block's scale within fp16's range.)
// (x is rows x d contiguous.)
bool kv_storable(qkv_isa isa, qkv_kv_format f, std::size_t rows, std::size_t d, const float* x) noexcept;

// Stores rows x d values (leading dimension ld) into rows dst + r*row_bytes,
// rounded or quantized by qkv/dtype.h's rules (kv_storable holds).
void kv_store(qkv_isa isa, qkv_kv_format f, std::size_t rows, std::size_t d, const float* x, std::size_t ld,
              void* dst, std::size_t row_bytes) noexcept;

// One decode attention problem over a cache of any format (fp32: the ring
// of a windowed layer, whose positions wrap around the capacity).
struct kv_attention_problem {
  qkv_kv_format format;
  std::size_t batch, heads, n_new, length;  // queries [length, length + n_new) of each sequence
  const std::size_t* lengths;               // null, or each sequence's own `length`
  std::size_t kv_heads;                     // query head h reads cached head h / (heads / kv_heads)
  std::size_t window;                       // 0, or query at position t sees keys > t - window
  std::size_t d_head, d_out;                // d_out = heads * d_head (q, out rows)
  std::size_t capacity, row_bytes;          // cache rows per sequence, bytes per row (kv_heads * d_head)
  float scale;
  float softcap;           // 0, or each scaled score s becomes softcap tanh(s / softcap) (qkv_sdpa_desc::softcap)
  const float* q;          // [batch][n_new][d_out]
  const void *k, *v;       // caches: position t of sequence b at row b*capacity + t % capacity, row_bytes apart
  float* out;              // [batch][n_new][d_out]
};

// The most keys one query sees: kv_len (the longest sequence's length +
// n_new), or the window when it is shorter. The workspace is sized by it.
std::size_t kv_attention_keys(std::size_t kv_len, std::size_t window) noexcept;
// Its workspace for `heads` heads of d_head (qkv/layer.h states the
// formulas): bare metal, from the keys and heads; hosted builds, which
// split a single query row's keys, also from the query rows (rows_q =
// batch * n_new).
std::size_t kv_attention_workspace_bytes(qkv_isa isa, std::size_t keys, std::size_t heads, int threads);
#ifdef QKV_HOSTED
std::size_t kv_attention_workspace_bytes(qkv_isa isa, std::size_t keys, std::size_t heads, std::size_t d_head,
                                         std::size_t rows_q, int threads);
#endif

// out = softmax(cap(scale * q k^T), causal bottom-right: query i sees keys
// <= length + i, and > length + i - window with a window) v per (sequence,
// head), in fp32 over the stored values (widened exactly, P normalized
// before it meets V; a single query row in hosted builds: per chunk of 512
// keys exp(s - the chunk's max) meets V, the chunks then weighted by
// exp(max_c - max) / sum); cap(s) = softcap tanh(s / softcap)
// by the attention's kernel (kern::attn softcap), or s when softcap is 0.
// Bits independent of the thread count.
void kv_attention(const exec& x, const kv_attention_problem& p, void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
