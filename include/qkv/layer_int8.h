/* SPDX-License-Identifier: MIT */
/** @file qkv/layer_int8.h
 * @brief Fully int8 inference of the attention layer (qkv/layer.h), the
 *        microcontroller convention: int8 activations, int8 weights, int32
 *        sums, fixed-point requantization (TFLite's scheme), an integer
 *        softmax, no floating point at run time.
 *
 * Quantization (real value = scale * (code - zero_point)):
 *  - X (the input) and Y (the output): int8 codes with a scale and a zero
 *    point each (asymmetric), qkv_mha_int8_header::x and qkv_mha_int8_header::y;
 *  - Q, K, V and the attention output A (the heads' contexts, concatenated):
 *    int8, symmetric (zero point 0), so QK^T and P V need no zero-point terms;
 *  - weights: int8 codes in [-127, 127], one scale per output feature
 *    (symmetric); biases int32 in units of scale_in * scale_w, with the input's
 *    zero point folded in (b' = round(b / (s_in s_w)) - z_in * sum_i w_i);
 *  - attention weights P: int16 codes in [0, 32767], scale 2^-15 (Q15).
 *
 * Fixed-point rules (exact; the same bits on every CPU, ISA and thread count;
 * "sat" clamps to the int32 range, >> is arithmetic):
 *  - a multiplier m = (M, s) stands for the real number M * 2^(s - 31), with
 *    M in [2^30, 2^31) (or M = 0: zero) and s in [-31, 30];
 *  - requant(acc, m) = RDBPOT(SRDHM(sat(acc * 2^max(s, 0)), M), max(-s, 0)),
 *    TFLite's MultiplyByQuantizedMultiplier: SRDHM(a, b) = the 64-bit
 *    product a*b plus 2^30 (a*b >= 0) or 1 - 2^30 (a*b < 0), divided by 2^31
 *    truncating toward zero (INT32_MAX when a = b = INT32_MIN); RDBPOT(x, e)
 *    = (x >> e) + 1 when the remainder r = x & (2^e - 1) exceeds
 *    (2^e - 1) >> 1, plus 1 more for negative x, else x >> e: x / 2^e rounded
 *    to nearest, ties away from zero;
 *  - a linear map (the Q, K, V and output projections), for output feature c:
 *    code = clamp(z_out + requant(sat(sum_i x_i w_ci + b'_c), m_c), -128, 127),
 *    x_i the input codes, w_ci the weight codes, m_c = s_in s_w,c / s_out;
 *  - scores of query row t and key row u of one head (d_head features):
 *    S_tu = sum_c q_tc k_uc (int32), for the keys u the mask keeps (u <= t
 *    when causal; u > t - window with a window);
 *  - integer softmax of a row, with M_t = max_u S_tu and EXP2[f] =
 *    round(2^15 * 2^(-f/256)) for f = 0..255 (EXP2[0] = 32768; the table is
 *    in src/ops/int8_softmax.cpp):
 *      d_u = M_t - S_tu,  e'_u = min(4096, requant(d_u, score)),
 *      e_u = EXP2[e'_u mod 256] >> (e'_u / 256)   (0 for e'_u = 4096),
 *      P_tu = min(32767, (e_u * 2^15 + floor(sum_u e_u / 2)) / sum_u e_u),
 *    integer division truncating; the score multiplier stands for
 *    s_q s_k / sqrt(d_head) * 256 / ln 2, so e'_u is the scaled score
 *    difference in units of ln2 / 256 and e_u its exp in Q15;
 *  - context of query row t, feature c of the head: A_tc = clamp(
 *    requant(sum_u P_tu v_uc, attn), -128, 127), attn = s_v / (2^15 s_a);
 *  - Y = the output projection of A (out_proj = 1), or A itself (out_proj = 0:
 *    then the header's y is (s_a, 0)).
 * Limits (QKV_ERR_BAD_SHAPE beyond them) keep every sum inside int32:
 * d_in, d_out <= 65536 and seq_len <= 65536.
 *
 * Accuracy against the fp32 layer (the same weights, X quantized): the
 * outputs' error in units of Y's scale, measured on the book's example and
 * a GPT-2-small-shaped layer, is in docs/layer_int8.md.
 *
 * The int8 layer buffer (host byte order; an in-memory format, e.g. a const
 * array in flash): a qkv_mha_int8_header at offset 0, then for W_q, W_k, W_v and
 * (out_proj) W_o, in that order, the weight codes [out][in] (one row per
 * output feature, the nn.Linear layout), the biases b' (int32 [out]) and the
 * multipliers (qkv_qmul [out]), each piece starting at a multiple of 64 bytes
 * (offsets: qkv_mha_int8_param_layout()). qkv_mha_int8_calibrate() writes one from
 * fp32 parameters and sample inputs on the host; any other tool may,
 * following the rules.
 *
 * Everything allocates nothing, is reentrant, and on error writes nothing. */
