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
// algo (QKV_ERR_BAD_ARGUMENT). On QKV_OK, *desc is fit for ops::resolve_sdpa.
qkv_status check_sdpa_desc(const qkv_sdpa_desc* desc) noexcept;

// Token stride >= feature size, no element span overflow, and output layouts
// (o, and in the backward dq/dk/dv, which have q/k/v's layouts) that do not
// overlap themselves; `backward` also requires q, k and v layouts not to
// overlap. Statuses QKV_ERR_BAD_STRIDE and QKV_ERR_SIZE_OVERFLOW.
qkv_status check_sdpa_plan(const ops::sdpa_plan& p, bool backward) noexcept;

// The element type of a typed call, read as an integer (capi/enum_value):
// F32, BF16 or F16 set *type; anything else is QKV_ERR_BAD_ARGUMENT.
qkv_status check_sdpa_type(long long value, qkv_dtype* type) noexcept;

// The report line of an attention call (capi/report.hpp): routine, ISA,
// fused or reference, the shape and options, the threads.
void report_sdpa(double microseconds, const char* routine, const ops::sdpa_plan& p) noexcept;

}  // namespace qkv::capi
