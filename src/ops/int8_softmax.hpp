// SPDX-License-Identifier: MIT
// int8_softmax - the int8 layer's integer softmax of one row (the rule in
// qkv/layer_int8.h): scores in, Q15 weights out, integers only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/layer_int8.h"

namespace qkv::ops {

// EXP2[f] = round(2^15 * 2^(-f/256)), f = 0..255.
extern const std::uint16_t kInt8Exp2[256];

// n >= 1 scores s (int32, any two differing by less than 2^31) of one row;
// overwrites s with the Q15 exponentials e_u and writes the weights p.
void int8_softmax_row(std::int32_t* s, std::size_t n, qkv_qmul score, std::int16_t* p) noexcept;

}  // namespace qkv::ops
