// C boundary: attention backward. Validates everything, then hands the fused
// or the reference driver a resolved description; writes nothing on error.
#include "capi/sdpa_check.hpp"
#include "capi/workspace.hpp"
#include "ops/sdpa_backward.hpp"
#include "qkv/attention.h"

namespace {

bool reference(const qkv_sdpa_desc& d) { return d.algo == QKV_SDPA_REFERENCE; }

bool required_bytes(const qkv_sdpa_desc& d, std::size_t v_dim, int threads, std::size_t* bytes) {
  return reference(d) ? qkv::ops::sdpa_backward_reference_workspace(d, threads, bytes)
                      : qkv::ops::sdpa_backward_fused_workspace(d, v_dim, threads, bytes);
}

}  // namespace

extern "C" {

qkv_status qkv_sdpa_backward_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes) {
  qkv::capi::sdpa_resolved r;
  const qkv_status st = qkv::capi::check_sdpa(desc, /*backward=*/true, &r);
  if (st != QKV_OK) return st;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  std::size_t n;
  if (!required_bytes(*desc, r.v_dim, threads, &n)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = n;
  return QKV_OK;
}

qkv_status qkv_sdpa_backward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v,
                             const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                             void* workspace, size_t workspace_bytes) {
  qkv::capi::sdpa_resolved r;
  const qkv_status st = qkv::capi::check_sdpa(desc, /*backward=*/true, &r);
  if (st != QKV_OK) return st;
  if (!q || !k || !v || !out || !lse || !dout || !dq || !dk || !dv) return QKV_ERR_NULL_POINTER;
  std::size_t one;  // what a single thread needs: less is an error, more may buy threads
  if (!required_bytes(*desc, r.v_dim, 1, &one)) return QKV_ERR_SIZE_OVERFLOW;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, one); w != QKV_OK) return w;
  const qkv::ops::sdpa_bwd_args a{desc, r.v_dim, r.scale, q, k, v, out, lse, dout, dq, dk, dv,
                                  qkv::ops::current_exec()};
  const bool ok = reference(*desc) ? qkv::ops::sdpa_backward_reference(a, workspace, workspace_bytes)
                                   : qkv::ops::sdpa_backward_fused(a, workspace, workspace_bytes);
  return ok ? QKV_OK : QKV_ERR_WORKSPACE_TOO_SMALL;
}

}  // extern "C"
