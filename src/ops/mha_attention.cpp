// SPDX-License-Identifier: MIT
#include "ops/mha_attention.hpp"

#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"

namespace qkv::ops {

#ifdef QKV_HOSTED
sdpa_plan layer_attention_plan(const qkv_sdpa_desc& s, const exec& x, bool bf16) {
  sdpa_plan p = resolve_sdpa(s, x);
  p.bf16_dot = bf16 && sdpa_bf16_dot_usable(p);
  return p;
}
#endif

std::size_t layer_attention_forward_ws(const sdpa_plan& p, int threads) {
  std::size_t bytes = 0;
  sdpa_forward_workspace_bytes(p, threads, &bytes);
  return bytes;
}

void layer_attention_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                             float* lse, void* ws, std::size_t ws_bytes) {
  sdpa_forward(p, q, k, v, out, lse, ws, ws_bytes);
}

std::size_t layer_attention_backward_ws(const sdpa_plan& p, int threads) {
  std::size_t bytes = 0;
  sdpa_backward_workspace_bytes(p, threads, &bytes);
  return bytes;
}

void layer_attention_backward(const sdpa_plan& p, const float* q, const float* k, const float* v, const float* out,
                              const float* lse, const float* dout, float* dq, float* dk, float* dv, void* ws,
                              std::size_t ws_bytes) {
  sdpa_backward(p, q, k, v, out, lse, dout, dq, dk, dv, ws, ws_bytes);
}

}  // namespace qkv::ops
