// SPDX-License-Identifier: MIT
// int8_fixed - the fixed-point arithmetic of the int8 layer (qkv/layer_int8.h
// states the rules; this and int8_fixed.cpp are their one implementation in
// the library).
#pragma once

#include <cstdint>

#include "qkv/layer_int8.h"
#include "util/requant.hpp"

namespace qkv::ops {

// requant(acc, m) of qkv/layer_int8.h: inline where speed counts, one
// out-of-line copy on bare metal (int8_fixed.cpp), where size does.
#ifdef QKV_HOSTED
inline std::int32_t requant(std::int32_t acc, qkv_qmul m) noexcept {
  return util::requant_q31(acc, m.multiplier, m.shift);
}
#else
std::int32_t requant(std::int32_t acc, qkv_qmul m) noexcept;
#endif

using util::clamp_s8;

// A multiplier the rules allow.
inline bool qmul_valid(qkv_qmul m) noexcept {
  return m.shift >= -31 && m.shift <= 30 && (m.multiplier == 0 || m.multiplier >= (INT32_C(1) << 30));
}

}  // namespace qkv::ops
