// SPDX-License-Identifier: MIT
// C boundary: qkv_gemm_ex. Validates the descriptor and the operands in the
// order qkv/gemm_ex.h lists, then calls the trusted ops layer.
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/report.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/gemm_ex.hpp"
#include "qkv/gemm_ex.h"
#include "util/copy.hpp"

namespace {

using qkv::capi::enum_value;

bool valid_trans(const qkv_trans& t) {
  const long long v = enum_value(t);
  return v == QKV_NO_TRANS || v == QKV_TRANS;
}
bool operand_type(long long t) {
  return t == QKV_DTYPE_F32 || t == QKV_DTYPE_BF16 || t == QKV_DTYPE_F16 || t == QKV_DTYPE_I8;
}
std::size_t elem_bytes(long long t) { return t == QKV_DTYPE_I8 ? 1 : t == QKV_DTYPE_F32 || t == QKV_DTYPE_I32 ? 4 : 2; }

// A stored rows x cols matrix of `bytes`-byte elements, leading dimension ld.
struct stored {
  const void* ptr;
  std::size_t rows, cols, ld, bytes;
  bool empty() const { return rows == 0 || cols == 0; }
};

// Everything but the operand pointers and the workspace (the size query's
// checks), in the header's order; *args filled on success.
qkv_status check_desc(const qkv_gemm_ex_desc& d, qkv::ops::gemm_ex_args* args) {
  if (!valid_trans(d.ta) || !valid_trans(d.tb)) return QKV_ERR_BAD_ARGUMENT;
  const long long at = enum_value(d.a_type), bt = enum_value(d.b_type), ct = enum_value(d.c_type);
  const bool s8 = at == QKV_DTYPE_I8 && bt == QKV_DTYPE_I8;
  if (!operand_type(at) || !operand_type(bt)) return QKV_ERR_BAD_DTYPE;
  if (ct != QKV_DTYPE_F32 && ct != QKV_DTYPE_BF16 && !(ct == QKV_DTYPE_I32 && s8)) return QKV_ERR_BAD_DTYPE;
  if ((d.a_scales && at != QKV_DTYPE_I8) || (d.b_scales && bt != QKV_DTYPE_I8)) return QKV_ERR_BAD_DTYPE;
  if (ct == QKV_DTYPE_I32 && (d.a_scales || d.b_scales || d.alpha != 1.f || (d.beta != 0.f && d.beta != 1.f)))
    return QKV_ERR_BAD_ARGUMENT;
  if (s8 && d.K > 131072) return QKV_ERR_BAD_SHAPE;
  const bool ta = enum_value(d.ta) == QKV_TRANS, tb = enum_value(d.tb) == QKV_TRANS;
  *args = qkv::ops::gemm_ex_args{ta, tb, d.M, d.N, d.K, d.a_type, d.b_type, d.c_type, nullptr, d.lda, nullptr,
                                 d.ldb, nullptr, d.ldc, d.alpha, d.beta, d.a_scales, d.b_scales, nullptr};
  return QKV_OK;
}

qkv_status check_matrices(const qkv_gemm_ex_desc& d, const qkv::ops::gemm_ex_args& p, bool pointers) {
  const stored ms[3] = {
      p.ta ? stored{p.A, d.K, d.M, d.lda, elem_bytes(enum_value(d.a_type))}
           : stored{p.A, d.M, d.K, d.lda, elem_bytes(enum_value(d.a_type))},
      p.tb ? stored{p.B, d.N, d.K, d.ldb, elem_bytes(enum_value(d.b_type))}
           : stored{p.B, d.K, d.N, d.ldb, elem_bytes(enum_value(d.b_type))},
      stored{p.C, d.M, d.N, d.ldc, elem_bytes(enum_value(d.c_type))}};
  if (pointers)
    for (const stored& m : ms)
      if (!m.ptr && !m.empty()) return QKV_ERR_NULL_POINTER;
  for (const stored& m : ms)
    if (m.ld < m.cols) return QKV_ERR_BAD_STRIDE;
  for (const stored& m : ms) {
    std::size_t elems = 0, bytes = 0;
    if (m.empty()) continue;
    if (!qkv::capi::mul_ok(m.rows - 1, m.ld, &elems) || !qkv::capi::add_ok(elems, m.cols, &elems) ||
        !qkv::capi::mul_ok(elems, m.bytes, &bytes) || bytes > static_cast<std::size_t>(PTRDIFF_MAX))
      return QKV_ERR_SIZE_OVERFLOW;
  }
  return QKV_OK;
}

// "gemm_ex,avx512_bf16,bf16 gemm_bf16_16x32 mc.. kc.. nc..,BF16xBF16->F32 NT M1024 N768 K768,threads 2".
void report_gemm_ex(const qkv::capi::report_clock& clock, const qkv::ops::exec& x, const qkv_gemm_ex_desc& d,
                    const qkv::ops::gemm_ex_args& p) {
#ifndef QKV_HOSTED  // never called there (report_clock::on() is constant false)
  (void)clock, (void)x, (void)d, (void)p;
#else
  const qkv::ops::gemm_ex_info i = qkv::ops::describe_gemm_ex(x.isa, p);
  const char t[2] = {'N', 'T'};
  qkv::capi::report(clock.microseconds(), "gemm_ex,%s,%s %s mc%zu kc%zu nc%zu,%sx%s->%s %c%c M%zu N%zu K%zu,threads %d%s",
                    qkv_isa_name(x.isa), i.kind, i.kernel, i.mc, i.kc, i.nc, qkv_dtype_name(d.a_type),
                    qkv_dtype_name(d.b_type), qkv_dtype_name(d.c_type), t[p.ta], t[p.tb], d.M, d.N, d.K, x.threads,
                    x.pool.parallel_for ? " (executor)" : "");
#endif
}

}  // namespace

extern "C" {

qkv_status qkv_gemm_ex_workspace_size(const qkv_gemm_ex_desc* desc, int threads, size_t* bytes) {
  if (!desc || !bytes) return QKV_ERR_NULL_POINTER;
  auto p = qkv::util::zeroed<qkv::ops::gemm_ex_args>();
  if (const qkv_status s = check_desc(*desc, &p); s != QKV_OK) return s;
  if (const qkv_status s = check_matrices(*desc, p, false); s != QKV_OK) return s;
  std::size_t n = 0;
  if (!qkv::ops::gemm_ex_workspace_bytes(qkv::dispatch::active(), p, threads < 1 ? 1 : threads, &n))
    return QKV_ERR_SIZE_OVERFLOW;
  *bytes = n;
  return QKV_OK;
}

qkv_status qkv_gemm_ex(const qkv_gemm_ex_desc* desc, const void* A, const void* B, void* C, void* workspace,
                       size_t workspace_bytes) {
  if (!desc) return QKV_ERR_NULL_POINTER;
  auto p = qkv::util::zeroed<qkv::ops::gemm_ex_args>();
  if (const qkv_status s = check_desc(*desc, &p); s != QKV_OK) return s;
  p.A = A;
  p.B = B;
  p.C = C;
  if (const qkv_status s = check_matrices(*desc, p, true); s != QKV_OK) return s;
  const qkv::ops::exec x = qkv::ops::current_exec();
  std::size_t need = 0;
  if (!qkv::ops::gemm_ex_workspace_bytes(x.isa, p, 1, &need)) return QKV_ERR_SIZE_OVERFLOW;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::gemm_ex(x, p, need ? workspace : nullptr, workspace_bytes);
  if (clock.on()) report_gemm_ex(clock, x, *desc, p);
  return QKV_OK;
}

}  // extern "C"
