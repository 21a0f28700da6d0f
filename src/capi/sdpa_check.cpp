#include "capi/sdpa_check.hpp"

#include <cmath>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"

namespace qkv::capi {
namespace {

struct axis {
  std::size_t stride, extent;
};

// Largest element offset + 1 of a [batch, heads, tokens, dim] tensor, or
// false on overflow.
bool span(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens, std::size_t dim,
          std::size_t* elems) noexcept {
  const axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  std::size_t total = dim;
  for (const axis& a : axes) {
    std::size_t off;
    if (!mul_ok(a.extent - 1, a.stride, &off) || !add_ok(total, off, &total)) return false;
  }
  *elems = total;
  return total <= kMaxElems;
}

// True when (b, h, t, f) -> offset is one-to-one: sorted by stride, every
// axis of extent > 1 must step over everything inside it.
bool non_overlapping(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens,
                     std::size_t dim) noexcept {
  axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  for (int i = 0; i < 3; ++i)  // tiny insertion sort by stride
    for (int j = i; j > 0 && axes[j].stride < axes[j - 1].stride; --j) {
      const axis t = axes[j];
      axes[j] = axes[j - 1];
      axes[j - 1] = t;
    }
  std::size_t inner = dim;  // elements covered by the axes already placed
  for (const axis& a : axes) {
    if (a.extent <= 1) continue;
    if (a.stride < inner) return false;
    std::size_t covered;
    if (!mul_ok(a.stride, a.extent - 1, &covered) || !add_ok(covered, inner, &inner)) return false;
  }
  return true;
}

}  // namespace

qkv_status check_sdpa(const qkv_sdpa_desc* d, bool backward) noexcept {
  if (!d) return QKV_ERR_NULL_POINTER;
  if (d->batch == 0 || d->heads == 0 || d->q_len == 0 || d->kv_len == 0 || d->head_dim == 0)
    return QKV_ERR_BAD_SHAPE;
  const std::size_t v_dim = d->v_dim ? d->v_dim : d->head_dim;
  if (d->causal != 0 && d->causal != 1) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->dropout_p >= 0.f && d->dropout_p < 1.f)) return QKV_ERR_BAD_ARGUMENT;  // also rejects NaN
  const long long algo = enum_value(d->algo);  // any int a C caller stored
  if (algo != QKV_SDPA_AUTO && algo != QKV_SDPA_FUSED && algo != QKV_SDPA_REFERENCE)
    return QKV_ERR_BAD_ARGUMENT;
  if (d->scale != 0.f && !(std::isfinite(d->scale) && d->scale > 0.f)) return QKV_ERR_BAD_ARGUMENT;

  // Token rows of each tensor must not overlap their own features.
  if ((d->q_len > 1 && d->q.token < d->head_dim) || (d->kv_len > 1 && d->k.token < d->head_dim) ||
      (d->kv_len > 1 && d->v.token < v_dim) || (d->q_len > 1 && d->o.token < v_dim))
    return QKV_ERR_BAD_STRIDE;

  std::size_t e;
  if (!span(d->q, d->batch, d->heads, d->q_len, d->head_dim, &e) ||
      !span(d->k, d->batch, d->heads, d->kv_len, d->head_dim, &e) ||
      !span(d->v, d->batch, d->heads, d->kv_len, v_dim, &e) ||
      !span(d->o, d->batch, d->heads, d->q_len, v_dim, &e))
    return QKV_ERR_SIZE_OVERFLOW;
  std::size_t lse_elems;
  if (!mul_ok(d->batch, d->heads, &lse_elems) || !mul_ok(lse_elems, d->q_len, &lse_elems) || lse_elems > kMaxElems)
    return QKV_ERR_SIZE_OVERFLOW;

  if (!non_overlapping(d->o, d->batch, d->heads, d->q_len, v_dim)) return QKV_ERR_BAD_STRIDE;
  if (backward && (!non_overlapping(d->q, d->batch, d->heads, d->q_len, d->head_dim) ||
                   !non_overlapping(d->k, d->batch, d->heads, d->kv_len, d->head_dim) ||
                   !non_overlapping(d->v, d->batch, d->heads, d->kv_len, v_dim)))
    return QKV_ERR_BAD_STRIDE;

  return QKV_OK;
}

}  // namespace qkv::capi
