// SPDX-License-Identifier: MIT
#include "capi/sdpa_check.hpp"

#include "capi/report.hpp"

#include <cfloat>
#include <cmath>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/strided.hpp"

namespace qkv::capi {

qkv_status check_sdpa_desc(const qkv_sdpa_desc* d) noexcept {
  if (!d) return QKV_ERR_NULL_POINTER;
  if (d->batch == 0 || d->heads == 0 || d->q_len == 0 || d->kv_len == 0 || d->head_dim == 0)
    return QKV_ERR_BAD_SHAPE;
  if (d->causal != 0 && d->causal != 1) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->dropout_p >= 0.f && d->dropout_p < 1.f)) return QKV_ERR_BAD_ARGUMENT;  // also rejects NaN
  const long long algo = enum_value(d->algo);  // any int a C caller stored
  if (algo != QKV_SDPA_AUTO && algo != QKV_SDPA_FUSED && algo != QKV_SDPA_REFERENCE)
    return QKV_ERR_BAD_ARGUMENT;
  if (d->scale != 0.f && !(std::isfinite(d->scale) && d->scale > 0.f)) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->softcap >= 0.f && d->softcap <= FLT_MAX)) return QKV_ERR_BAD_ARGUMENT;  // 0 (off), or finite > 0
  if (d->kv_heads != 0 && d->heads % d->kv_heads != 0) return QKV_ERR_BAD_SHAPE;
  if (!d->mask && (d->mask_strides.batch | d->mask_strides.head | d->mask_strides.token) != 0)
    return QKV_ERR_BAD_ARGUMENT;
  return QKV_OK;
}

qkv_status check_sdpa_plan(const ops::sdpa_plan& p, bool backward) noexcept {
  // Token rows of each tensor must not overlap their own features.
  if ((p.q_len > 1 && p.q.token < p.head_dim) || (p.kv_len > 1 && p.k.token < p.head_dim) ||
      (p.kv_len > 1 && p.v.token < p.v_dim) || (p.q_len > 1 && p.o.token < p.v_dim))
    return QKV_ERR_BAD_STRIDE;

  std::size_t e;
  if (!span(p.q, p.batch, p.heads, p.q_len, p.head_dim, &e) ||
      !span(p.k, p.batch, p.kv_heads, p.kv_len, p.head_dim, &e) ||
      !span(p.v, p.batch, p.kv_heads, p.kv_len, p.v_dim, &e) ||
      !span(p.o, p.batch, p.heads, p.q_len, p.v_dim, &e) ||
      (p.mask && !span(p.mask_strides, p.batch, p.heads, p.q_len, p.kv_len, &e)))
    return QKV_ERR_SIZE_OVERFLOW;
  std::size_t lse_elems;
  if (!mul_ok(p.batch, p.heads, &lse_elems) || !mul_ok(lse_elems, p.q_len, &lse_elems) || lse_elems > kMaxElems)
    return QKV_ERR_SIZE_OVERFLOW;

  // The lengths arrays last: batch is bounded by the spans now, so reading
  // batch entries is a read of arrays a valid call has.
  for (std::size_t b = 0; p.kv_lens && b < p.batch; ++b)
    if (p.kv_lens[b] > p.kv_len) return QKV_ERR_BAD_SHAPE;
  for (std::size_t b = 0; p.q_lens && b < p.batch; ++b)
    if (p.q_lens[b] > p.q_len) return QKV_ERR_BAD_SHAPE;

  if (!non_overlapping(p.o, p.batch, p.heads, p.q_len, p.v_dim)) return QKV_ERR_BAD_STRIDE;
  if (backward && (!non_overlapping(p.q, p.batch, p.heads, p.q_len, p.head_dim) ||
                   !non_overlapping(p.k, p.batch, p.kv_heads, p.kv_len, p.head_dim) ||
                   !non_overlapping(p.v, p.batch, p.kv_heads, p.kv_len, p.v_dim)))
    return QKV_ERR_BAD_STRIDE;

  return QKV_OK;
}

void report_sdpa(double microseconds, const char* routine, const ops::sdpa_plan& p) noexcept {
#ifndef QKV_HOSTED  // never called there (report_clock::on() is constant false): no formatting to keep
  (void)microseconds, (void)routine, (void)p;
#else
  report(microseconds, "%s,%s,%s,B%zu H%zu/%zu Tq%zu Tk%zu d%zu dv%zu%s window %zu%s%s%s,threads %d%s", routine,
         qkv_isa_name(p.x.isa), p.algo == QKV_SDPA_REFERENCE ? "reference" : "fused", p.batch, p.heads, p.kv_heads,
         p.q_len, p.kv_len, p.head_dim, p.v_dim, p.causal ? " causal" : "", p.window,
         p.kv_lens || p.q_lens ? " ragged" : "", p.mask ? " mask" : "", p.dropout_p > 0.f ? " dropout" : "", p.x.threads,
         p.x.pool.parallel_for ? " (executor)" : "");
#endif
}

qkv_status check_sdpa_call(const ops::sdpa_plan& p, bool backward, const qkv_dtype& type, qkv_dtype* out) noexcept {
  if (const qkv_status st = check_sdpa_plan(p, backward); st != QKV_OK) return st;
  const long long value = enum_value(type);
  if (value != QKV_DTYPE_F32 && value != QKV_DTYPE_BF16 && value != QKV_DTYPE_F16) return QKV_ERR_BAD_ARGUMENT;
  *out = static_cast<qkv_dtype>(value);
  return QKV_OK;
}

}  // namespace qkv::capi
