// SPDX-License-Identifier: MIT
// mha_int8 - the attention layer in int8 (qkv/layer_int8.h states the
// rules and the buffer layout): int8 GEMMs for the projections, then
// per-row integer attention, and the calibration that builds the buffer
// from the fp32 layer. Arguments are validated by the C boundary
// (src/capi/layer_int8.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"
#include "ops/mha_layer.hpp"
#include "qkv/layer_int8.h"

namespace qkv::ops {

// Offsets of a valid description's int8 buffer (no overflow: the C
// boundary bounds d_in and d_out by 65536).
qkv_mha_int8_layout mha_int8_layout_for(const qkv_mha_desc& d);

// The real number nearest to which m stands; false when real is negative,
// not finite or >= 2^30.
bool quantize_multiplier(float real, qkv_qmul* m) noexcept;

// Affine (de)quantization by the rules of qkv/layer_int8.h; x finite.
void quantize_affine_s8(std::size_t n, const float* x, qkv_qparam p, std::int8_t* q) noexcept;
void dequantize_affine_s8(std::size_t n, const std::int8_t* q, qkv_qparam p, float* x) noexcept;

std::size_t mha_int8_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads);
void mha_int8_forward(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const void* qlayer,
                      const std::int8_t* x, std::int8_t* y, void* ws, std::size_t ws_bytes);

// Hosted builds only (mha_int8_calibrate.cpp).
std::size_t mha_int8_calibrate_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads);
// pl: the fp32 parameter layout. QKV_OK, QKV_ERR_NOT_FINITE or QKV_ERR_UNSUPPORTED (qlayer untouched on error).
qkv_status mha_int8_calibrate(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const qkv_mha_layout& pl,
                              const float* params,
                              const float* x, void* qlayer, void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
