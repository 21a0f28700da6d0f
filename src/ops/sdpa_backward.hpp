// sdpa_backward - attention backward drivers: the fused FlashAttention-2
// style kernel (O(tile * d) workspace per thread) and the reference that
// materializes P per (batch, head). Arguments are validated by the caller
// (capi/sdpa_backward.cpp); these never fail except for a short workspace.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "ops/sdpa_forward.hpp"
#include "qkv/attention.h"

namespace qkv::ops {

struct sdpa_bwd_args {
  const qkv_sdpa_desc* desc;  // validated; v_dim and scale resolved below
  std::size_t v_dim;
  float scale;
  const float *q, *k, *v, *out, *lse, *dout;
  float *dq, *dk, *dv;
  exec x;  // the settings the call runs under (read once at the C boundary)
};

// Workspace for up to `threads` threads; false when the size overflows.
bool sdpa_backward_fused_workspace(const qkv_sdpa_desc& d, std::size_t v_dim, int threads, std::size_t* bytes) noexcept;
bool sdpa_backward_reference_workspace(const qkv_sdpa_desc& d, int threads, std::size_t* bytes) noexcept;

// Run with as many threads as the workspace allows (the result does not
// depend on it). False, with nothing written, when even one thread's share
// does not fit.
bool sdpa_backward_fused(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept;
bool sdpa_backward_reference(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept;

// The backward's pair, as the forward's (ops/sdpa_forward.hpp): workspace
// and run for p.desc->algo (AUTO: fused), choosing the driver here.
bool sdpa_backward_workspace_bytes(const sdpa_problem& p, int threads, std::size_t* bytes) noexcept;
bool sdpa_backward(const sdpa_problem& p, const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dq, float* dk, float* dv, void* workspace,
                   std::size_t bytes) noexcept;

}  // namespace qkv::ops
