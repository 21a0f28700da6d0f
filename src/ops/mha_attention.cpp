#include "ops/mha_attention.hpp"

#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"

namespace qkv::ops {

std::size_t layer_attention_forward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  // Attention's workspace sizes do not depend on the ISA or thread setting.
  sdpa_forward_workspace_bytes(resolve_sdpa(d, exec{QKV_ISA_SCALAR, 1}), threads, &bytes);
  return bytes;
}

void layer_attention_forward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                             float* out, float* lse, void* ws, std::size_t ws_bytes) {
  sdpa_forward(resolve_sdpa(d, x), q, k, v, out, lse, ws, ws_bytes);
}

std::size_t layer_attention_backward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  sdpa_backward_workspace_bytes(resolve_sdpa(d, exec{QKV_ISA_SCALAR, 1}), threads, &bytes);
  return bytes;
}

void layer_attention_backward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                              const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                              void* ws, std::size_t ws_bytes) {
  sdpa_backward(resolve_sdpa(d, x), q, k, v, out, lse, dout, dq, dk, dv, ws, ws_bytes);
}

}  // namespace qkv::ops
