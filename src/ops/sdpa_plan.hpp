// SPDX-License-Identifier: MIT
// sdpa_plan - one attention call as the drivers see it: a validated
// qkv_sdpa_desc copied out as values, its defaults resolved, and the
// settings the call runs under. resolve_sdpa builds it, once per call, for
// every user (the C boundary after validation, the layer, the
// self-attention op); the forward and backward drivers read nothing else.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"
#include "qkv/attention.h"

namespace qkv::ops {

struct sdpa_plan {
  std::size_t batch, heads, q_len, kv_len;
  std::size_t head_dim;          // features of Q and K
  std::size_t v_dim;             // features of V and O: never 0 (0 in the description is head_dim)
  qkv_sdpa_strides q, k, v, o;   // element strides; a gradient has its primal's (dQ like Q, dO like O)
  float scale;                   // multiplies Q K^T: never 0 (0 in the description is 1/sqrt(head_dim))
  bool causal;                   // query i sees key j iff j <= i + kv_len - q_len
  float dropout_p;               // in [0, 1); 0 disables dropout
  std::uint64_t dropout_seed;
  qkv_sdpa_algo algo;            // QKV_SDPA_FUSED or QKV_SDPA_REFERENCE (AUTO is the fused kernel;
                                 // bare-metal builds have no reference drivers: always FUSED there)
  std::size_t kv_heads;          // heads of K and V: never 0 (0 in the description is heads)
  std::size_t group;             // heads / kv_heads: query head h reads K/V head h / group
  std::size_t window;            // 0: none; else query i sees keys j > i + k_b - q_b - window
  const std::size_t* kv_lens;    // null, or keys of each sequence (<= kv_len)
  const std::size_t* q_lens;     // null, or queries of each sequence (<= q_len)
  const float* mask;             // null, or the additive mask through mask_strides
  qkv_sdpa_strides mask_strides;
  float softcap;                 // 0: off; else each scaled score s becomes softcap tanh(s / softcap)
  exec x;                        // the settings, read once at the C boundary
  // fp32 tensors multiplied as bf16 (the layer's BF16 compute; resolve_sdpa
  // leaves it false): the fused forward and backward round Q, K, V, P, dO
  // and dS to bf16 pairs for vdpbf16ps, fp32 sums, where
  // sdpa_bf16_dot_usable() says so (ops/sdpa_forward.hpp).
  bool bf16_dot;
  // The backward of bf16 tensors whose forward ran on AMX tiles
  // (sdpa_amx_forward; resolve_sdpa leaves it false): the fused backward's
  // bf16 mode with its products on the same tiles, so the scores it
  // recomputes are the forward's bits.
  bool amx_scores;
};

// The one place a description's defaults are resolved. `d` must be valid
// (capi::check_sdpa_desc): its algo is read as an enum.
sdpa_plan resolve_sdpa(const qkv_sdpa_desc& d, const exec& x) noexcept;

}  // namespace qkv::ops
