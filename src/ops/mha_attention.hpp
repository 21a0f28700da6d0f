// mha_attention - the two attention calls the layer makes, behind one narrow
// seam (workspace size + run, forward and backward).
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/attention.h"

namespace qkv::ops {

std::size_t layer_attention_forward_ws(const qkv_sdpa_desc& d, int threads);
void layer_attention_forward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                             float* out, float* lse, void* ws, std::size_t ws_bytes);
std::size_t layer_attention_backward_ws(const qkv_sdpa_desc& d, int threads);
void layer_attention_backward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                              const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                              void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
