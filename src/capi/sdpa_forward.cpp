// C boundary: the attention forward and its workspace query.
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/sdpa_check.hpp"
#include "ops/sdpa_forward.hpp"
#include "qkv/attention.h"

namespace {

using qkv::ops::kSdpaAlign;

// Validates the description and sizes one thread's workspace.
qkv_status plan(const qkv_sdpa_desc* desc, qkv::ops::sdpa_problem* p, std::size_t* per_thread) {
  qkv::capi::sdpa_resolved r{};
  const qkv_status st = qkv::capi::check_sdpa(desc, false, &r);
  if (st != QKV_OK) return st;
  *p = {desc, r.v_dim, r.scale};
  if (!qkv::ops::sdpa_forward_bytes_per_thread(*p, desc->algo, per_thread)) return QKV_ERR_SIZE_OVERFLOW;
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_sdpa_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes) {
  qkv::ops::sdpa_problem p{};
  std::size_t per = 0;
  const qkv_status st = plan(desc, &p, &per);
  if (st != QKV_OK) return st;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  // kSdpaAlign - 1 bytes of slack let the pointer be rounded up to the alignment.
  std::size_t total;
  if (!qkv::capi::mul_ok(per, static_cast<std::size_t>(threads), &total) ||
      !qkv::capi::add_ok(total, kSdpaAlign - 1, &total))
    return QKV_ERR_SIZE_OVERFLOW;
  *bytes = total;
  return QKV_OK;
}

qkv_status qkv_sdpa_forward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v, float* out,
                            float* lse, void* workspace, size_t workspace_bytes) {
  qkv::ops::sdpa_problem p{};
  std::size_t per = 0;
  const qkv_status st = plan(desc, &p, &per);
  if (st != QKV_OK) return st;
  if (!q || !k || !v || !out || !workspace) return QKV_ERR_NULL_POINTER;
  const auto addr = reinterpret_cast<std::uintptr_t>(workspace);
  const std::size_t pad = (kSdpaAlign - addr % kSdpaAlign) % kSdpaAlign;
  if (workspace_bytes < pad || (workspace_bytes - pad) / per < 1) return QKV_ERR_WORKSPACE_TOO_SMALL;
  const std::size_t fit = (workspace_bytes - pad) / per;  // threads the workspace can feed
  const int max_threads = fit > 1024 ? 1024 : static_cast<int>(fit);
  qkv::ops::sdpa_forward_run(p, q, k, v, out, lse, static_cast<char*>(workspace) + pad, per, max_threads);
  return QKV_OK;
}

}  // extern "C"
