// SPDX-License-Identifier: MIT
// C boundary: row-wise softmax and log-softmax.
#include <cmath>

#include "capi/checked.hpp"
#include "ops/softmax.hpp"
#include "qkv/softmax.h"

namespace {

qkv_status softmax_checked(size_t rows, size_t cols, float scale, const float* x, size_t ldx, float* y, size_t ldy,
                           bool log) {
  if (!(std::isfinite(scale) && scale > 0.0f)) return QKV_ERR_BAD_ARGUMENT;
  if (rows == 0 || cols == 0) return QKV_OK;
  if (!x || !y) return QKV_ERR_NULL_POINTER;
  if (ldx < cols || ldy < cols) return QKV_ERR_BAD_STRIDE;
  // In place must be row for row; any other overlap of x and y is refused
  // when the two pointers are equal (the one overlap that is cheap to see).
  if (x == y && ldx != ldy) return QKV_ERR_BAD_STRIDE;
  size_t ex, ey;
  if (!qkv::capi::matrix_extent(rows, cols, ldx, &ex) || !qkv::capi::matrix_extent(rows, cols, ldy, &ey))
    return QKV_ERR_SIZE_OVERFLOW;
  qkv::ops::softmax_rows(qkv::ops::current_exec(), rows, cols, scale, x, ldx, y, ldy, log);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_softmax(size_t rows, size_t cols, float scale, const float* x, size_t ldx, float* y, size_t ldy) {
  return softmax_checked(rows, cols, scale, x, ldx, y, ldy, false);
}

qkv_status qkv_log_softmax(size_t rows, size_t cols, float scale, const float* x, size_t ldx, float* y,
                           size_t ldy) {
  return softmax_checked(rows, cols, scale, x, ldx, y, ldy, true);
}

}  // extern "C"
