/* SPDX-License-Identifier: MIT */
/* ref_layer - the double-precision oracle of the multi-head attention layer
 * (qkv/layer.h) forward: the same parameter layout and the same dropout
 * stream. Through central differences it is also the oracle of every
 * gradient. Plain C99 (host, bare metal, C++ via extern "C"); no allocation.
 *
 * Shapes (R = B * T rows, dh = d_out / num_heads, Hkv = num_kv_heads or
 * num_heads when 0, d_kv = Hkv * dh):
 *   x [R][d_in], y [R][d_out], params [layout.count] at the offsets of
 *   qkv_mha_param_layout (W_q [d_in][d_out], W_k, W_v [d_in][d_kv],
 *   b_q [d_out], b_k, b_v [d_kv], W_o [d_out][d_out], b_o [d_out]; SIZE_MAX
 *   for an absent tensor).
 * Math, all in double:
 *   Q = x W_q + b_q, K = x W_k + b_k, V = x W_v + b_v;
 *   rope: every head of Q and of K, token t of each sequence at position t,
 *     rotated exactly as qkv/rope.h says (r = rope_dim or dh, theta =
 *     rope_theta or 10000; pair k of the layout turned by the angle
 *     t * theta^(-2k/r) with the double cos and sin; features >= r kept);
 *   per (b, query head h, token i), with g = h / (H / Hkv) its K/V head,
 *     over the visible tokens j (causal: j <= i; window w: j > i - w):
 *     A_i = sum_j m_ij softmax_j(Q_i . K_j / sqrt(dh)) V_j on those heads'
 *     dh columns (m: dropout, training only);
 *   y = A W_o + b_o, or A without the output projection.
 * The description must be valid (qkv_mha_validate); compute_type is ignored
 * (this is the exact layer the bf16 one approximates). */
#ifndef QKV_TESTS_REF_LAYER_H
#define QKV_TESTS_REF_LAYER_H

#include <stddef.h>

#include <qkv/layer.h>

#include "ref/ref_attention.h" /* qkv_ref_dropout_fn */

#ifdef __cplusplus
extern "C" {
#endif

/* Doubles of scratch qkv_ref_mha_forward needs: Q, K, V, A and one score row
 * (4 * B * T * d_out + T, whatever num_kv_heads: K and V are never wider
 * than Q). */
size_t qkv_ref_mha_scratch_doubles(const qkv_mha_desc* d, size_t B, size_t T);

/* y = layer(x). training != 0 applies dropout (d->dropout_p > 0 then needs
 * the dropout function, see ref_attention.h). */
void qkv_ref_mha_forward(const qkv_mha_desc* d, const qkv_mha_layout* lay, size_t B, size_t T, const double* params,
                         const double* x, int training, qkv_ref_dropout_fn dropout, double* y, double* scratch);

/* Rotary position embedding of the layer in double, in place: rows [R][width]
 * of `heads` heads of dh features each (width = heads * dh), row r at position
 * r % T; d's rope_layout, rope_dim and rope_theta as the layer resolves them.
 * inverse != 0 rotates by the opposite angles (the backward's rotation). */
void qkv_ref_mha_rope(const qkv_mha_desc* d, size_t R, size_t T, size_t heads, size_t dh, double* rows, int inverse);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_LAYER_H */
