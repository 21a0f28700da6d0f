/* SPDX-License-Identifier: MIT */
/* ref_layer - the double-precision oracle of the multi-head attention layer
 * (qkv/layer.h) forward: the same parameter layout and the same dropout
 * stream. Through central differences it is also the oracle of every
 * gradient. Plain C99 (host, bare metal, C++ via extern "C"); no allocation.
 *
 * Shapes (R = B * T rows, dh = d_out / num_heads):
 *   x [R][d_in], y [R][d_out], params [layout.count] at the offsets of
 *   qkv_mha_param_layout (W_q, W_k, W_v [d_in][d_out], W_o [d_out][d_out],
 *   biases [d_out]; SIZE_MAX for an absent tensor).
 * Math: Q = x W_q + b_q (K, V alike); per (b, head h, token i) over the
 *   visible tokens j (causal: j <= i): A_i = sum_j m_ij softmax_j(Q_i . K_j
 *   / sqrt(dh)) V_j on that head's dh columns (m: dropout, training only);
 *   y = A W_o + b_o, or A without the output projection. */
#ifndef QKV_TESTS_REF_LAYER_H
#define QKV_TESTS_REF_LAYER_H

#include <stddef.h>

#include <qkv/layer.h>

#include "ref/ref_attention.h" /* qkv_ref_dropout_fn */

#ifdef __cplusplus
extern "C" {
#endif

/* Doubles of scratch qkv_ref_mha_forward needs: Q, K, V, A and one score row. */
size_t qkv_ref_mha_scratch_doubles(const qkv_mha_desc* d, size_t B, size_t T);

/* y = layer(x). training != 0 applies dropout (d->dropout_p > 0 then needs
 * the dropout function, see ref_attention.h). */
void qkv_ref_mha_forward(const qkv_mha_desc* d, const qkv_mha_layout* lay, size_t B, size_t T, const double* params,
                         const double* x, int training, qkv_ref_dropout_fn dropout, double* y, double* scratch);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_LAYER_H */
