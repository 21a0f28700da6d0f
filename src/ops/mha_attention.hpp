// SPDX-License-Identifier: MIT
// mha_attention - the two attention calls the layer makes, behind one narrow
// seam (workspace size + run, forward and backward), each on the plan the
// layer resolved for the call (ops::resolve_sdpa).
#pragma once

#include <cstddef>

#include "ops/sdpa_plan.hpp"

namespace qkv::ops {

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
