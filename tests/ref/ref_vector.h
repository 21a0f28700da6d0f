/* SPDX-License-Identifier: MIT */
/* ref_vector - the double-precision oracles of the level-1 vector routines
 * (qkv/vector.h), with the magnitudes their rounding errors scale with.
 * Plain C99 (host, bare metal, C++ via extern "C"); no allocation.
 *
 * Shapes: x [n], y [n] (floats), out [n], mag [n] (doubles). */
#ifndef QKV_TESTS_REF_VECTOR_H
#define QKV_TESTS_REF_VECTOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns sum_i x_i y_i, summed in double (each product exact). mag (NULL to
 * skip): *mag = sum_i |x_i y_i|. */
double qkv_ref_sdot(size_t n, const float* x, const float* y, double* mag);

/* out_i = y_i + alpha x_i (qkv_saxpy's result, y the values before the call;
 * x may be y). mag (NULL to skip): mag_i = |y_i| + |alpha x_i|. */
void qkv_ref_saxpy(size_t n, float alpha, const float* x, const float* y, double* out, double* mag);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_VECTOR_H */
