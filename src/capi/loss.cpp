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

}  // namespace

extern "C" {

qkv_status qkv_cross_entropy_forward(size_t rows, size_t classes, const float* logits, size_t ld,
                                     const int32_t* targets, int32_t ignore_index, float* loss) {
  if (!loss) return QKV_ERR_NULL_POINTER;
  size_t count = 0;
  const qkv_status st = check(rows, classes, logits, ld, targets, ignore_index, &count);
  if (st != QKV_OK) return st;
  if (count == 0) {
    *loss = 0.f;
    return QKV_OK;
  }
  const double sum = qkv::ops::cross_entropy_sum(rows, classes, logits, ld, targets, ignore_index);
  *loss = static_cast<float>(sum / static_cast<double>(count));
  return QKV_OK;
}

qkv_status qkv_cross_entropy_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                      const int32_t* targets, int32_t ignore_index, float dloss, float* dlogits,
                                      size_t ldd) {
  if (!dlogits) return QKV_ERR_NULL_POINTER;
  size_t count = 0;
  qkv_status st = check(rows, classes, logits, ld, targets, ignore_index, &count);
  if (st == QKV_OK && ldd < classes) st = QKV_ERR_BAD_STRIDE;
  size_t extent;
  if (st == QKV_OK && !qkv::capi::matrix_extent(rows, classes, ldd, &extent)) st = QKV_ERR_SIZE_OVERFLOW;
  if (st == QKV_OK && dlogits == logits && ldd != ld) st = QKV_ERR_BAD_STRIDE;
  if (st == QKV_OK && !std::isfinite(dloss)) st = QKV_ERR_BAD_ARGUMENT;
  if (st != QKV_OK) return st;
  // count == 0: every row is ignored and gets zeros (scale unused).
  const float scale = count ? static_cast<float>(static_cast<double>(dloss) / static_cast<double>(count)) : 0.f;
  qkv::ops::cross_entropy_grad(rows, classes, logits, ld, targets, ignore_index, scale, dlogits, ldd);
  return QKV_OK;
}

}  // extern "C"
