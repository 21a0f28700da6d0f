/* SPDX-License-Identifier: MIT */
/* ref_embedding - the oracle of the token + position embedding
 * (qkv/embedding.h), forward and backward: the same table rows, the same
 * position offset, the same order of accumulation. Plain C99 (host, bare
 * metal, C++ via extern "C"); no allocation.
 *
 * Shapes (R = B * T rows, row r = b * T + t):
 *   ids [R], tok [vocab][dim], pos [max_positions][dim] (unused when
 *   max_positions == 0), out [R][dim] dense doubles, dout [R][dim] floats
 *   with leading dimension ld; the gradients are shaped like their tables.
 * Math:
 *   out[r]              = tok[ids[r]] + pos[pos_offset + t],
 *   dtok[ids[r]]       += dout[r],   dpos[pos_offset + t] += dout[r],
 *   for r = 0, 1, ..., R - 1 in that order (the library's documented order).
 * The forward's one addition of two floats is exact in double, so out rounded
 * to float is the library's fp32 sum bit for bit (without a position table,
 * out is tok itself, signed zeros included). The ids must be valid. */
#ifndef QKV_TESTS_REF_EMBEDDING_H
#define QKV_TESTS_REF_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/embedding.h>

#ifdef __cplusplus
extern "C" {
#endif

void qkv_ref_embedding_forward(const qkv_embedding_desc* d, size_t B, size_t T, size_t pos_offset,
                               const int32_t* ids, const float* tok, const float* pos, double* out);

/* What the backward accumulates into (+=, the caller initializes), each NULL
 * to skip; the pos ones are ignored when max_positions == 0.
 *   tok, pos:         the sums in double;
 *   tok_mag, pos_mag: the same sums of |dout|, the scale of a float sum's
 *                     rounding error;
 *   tok_f32, pos_f32: the sums in float, one rounding per term in the
 *                     documented order: the library's result bit for bit. */
typedef struct qkv_ref_embedding_grads {
  double *tok, *pos;
  double *tok_mag, *pos_mag;
  float *tok_f32, *pos_f32;
} qkv_ref_embedding_grads;
void qkv_ref_embedding_backward(const qkv_embedding_desc* d, size_t B, size_t T, size_t pos_offset,
                                const int32_t* ids, const float* dout, size_t ld, const qkv_ref_embedding_grads* g);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_EMBEDDING_H */
