/* SPDX-License-Identifier: MIT */
/* ref_attention - the double-precision oracle of scaled dot-product
 * attention (qkv/attention.h), forward and backward: plain loops straight
 * from the math, the same causal mask and, through a callback, the same
 * dropout stream as the library. Plain C99 (host, bare metal, C++ via
 * extern "C"); no allocation: scratch comes from the caller.
 *
 * Shapes. Inputs are read through the descriptor's strides:
 *   q [B][H][Tq][D], k [B][H][Tk][D], v [B][H][Tk][Dv], dout [B][H][Tq][Dv]
 *   (dout in layout d->o). Results are dense doubles:
 *   out [B][H][Tq][Dv], lse [B][H][Tq],
 *   dq [B][H][Tq][D], dk [B][H][Tk][D], dv [B][H][Tk][Dv].
 * Dv = d->v_dim, or D when it is 0; scale = d->scale, or 1/sqrt(D) when 0.
 *
 * Math, per (b, h, query i), over the visible keys j (causal: j <= i + Tk - Tq):
 *   s_j = scale q_i . k_j, P = softmax(s), lse_i = log sum_j exp s_j,
 *   O_i = sum_j P_ij m_ij v_j   (m: the dropout multiplier, 0 or 1/(1-p));
 *   dV_j += P_ij m_ij dO_i, dP_ij = m_ij dO_i . v_j,
 *   dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij'),
 *   dQ_i += scale sum_j dS_ij k_j, dK_j += scale sum_i dS_ij q_i.
 * A query that sees no key: O_i = 0, lse_i = -INFINITY, no gradient. */
#ifndef QKV_TESTS_REF_ATTENTION_H
#define QKV_TESTS_REF_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/attention.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The dropout multiplier of weight (b, h, i, j) for a (seed, p > 0): 0 or
 * 1/(1-p). The stream is the library's (src/ops/dropout_rng.hpp, C++): the
 * C++ tests pass a function over it, so the mixing exists once. Without one
 * (NULL) the oracles require dropout_p == 0. */
typedef double (*qkv_ref_dropout_fn)(uint64_t seed, float p, size_t b, size_t h, size_t i, size_t j);

double qkv_ref_sdpa_scale(const qkv_sdpa_desc* d);
size_t qkv_ref_sdpa_v_dim(const qkv_sdpa_desc* d);
/* 1 if query i sees key j under d's mask. */
int qkv_ref_sdpa_visible(const qkv_sdpa_desc* d, size_t i, size_t j);

/* Softmax probabilities p [Tk] of query row (b, h, i), before dropout
 * (masked keys 0); returns lse_i. */
double qkv_ref_sdpa_probs_row(const qkv_sdpa_desc* d, const float* q, const float* k, size_t b, size_t h, size_t i,
                              double* p);

/* out, lse as above. out_mag (NULL to skip), dense like out: the same sums in
 * magnitudes, sum_j P_ij m_ij |v_j|, the scale of O's rounding error.
 * scratch: Tk doubles. */
void qkv_ref_sdpa_forward(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v,
                          qkv_ref_dropout_fn dropout, double* out, double* lse, double* out_mag, double* scratch);

/* Gradients dq, dk, dv as above (overwritten). mag (NULL to skip): three
 * buffers shaped like dq, dk, dv holding the same sums in magnitudes
 * (|dP| and sum_j' P |dP| summed, not subtracted), the scale of their
 * rounding errors. scratch: 3 * Tk doubles. */
typedef struct qkv_ref_sdpa_grad_mag {
  double *dq, *dk, *dv;
} qkv_ref_sdpa_grad_mag;
void qkv_ref_sdpa_backward(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v, const float* dout,
                           qkv_ref_dropout_fn dropout, double* dq, double* dk, double* dv,
                           const qkv_ref_sdpa_grad_mag* mag, double* scratch);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_ATTENTION_H */
