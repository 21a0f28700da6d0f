// SPDX-License-Identifier: MIT
// C boundary: the attention backward and its workspace query, fp32 and
// typed, as the forward's (capi/sdpa_forward.cpp) with the backward's
// layout rule; the plan goes to ops::sdpa_backward, which picks the fused
// or the reference driver. Nothing is written on error.
#include "capi/report.hpp"
#include "capi/sdpa_check.hpp"
#include "capi/workspace.hpp"
#include "ops/sdpa_backward.hpp"
#include "qkv/attention.h"

extern "C" {

qkv_status qkv_sdpa_backward_workspace_size_ex(const qkv_sdpa_desc* desc, qkv_dtype type, int threads,
                                               size_t* bytes) {
  QKV_SDPA_CHECKED(desc, type, /*backward=*/true, p, t);
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  std::size_t n;
  if (!qkv::ops::sdpa_backward_workspace_bytes(p, t, threads, &n)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = n;
  return QKV_OK;
}

qkv_status qkv_sdpa_backward_ex(const qkv_sdpa_desc* desc, qkv_dtype type, const void* q, const void* k,
                                const void* v, const void* out, const float* lse, const void* dout, void* dq,
                                void* dk, void* dv, void* workspace, size_t workspace_bytes) {
  QKV_SDPA_CHECKED(desc, type, /*backward=*/true, p, t);
  if (!q || !k || !v || !out || !lse || !dout || !dq || !dk || !dv) return QKV_ERR_NULL_POINTER;
  std::size_t one;  // what a single thread needs: less is an error, more may buy threads
  if (!qkv::ops::sdpa_backward_workspace_bytes(p, t, 1, &one)) return QKV_ERR_SIZE_OVERFLOW;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, one); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  if (!qkv::ops::sdpa_backward(p, t, q, k, v, out, lse, dout, dq, dk, dv, workspace, workspace_bytes))
    return QKV_ERR_WORKSPACE_TOO_SMALL;
  if (clock.on())
    qkv::capi::report_sdpa(clock.microseconds(), t == QKV_DTYPE_F32 ? "sdpa_backward" : "sdpa_backward_ex", p);
  return QKV_OK;
}

qkv_status qkv_sdpa_backward_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes) {
  return qkv_sdpa_backward_workspace_size_ex(desc, QKV_DTYPE_F32, threads, bytes);
}

qkv_status qkv_sdpa_backward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v,
                             const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                             void* workspace, size_t workspace_bytes) {
  return qkv_sdpa_backward_ex(desc, QKV_DTYPE_F32, q, k, v, out, lse, dout, dq, dk, dv, workspace, workspace_bytes);
}

}  // extern "C"
