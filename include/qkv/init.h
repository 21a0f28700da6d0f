/* SPDX-License-Identifier: MIT */
/** @file qkv/init.h
 * @brief Parameter initialization and gradient clearing over flat fp32
 * buffers.
 *
 * qkv_init_uniform draws from a counter-based generator: element i is a pure
 * function of (seed, i), computed with exact integer arithmetic and one fp32
 * rounding, so the same seed gives the same bits on every platform, ISA and
 * thread count. Thread-safety: reentrant. */
#ifndef QKV_INIT_H
#define QKV_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** Fills p[0, n) with values uniform in (-bound, bound): 2^23 equally spaced
 *  values symmetric about 0, (2k + 1 - 2^23) / 2^23 * bound for k in [0, 2^23).
 *  nn.Linear's default initialization is bound = 1 / sqrt(fan_in).
 *  @param[out] p      n floats; may be NULL when n == 0.
 *  @param[in]  n      number of elements.
 *  @param[in]  bound  finite and >= 0.
 *  @param[in]  seed   any value; different seeds give independent streams.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (bound negative or
 *          not finite); QKV_ERR_SIZE_OVERFLOW (n floats do not fit in memory). */
QKV_API qkv_status qkv_init_uniform(float* p, size_t n, float bound, uint64_t seed);

/** Sets p[0, n) to +0.0f (e.g. gradient buffers before accumulation).
 *  @param[out] p  n floats; may be NULL when n == 0.
 *  @param[in]  n  number of elements.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_zero(float* p, size_t n);

QKV_EXTERN_C_END

#endif /* QKV_INIT_H */
