/* SPDX-License-Identifier: MIT */
/* ref_softmax - the double-precision softmax oracle: max-subtracted, summed
 * in double. Also the softmax step of the attention and layer oracles.
 * Plain C99 (host, bare metal, C++ via extern "C"). */
#ifndef QKV_TESTS_REF_SOFTMAX_H
#define QKV_TESTS_REF_SOFTMAX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* s [n], in place: s_j <- exp(s_j - m) / sum_k exp(s_k - m), m = max s.
 * -INFINITY entries (masked) become 0. Returns log sum_j exp(s_j), the
 * log-sum-exp; a fully masked row becomes all 0 and returns -INFINITY. */
double qkv_ref_softmax_inplace(double* s, size_t n);

/* One row of qkv_softmax (log_out = 0) or qkv_log_softmax (log_out = 1):
 * out [cols] = softmax(scale * x) or its log; masked (-INFINITY) entries give
 * 0 / -INFINITY, a fully masked row all 0 / all -INFINITY. */
void qkv_ref_softmax_row(const float* x, size_t cols, double scale, int log_out, double* out);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_SOFTMAX_H */
