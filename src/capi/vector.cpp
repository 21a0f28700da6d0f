// SPDX-License-Identifier: MIT
// C boundary: level-1 vector routines.
#include "dispatch/dispatch.hpp"
#include "kernels/vec/vec.hpp"
#include "qkv/vector.h"

extern "C" {

qkv_status qkv_sdot(size_t n, const float* x, const float* y, float* result) {
  if (!result || (n && (!x || !y))) return QKV_ERR_NULL_POINTER;
  *result = n ? qkv::kern::vec_for(qkv::dispatch::active()).dot(n, x, y) : 0.f;
  return QKV_OK;
}

qkv_status qkv_saxpy(size_t n, float alpha, const float* x, float* y) {
  if (n && (!x || !y)) return QKV_ERR_NULL_POINTER;
  if (n) qkv::kern::vec_for(qkv::dispatch::active()).axpy(n, alpha, x, y);
  return QKV_OK;
}

}  // extern "C"