#ifndef QKV_LAYER_INT8_H
#define QKV_LAYER_INT8_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/layer.h"
#include "qkv/status.h"

/** Magic number of an int8 layer buffer: "QKV8" in its first 4 bytes (host order). */
#define QKV_MHA_INT8_MAGIC 0x38564B51u
/** Version of the int8 layer buffer's layout. */
#define QKV_MHA_INT8_VERSION 1u

/** A fixed-point multiplier: the real number multiplier * 2^(shift - 31). */
typedef struct qkv_qmul {
  int32_t multiplier; /**< in [2^30, 2^31 - 1], or 0 (the multiplier 0) */
  int32_t shift;      /**< in [-31, 30] */
} qkv_qmul;

/** Affine int8 quantization of a tensor: real = scale * (code - zero_point). */
typedef struct qkv_qparam {
  float scale;        /**< finite, > 0 */
  int32_t zero_point; /**< in [-128, 127] */
} qkv_qparam;

/** The header of an int8 layer buffer (80 bytes, no padding). */
typedef struct qkv_mha_int8_header {
  uint32_t magic;     /**< QKV_MHA_INT8_MAGIC */
  uint32_t version;   /**< QKV_MHA_INT8_VERSION */
  uint32_t d_in;      /**< the layer's d_in */
  uint32_t d_out;     /**< the layer's d_out */
  uint32_t num_heads; /**< the layer's num_heads */
  uint32_t d_kv;      /**< the width of K and V: d_out, or num_kv_heads * d_head */
  uint32_t flags;     /**< bit 0: causal; bit 1: out_proj (the description's flags) */
  uint32_t window;    /**< the description's window (0: none), below 2^32 */
  qkv_qparam x;       /**< quantization of X (the input) */
  qkv_qparam y;       /**< quantization of Y (the output; scale s_a and zero point 0 when out_proj = 0) */
  float s_q;          /**< scale of Q (zero point 0) */
  float s_k;          /**< scale of K (zero point 0) */
  float s_v;          /**< scale of V (zero point 0) */
  float s_a;          /**< scale of A (zero point 0) */
  qkv_qmul score;     /**< s_q s_k / sqrt(d_head) * 256 / ln 2 (the integer softmax) */
  qkv_qmul attn;      /**< s_v / (2^15 s_a) (the context's requantization) */
} qkv_mha_int8_header;

/** Byte offsets of the pieces of an int8 layer buffer; SIZE_MAX for the
 *  output projection's pieces when out_proj = 0. Index 0..3: Q, K, V, O. */
typedef struct qkv_mha_int8_layout {
  size_t w[4];  /**< int8 weight codes, [out][in] */
  size_t b[4];  /**< int32 biases b' (zero point folded in), [out] */
  size_t m[4];  /**< qkv_qmul multipliers, [out] */
  size_t bytes; /**< total bytes of the buffer */
} qkv_mha_int8_layout;

QKV_EXTERN_C_BEGIN

