// SPDX-License-Identifier: MIT
// lowp_elem-inl.hpp - element i of an F32, BF16, F16 or I8 array (qkv_dtype
// T) as its exact fp32 value: the scalar form of widen-inl.hpp's loads, for
// the tails of the SIMD kernels and for the scalar set. No xsimd; internal
// linkage (each ISA's object compiles its own copy).
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/dtype.h"
#include "util/half.hpp"

namespace qkv::kern {
namespace {

template <qkv_dtype T>
inline float lowp_elem(const void* v, std::size_t i) {
  static_assert(T == QKV_DTYPE_F32 || T == QKV_DTYPE_BF16 || T == QKV_DTYPE_F16 || T == QKV_DTYPE_I8,
                "a storage type");
  if constexpr (T == QKV_DTYPE_BF16) return util::bf16_to_f32(static_cast<const std::uint16_t*>(v)[i]);
  if constexpr (T == QKV_DTYPE_F16) return util::f16_to_f32(static_cast<const std::uint16_t*>(v)[i]);
  if constexpr (T == QKV_DTYPE_I8) return static_cast<float>(static_cast<const std::int8_t*>(v)[i]);
  if constexpr (T == QKV_DTYPE_F32) return static_cast<const float*>(v)[i];
}

}  // namespace
}  // namespace qkv::kern
