// SPDX-License-Identifier: MIT
// C boundary: the attention forward and its workspace query. Each validates
// the description, resolves it once into an ops::sdpa_plan (under the
// settings, read once) and validates the plan's layouts; nothing is written
// on error.
#include "capi/report.hpp"
#include "capi/sdpa_check.hpp"
#include "capi/workspace.hpp"
#include "ops/sdpa_forward.hpp"
#include "qkv/attention.h"

extern "C" {

qkv_status qkv_sdpa_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes) {
  if (const qkv_status st = qkv::capi::check_sdpa_desc(desc); st != QKV_OK) return st;
  const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(*desc, qkv::ops::current_exec());
  if (const qkv_status st = qkv::capi::check_sdpa_plan(p, /*backward=*/false); st != QKV_OK) return st;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  std::size_t total = 0;
  if (!qkv::ops::sdpa_forward_workspace_bytes(p, threads, &total)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = total;
  return QKV_OK;
}

qkv_status qkv_sdpa_forward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v, float* out,
                            float* lse, void* workspace, size_t workspace_bytes) {
  if (const qkv_status st = qkv::capi::check_sdpa_desc(desc); st != QKV_OK) return st;
  const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(*desc, qkv::ops::current_exec());
  if (const qkv_status st = qkv::capi::check_sdpa_plan(p, /*backward=*/false); st != QKV_OK) return st;
  if (!q || !k || !v || !out) return QKV_ERR_NULL_POINTER;
  std::size_t one = 0;  // the query's answer for one thread, alignment slack included
  if (!qkv::ops::sdpa_forward_workspace_bytes(p, 1, &one)) return QKV_ERR_SIZE_OVERFLOW;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, one); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  if (!qkv::ops::sdpa_forward(p, q, k, v, out, lse, workspace, workspace_bytes)) return QKV_ERR_WORKSPACE_TOO_SMALL;
  if (clock.on()) qkv::capi::report_sdpa(clock.microseconds(), "sdpa_forward", p);
  return QKV_OK;
}

}  // extern "C"
