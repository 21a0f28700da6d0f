// SPDX-License-Identifier: MIT
// C boundary: cross-entropy loss.
#include <cmath>

#include "capi/checked.hpp"
#include "ops/loss.hpp"
#include "qkv/loss.h"

namespace {

// Shape, stride and target checks shared by forward and backward; on success
// *count is the number of rows not ignored. Targets are scanned last (the only
// O(rows) check), before anything is written.
qkv_status check(size_t rows, size_t classes, const float* logits, size_t ld, const int32_t* targets,
                 int32_t ignore, size_t* count) {
  if (!logits || !targets) return QKV_ERR_NULL_POINTER;
  if (rows == 0 || classes == 0) return QKV_ERR_BAD_SHAPE;
  if (ld < classes) return QKV_ERR_BAD_STRIDE;
  size_t extent;
  if (!qkv::capi::matrix_extent(rows, classes, ld, &extent)) return QKV_ERR_SIZE_OVERFLOW;
  size_t c = 0;
  for (size_t r = 0; r < rows; ++r) {
    const int32_t t = targets[r];
    if (t == ignore) continue;
    if (t < 0 || static_cast<size_t>(t) >= classes) return QKV_ERR_BAD_TOKEN;
    ++c;
  }
  *count = c;
  return QKV_OK;
}

// The backward's extra checks: the gradient matrix and dloss.
qkv_status check_grad(const float* logits, size_t ld, size_t rows, size_t classes, float dloss,
                      const float* dlogits, size_t ldd) {
  if (ldd < classes) return QKV_ERR_BAD_STRIDE;
  size_t extent;
  if (!qkv::capi::matrix_extent(rows, classes, ldd, &extent)) return QKV_ERR_SIZE_OVERFLOW;
  if (dlogits == logits && ldd != ld) return QKV_ERR_BAD_STRIDE;
  if (!std::isfinite(dloss)) return QKV_ERR_BAD_ARGUMENT;
  return QKV_OK;
}

// Shared tail of the three entry points, after validation.
void run(size_t rows, size_t classes, const float* logits, size_t ld, const int32_t* targets, int32_t ignore,
         size_t count, float dloss, float* loss, float* dlogits, size_t ldd) {
  // count == 0: every row is ignored, loss 0 and zero gradient (scale unused).
  using qkv::ops::wide;
  const wide inv_count = count ? wide(1) / static_cast<wide>(count) : wide(0);
  const auto scale = static_cast<float>(static_cast<wide>(dloss) * inv_count);
  const wide sum =
      qkv::ops::cross_entropy(qkv::ops::current_exec(), rows, classes, logits, ld, targets, ignore, scale, dlogits, ldd);
  if (loss) *loss = static_cast<float>(sum * inv_count);
}

// The two entry points with a gradient, after their NULL checks: every
// check in order, then the call.
qkv_status with_grad(size_t rows, size_t classes, const float* logits, size_t ld, const int32_t* targets,
                     int32_t ignore, float dloss, float* loss, float* dlogits, size_t ldd) {
  size_t count = 0;
  qkv_status st = check(rows, classes, logits, ld, targets, ignore, &count);
  if (st == QKV_OK) st = check_grad(logits, ld, rows, classes, dloss, dlogits, ldd);
  if (st != QKV_OK) return st;
  run(rows, classes, logits, ld, targets, ignore, count, dloss, loss, dlogits, ldd);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_cross_entropy_forward(size_t rows, size_t classes, const float* logits, size_t ld,
                                     const int32_t* targets, int32_t ignore_index, float* loss) {
  if (!loss) return QKV_ERR_NULL_POINTER;
  size_t count = 0;
  const qkv_status st = check(rows, classes, logits, ld, targets, ignore_index, &count);
  if (st != QKV_OK) return st;
  run(rows, classes, logits, ld, targets, ignore_index, count, 0.f, loss, nullptr, 0);
  return QKV_OK;
}

qkv_status qkv_cross_entropy_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                      const int32_t* targets, int32_t ignore_index, float dloss, float* dlogits,
                                      size_t ldd) {
  if (!dlogits) return QKV_ERR_NULL_POINTER;
  return with_grad(rows, classes, logits, ld, targets, ignore_index, dloss, nullptr, dlogits, ldd);
}

qkv_status qkv_cross_entropy_forward_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                              const int32_t* targets, int32_t ignore_index, float dloss,
                                              float* loss, float* dlogits, size_t ldd) {
  if (!loss || !dlogits) return QKV_ERR_NULL_POINTER;
  return with_grad(rows, classes, logits, ld, targets, ignore_index, dloss, loss, dlogits, ldd);
}

}  // extern "C"