/** The fixed-point multiplier nearest a real number: M = round(f * 2^31) of
 *  real = f * 2^s, f in [0.5, 1) (exact for fp32 inputs: f has 24 bits).
 *  @param[in]  real  finite, >= 0 and < 2^30; below 2^-32 gives M = 0, s = 0.
 *  @param[out] m     written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (real negative,
 *  not finite, or >= 2^30). */
QKV_API qkv_status qkv_quantize_multiplier(float real, qkv_qmul* m);

/** Affine quantization: code = clamp(z + round(x / scale), -128, 127), round
 *  to nearest, ties to even (x / scale computed in fp32).
 *  @param[in]  n  elements (0: nothing to do).
 *  @param[in]  x  n floats, finite.
 *  @param[in]  p  the quantization.
 *  @param[out] q  n codes.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (x or q NULL with n > 0);
 *  QKV_ERR_BAD_ARGUMENT (scale not finite and > 0, or zero_point outside
 *  [-128, 127]); QKV_ERR_NOT_FINITE (an x is NaN or infinite). */
QKV_API qkv_status qkv_quantize_affine_s8(size_t n, const float* x, qkv_qparam p, int8_t* q);

/** Affine reconstruction: x = scale * (code - zero_point), in fp32.
 *  @param[in]  n  elements (0: nothing to do).
 *  @param[in]  q  n codes.
 *  @param[in]  p  the quantization.
 *  @param[out] x  n floats.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (as above). */
QKV_API qkv_status qkv_dequantize_affine_s8(size_t n, const int8_t* q, qkv_qparam p, float* x);

/** Offsets and size of the int8 layer buffer of @p desc.
 *  @param[in]  desc    the layer: qkv_mha_validate() holds, rope = 0 and
 *                      softcap = 0 (dropout_p and compute_type are ignored).
 *  @param[out] layout  written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; the statuses of qkv_mha_validate();
 *  QKV_ERR_UNSUPPORTED (rope or softcap); QKV_ERR_BAD_SHAPE (d_in or d_out
 *  above 65536, window at or above 2^32). */
QKV_API qkv_status qkv_mha_int8_param_layout(const qkv_mha_desc* desc, qkv_mha_int8_layout* layout);

/** Scratch bytes for qkv_mha_int8_calibrate(): the fp32 layer's forward in
 *  training mode (its cache keeps Q, K, V and A) and Y, with @p threads threads.
 *  Calibration is a host step: bare-metal builds of the library (Cortex-M,
 *  no QKV_HOSTED) leave it out, and both calibration functions return
 *  QKV_ERR_UNSUPPORTED there before any other check.
 *  @param[in]  desc             as for qkv_mha_int8_param_layout().
 *  @param[in]  batch, seq_len   the calibration inputs' shape, each >= 1.
 *  @param[in]  threads          >= 1.
 *  @param[out] bytes            written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; the statuses of qkv_mha_int8_param_layout();
 *  QKV_ERR_BAD_SHAPE (batch or seq_len 0, seq_len above 65536);
 *  QKV_ERR_BAD_ARGUMENT (threads < 1); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_int8_calibrate_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len,
                                                         int threads, size_t* bytes);

/** Builds an int8 layer buffer from fp32 parameters and sample inputs
 *  (post-training quantization; run it on the host, store the result; bare-metal
 *  builds return QKV_ERR_UNSUPPORTED):
 *  runs the fp32 layer on @p x (no dropout) and takes each tensor's range:
 *  X and Y asymmetric (scale = (max(hi, 0) - min(lo, 0)) / 255, zero point
 *  round(-128 - min(lo, 0) / scale)), Q, K, V and A symmetric (scale =
 *  max|v| / 127), a zero range giving scale 1; each weight row's scale is
 *  max|w| / 127 (1 for a zero row), codes round(w / s_w) (ties to even),
 *  biases and multipliers as the rules of this header, in fp32.
 *  @param[in]  desc     as for qkv_mha_int8_param_layout().
 *  @param[in]  params   qkv_mha_param_count() floats (qkv/layer.h), finite.
 *  @param[in]  batch, seq_len  the shape of @p x, each >= 1.
 *  @param[in]  x        [batch][seq_len][d_in] floats, finite: inputs like the
 *                       ones the layer will see.
 *  @param[out] qlayer   qkv_mha_int8_param_layout().bytes bytes, 64-byte aligned.
 *  @param[in]  qlayer_bytes  its size.
 *  @param[in]  workspace, workspace_bytes  qkv_mha_int8_calibrate_workspace_size()
 *                       bytes, any alignment (the workspace rule of qkv/qkv.h).
 *  @return QKV_OK or, nothing written to @p qlayer: the statuses of the size
 *  query; QKV_ERR_NULL_POINTER (params, x or qlayer NULL); QKV_ERR_BAD_ARGUMENT
 *  (qlayer not 64-byte aligned); QKV_ERR_WORKSPACE_TOO_SMALL (qlayer_bytes or
 *  the workspace short); QKV_ERR_NOT_FINITE (a parameter, an input or an
 *  intermediate not finite); QKV_ERR_UNSUPPORTED (a multiplier at or above
 *  2^30: scales too far apart). */
