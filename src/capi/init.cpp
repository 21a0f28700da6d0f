// SPDX-License-Identifier: MIT
// C boundary: parameter initialization and clearing.
#include <cmath>

#include "capi/checked.hpp"
#include "ops/optim_init.hpp"
#include "qkv/init.h"
#include "util/copy.hpp"

extern "C" {

qkv_status qkv_init_uniform(float* p, size_t n, float bound, uint64_t seed) {
  if (n && !p) return QKV_ERR_NULL_POINTER;
  if (!std::isfinite(bound) || bound < 0.f) return QKV_ERR_BAD_ARGUMENT;
  if (n > qkv::capi::kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (n) qkv::ops::init_uniform(qkv::ops::current_exec(), p, n, bound, seed);
  return QKV_OK;
}

qkv_status qkv_zero(float* p, size_t n) {
  if (n && !p) return QKV_ERR_NULL_POINTER;
  if (n > qkv::capi::kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (n) qkv::util::zero_floats(p, n);
  return QKV_OK;
}

}  // extern "C"
