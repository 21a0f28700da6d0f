// SPDX-License-Identifier: MIT
// The attention backward's entry pair: picks the fused or the reference
// driver from the plan, as sdpa_forward() does for the forward.
#include "ops/sdpa_backward.hpp"

namespace qkv::ops {

bool sdpa_backward_workspace_bytes(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept {
  return p.algo == QKV_SDPA_REFERENCE ? sdpa_backward_reference_workspace(p, threads, bytes)
                                      : sdpa_backward_fused_workspace(p, threads, bytes);
}

bool sdpa_backward(const sdpa_plan& p, const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dq, float* dk, float* dv, void* workspace,
                   std::size_t bytes) noexcept {
  const sdpa_bwd_args a{p, q, k, v, out, lse, dout, dq, dk, dv};
  return p.algo == QKV_SDPA_REFERENCE ? sdpa_backward_reference(a, workspace, bytes)
                                      : sdpa_backward_fused(a, workspace, bytes);
}

}  // namespace qkv::ops
