/* SPDX-License-Identifier: MIT */
/* ref_block - the double-precision oracle of the decoder block (qkv/block.h)
 * forward: the same parameter layout (qkv_block_param_layout), the attention
 * through ref_layer's oracle, and the same dropout streams. Through central
 * differences it is also the oracle of every gradient. Plain C99; no
 * allocation.
 *
 * Math, in double, R = B * T rows of d = d_model:
 *   norm:   LayerNorm (x - mean) / sqrt(var + eps) * g + b (biased variance),
 *           RMSNorm x / sqrt(mean(x^2) + eps) * g; eps = norm_eps or 1e-5;
 *   act:    gelu_tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
 *           gelu_erf 0.5 x (1 + erf(x / sqrt(2))), relu, silu x / (1 + e^-x);
 *   ffn(Z): act(Z W_up + b_up) W_down + b_down, or for SwiGLU
 *           (silu(Z W_gate + b_gate) * (Z W_up + b_up)) W_down + b_down;
 *   drop(branch, r, j): training only, dropout(seed ^ QKV_REF_RESID_SALT,
 *           resid_dropout, 0, branch, r, j) (branch 1: attention, 2: FFN),
 *           the multiplier 0 or 1/(1-p) of ref_attention.h's stream;
 *   pre-norm:  R = X + drop1(attn(norm1(X)) W_o + b_o); Y = R + drop2(ffn(norm2(R)))
 *   post-norm: R = norm1(X + drop1(attn(X) W_o + b_o)); Y = norm2(R + drop2(ffn(R)))
 * The description must be valid (qkv_block_validate). */
#ifndef QKV_TESTS_REF_BLOCK_H
#define QKV_TESTS_REF_BLOCK_H

#include <stddef.h>

#include <qkv/block.h>

#include "ref/ref_attention.h" /* qkv_ref_dropout_fn */

#ifdef __cplusplus
extern "C" {
#endif

/* The residual dropout's seed salt (src/ops/block.cpp). */
#define QKV_REF_RESID_SALT 0x8F1BBCDCCA62C1D6ull

/* Doubles of scratch qkv_ref_block_forward needs. */
size_t qkv_ref_block_scratch_doubles(const qkv_block_desc* d, size_t B, size_t T);

/* y[R][d] = block(x[R][d]); training != 0 applies both dropouts (then
 * dropout must be the library's stream, ref_attention.h). */
void qkv_ref_block_forward(const qkv_block_desc* d, const qkv_block_layout* lay, size_t B, size_t T,
                           const double* params, const double* x, int training, qkv_ref_dropout_fn dropout,
                           double* y, double* scratch);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_BLOCK_H */
