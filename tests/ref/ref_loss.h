/* SPDX-License-Identifier: MIT */
/* ref_loss - the double-precision oracle of the cross-entropy loss
 * (qkv/loss.h), forward and backward: the max-shifted log-sum-exp of each
 * row, summed in double, the mean over the rows not ignored. Plain C99 (host,
 * bare metal, C++ via extern "C"); no allocation.
 *
 * Shapes: logits [rows][classes] with leading dimension ld, targets [rows]
 * (each ignore_index or in [0, classes), as the library requires),
 * losses [rows], dlogits [rows][classes] with leading dimension ldd.
 * Math, with count = the number of rows whose target is not ignore_index:
 *   lse_r = m_r + log sum_j exp(logits[r][j] - m_r),  m_r = max_j logits[r][j],
 *   loss  = (1 / count) sum over counted r of (lse_r - logits[r][targets[r]]),
 *   dlogits[r][j] = dloss / count * (exp(logits[r][j] - lse_r) - [j == targets[r]]);
 * an ignored row adds nothing and gets a zero gradient; count == 0 gives
 * loss 0 and an all-zero gradient (the library's documented choice). */
#ifndef QKV_TESTS_REF_LOSS_H
#define QKV_TESTS_REF_LOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the mean loss. losses (NULL to skip): each row's term
 * lse_r - logits[r][targets[r]], 0 for an ignored row. */
double qkv_ref_cross_entropy_forward(size_t rows, size_t classes, const float* logits, size_t ld,
                                     const int32_t* targets, int32_t ignore_index, double* losses);

/* dlogits as above (overwritten, columns past classes untouched). */
void qkv_ref_cross_entropy_backward(size_t rows, size_t classes, const float* logits, size_t ld,
                                    const int32_t* targets, int32_t ignore_index, double dloss, double* dlogits,
                                    size_t ldd);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_LOSS_H */
