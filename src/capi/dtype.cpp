// SPDX-License-Identifier: MIT
// C boundary: conversions and int8 quantization (qkv/dtype.h; docs/dtype.md
// lists the order of the checks). Validates every argument, then calls the
// trusted drivers in ops/dtype.hpp; nothing is written on error.
#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "dispatch/dispatch.hpp"
#include "kernels/convert/convert.hpp"
#include "ops/dtype.hpp"
#include "qkv/dtype.h"

namespace {

// By reference and through the bits: a C caller may pass any int (capi/enum_value.hpp).
bool convertible(const qkv_dtype& t) {
  const long long v = qkv::capi::enum_value(t);
  return v == QKV_DTYPE_F32 || v == QKV_DTYPE_BF16 || v == QKV_DTYPE_F16;
}

const qkv::kern::convert_kernels& kernels() { return qkv::kern::convert_for(qkv::dispatch::active()); }

// The checks the two per-row functions share: pointers (only when the
// matrix has elements), leading dimensions, then extents.
qkv_status check_rows(std::size_t rows, std::size_t cols, const void* a, std::size_t lda, const void* b,
                      std::size_t ldb, const float* scales) {
  const bool empty = rows == 0 || cols == 0;
  if (!empty && (!a || !b || !scales)) return QKV_ERR_NULL_POINTER;
  if (lda < cols || ldb < cols) return QKV_ERR_BAD_STRIDE;
  std::size_t e;
  if (!qkv::capi::matrix_extent(rows, cols, lda, &e) || !qkv::capi::matrix_extent(rows, cols, ldb, &e))
    return QKV_ERR_SIZE_OVERFLOW;
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_convert(size_t n, qkv_dtype src_type, const void* src, qkv_dtype dst_type, void* dst) {
  if (!convertible(src_type) || !convertible(dst_type)) return QKV_ERR_BAD_DTYPE;
  if (n && (!src || !dst)) return QKV_ERR_NULL_POINTER;
  if (n) qkv::ops::convert(kernels(), n, src_type, src, dst_type, dst);
  return QKV_OK;
}

qkv_status qkv_quantize_rows_s8(size_t rows, size_t cols, const float* x, size_t ldx, int8_t* q, size_t ldq,
                                float* scales) {
  const qkv_status s = check_rows(rows, cols, x, ldx, q, ldq, scales);
  if (s != QKV_OK || rows == 0 || cols == 0) return s;
  return qkv::ops::quantize_rows_s8(kernels(), rows, cols, x, ldx, q, ldq, scales) ? QKV_OK : QKV_ERR_NOT_FINITE;
}

qkv_status qkv_dequantize_rows_s8(size_t rows, size_t cols, const int8_t* q, size_t ldq, const float* scales,
                                  float* x, size_t ldx) {
  const qkv_status s = check_rows(rows, cols, q, ldq, x, ldx, scales);
  if (s != QKV_OK || rows == 0 || cols == 0) return s;
  qkv::ops::dequantize_rows_s8(kernels(), rows, cols, q, ldq, scales, x, ldx);
  return QKV_OK;
}

qkv_status qkv_quantize_q8_0(size_t n, const float* x, qkv_block_q8_0* y) {
  if (n && (!x || !y)) return QKV_ERR_NULL_POINTER;
  if (n % QKV_Q8_0_BLOCK) return QKV_ERR_BAD_SHAPE;
  if (n == 0) return QKV_OK;
  return qkv::ops::quantize_q8_0(kernels(), n / QKV_Q8_0_BLOCK, x, y) ? QKV_OK : QKV_ERR_NOT_FINITE;
}

qkv_status qkv_dequantize_q8_0(size_t n, const qkv_block_q8_0* x, float* y) {
  if (n && (!x || !y)) return QKV_ERR_NULL_POINTER;
  if (n % QKV_Q8_0_BLOCK) return QKV_ERR_BAD_SHAPE;
  if (n) qkv::ops::dequantize_q8_0(kernels(), n / QKV_Q8_0_BLOCK, x, y);
  return QKV_OK;
}

}  // extern "C"
