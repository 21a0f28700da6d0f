/* SPDX-License-Identifier: MIT */
/** @file qkv/vector.h
 * @brief Level-1 vector routines (contiguous fp32), dispatched per ISA.
 *
 * Results for a given ISA are deterministic; different ISAs sum in different
 * orders, so they agree only to rounding. */
#ifndef QKV_VECTOR_H
#define QKV_VECTOR_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** result = sum_i x[i] * y[i].
 *  @param[in]  n       length; 0 gives 0.
 *  @param[in]  x, y    n floats each; may be NULL only when n == 0.
 *  @param[out] result  written on success.
 *  @return QKV_OK or QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_sdot(size_t n, const float* x, const float* y, float* result);

/** y[i] += alpha * x[i] for i < n. x and y may be the same array, not partly overlapping.
 *  @param[in]     n      length; 0 does nothing.
 *  @param[in]     alpha  scale of x.
 *  @param[in]     x      n floats; may be NULL only when n == 0.
 *  @param[in,out] y      n floats, updated; may be NULL only when n == 0.
 *  @return QKV_OK or QKV_ERR_NULL_POINTER (y untouched). */
QKV_API qkv_status qkv_saxpy(size_t n, float alpha, const float* x, float* y);

QKV_EXTERN_C_END

#endif /* QKV_VECTOR_H */
