/* SPDX-License-Identifier: MIT */
/** @file qkv/rope.h
 * @brief Rotary position embedding (RoPE), forward and backward, applied in
 *        place or out of place to a [batch, heads, tokens, head_dim] tensor
 *        (Q or K, as the projection writes it).
 *
 * Shape and layout. Element (b, h, t, f) of x (and of y, dy, dx, all in the
 * same layout) is at b * x.batch + h * x.head + t * x.token + f, element
 * strides as in qkv/attention.h: [B,T,H,d] rows, [B,H,T,d] rows, padded or
 * not. Features f >= rotary_dim pass through unchanged.
 *
 * Math. With r = rotary_dim and p the position of token t of sequence b
 * (pos_offset + t, or positions[b * positions_batch_stride + t]), pair k in
 * [0, r/2) is rotated by the angle p * inv_freq_k, where
 *
 *     inv_freq_k = theta^(-2k / r),   angle = p * inv_freq_k,
 *
 * both evaluated in double (pow, then the product of the position converted
 * to double), and c = (float)cos(angle), s = (float)sin(angle) (double libm,
 * rounded once to float). The pair (x1, x2) becomes, in fp32 arithmetic,
 *
 *     y1 = x1 * c - x2 * s,   y2 = x1 * s + x2 * c.
 *
 * Which features form pair k is the layout:
 *  - QKV_ROPE_HALF (GPT-NeoX, Llama, HF's rotate_half): (k, k + r/2);
 *  - QKV_ROPE_INTERLEAVED (GPT-J, Meta's original Llama code): (2k, 2k + 1).
 *
 * The backward is the transpose of the forward, which for a rotation is the
 * rotation by the opposite angle: dx1 = dy1 * c + dy2 * s,
 * dx2 = -dy1 * s + dy2 * c (same c and s). It needs no saved activations.
 *
 * Accuracy. c and s are the fp32 roundings of the double cosine and sine
 * (the double angle's own error is ~p * 2^-53 rad), so each output is within
 * 4 * 2^-24 * (|x1| + |x2|) of the exact rotation at every position. Where
 * the compiler fuses a product into the add (AArch64), the bits differ
 * between targets, within that bound; never between thread counts, or
 * between in place and out of place. PyTorch/HF compute inv_freq, the angle
 * and cos/sin in fp32: their angle is off by up to a few p * 2^-24 rad
 * (~1e-3 rad at p = 16384 for the fastest pairs), so at long positions their
 * results differ from qkv's (and from the exact rotation) by that much
 * relative to |x|; at p < 1000 the two agree to a few fp32 ulps. On a
 * single-precision-only FPU (Cortex-M4F), where double is software
 * emulated, the angle math runs in float (powf, cosf, sinf) with the same
 * ~p * 2^-24 error as PyTorch's.
 *
 * Element types. The _ex entry points take bf16 or fp16 tensors (uint16_t
 * bits, qkv/dtype.h; strides in elements): each pair is widened exactly,
 * rotated by the same fp32 operations as above and rounded once to the type
 * (round to nearest even), so the result is the fp32 result narrowed, within
 * a further half unit in the type's last place (2^-8 relative for bf16,
 * 2^-11 for fp16). F32 through _ex is qkv_rope_forward() exactly.
 *
 * Cost: cos and sin are evaluated once per (position, pair) of a call and
 * shared by every head (and by every sequence when the positions are shared):
 * Q and K adjacent in a fused QKV projection output ([B,T,Hq+2Hkv,d] rows)
 * are one call with heads = Hq + Hkv.
 * No workspace. Threads split the (batch, token) rows; each element is
 * computed by the same operations whatever the thread count, so results are
 * bitwise identical for any thread count and executor. Reentrant.
 *
 * Validation, in this order, before anything is written: NULL desc, input or
 * output (QKV_ERR_NULL_POINTER); a zero dimension, rotary_dim larger than
 * head_dim, or an odd rotary_dim (head_dim when rotary_dim is 0)
 * (QKV_ERR_BAD_SHAPE); theta negative, NaN or infinite, layout out of
 * range, an element type other than F32, BF16 and F16 (the _ex entry
 * points) (QKV_ERR_BAD_ARGUMENT); a token stride smaller than head_dim
 * when tokens > 1 (QKV_ERR_BAD_STRIDE); a span of the tensor or of the
 * positions array beyond PTRDIFF_MAX bytes (QKV_ERR_SIZE_OVERFLOW); a layout
 * that maps two elements to one address, which an output cannot have
 * (QKV_ERR_BAD_STRIDE). */
