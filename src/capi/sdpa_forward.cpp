// SPDX-License-Identifier: MIT
// C boundary: the attention forward and its workspace query, fp32 and typed
// (bf16/fp16). Each validates the description, resolves it once into an
// ops::sdpa_plan (under the settings, read once), validates the plan's
// layouts and the type; nothing is written on error. The fp32 entry points
// are the typed ones at QKV_DTYPE_F32.
#include "capi/report.hpp"
#include "capi/sdpa_check.hpp"
#include "capi/workspace.hpp"
#include "ops/sdpa_forward.hpp"
#include "qkv/attention.h"

extern "C" {

qkv_status qkv_sdpa_workspace_size_ex(const qkv_sdpa_desc* desc, qkv_dtype type, int threads, size_t* bytes) {
  QKV_SDPA_CHECKED(desc, type, /*backward=*/false, p, t);
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  std::size_t total = 0;
  if (!qkv::ops::sdpa_forward_workspace_bytes(p, t, threads, &total)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = total;
  return QKV_OK;
}

qkv_status qkv_sdpa_forward_ex(const qkv_sdpa_desc* desc, qkv_dtype type, const void* q, const void* k,
                               const void* v, void* out, float* lse, void* workspace, size_t workspace_bytes) {
  QKV_SDPA_CHECKED(desc, type, /*backward=*/false, p, t);
  if (!q || !k || !v || !out) return QKV_ERR_NULL_POINTER;
  std::size_t one = 0;  // the query's answer for one thread, alignment slack included
  if (!qkv::ops::sdpa_forward_workspace_bytes(p, t, 1, &one)) return QKV_ERR_SIZE_OVERFLOW;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, one); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  if (!qkv::ops::sdpa_forward(p, t, q, k, v, out, lse, workspace, workspace_bytes))
    return QKV_ERR_WORKSPACE_TOO_SMALL;
  if (clock.on()) qkv::capi::report_sdpa(clock.microseconds(), t == QKV_DTYPE_F32 ? "sdpa_forward" : "sdpa_forward_ex", p);
  return QKV_OK;
}

qkv_status qkv_sdpa_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes) {
  return qkv_sdpa_workspace_size_ex(desc, QKV_DTYPE_F32, threads, bytes);
}

qkv_status qkv_sdpa_forward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v, float* out,
                            float* lse, void* workspace, size_t workspace_bytes) {
  return qkv_sdpa_forward_ex(desc, QKV_DTYPE_F32, q, k, v, out, lse, workspace, workspace_bytes);
}

}  // extern "C"
