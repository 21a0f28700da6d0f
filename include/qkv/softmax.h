/* SPDX-License-Identifier: MIT */
/** @file qkv/softmax.h
 * @brief Numerically stable row-wise softmax and log-softmax.
 *
 * For each row r of an rows x cols row-major matrix X (leading dimension ldx):
 *   y[r][j] = exp(scale*x[r][j] - m) / sum_k exp(scale*x[r][k] - m),  m = max_k scale*x[r][k]
 * Subtracting the row max means finite input never overflows: logits of
 * +-1e4 give exact 0/1 weights, never NaN or Inf. -INFINITY entries are masked
 * (weight 0); a row that is entirely -INFINITY gives all zeros (softmax) and
 * all -INFINITY (log-softmax). NaN or +INFINITY in a row makes that whole
 * row NaN; other rows are unaffected. Exponents are computed as
 * scale * (x - max), so the largest is exactly 0 and any finite logits
 * (e.g. 1e10 with scale 0.3) give finite weights that sum to 1.
 *
 * In place is allowed (x == y with ldx == ldy); other overlaps are not.
 * The exp is the library's own vectorized one (within 2 ulp of exp), and
 * results depend on the ISA (qkv_get_isa) but never on the thread count.
 * Thread-safety: reentrant; rows may be processed by several threads, and
 * the result is bitwise identical for any thread count. */
#ifndef QKV_SOFTMAX_H
#define QKV_SOFTMAX_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** Row-wise softmax of scale * X.
 *  @param[in]  rows, cols  matrix shape; rows == 0 or cols == 0 is a no-op.
 *  @param[in]  scale       finite and > 0 (1 for a plain softmax).
 *  @param[in]  x           rows x cols, leading dimension ldx >= cols.
 *  @param[in]  ldx         leading dimension of x, in elements.
 *  @param[out] y           rows x cols, leading dimension ldy >= cols.
 *  @param[in]  ldy         leading dimension of y, in elements.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_STRIDE (ld < cols, or x == y with ldx != ldy);
 *          QKV_ERR_BAD_ARGUMENT (scale not finite or <= 0); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_softmax(size_t rows, size_t cols, float scale, const float* x, size_t ldx, float* y,
                               size_t ldy);

/** Row-wise log-softmax of scale * X: y = scale*x - m - log(sum exp(scale*x - m)).
 *  Same arguments, statuses and aliasing rules as qkv_softmax().
 *  @param[in]  rows, cols  matrix shape; rows == 0 or cols == 0 is a no-op.
 *  @param[in]  scale       finite and > 0 (1 for a plain log-softmax).
 *  @param[in]  x, ldx      rows x cols input and its leading dimension (>= cols).
 *  @param[out] y, ldy      rows x cols output and its leading dimension (>= cols).
 *  @return as qkv_softmax(). */
QKV_API qkv_status qkv_log_softmax(size_t rows, size_t cols, float scale, const float* x, size_t ldx, float* y,
                                   size_t ldy);

QKV_EXTERN_C_END

#endif /* QKV_SOFTMAX_H */
