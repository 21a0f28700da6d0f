#include "ops/mha_attention.hpp"

#include <cmath>

#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"

namespace qkv::ops {
namespace {

// The layer's descriptors are valid by construction (v_dim and scale set).
sdpa_problem problem_of(const qkv_sdpa_desc& d, const exec& x) {
  return {&d, d.v_dim, 1.0f / std::sqrt(static_cast<float>(d.head_dim)), x};
}

}  // namespace

std::size_t layer_attention_forward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  // Attention's workspace sizes do not depend on the ISA or thread setting.
  sdpa_forward_workspace_bytes(problem_of(d, exec{QKV_ISA_SCALAR, 1}), threads, &bytes);
  return bytes;
}

void layer_attention_forward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                             float* out, float* lse, void* ws, std::size_t ws_bytes) {
  sdpa_forward(problem_of(d, x), q, k, v, out, lse, ws, ws_bytes);
}

std::size_t layer_attention_backward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  sdpa_backward_fused_workspace(d, d.v_dim, threads, &bytes);
  return bytes;
}

void layer_attention_backward(const exec& x, const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                              const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                              void* ws, std::size_t ws_bytes) {
  const sdpa_problem p = problem_of(d, x);
  const sdpa_bwd_args a{&d, p.v_dim, p.scale, q, k, v, out, lse, dout, dq, dk, dv, x};
  sdpa_backward_fused(a, ws, ws_bytes);
}

}  // namespace qkv::ops
