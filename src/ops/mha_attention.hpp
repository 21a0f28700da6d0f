// SPDX-License-Identifier: MIT
// mha_attention - the two attention calls the layer makes, behind one narrow
// seam (workspace size + run, forward and backward), each on the plan the
// layer resolved for the call (layer_attention_plan).
#pragma once

#include <cstddef>

#include "ops/sdpa_plan.hpp"

namespace qkv::ops {

// The plan of description s (ops::resolve_sdpa); with `bf16` (the layer's
// BF16 compute) the fused forward and backward multiply in bf16 where they
// can (sdpa_bf16_dot_usable; hosted builds).
#ifdef QKV_HOSTED
sdpa_plan layer_attention_plan(const qkv_sdpa_desc& s, const exec& x, bool bf16);
#else
inline sdpa_plan layer_attention_plan(const qkv_sdpa_desc& s, const exec& x, bool) { return resolve_sdpa(s, x); }
#endif

// Workspace sizes; they read neither p.x nor any setting. The C boundary
// bounds layer sizes (capi/layer.cpp), so they cannot overflow.
std::size_t layer_attention_forward_ws(const sdpa_plan& p, int threads);
void layer_attention_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                             float* lse, void* ws, std::size_t ws_bytes);
std::size_t layer_attention_backward_ws(const sdpa_plan& p, int threads);
void layer_attention_backward(const sdpa_plan& p, const float* q, const float* k, const float* v, const float* out,
                              const float* lse, const float* dout, float* dq, float* dk, float* dv, void* ws,
                              std::size_t ws_bytes);

}  // namespace qkv::ops
