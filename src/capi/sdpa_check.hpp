// SPDX-License-Identifier: MIT
// sdpa_check - validation of an attention call, shared by the forward and
// the backward entry points, in two steps around ops::resolve_sdpa (the one
// place defaults are resolved): the description's own fields, then the
// layouts of the plan resolved from it.
#pragma once

#include "ops/sdpa_plan.hpp"
#include "qkv/attention.h"
#include "qkv/dtype.h"

namespace qkv::capi {

// Null, zero dimensions (QKV_ERR_BAD_SHAPE), then scale, causal, dropout and
// algo (QKV_ERR_BAD_ARGUMENT), then kv_heads not dividing heads
// (QKV_ERR_BAD_SHAPE) and mask strides without a mask (QKV_ERR_BAD_ARGUMENT).
// On QKV_OK, *desc is fit for ops::resolve_sdpa.
qkv_status check_sdpa_desc(const qkv_sdpa_desc* desc) noexcept;

// Token stride >= feature size, no element span overflow (the mask's
// included), lengths within q_len / kv_len (QKV_ERR_BAD_SHAPE), and output layouts
// (o, and in the backward dq/dk/dv, which have q/k/v's layouts) that do not
// overlap themselves; `backward` also requires q, k and v layouts not to
// overlap. Statuses QKV_ERR_BAD_STRIDE and QKV_ERR_SIZE_OVERFLOW.
qkv_status check_sdpa_plan(const ops::sdpa_plan& p, bool backward) noexcept;

// check_sdpa_plan(p, backward), then the element type of the call: F32,
// BF16 or F16 into *out; anything else is QKV_ERR_BAD_ARGUMENT. `type` by
// reference and read through its bits (capi/enum_value.hpp): a C caller may
// pass any int, and copying it as a qkv_dtype would load an out-of-range
// enum (UB).
qkv_status check_sdpa_call(const ops::sdpa_plan& p, bool backward, const qkv_dtype& type, qkv_dtype* out) noexcept;

// The checks of an entry point, in order: the description, then (on its
// plan p, built in place: bare-metal GCC calls memcpy for a struct copy)
// the layouts and the type t. Returns the first failing status.
#define QKV_SDPA_CHECKED(desc, type, backward, p, t)                                         \
  if (const qkv_status st_ = qkv::capi::check_sdpa_desc(desc); st_ != QKV_OK) return st_;    \
  const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(*(desc), qkv::ops::current_exec());    \
  qkv_dtype t;                                                                              \
  if (const qkv_status st_ = qkv::capi::check_sdpa_call(p, backward, type, &t); st_ != QKV_OK) \
  return st_

// The report line of an attention call (capi/report.hpp): routine, ISA,
// fused or reference, the shape and options, the threads.
void report_sdpa(double microseconds, const char* routine, const ops::sdpa_plan& p) noexcept;

}  // namespace qkv::capi
