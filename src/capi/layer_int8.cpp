// SPDX-License-Identifier: MIT
// C boundary of qkv/layer_int8.h: validates, then calls ops/mha_int8.
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/int8_fixed.hpp"
#include "ops/mha_int8.hpp"
#include "qkv/layer_int8.h"

namespace {

using qkv::capi::mul_ok;

constexpr std::size_t kMaxDim = 65536;  // keeps every int32 sum of the rules in range

bool qparam_ok(qkv_qparam p) {
  return p.scale > 0.0f && p.scale <= 3.402823466e38f && p.zero_point >= -128 && p.zero_point <= 127;
}

qkv_status check_desc(const qkv_mha_desc* d) {
  if (qkv_status st = qkv_mha_validate(d); st != QKV_OK) return st;
  if (d->rope || d->softcap != 0.0f) return QKV_ERR_UNSUPPORTED;
  if (d->d_in > kMaxDim || d->d_out > kMaxDim || d->window > UINT32_MAX) return QKV_ERR_BAD_SHAPE;
  return QKV_OK;
}

// The description's and the call's shape checks, in the header's order.
qkv_status setup(const qkv_mha_desc* d, std::size_t batch, std::size_t seq, qkv::ops::mha_dims* n) {
  if (qkv_status st = check_desc(d); st != QKV_OK) return st;
  if (batch == 0 || seq == 0 || seq > kMaxDim) return QKV_ERR_BAD_SHAPE;
  std::size_t rows, e;
  const std::size_t wide = d->d_in > d->d_out ? d->d_in : d->d_out;
  if (!mul_ok(batch, seq, &rows) || !mul_ok(rows, wide, &e) || !mul_ok(e, 8, &e) || e > qkv::capi::kMaxElems)
    return QKV_ERR_SIZE_OVERFLOW;
  *n = qkv::ops::mha_dims_for(*d, batch, seq);
  return QKV_OK;
}

// Whether a buffer's header and multipliers fit the description.
bool header_ok(const qkv_mha_desc& d, const qkv::ops::mha_dims& n, const void* qlayer, std::size_t bytes,
               const qkv_mha_int8_layout& l) {
  if (bytes < l.bytes) return false;
  const auto* h = static_cast<const qkv_mha_int8_header*>(qlayer);
  const std::uint32_t flags = (d.causal ? 1u : 0u) | (d.out_proj ? 2u : 0u);
  if (h->magic != QKV_MHA_INT8_MAGIC || h->version != QKV_MHA_INT8_VERSION || h->d_in != n.d_in ||
      h->d_out != n.d_out || h->num_heads != n.heads || h->d_kv != n.d_kv || h->flags != flags ||
      h->window != d.window || !qparam_ok(h->x) || !qparam_ok(h->y) || !qkv::ops::qmul_valid(h->score) ||
      !qkv::ops::qmul_valid(h->attn))
    return false;
  const std::size_t outs[4] = {n.d_out, n.d_kv, n.d_kv, n.d_out};
  for (int i = 0; i < (d.out_proj ? 4 : 3); ++i) {
    const auto* m = reinterpret_cast<const qkv_qmul*>(static_cast<const char*>(qlayer) + l.m[i]);
    for (std::size_t c = 0; c < outs[i]; ++c)
      if (!qkv::ops::qmul_valid(m[c])) return false;
  }
  return true;
}

qkv_status workspace_query(const qkv_mha_desc* d, std::size_t batch, std::size_t seq, int threads,
                           std::size_t* bytes, bool calibrate) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  qkv::ops::mha_dims n;
  if (qkv_status st = setup(d, batch, seq, &n); st != QKV_OK) return st;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  const qkv_isa isa = qkv::dispatch::active();
#ifdef QKV_HOSTED
  *bytes = calibrate ? qkv::ops::mha_int8_calibrate_workspace_bytes(isa, *d, n, threads)
                     : qkv::ops::mha_int8_forward_workspace_bytes(isa, *d, n, threads);
#else
  (void)calibrate;
  *bytes = qkv::ops::mha_int8_forward_workspace_bytes(isa, *d, n, threads);
#endif
  return QKV_OK;
}

}  // namespace

qkv_status qkv_quantize_multiplier(float real, qkv_qmul* m) {
  if (!m) return QKV_ERR_NULL_POINTER;
  qkv_qmul r;
  if (!qkv::ops::quantize_multiplier(real, &r)) return QKV_ERR_BAD_ARGUMENT;
  m->multiplier = r.multiplier, m->shift = r.shift;
  return QKV_OK;
}

