// SPDX-License-Identifier: MIT
// C boundary: activations, SwiGLU and the GEMM with bias and activation.
// The checks and their order are qkv/activation.h's; then the ops layer.
// Hosted builds only: a bare-metal build returns QKV_ERR_UNSUPPORTED from
// every function (its Cortex-M4 .text budget has no room for them yet).
#include "qkv/activation.h"

#ifdef QKV_HOSTED
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/act.hpp"

namespace {

using qkv::capi::matrix_extent;

bool valid_kind(const qkv_activation& k) {
  const long long v = qkv::capi::enum_value(k);
  return v >= QKV_ACT_GELU_TANH && v <= QKV_ACT_RELU;
}

bool valid_trans(const qkv_trans& t) {
  const long long v = qkv::capi::enum_value(t);
  return v == QKV_NO_TRANS || v == QKV_TRANS;
}

qkv::ops::act_kind kind_of(qkv_activation k) { return static_cast<qkv::ops::act_kind>(static_cast<int>(k)); }

// A rows x cols view of floats: pointer, leading dimension, element extent.
struct view {
  const void* p;
  std::size_t ld, extent;
};

// Do two rows x cols views share a byte? Exact for equal leading dimensions
// at a whole-float offset (two halves of one [rows, 2 cols] buffer share
// none); otherwise whether their address ranges meet.
bool overlap(const view& a, const view& b, std::size_t rows, std::size_t cols) {
  std::uintptr_t pa = reinterpret_cast<std::uintptr_t>(a.p), pb = reinterpret_cast<std::uintptr_t>(b.p);
  if (pa + a.extent * sizeof(float) <= pb || pb + b.extent * sizeof(float) <= pa) return false;
  if (a.ld != b.ld) return true;
  if (pb < pa) {
    const std::uintptr_t t = pa;
    pa = pb;
    pb = t;
  }
  const std::uintptr_t bytes = pb - pa;
  if (bytes % sizeof(float) != 0) return true;
  // Element (r, j) of a is element (r', j') of b iff (r - r') ld + (j - j') = d.
  const std::size_t d = bytes / sizeof(float), L = a.ld, k = d / L, m = d % L;
  return (k < rows && m < cols) || (k + 1 < rows && L - m < cols);
}

bool same(const view& a, const view& b) { return a.p == b.p && a.ld == b.ld; }

// An output is fine when, against every input, it is either that input
// exactly (in place) and that is allowed, or shares no memory with it.
bool output_ok(const view& out, const view* ins, int n_ins, const view* may_be, int n_may, std::size_t rows,
               std::size_t cols) {
  for (int i = 0; i < n_ins; ++i) {
    bool allowed = false;
    for (int k = 0; k < n_may; ++k) allowed = allowed || (same(out, ins[i]) && same(out, may_be[k]));
    if (!allowed && overlap(out, ins[i], rows, cols)) return false;
  }
  return true;
}

// Null pointers, leading dimensions, extents of `count` rows x n views.
qkv_status check_views(std::size_t rows, std::size_t n, const void* const* ptrs, const std::size_t* lds, view* out,
                       int count) {
  for (int i = 0; i < count; ++i)
    if (!ptrs[i]) return QKV_ERR_NULL_POINTER;
  for (int i = 0; i < count; ++i)
    if (lds[i] < n) return QKV_ERR_BAD_STRIDE;
  for (int i = 0; i < count; ++i) {
    out[i].p = ptrs[i];
    out[i].ld = lds[i];
    if (!matrix_extent(rows, n, lds[i], &out[i].extent)) return QKV_ERR_SIZE_OVERFLOW;
  }
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_activation_forward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx, float* y,
                                  size_t ldy) {
  if (!valid_kind(kind)) return QKV_ERR_BAD_ARGUMENT;
  if (rows == 0 || n == 0) return QKV_OK;
  const void* ptrs[2] = {x, y};
  const std::size_t lds[2] = {ldx, ldy};
  view v[2];
  if (const qkv_status s = check_views(rows, n, ptrs, lds, v, 2); s != QKV_OK) return s;
  if (!output_ok(v[1], v, 1, v, 1, rows, n)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::act_forward(qkv::ops::current_exec(), kind_of(kind), rows, n, x, ldx, y, ldy);
  return QKV_OK;
}

qkv_status qkv_activation_backward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx,
                                   const float* dy, size_t ldy, float* dx, size_t lddx) {
  if (!valid_kind(kind)) return QKV_ERR_BAD_ARGUMENT;
  if (rows == 0 || n == 0) return QKV_OK;
  const void* ptrs[3] = {x, dy, dx};
  const std::size_t lds[3] = {ldx, ldy, lddx};
  view v[3];
  if (const qkv_status s = check_views(rows, n, ptrs, lds, v, 3); s != QKV_OK) return s;
  if (!output_ok(v[2], v, 2, v, 2, rows, n)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::act_backward(qkv::ops::current_exec(), kind_of(kind), rows, n, x, ldx, dy, ldy, dx, lddx);
  return QKV_OK;
}

qkv_status qkv_swiglu_forward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu, float* y,
                              size_t ldy) {
  if (rows == 0 || n == 0) return QKV_OK;
  const void* ptrs[3] = {g, u, y};
  const std::size_t lds[3] = {ldg, ldu, ldy};
  view v[3];
  if (const qkv_status s = check_views(rows, n, ptrs, lds, v, 3); s != QKV_OK) return s;
  if (!output_ok(v[2], v, 2, v, 2, rows, n)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::swiglu_forward(qkv::ops::current_exec(), rows, n, g, ldg, u, ldu, y, ldy);
  return QKV_OK;
}

qkv_status qkv_swiglu_backward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu,
                               const float* dy, size_t ldy, float* dg, size_t lddg, float* du, size_t lddu) {
  if (rows == 0 || n == 0) return QKV_OK;
  const void* ptrs[5] = {g, u, dy, dg, du};
  const std::size_t lds[5] = {ldg, ldu, ldy, lddg, lddu};
  view v[5];
  if (const qkv_status s = check_views(rows, n, ptrs, lds, v, 5); s != QKV_OK) return s;
  // dg may be g or dy, du may be u or dy; dg and du never meet.
  const view dg_may[2] = {v[0], v[2]}, du_may[2] = {v[1], v[2]};
  if (!output_ok(v[3], v, 3, dg_may, 2, rows, n) || !output_ok(v[4], v, 3, du_may, 2, rows, n) ||
      overlap(v[3], v[4], rows, n))
    return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::swiglu_backward(qkv::ops::current_exec(), rows, n, g, ldg, u, ldu, dy, ldy, dg, lddg, du, lddu);
  return QKV_OK;
}

qkv_status qkv_sgemm_bias_act_workspace_size(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, int threads,
                                             size_t* bytes) {
  if (!valid_trans(ta) || !valid_trans(tb) || threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  // As qkv_sgemm_workspace_size: linear in the thread count, bounded first.
  const qkv_isa isa = qkv::dispatch::active();
  const bool at = ta == QKV_TRANS, bt = tb == QKV_TRANS;
  const std::size_t one = qkv::ops::sgemm_bias_act_workspace_bytes(isa, at, bt, M, N, K, 1);
  const std::size_t two = qkv::ops::sgemm_bias_act_workspace_bytes(isa, at, bt, M, N, K, 2);
  const std::size_t per_thread = two - one;
  if (per_thread && static_cast<std::size_t>(threads - 1) > (SIZE_MAX - one) / per_thread)
    return QKV_ERR_SIZE_OVERFLOW;
  *bytes = one + static_cast<std::size_t>(threads - 1) * per_thread;
  return QKV_OK;
}

qkv_status qkv_sgemm_bias_act(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
                              const float* B, size_t ldb, const float* bias, qkv_activation kind, float* pre,
                              size_t ldp, float* C, size_t ldc, void* workspace, size_t workspace_bytes) {
  if (!valid_trans(ta) || !valid_trans(tb) || !valid_kind(kind)) return QKV_ERR_BAD_ARGUMENT;
  const bool at = ta == QKV_TRANS, bt = tb == QKV_TRANS;
  // Stored shapes: A is M x K or K x M, B is K x N or N x K.
  const std::size_t ar = at ? K : M, ac = at ? M : K, br = bt ? N : K, bc = bt ? K : N;
  const bool mk = M && K, kn = K && N, mn = M && N;
  if ((mk && !A) || (kn && !B) || (mn && !C)) return QKV_ERR_NULL_POINTER;
  if (ac > lda || bc > ldb || N > ldc || (pre && N > ldp)) return QKV_ERR_BAD_STRIDE;
  std::size_t ea, eb, ec, ep = 0;
  if (!matrix_extent(ar, ac, lda, &ea) || !matrix_extent(br, bc, ldb, &eb) || !matrix_extent(M, N, ldc, &ec) ||
      (pre && !matrix_extent(M, N, ldp, &ep)))
    return QKV_ERR_SIZE_OVERFLOW;
  if (mn) {
    // Outputs against inputs: whole address ranges (A and B have other
    // shapes); pre against C exactly.
    auto meets = [](const void* o, std::size_t eo, const void* i, std::size_t ei) {
      const std::uintptr_t po = reinterpret_cast<std::uintptr_t>(o), pi = reinterpret_cast<std::uintptr_t>(i);
      return ei && po < pi + ei * sizeof(float) && pi < po + eo * sizeof(float);
    };
    const std::size_t en = bias ? N : 0;
    if (meets(C, ec, A, K ? ea : 0) || meets(C, ec, B, K ? eb : 0) || meets(C, ec, bias, en)) return QKV_ERR_BAD_ARGUMENT;
    if (pre && (meets(pre, ep, A, K ? ea : 0) || meets(pre, ep, B, K ? eb : 0) || meets(pre, ep, bias, en) ||
                overlap(view{pre, ldp, ep}, view{C, ldc, ec}, M, N)))
      return QKV_ERR_BAD_ARGUMENT;
  }
  if (!mn) return QKV_OK;
  // Only a packed product uses the workspace.
  const qkv::ops::exec x = qkv::ops::current_exec();
  const std::size_t need = qkv::ops::sgemm_bias_act_workspace_bytes(x.isa, at, bt, M, N, K, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  qkv::ops::sgemm_bias_act(x, at, bt, M, N, K, A, lda, B, ldb, bias, kind_of(kind), pre, ldp, C, ldc,
                           need ? workspace : nullptr, need ? workspace_bytes : 0);
  return QKV_OK;
}

}  // extern "C"

#else  // bare metal

extern "C" {

qkv_status qkv_activation_forward(qkv_activation, size_t, size_t, const float*, size_t, float*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_activation_backward(qkv_activation, size_t, size_t, const float*, size_t, const float*, size_t, float*,
                                   size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_swiglu_forward(size_t, size_t, const float*, size_t, const float*, size_t, float*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_swiglu_backward(size_t, size_t, const float*, size_t, const float*, size_t, const float*, size_t,
                               float*, size_t, float*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_sgemm_bias_act_workspace_size(qkv_trans, qkv_trans, size_t, size_t, size_t, int, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_sgemm_bias_act(qkv_trans, qkv_trans, size_t, size_t, size_t, const float*, size_t, const float*,
                              size_t, const float*, qkv_activation, float*, size_t, float*, size_t, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}

}  // extern "C"

#endif  // QKV_HOSTED
