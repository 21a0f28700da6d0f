// sdpa_check - validation of a qkv_sdpa_desc, shared by the forward and the
// backward entry points (and the layers built on them).
#pragma once

#include <cstddef>

#include "qkv/attention.h"

namespace qkv::capi {

// Checks shapes, strides (token stride >= feature size; no element span
// overflow), scale, causal, dropout and algo. Output layouts (o, and in the
// backward dq/dk/dv which share q/k/v's layouts) must not overlap themselves.
// `backward` additionally requires q, k and v layouts to be non-overlapping.
// Defaults are resolved afterwards by ops::resolve_sdpa (ops/sdpa_plan.hpp).
qkv_status check_sdpa(const qkv_sdpa_desc* desc, bool backward) noexcept;

}  // namespace qkv::capi
