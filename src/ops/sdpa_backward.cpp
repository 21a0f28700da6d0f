// The attention backward's entry pair: picks the fused or the reference
// driver from the description, as sdpa_forward() does for the forward.
#include "ops/sdpa_backward.hpp"

namespace qkv::ops {
namespace {

bool reference(const sdpa_problem& p) { return p.desc->algo == QKV_SDPA_REFERENCE; }

}  // namespace

bool sdpa_backward_workspace_bytes(const sdpa_problem& p, int threads, std::size_t* bytes) noexcept {
  return reference(p) ? sdpa_backward_reference_workspace(*p.desc, threads, bytes)
                      : sdpa_backward_fused_workspace(*p.desc, p.v_dim, threads, bytes);
}

bool sdpa_backward(const sdpa_problem& p, const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dq, float* dk, float* dv, void* workspace,
                   std::size_t bytes) noexcept {
  const sdpa_bwd_args a{p.desc, p.v_dim, p.scale, q, k, v, out, lse, dout, dq, dk, dv, p.x};
  return reference(p) ? sdpa_backward_reference(a, workspace, bytes) : sdpa_backward_fused(a, workspace, bytes);
}

}  // namespace qkv::ops