qkv_status qkv_quantize_affine_s8(size_t n, const float* x, qkv_qparam p, int8_t* q) {
  if (n && (!x || !q)) return QKV_ERR_NULL_POINTER;
  if (!qparam_ok(p)) return QKV_ERR_BAD_ARGUMENT;
  for (std::size_t i = 0; i < n; ++i)
    if (!(x[i] >= -3.402823466e38f && x[i] <= 3.402823466e38f)) return QKV_ERR_NOT_FINITE;
  qkv::ops::quantize_affine_s8(n, x, p, q);
  return QKV_OK;
}

qkv_status qkv_dequantize_affine_s8(size_t n, const int8_t* q, qkv_qparam p, float* x) {
  if (n && (!x || !q)) return QKV_ERR_NULL_POINTER;
  if (!qparam_ok(p)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::dequantize_affine_s8(n, q, p, x);
  return QKV_OK;
}

qkv_status qkv_mha_int8_param_layout(const qkv_mha_desc* desc, qkv_mha_int8_layout* layout) {
  if (!layout) return QKV_ERR_NULL_POINTER;
  if (qkv_status st = check_desc(desc); st != QKV_OK) return st;
  const qkv_mha_int8_layout l = qkv::ops::mha_int8_layout_for(*desc);
  for (int i = 0; i < 4; ++i) layout->w[i] = l.w[i], layout->b[i] = l.b[i], layout->m[i] = l.m[i];
  layout->bytes = l.bytes;
  return QKV_OK;
}

qkv_status qkv_mha_int8_forward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len, int threads,
                                               size_t* bytes) {
  return workspace_query(desc, batch, seq_len, threads, bytes, false);
}

// Calibration: hosted builds only (ops/mha_int8_calibrate.cpp).
#ifdef QKV_HOSTED
qkv_status qkv_mha_int8_calibrate_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len,
                                                 int threads, size_t* bytes) {
  return workspace_query(desc, batch, seq_len, threads, bytes, true);
}

qkv_status qkv_mha_int8_calibrate(const qkv_mha_desc* desc, const float* params, size_t batch, size_t seq_len,
                                  const float* x, void* qlayer, size_t qlayer_bytes, void* workspace,
                                  size_t workspace_bytes) {
  qkv::ops::mha_dims n;
  if (qkv_status st = setup(desc, batch, seq_len, &n); st != QKV_OK) return st;
  if (!params || !x || !qlayer) return QKV_ERR_NULL_POINTER;
  if (reinterpret_cast<std::uintptr_t>(qlayer) % 64 != 0) return QKV_ERR_BAD_ARGUMENT;
  if (qlayer_bytes < qkv::ops::mha_int8_layout_for(*desc).bytes) return QKV_ERR_WORKSPACE_TOO_SMALL;
  qkv_mha_layout pl;
  if (qkv_status st = qkv_mha_param_layout(desc, &pl); st != QKV_OK) return st;
  const qkv::ops::exec xc = qkv::ops::current_exec();
  const std::size_t need = qkv::ops::mha_int8_calibrate_workspace_bytes(xc.isa, *desc, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  return qkv::ops::mha_int8_calibrate(xc, *desc, n, pl, params, x, qlayer, workspace, workspace_bytes);
}
#else
qkv_status qkv_mha_int8_calibrate_workspace_size(const qkv_mha_desc*, size_t, size_t, int, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_mha_int8_calibrate(const qkv_mha_desc*, const float*, size_t, size_t, const float*, void*, size_t,
                                  void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
#endif

qkv_status qkv_mha_int8_forward(const qkv_mha_desc* desc, const void* qlayer, size_t qlayer_bytes, size_t batch,
                                size_t seq_len, const int8_t* x, int8_t* y, void* workspace,
                                size_t workspace_bytes) {
  qkv::ops::mha_dims n;
  if (qkv_status st = setup(desc, batch, seq_len, &n); st != QKV_OK) return st;
  if (!qlayer || !x || !y) return QKV_ERR_NULL_POINTER;
  if (reinterpret_cast<std::uintptr_t>(qlayer) % 4 != 0) return QKV_ERR_BAD_ARGUMENT;
  if (qlayer_bytes < sizeof(qkv_mha_int8_header) ||
      !header_ok(*desc, n, qlayer, qlayer_bytes, qkv::ops::mha_int8_layout_for(*desc)))
    return QKV_ERR_BAD_FORMAT;
  const qkv::ops::exec xc = qkv::ops::current_exec();
  const std::size_t need = qkv::ops::mha_int8_forward_workspace_bytes(xc.isa, *desc, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  qkv::ops::mha_int8_forward(xc, *desc, n, qlayer, x, y, workspace, workspace_bytes);
  return QKV_OK;
}
