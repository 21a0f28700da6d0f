// SPDX-License-Identifier: MIT
// sdpa_widen - fp32 copies of bf16/fp16 attention tensors, for the paths of
// qkv_sdpa_forward_ex / qkv_sdpa_backward_ex that run the fp32 drivers
// unchanged (the reference forward, and the backward): every (batch, head)
// slice widened (exactly) into a contiguous [batch][heads][len][dim] fp32 (K, V: kv_heads)
// copy, and fp32 results narrowed back (nearest even). Widening is exact, so
// the fp32 driver sees the very values the caller stored. Single-threaded:
// each pass is memory-bound and small next to the attention it feeds.
#pragma once

#include <cstddef>

#include "kernels/convert/convert.hpp"
#include "ops/sdpa_plan.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// Which tensor of a plan: Q and dQ (q_len x head_dim), K and dK (kv_len x
// head_dim), V and dV (kv_len x v_dim), O and dO (q_len x v_dim).
enum class sdpa_tensor { q, k, v, o };

// Floats of the contiguous copy of tensor `t` (false on overflow).
bool sdpa_wide_floats(const sdpa_plan& p, sdpa_tensor t, std::size_t* floats) noexcept;

// Consecutive contiguous copies of the n tensors `which`, each starting on
// a 64-byte line of a 64-byte aligned buffer: their float offsets, and the
// floats of all (false on overflow).
bool sdpa_wide_slots(const sdpa_plan& p, const sdpa_tensor* which, int n, std::size_t* offsets,
                     std::size_t* total) noexcept;

// The plan with every layout contiguous [batch][heads][len][dim] (dropout,
// mask and settings unchanged, so it drops and masks the same weights).
sdpa_plan sdpa_contiguous_plan(const sdpa_plan& p) noexcept;

// dst (contiguous) = tensor t of src (layout of p, elements of `type`, F32,
// BF16 or F16), and back, rounding to nearest even.
void sdpa_widen(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t, const void* src,
                float* dst) noexcept;
void sdpa_narrow(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t,
                 const float* src, void* dst) noexcept;

}  // namespace qkv::ops
