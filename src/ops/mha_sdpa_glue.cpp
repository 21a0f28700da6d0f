#include "ops/mha_sdpa_glue.hpp"

namespace qkv::ops {

// The layer validated its own arguments, and the descriptors it builds are
// valid by construction; the public entry points re-check them cheaply
// (O(1)), which keeps one definition of the attention contract.
std::size_t sdpa_forward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  qkv_sdpa_workspace_size(&d, threads, &bytes);
  return bytes;
}

void sdpa_forward_run(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v, float* out,
                      float* lse, void* ws, std::size_t ws_bytes) {
  qkv_sdpa_forward(&d, q, k, v, out, lse, ws, ws_bytes);
}

std::size_t sdpa_backward_ws(const qkv_sdpa_desc& d, int threads) {
  std::size_t bytes = 0;
  qkv_sdpa_backward_workspace_size(&d, threads, &bytes);
  return bytes;
}

void sdpa_backward_run(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v, const float* out,
                       const float* lse, const float* dout, float* dq, float* dk, float* dv, void* ws,
                       std::size_t ws_bytes) {
  qkv_sdpa_backward(&d, q, k, v, out, lse, dout, dq, dk, dv, ws, ws_bytes);
}

}  // namespace qkv::ops
