// SPDX-License-Identifier: MIT
// sdpa_backward - the attention backward behind qkv_sdpa_backward(): the
// fused FlashAttention-2 style driver (O(tile * d) workspace per thread,
// sdpa_backward_fused.cpp) and the reference that materializes P per
// (batch, head) (sdpa_backward_reference.cpp). Both read only the plan
// (ops/sdpa_plan.hpp), resolved from a description the C boundary
// validated; they never fail except for a short workspace.
#pragma once

#include <cstddef>

#include "ops/sdpa_plan.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// The backward's pair, as the forward's (ops/sdpa_forward.hpp): workspace
// and run for p.algo, choosing the driver here. The run uses as many threads
// as the workspace allows (the result does not depend on it); false, with
// nothing written, when even one thread's share does not fit.
bool sdpa_backward_workspace_bytes(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept;
bool sdpa_backward(const sdpa_plan& p, const float* q, const float* k, const float* v, const float* out,
                   const float* lse, const float* dout, float* dq, float* dk, float* dv, void* workspace,
                   std::size_t bytes) noexcept;

// The same on tensors of `type` (F32, BF16 or F16; strides in elements;
// lse fp32), sdpa_backward_lowp.cpp. F32 is the pair above.
bool sdpa_backward_workspace_bytes(const sdpa_plan& p, qkv_dtype type, int threads, std::size_t* bytes) noexcept;
bool sdpa_backward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, const void* out,
                   const float* lse, const void* dout, void* dq, void* dk, void* dv, void* workspace,
                   std::size_t bytes) noexcept;

// ---- the two drivers, for sdpa_backward.cpp ----

// One call: the plan and its tensors, in the plan's layouts.
struct sdpa_bwd_args {
  const sdpa_plan& plan;
  const float *q, *k, *v, *out, *lse, *dout;
  float *dq, *dk, *dv;
};

// Workspace for up to `threads` threads; false when the size overflows.
bool sdpa_backward_fused_workspace(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept;
bool sdpa_backward_reference_workspace(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept;

bool sdpa_backward_fused(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept;
bool sdpa_backward_reference(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept;

}  // namespace qkv::ops