QKV_API qkv_status qkv_mha_int8_calibrate(const qkv_mha_desc* desc, const float* params, size_t batch,
                                          size_t seq_len, const float* x, void* qlayer, size_t qlayer_bytes,
                                          void* workspace, size_t workspace_bytes);

/** Scratch bytes for qkv_mha_int8_forward(): with R = batch * seq_len rows,
 *  Q, K, V and A codes (R (2 d_out + 2 d_kv) bytes), the projections' int32
 *  sums (4 R max(d_out, d_kv) bytes) and their int8 GEMM's packing buffers
 *  (qkv_gemm_ex_workspace_size() of each, 0 for small products), and per
 *  thread a row of scores, weights and context sums (4 seq_len + 2 seq_len +
 *  4 d_head bytes), each rounded up to 64 bytes, plus 64.
 *  @param[in]  desc, batch, seq_len, threads, bytes  as for
 *              qkv_mha_int8_calibrate_workspace_size().
 *  @return as qkv_mha_int8_calibrate_workspace_size(). */
QKV_API qkv_status qkv_mha_int8_forward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len,
                                                       int threads, size_t* bytes);

/** The layer in int8: Y codes from X codes (the rules of this header).
 *  @param[in]  desc     the layer the buffer was made for.
 *  @param[in]  qlayer   an int8 layer buffer, 4-byte aligned.
 *  @param[in]  qlayer_bytes  its size.
 *  @param[in]  batch, seq_len  each >= 1, seq_len <= 65536.
 *  @param[in]  x        [batch][seq_len][d_in] codes (quantized with the header's x).
 *  @param[out] y        [batch][seq_len][d_out] codes (the header's y); must not alias x.
 *  @param[in]  workspace, workspace_bytes  qkv_mha_int8_forward_workspace_size()
 *                       bytes, any alignment.
 *  @return QKV_OK or, in this order, nothing written: the statuses of the size
 *  query; QKV_ERR_NULL_POINTER (qlayer, x or y NULL); QKV_ERR_BAD_ARGUMENT
 *  (qlayer not 4-byte aligned); QKV_ERR_BAD_FORMAT (qlayer_bytes short, wrong
 *  magic or version, a header for another shape, flags or window than
 *  @p desc's, a multiplier out of range); the workspace statuses. */
QKV_API qkv_status qkv_mha_int8_forward(const qkv_mha_desc* desc, const void* qlayer, size_t qlayer_bytes,
                                        size_t batch, size_t seq_len, const int8_t* x, int8_t* y, void* workspace,
                                        size_t workspace_bytes);

QKV_EXTERN_C_END

#endif /* QKV_LAYER_INT8_H */
