// SPDX-License-Identifier: MIT
// The one out-of-line requant() of bare-metal builds (int8_fixed.hpp).
#include "ops/int8_fixed.hpp"

#ifndef QKV_HOSTED
namespace qkv::ops {

std::int32_t requant(std::int32_t acc, qkv_qmul m) noexcept { return util::requant_q31(acc, m.multiplier, m.shift); }

}  // namespace qkv::ops
#endif
