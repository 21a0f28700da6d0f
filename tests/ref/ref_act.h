/* SPDX-License-Identifier: MIT */
/* ref_act - the oracle of the feed-forward activations (qkv/activation.h):
 * each function and its derivative in double (of a double, so that finite
 * differences can step between floats). Plain C99
 * (host, bare metal, C++ via extern "C"); no allocation.
 *
 * Forms, chosen to keep double's relative accuracy where the result is
 * tiny (no 1 + tanh or 1 + erf cancellation):
 *   gelu_tanh(x) = x sigmoid(t),  t = 2 sqrt(2/pi) (x + 0.044715 x^3)
 *                  (0.5 (1 + tanh(t/2)) = sigmoid(t));
 *   gelu_erf(x)  = x erfc(-x / sqrt 2) / 2;
 *   silu(x)      = x sigmoid(x);  relu(x) = max(x, 0) (derivative 1 for x > 0, else 0).
 * sigmoid(v) = 1 / (1 + exp(-v)), which is 0 (not NaN) when exp overflows.
 * kind is a qkv_activation value. */
#ifndef QKV_TESTS_REF_ACT_H
#define QKV_TESTS_REF_ACT_H

#include <stddef.h>

#include <qkv/activation.h>

#ifdef __cplusplus
extern "C" {
#endif

/* act(x). */
double qkv_ref_act(qkv_activation kind, double x);

/* act'(x); with mag not NULL, also the sum of the magnitudes of the
 * derivative's terms (the scale of its fp32 rounding error; the derivative
 * itself can be 0 there). */
double qkv_ref_act_derivative(qkv_activation kind, double x, double* mag);

/* The scale of act's fp32 rounding error beyond a few ulp of |act(x)|: the
 * magnitude of the argument the float evaluation cannot avoid rounding
 * (|t| for gelu_tanh and x^2 for gelu_erf when x < 0; else 0). */
double qkv_ref_act_condition(qkv_activation kind, double x);

/* rows x n, leading dimensions in elements: y = act(x); dx = dy act'(x). */
void qkv_ref_act_forward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx, double* y,
                         size_t ldy);
void qkv_ref_act_backward(qkv_activation kind, size_t rows, size_t n, const float* x, size_t ldx, const float* dy,
                          size_t ldy, double* dx, size_t lddx);

/* SwiGLU: y = silu(g) u; dg = dy u silu'(g), du = dy silu(g). */
void qkv_ref_swiglu_forward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu, double* y,
                            size_t ldy);
void qkv_ref_swiglu_backward(size_t rows, size_t n, const float* g, size_t ldg, const float* u, size_t ldu,
                             const float* dy, size_t ldy, double* dg, size_t lddg, double* du, size_t lddu);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_ACT_H */
