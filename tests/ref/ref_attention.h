/* SPDX-License-Identifier: MIT */
/* ref_attention - the double-precision oracle of scaled dot-product
 * attention (qkv/attention.h), forward and backward: plain loops straight
 * from the math, the same visibility rules (causal, window, per-sequence
 * lengths, additive mask), grouped-query heads and, through a callback, the
 * same dropout stream as the library. Plain C99 (host, bare metal, C++ via
 * extern "C"); no allocation: scratch comes from the caller.
 *
 * Shapes. Inputs are read through the descriptor's strides, with
 * KVH = d->kv_heads (or H when 0) heads in K and V:
 *   q [B][H][Tq][D], k [B][KVH][Tk][D], v [B][KVH][Tk][Dv], dout [B][H][Tq][Dv]
 *   (dout in layout d->o). Query head h reads K/V head h / (H / KVH).
 *   Results are dense doubles:
 *   out [B][H][Tq][Dv], lse [B][H][Tq],
 *   dq [B][H][Tq][D], dk [B][KVH][Tk][D], dv [B][KVH][Tk][Dv]
 *   (dk, dv summed over the H / KVH query heads of each group).
 * Dv = d->v_dim, or D when it is 0; scale = d->scale, or 1/sqrt(D) when 0.
 * The oracles expect a valid descriptor (KVH divides H, lengths in range).
 *
 * Visibility of key j to query i of (b, h), with q_b = q_lens[b] (or Tq)
 * and k_b = kv_lens[b] (or Tk): i < q_b, j < k_b; causal: j <= i + k_b - q_b;
 * window w > 0: j > i + k_b - q_b - w; mask: mask(b, h, i, j) != -INFINITY.
 *
 * Math, per (b, h, query i), over the visible keys j:
 *   r_j = scale q_i . k_j, the raw score,
 *   s_j = cap(r_j) + mask(b, h, i, j)  (mask 0 when d->mask is NULL;
 *   cap(r) = c tanh(r / c) with c = d->softcap, or r when it is 0),
 *   P = softmax(s), lse_i = log sum_j exp s_j (the mask's bias included),
 *   O_i = sum_j P_ij m_ij v_j   (m: the dropout multiplier, 0 or 1/(1-p),
 *   of the QUERY head h);
 *   dV_j += P_ij m_ij dO_i, dP_ij = m_ij dO_i . v_j,
 *   dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij') cap'(r_j), cap' = 1 - tanh^2(r / c) (or 1),
 *   dQ_i += scale sum_j dS_ij k_j, dK_j += scale sum_i dS_ij q_i.
 * A query that sees no key: O_i = 0, lse_i = -INFINITY, no gradient; a key
 * no query sees gets no gradient. */
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
/* Heads of K and V (d->kv_heads, or d->heads when 0), and the K/V head
 * query head h reads. */
size_t qkv_ref_sdpa_kv_heads(const qkv_sdpa_desc* d);
size_t qkv_ref_sdpa_kv_head(const qkv_sdpa_desc* d, size_t h);
/* Queries and keys of sequence b (q_lens[b], kv_lens[b], or q_len, kv_len). */
size_t qkv_ref_sdpa_q_len_of(const qkv_sdpa_desc* d, size_t b);
size_t qkv_ref_sdpa_kv_len_of(const qkv_sdpa_desc* d, size_t b);
/* mask(b, h, i, j), or 0 without a mask. */
double qkv_ref_sdpa_mask(const qkv_sdpa_desc* d, size_t b, size_t h, size_t i, size_t j);
/* r_j = scale q_i . k_j of (b, h) (whether or not it is visible), cap(r)
 * and cap'(r) as above. */
double qkv_ref_sdpa_raw_score(const qkv_sdpa_desc* d, const float* q, const float* k, size_t b, size_t h, size_t i,
                              size_t j);
double qkv_ref_sdpa_cap(const qkv_sdpa_desc* d, double r);
double qkv_ref_sdpa_cap_slope(const qkv_sdpa_desc* d, double r);
/* 1 if query i of (b, h) sees key j (every rule above). */
int qkv_ref_sdpa_visible(const qkv_sdpa_desc* d, size_t b, size_t h, size_t i, size_t j);

/* Softmax probabilities p [Tk] of query row (b, h, i), before dropout
 * (keys it does not see 0); returns lse_i. */
double qkv_ref_sdpa_probs_row(const qkv_sdpa_desc* d, const float* q, const float* k, size_t b, size_t h, size_t i,
                              double* p);

/* out, lse as above. out_mag (NULL to skip), dense like out: the same sums in
 * magnitudes, sum_j P_ij m_ij |v_j|, the scale of O's rounding error.
 * scratch: Tk doubles. */
void qkv_ref_sdpa_forward(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v,
                          qkv_ref_dropout_fn dropout, double* out, double* lse, double* out_mag, double* scratch);

/* Gradients dq, dk, dv as above (overwritten; dk, dv with KVH heads). mag
 * (NULL to skip): three buffers shaped like dq, dk, dv holding the same sums
 * in magnitudes (|dP| and sum_j' P |dP| summed, not subtracted), the scale
 * of their rounding errors. scratch: 3 * Tk doubles. */
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
