// SPDX-License-Identifier: MIT
// C boundary: rotary position embedding (qkv/rope.h), the checks in the
// header's order, then ops::rope_apply.
#include <cmath>
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/strided.hpp"
#include "ops/rope.hpp"
#include "qkv/rope.h"

namespace {

qkv_status check_rope(const qkv_rope_desc* d, const qkv_dtype& type, const void* in, const void* out) noexcept {
  if (!d || !in || !out) return QKV_ERR_NULL_POINTER;
  if (d->batch == 0 || d->heads == 0 || d->tokens == 0 || d->head_dim == 0) return QKV_ERR_BAD_SHAPE;
  if (d->rotary_dim % 2 != 0 || d->rotary_dim > d->head_dim) return QKV_ERR_BAD_SHAPE;
  if (d->rotary_dim == 0 && d->head_dim % 2 != 0) return QKV_ERR_BAD_SHAPE;  // the default is head_dim
  if (!(d->theta >= 0.f && std::isfinite(d->theta))) return QKV_ERR_BAD_ARGUMENT;  // also NaN
  const long long layout = qkv::capi::enum_value(d->layout);  // any int a C caller stored
  if (layout != QKV_ROPE_HALF && layout != QKV_ROPE_INTERLEAVED) return QKV_ERR_BAD_ARGUMENT;
  const long long t = qkv::capi::enum_value(type);
  if (t != QKV_DTYPE_F32 && t != QKV_DTYPE_BF16 && t != QKV_DTYPE_F16) return QKV_ERR_BAD_ARGUMENT;
  if (d->tokens > 1 && d->x.token < d->head_dim) return QKV_ERR_BAD_STRIDE;
  std::size_t e;
  if (!qkv::capi::span(d->x, d->batch, d->heads, d->tokens, d->head_dim, &e)) return QKV_ERR_SIZE_OVERFLOW;
  if (d->positions) {  // (batch - 1) * stride + tokens size_t elements
    if (!qkv::capi::mul_ok(d->batch - 1, d->positions_batch_stride, &e) || !qkv::capi::add_ok(e, d->tokens, &e) ||
        e > static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(std::size_t))
      return QKV_ERR_SIZE_OVERFLOW;
  }
  if (!qkv::capi::non_overlapping(d->x, d->batch, d->heads, d->tokens, d->head_dim)) return QKV_ERR_BAD_STRIDE;
  return QKV_OK;
}

// `type` by reference and read through its bits (capi/enum_value.hpp): a C
// caller may pass any int.
qkv_status rope_call(const qkv_rope_desc* desc, const qkv_dtype& type, const void* in, void* out,
                     bool inverse) noexcept {
  if (const qkv_status st = check_rope(desc, type, in, out); st != QKV_OK) return st;
  qkv::ops::rope_apply(qkv::ops::current_exec(), *desc, static_cast<qkv_dtype>(qkv::capi::enum_value(type)), in, out,
                       inverse);
  return QKV_OK;
}

constexpr qkv_dtype kF32 = QKV_DTYPE_F32;

}  // namespace

extern "C" {

qkv_status qkv_rope_forward(const qkv_rope_desc* desc, const float* x, float* y) {
  return rope_call(desc, kF32, x, y, false);
}

qkv_status qkv_rope_backward(const qkv_rope_desc* desc, const float* dy, float* dx) {
  return rope_call(desc, kF32, dy, dx, true);
}

qkv_status qkv_rope_forward_ex(const qkv_rope_desc* desc, qkv_dtype type, const void* x, void* y) {
  return rope_call(desc, type, x, y, false);
}

qkv_status qkv_rope_backward_ex(const qkv_rope_desc* desc, qkv_dtype type, const void* dy, void* dx) {
  return rope_call(desc, type, dy, dx, true);
}

}  // extern "C"