#ifndef QKV_ROPE_H
#define QKV_ROPE_H

#include <stddef.h>

#include "qkv/attention.h"
#include "qkv/dtype.h"
#include "qkv/export.h"
#include "qkv/status.h"

/** Which features are rotated together. Values are part of the ABI. */
typedef enum qkv_rope_layout {
  QKV_ROPE_HALF = 0,       /**< pairs (k, k + rotary_dim/2): GPT-NeoX, Llama (HF rotate_half) */
  QKV_ROPE_INTERLEAVED = 1 /**< pairs (2k, 2k + 1): GPT-J, Meta's original Llama */
} qkv_rope_layout;

/** Plain description of one RoPE call. Zero-initialize, then fill. */
typedef struct qkv_rope_desc {
  size_t batch;       /**< >= 1 sequences */
  size_t heads;       /**< >= 1 heads */
  size_t tokens;      /**< >= 1 tokens per sequence */
  size_t head_dim;    /**< >= 1 features per head */
  qkv_sdpa_strides x; /**< element strides of the tensor (input and output share them) */
  size_t rotary_dim;  /**< rotated features: 0 means head_dim; else even and <= head_dim */
  float theta;        /**< base of the frequencies: 0 means 10000; else finite and > 0 */
  qkv_rope_layout layout; /**< which features form a pair */
  size_t pos_offset;  /**< without positions: token t of every sequence is at position pos_offset + t */
  const size_t* positions; /**< NULL, or the position of token t of sequence b at
                                positions[b * positions_batch_stride + t] (pos_offset unused) */
  size_t positions_batch_stride; /**< elements between the rows of positions; 0: one row for every sequence */
} qkv_rope_desc;

QKV_EXTERN_C_BEGIN

/** Rotates the first rotary_dim features of every (batch, head, token) row
 *  by its position's angles; copies the others.
 *  @param[in]  desc  shapes, strides, rotary_dim, theta, layout and positions.
 *  @param[in]  x     the input in layout desc->x.
 *  @param[out] y     the output in layout desc->x: every element of the
 *                    [batch, heads, tokens, head_dim] tensor is written, the
 *                    padding between rows is not. y == x rotates in place;
 *                    otherwise y must not overlap x (not checked).
 *  @return QKV_OK or the first failing check of the file's list. */
QKV_API qkv_status qkv_rope_forward(const qkv_rope_desc* desc, const float* x, float* y);

/** The gradient of qkv_rope_forward(): rotation by the opposite angles.
 *  @param[in]  desc  the forward's description.
 *  @param[in]  dy    gradient of the forward's output, layout desc->x.
 *  @param[out] dx    gradient of the forward's input, layout desc->x;
 *                    dx == dy runs in place, otherwise no overlap (not checked).
 *  @return as qkv_rope_forward(). */
QKV_API qkv_status qkv_rope_backward(const qkv_rope_desc* desc, const float* dy, float* dx);

/** qkv_rope_forward() on elements of @p type (see "Element types").
 *  @param[in]  desc  as in qkv_rope_forward(); strides in elements of @p type.
 *  @param[in]  type  QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16: x and y.
 *  @param[in]  x     the input in layout desc->x.
 *  @param[out] y     the output in layout desc->x; y == x in place, otherwise no overlap.
 *  @return as qkv_rope_forward(); QKV_ERR_BAD_ARGUMENT for another @p type. */
QKV_API qkv_status qkv_rope_forward_ex(const qkv_rope_desc* desc, qkv_dtype type, const void* x, void* y);

/** qkv_rope_backward() on elements of @p type.
 *  @param[in]  desc  as in qkv_rope_backward(); strides in elements of @p type.
 *  @param[in]  type  QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16: dy and dx.
 *  @param[in]  dy    gradient of the forward's output, layout desc->x.
 *  @param[out] dx    gradient of the forward's input, layout desc->x; dx == dy in place, otherwise no overlap.
 *  @return as qkv_rope_forward_ex(). */
QKV_API qkv_status qkv_rope_backward_ex(const qkv_rope_desc* desc, qkv_dtype type, const void* dy, void* dx);

QKV_EXTERN_C_END

#endif /* QKV_ROPE_H */
