/* SPDX-License-Identifier: MIT */
/** @file qkv/layer.h
 * @brief Trainable attention layers: the book's SelfAttention,
 * CausalAttention (mask + dropout) and MultiHeadAttention, as one layer type.
 *
 *   Q = X W_q + b_q,  K = X W_k + b_k,  V = X W_v + b_v        (X: [B, T, d_in])
 *   A = concat_h softmax(Q_h K_h^T / sqrt(d_head) + causal mask, dropout) V_h
 *   Y = A W_o + b_o   (out_proj = 1)   or   Y = A   (out_proj = 0)
 *
 * num_heads = 1, out_proj = 0, causal = 0 is the book's SelfAttention_v2;
 * causal = 1 with dropout is CausalAttention; num_heads > 1 with out_proj = 1
 * is MultiHeadAttention. d_head = d_out / num_heads.
 *
 * Parameters live in ONE caller-owned float buffer of qkv_mha_param_count()
 * floats, in this order (offsets from qkv_mha_param_layout()):
 *   W_q [d_in][d_out], W_k [d_in][d_kv], W_v [d_in][d_kv],
 *   b_q [d_out], b_k [d_kv], b_v [d_kv]             (only if qkv_bias)
 *   W_o [d_out][d_out], b_o [d_out]                 (only if out_proj)
 * where d_kv = d_out unless the layer has fewer K/V heads (num_kv_heads).
 * Weights are in the x*W layout ([in][out], row-major). PyTorch's nn.Linear
 * stores weight as [out][in]: use qkv_linear_weight_from_torch() to convert.
 * Gradients use the same layout in a buffer of the same size.
 *
 * Llama-style attention (since 0.5): grouped-query heads, RoPE, a window:
 *
 *     qkv_mha_desc d = {0};
 *     d.d_in = d.d_out = 4096; d.num_heads = 32; d.num_kv_heads = 8;
 *     d.causal = 1; d.out_proj = 1; d.window = 4096;
 *     d.rope = 1; d.rope_layout = QKV_ROPE_HALF; d.rope_theta = 500000.f;
 *
 * Memory: the caller owns everything. The forward in training mode writes
 * what the backward needs into a cache buffer (Q, K, V, the attention output
 * and one log-sum-exp per row and head: O(B*T*d_out), never T x T; with
 * compute_type BF16 also the bf16 weights, X and A the backward multiplies). Scratch
 * comes from a workspace sized by the matching *_workspace_size() query
 * (one rule for NULL and short workspaces: qkv/qkv.h).
 * Nothing allocates. Results are bitwise identical for any thread count.
 * Thread-safety: reentrant; concurrent calls must use distinct caches,
 * workspaces and outputs. */
#ifndef QKV_LAYER_H
#define QKV_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/dtype.h"
#include "qkv/export.h"
#include "qkv/rope.h"
#include "qkv/status.h"

/** Plain description of a multi-head attention layer. */
typedef struct qkv_mha_desc {
  size_t d_in;           /**< input features, >= 1 */
  size_t d_out;          /**< output features, >= 1, divisible by num_heads */
  size_t num_heads;      /**< >= 1 */
  int causal;            /**< 0 or 1: token t attends to tokens <= t */
  int qkv_bias;          /**< 0 or 1: biases on the Q, K, V projections */
  int out_proj;          /**< 0 or 1: output projection W_o, b_o */
  float dropout_p;       /**< dropout on attention weights in training, in [0, 1) */
  uint64_t dropout_seed; /**< seeds the counter-based dropout mask */
  qkv_dtype compute_type; /**< QKV_DTYPE_F32 (0, the default of a zeroed description)
                               or QKV_DTYPE_BF16 (any other value is QKV_ERR_BAD_ARGUMENT):
                               the type the projection GEMMs multiply in. BF16 is
                               autocast-style mixed precision: each call rounds the
                               weights (from the fp32 params, the master copy) and the
                               GEMM inputs (X, the attention output A, dY and the
                               projections' gradients dQ, dK, dV) to bf16, round to
                               nearest even (qkv_convert), and every projection GEMM of
                               the forward and the backward (Q, K, V and out
                               projections, dX = dP W^T, dW = X^T dP) multiplies them
                               with fp32 accumulation into fp32 results (qkv_gemm_ex).
                               Where the CPU has fast bf16 dot products (AVX512-BF16),
                               the attention's products multiply bf16 too (Q, K, V, the
                               weights P, dO and dS rounded the same way, fp32 sums);
                               its softmax statistics, masks and dropout, the biases,
                               gradients (accumulated in fp32) and the optimizer stay
                               fp32; the training cache keeps the bf16 weights, X and A
                               for the backward (qkv_mha_cache_size() grows by them); params, X, Y, dY, dX keep their float types.
                               Error: 2^-8 relative per rounded operand, i.e. about
                               2^-7 of sum_k |a||b| per projection (docs/layer.md). */
  /* since 0.5; zero keeps each feature off */
  size_t num_kv_heads;   /**< 0: num_heads; else a divisor of num_heads: grouped-query attention
                              (1: multi-query). K and V have num_kv_heads heads of d_head, so
                              W_k, W_v are [d_in][d_kv] and b_k, b_v [d_kv] with
                              d_kv = num_kv_heads * d_head; query head h attends with K/V head
                              h / (num_heads / num_kv_heads); KV caches store d_kv per token. */
  size_t window;         /**< 0: none; else sliding-window attention: token t attends to tokens
                              s > t - window only (and s <= t when causal), qkv/attention.h.
                              Its KV cache is a ring: position t lives in row
                              t % capacity, so decoding goes on past the capacity as
                              long as capacity >= window + n_new - 1. */
  int rope;              /**< 0 or 1: rotary position embedding (qkv/rope.h) on Q and K after
                              their projections (and biases), token t at position t; decoding
                              continues each sequence's positions. The training cache keeps
                              the rotated Q and K; the backward rotates their gradients back. */
  qkv_rope_layout rope_layout; /**< with rope: QKV_ROPE_HALF (0, Llama) or QKV_ROPE_INTERLEAVED (GPT-J) */
  size_t rope_dim;       /**< with rope: rotated features of each head, 0 means d_head; else even, <= d_head */
  float rope_theta;      /**< with rope: base of the frequencies, 0 means 10000; else finite and > 0 */
  /* since 0.7 */
  float softcap;         /**< 0: off; else finite and > 0: the attention's logit soft-capping
                              (qkv_sdpa_desc::softcap: each scaled score s becomes
                              softcap * tanh(s / softcap)), in training, inference and decoding
                              (every KV-cache format); negative, NaN or infinite values are
                              QKV_ERR_BAD_ARGUMENT */
} qkv_mha_desc;

/** Offsets (in floats) of each parameter tensor in the flat buffer;
 *  SIZE_MAX for tensors the description does not have. */
typedef struct qkv_mha_layout {
  /** @{ */
  size_t w_q, w_k, w_v, b_q, b_k, b_v, w_o, b_o; /**< offset of the tensor of that name */
  /** @} */
  size_t count; /**< total floats */
} qkv_mha_layout;

QKV_EXTERN_C_BEGIN

/** Checks a description.
 *  @param[in] desc  the layer.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (a zero size, num_kv_heads not
 *  dividing num_heads, d_out not divisible by num_heads; with rope, rope_dim odd or above
 *  d_head, or 0 with an odd d_head); QKV_ERR_BAD_ARGUMENT (flags not 0/1, dropout_p outside
 *  [0, 1) or NaN, compute_type neither QKV_DTYPE_F32 nor QKV_DTYPE_BF16; with rope,
 *  rope_layout out of range or rope_theta negative or not finite; softcap negative, NaN
 *  or infinite); QKV_ERR_SIZE_OVERFLOW (parameter count does not fit). */
QKV_API qkv_status qkv_mha_validate(const qkv_mha_desc* desc);

/** @param[in]  desc   the layer.
 *  @param[out] count  floats in the parameter (and gradient) buffer.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER (count NULL), or the statuses of
 *  qkv_mha_validate(). */
QKV_API qkv_status qkv_mha_param_count(const qkv_mha_desc* desc, size_t* count);

/** @param[in]  desc    the layer.
 *  @param[out] layout  offsets of every parameter tensor.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER (layout NULL), or the statuses of
 *  qkv_mha_validate(). */
QKV_API qkv_status qkv_mha_param_layout(const qkv_mha_desc* desc, qkv_mha_layout* layout);

/** Initializes parameters like PyTorch's nn.Linear default: every weight and
 *  bias uniform in +-1/sqrt(fan_in) (fan_in = d_in for W_q/W_k/W_v and their
 *  biases, d_out for W_o, b_o), from a counter-based generator: the same seed
 *  gives the same bits on every platform.
 *  @param[in]  desc    the layer.
 *  @param[out] params  qkv_mha_param_count() floats.
 *  @param[in]  seed    any value.
 *  @return QKV_OK, the statuses of qkv_mha_validate(), then QKV_ERR_NULL_POINTER
 *  (params NULL). */
QKV_API qkv_status qkv_mha_init(const qkv_mha_desc* desc, float* params, uint64_t seed);

/** Converts an nn.Linear weight ([out_features][in_features], row-major) to
 *  qkv's [in][out] layout. @p dst and @p src must not overlap.
 *  @param[in]  out_features, in_features  the nn.Linear's shape, each >= 1.
 *  @param[in]  src  [out_features][in_features] floats.
 *  @param[out] dst  [in_features][out_features] floats.
 *  @return QKV_OK; QKV_ERR_BAD_SHAPE (a zero size); QKV_ERR_SIZE_OVERFLOW;
 *  QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (src and dst overlap). */
QKV_API qkv_status qkv_linear_weight_from_torch(size_t out_features, size_t in_features, const float* src,
                                                float* dst);

/** Bytes of the training cache for a batch of @p batch sequences of @p seq_len tokens.
 *  @param[in]  desc            the layer.
 *  @param[in]  batch, seq_len  the forward's batch and sequence length, each >= 1.
 *  @param[out] bytes           written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); the statuses of
 *  qkv_mha_validate(); QKV_ERR_BAD_SHAPE (batch or seq_len 0); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_cache_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len, size_t* bytes);

/** Scratch bytes for qkv_mha_forward() (training or not) with up to @p threads threads.
 *  For fp32 compute it is, with R = batch * seq_len rows, H heads, h = d_out / H,
 *  ceil16() rounding a count of floats up to a multiple of 16 (64 bytes):
 *    4 * (2 ceil16(R d_out) + 2 ceil16(R d_kv) + ceil16(batch H seq_len))  (Q, K, V, A, lse)
 *    + max(attention, GEMM) + 64,
 *  where attention is qkv_sdpa_workspace_size() of the layer's heads:
 *  threads * 4 * ceil16((2h + t + 3) * br) + 63, t = min(128, max(8, seq_len
 *  rounded up to 8)) and br 16 on Cortex-M, at most 64 elsewhere (hosted
 *  builds with K/V heads > 1, seq_len > 2 br and seq_len * 2h <= 262,144: plus
 *  threads * 4 * (16 + 2 ceil16(seq_len h)), the per-head K/V copy of
 *  qkv_sdpa_workspace_size()); and GEMM is
 *  0 where every projection has M N K <= 4096 multiply-adds, else qkv_sgemm's
 *  packed blocks, each clipped to the product's own M, N and K. Every term
 *  shrinks with the problem: the book's 6 x 3 example (T 6, d_in 3, d_out 2)
 *  needs 1,407 bytes on Cortex-M (docs/layer.md has a table).
 *  @param[in]  desc            the layer.
 *  @param[in]  batch, seq_len  as for the forward, each >= 1.
 *  @param[in]  threads         >= 1.
 *  @param[out] bytes           written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); QKV_ERR_BAD_ARGUMENT
 *  (threads < 1); the statuses of qkv_mha_validate(); QKV_ERR_BAD_SHAPE (batch or
 *  seq_len 0); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_forward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len,
                                                  int threads, size_t* bytes);

/** Forward: Y = layer(X).
 *  @param[in]  desc      the layer.
 *  @param[in]  params    qkv_mha_param_count() floats.
 *  @param[in]  batch     sequences, >= 1.
 *  @param[in]  seq_len   tokens per sequence, >= 1.
 *  @param[in]  x         [batch][seq_len][d_in], contiguous.
 *  @param[out] y         [batch][seq_len][d_out], contiguous; must not alias x.
 *  @param[in]  training  1: apply dropout and fill @p cache for qkv_mha_backward();
 *                        0: inference (no dropout; @p cache may be NULL).
 *  @param[out] cache     qkv_mha_cache_size() bytes when training, 64-byte aligned.
 *  @param[in]  cache_bytes  its size; when training, less than qkv_mha_cache_size() is
 *                        QKV_ERR_WORKSPACE_TOO_SMALL.
 *  @param[in]  workspace qkv_mha_forward_workspace_size() bytes, any alignment (the
 *                        workspace rule of qkv/qkv.h).
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return QKV_OK or a status (nothing written): the statuses of qkv_mha_validate(),
 *  QKV_ERR_BAD_SHAPE (batch or seq_len 0), QKV_ERR_BAD_ARGUMENT (training not 0/1),
 *  QKV_ERR_WORKSPACE_TOO_SMALL, QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_forward(const qkv_mha_desc* desc, const float* params, size_t batch, size_t seq_len,
                                   const float* x, float* y, int training, void* cache, size_t cache_bytes,
                                   void* workspace, size_t workspace_bytes);

/** Scratch bytes for qkv_mha_backward().
 *  @param[in]  desc, batch, seq_len, threads  as for qkv_mha_forward_workspace_size().
 *  @param[out] bytes  written on success.
 *  @return as qkv_mha_forward_workspace_size(). */
QKV_API qkv_status qkv_mha_backward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len,
                                                   int threads, size_t* bytes);

/** Backward of a training-mode forward with the same desc, params, x and cache.
 *  @param[in]  desc, params, batch, seq_len, x  as given to the forward.
 *  @param[in]  cache        the cache the training-mode forward filled.
 *  @param[in]  cache_bytes  its size; less than qkv_mha_cache_size() is
 *                     QKV_ERR_WORKSPACE_TOO_SMALL.
 *  @param[in]  dy     dL/dY, [batch][seq_len][d_out].
 *  @param[out] dx     dL/dX, [batch][seq_len][d_in]: OVERWRITTEN. May be NULL when
 *                     the input needs no gradient (first layer).
 *  @param[in,out] grads  parameter gradients, same layout as params: ACCUMULATED
 *                     (grads += dL/dparams), so several backward calls sum up, as
 *                     gradient accumulation wants; zero it with qkv_mha_zero_grads().
 *  @param[in]  workspace        qkv_mha_backward_workspace_size() bytes, any alignment
 *                               (the workspace rule of qkv/qkv.h).
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return as qkv_mha_forward(). */
QKV_API qkv_status qkv_mha_backward(const qkv_mha_desc* desc, const float* params, size_t batch, size_t seq_len,
                                    const float* x, const void* cache, size_t cache_bytes, const float* dy,
                                    float* dx, float* grads, void* workspace, size_t workspace_bytes);

/** qkv_mha_forward() for compute_type BF16 with the weights already rounded: the
 *  layer reads them from @p params_bf16 instead of rounding the fp32 params on
 *  every call (and the training cache's copy of them is not written). For
 *  bf16 mixed-precision training, where the optimizer writes the rounded copy
 *  while it holds the new values (qkv_adamw_step_mirror(), qkv/optim.h): the
 *  per-step pass over the fp32 weights (read just after the optimizer wrote
 *  them) disappears.
 *  Sizes (the workspace and cache queries) and threading: as qkv_mha_forward().
 *  @param[in]  desc         the layer; compute_type must be QKV_DTYPE_BF16.
 *  @param[in]  params       qkv_mha_param_count() floats (the biases are read from here).
 *  @param[in]  params_bf16  qkv_mha_param_count() bf16 bit patterns, params
 *                           rounded to nearest even (qkv_convert() F32 -> BF16,
 *                           or qkv_adamw_step_mirror()), same layout; only the
 *                           weights are read. With exactly that rounding, Y and
 *                           the cache's contents the backward reads are bitwise
 *                           those of qkv_mha_forward(); other values are used as
 *                           given. Give the same buffer, unchanged, to
 *                           qkv_mha_backward_mirror().
 *  @param[in]  batch, seq_len  as qkv_mha_forward().
 *  @param[in]  x         as qkv_mha_forward().
 *  @param[out] y         as qkv_mha_forward().
 *  @param[in]  training  as qkv_mha_forward().
 *  @param[out] cache     as qkv_mha_forward().
 *  @param[in]  cache_bytes  as qkv_mha_forward().
 *  @param[in]  workspace qkv_mha_forward_workspace_size() bytes (any alignment).
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return as qkv_mha_forward(), plus QKV_ERR_NULL_POINTER (params_bf16 NULL)
 *  and QKV_ERR_BAD_ARGUMENT (compute_type not QKV_DTYPE_BF16), checked after
 *  the other pointers; QKV_ERR_UNSUPPORTED on bare metal (as
 *  qkv_adamw_step_mirror(): code size). */
QKV_API qkv_status qkv_mha_forward_mirror(const qkv_mha_desc* desc, const float* params,
                                          const uint16_t* params_bf16, size_t batch, size_t seq_len,
                                          const float* x, float* y, int training, void* cache, size_t cache_bytes,
                                          void* workspace, size_t workspace_bytes);

/** qkv_mha_backward() of a qkv_mha_forward_mirror() training forward, with the
 *  same @p params_bf16 (its bf16 weights are read from there, not from the
 *  cache). With params_bf16 the rounded params, dx and grads are bitwise those
 *  of qkv_mha_backward().
 *  @param[in]  desc, params, batch, seq_len, x  as given to the forward.
 *  @param[in]  params_bf16  the mirror given to qkv_mha_forward_mirror(), unchanged.
 *  @param[in]  cache, cache_bytes  as qkv_mha_backward().
 *  @param[in]  dy     as qkv_mha_backward().
 *  @param[out] dx     as qkv_mha_backward() (OVERWRITTEN; may be NULL).
 *  @param[in,out] grads  as qkv_mha_backward() (ACCUMULATED).
 *  @param[in]  workspace        qkv_mha_backward_workspace_size() bytes (any alignment).
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return as qkv_mha_backward(), plus QKV_ERR_NULL_POINTER (params_bf16 NULL)
 *  and QKV_ERR_BAD_ARGUMENT (compute_type not QKV_DTYPE_BF16); QKV_ERR_UNSUPPORTED
 *  on bare metal. */
QKV_API qkv_status qkv_mha_backward_mirror(const qkv_mha_desc* desc, const float* params,
                                           const uint16_t* params_bf16, size_t batch, size_t seq_len,
                                           const float* x, const void* cache, size_t cache_bytes, const float* dy,
                                           float* dx, float* grads, void* workspace, size_t workspace_bytes);

/** grads[i] = 0 for every parameter gradient of @p desc.
 *  @param[in]  desc   the layer.
 *  @param[out] grads  qkv_mha_param_count() floats.
 *  @return QKV_OK, the statuses of qkv_mha_validate(), then QKV_ERR_NULL_POINTER
 *  (grads NULL). */
QKV_API qkv_status qkv_mha_zero_grads(const qkv_mha_desc* desc, float* grads);

/* ---- Inference with bf16 or int8 weights (weight-only quantization) ---- */

/** Magic number of a packed-weights buffer: "QKVW" in its first 4 bytes (host order). */
#define QKV_MHA_PACKED_MAGIC 0x57564B51u
/** Version of the packed-weights layout below. */
#define QKV_MHA_PACKED_VERSION 1u

/** Bytes of the packed weights of @p desc in @p wtype.
 *
 *  Packed layout (host byte order, an in-memory format, not a file format):
 *  every piece starts at a multiple of 64 bytes from the buffer's start.
 *   - header, 64 bytes: uint32 magic (QKV_MHA_PACKED_MAGIC), uint32 version
 *     (QKV_MHA_PACKED_VERSION), uint32 wtype (a qkv_dtype), uint32 flags
 *     (bit 0: qkv_bias, bit 1: out_proj), uint64 d_in, uint64 d_out, uint64
 *     total bytes (this query's answer), zeros to 64 bytes;
 *   - then for W_q, W_k, W_v and (out_proj) W_o, in that order, the weight:
 *     QKV_DTYPE_BF16: [in][out] bf16 bit patterns (the params' x*W layout,
 *     each rounded to nearest even, as qkv_convert);
 *     QKV_DTYPE_I8: [out][in] int8 codes, one row per output feature (the
 *     nn.Linear layout), followed (at the next 64-byte offset) by its d_out
 *     fp32 scales, exactly as qkv_quantize_rows_s8() writes for W^T
 *     (scale = max|w| / 127 per output feature, |w - q*s| <= s/2);
 *   - then the fp32 biases, copied: b_q, b_k, b_v (qkv_bias), b_o (out_proj).
 *  (in, out) is (d_in, d_out) for W_q, W_k, W_v and (d_out, d_out) for W_o.
 *  @param[in]  desc   the layer (its compute_type does not matter here).
 *  @param[in]  wtype  QKV_DTYPE_BF16 or QKV_DTYPE_I8.
 *  @param[out] bytes  written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); the statuses of
 *  qkv_mha_validate(); QKV_ERR_BAD_DTYPE (wtype neither BF16 nor I8);
 *  QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_pack_weights_size(const qkv_mha_desc* desc, qkv_dtype wtype, size_t* bytes);

/** Packs the weights of @p params for qkv_mha_forward_packed() and
 *  qkv_mha_decode_packed() (layout: qkv_mha_pack_weights_size()). Single-threaded.
 *  @param[in]  desc    the layer.
 *  @param[in]  params  qkv_mha_param_count() floats; must not overlap @p packed.
 *  @param[in]  wtype   QKV_DTYPE_BF16 or QKV_DTYPE_I8.
 *  @param[out] packed  the packed weights, 64-byte aligned.
 *  @param[in]  packed_bytes  its size, at least qkv_mha_pack_weights_size().
 *  @return QKV_OK or, in this order, nothing written: the statuses of
 *  qkv_mha_pack_weights_size(); QKV_ERR_NULL_POINTER (params or packed NULL);
 *  QKV_ERR_BAD_ARGUMENT (packed not 64-byte aligned, or overlapping params);
 *  QKV_ERR_WORKSPACE_TOO_SMALL (packed_bytes short); QKV_ERR_NOT_FINITE
 *  (QKV_DTYPE_I8 and a weight is NaN or Inf; BF16 keeps them). */
QKV_API qkv_status qkv_mha_pack_weights(const qkv_mha_desc* desc, const float* params, qkv_dtype wtype,
                                        void* packed, size_t packed_bytes);

/** Scratch bytes for qkv_mha_forward_packed() with weights of @p wtype.
 *  @param[in]  desc, batch, seq_len, threads  as for qkv_mha_forward_workspace_size().
 *  @param[in]  wtype  QKV_DTYPE_BF16 or QKV_DTYPE_I8.
 *  @param[out] bytes  written on success.
 *  @return as qkv_mha_forward_workspace_size(), and QKV_ERR_BAD_DTYPE (wtype
 *  neither BF16 nor I8) after the description's statuses. */
QKV_API qkv_status qkv_mha_forward_packed_workspace_size(const qkv_mha_desc* desc, qkv_dtype wtype, size_t batch,
                                                         size_t seq_len, int threads, size_t* bytes);

/** Inference forward from packed weights: the shapes and semantics of
 *  qkv_mha_forward() with training = 0, the weights those of @p packed.
 *  Each projection is one qkv_gemm_ex(): A = the activations, in
 *  desc->compute_type (F32: as they are; BF16: rounded to bf16 first), B =
 *  the packed weights (bf16, or int8 with their per-output-feature scales,
 *  widened to fp32 inside the GEMM), fp32 accumulation and result, plus the
 *  fp32 bias; attention runs in fp32. Error against the fp32 layer: per
 *  projection output, |err| <= (s/2) sum_k |x_k| for int8 weights of scale s
 *  (plus fp32 rounding), 2^-8 sum_k |x_k||w_k| for bf16 weights (2^-7 with
 *  BF16 activations); attention carries it on (docs/layer.md).
 *  @param[in]  desc     the layer; its shape and qkv_bias/out_proj flags must be
 *                       those the weights were packed for.
 *  @param[in]  packed   qkv_mha_pack_weights() output, 64-byte aligned.
 *  @param[in]  packed_bytes  its size.
 *  @param[in]  batch, seq_len, x  as for qkv_mha_forward().
 *  @param[out] y        [batch][seq_len][d_out]; must not alias x.
 *  @param[in]  workspace        qkv_mha_forward_packed_workspace_size() bytes
 *                               for the packed wtype, any alignment.
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return QKV_OK or, in this order, nothing written: the statuses of
 *  qkv_mha_validate(); QKV_ERR_BAD_SHAPE (batch or seq_len 0);
 *  QKV_ERR_SIZE_OVERFLOW; QKV_ERR_NULL_POINTER (packed, x or y NULL);
 *  QKV_ERR_BAD_ARGUMENT (packed not 64-byte aligned); QKV_ERR_BAD_FORMAT
 *  (packed_bytes shorter than the header or than the header's total, a wrong
 *  magic or version, or a header for another wtype, shape or flags than
 *  @p desc's); the workspace statuses (qkv/qkv.h). */
QKV_API qkv_status qkv_mha_forward_packed(const qkv_mha_desc* desc, const void* packed, size_t packed_bytes,
                                          size_t batch, size_t seq_len, const float* x, float* y, void* workspace,
                                          size_t workspace_bytes);

/* ---- Incremental decoding with a KV cache ------------------------------ */

/** How a KV cache stores its K and V rows. A token's K and V are computed in
 *  fp32 and stored in this format when the token is appended; attention
 *  reads them back (widened exactly, qkv/dtype.h) inside the decode kernel.
 *  Values are part of the ABI. */
typedef enum qkv_kv_format {
  QKV_KV_F32 = 0,  /**< fp32, 4 bytes per element (the default: all-zero state) */
  QKV_KV_BF16 = 1, /**< bfloat16, rounded to nearest even: 2 bytes per element,
                        relative error 2^-8 per element */
  QKV_KV_F16 = 2,  /**< IEEE fp16, rounded to nearest even: 2 bytes, relative
                        error 2^-11; |values| beyond 65504 become Inf (keep K
                        and V in range, as for any fp16 model) */
  QKV_KV_Q8_0 = 3, /**< q8_0 blocks (qkv/dtype.h) of 32 along each head's row:
                        34 bytes per 32 elements, error at most half a block's
                        scale (max|x|/254) per element; head_dim must be a
                        multiple of 32 */
  QKV_KV_FORMAT_COUNT /**< number of values above; not a format */
} qkv_kv_format;

/** Bookkeeping of a KV cache; the K and V rows live in a caller buffer of
 *  qkv_mha_kv_cache_size_ex() bytes. Initialize with qkv_mha_kv_cache_init()
 *  (fp32) or qkv_mha_kv_cache_init_ex(). */
typedef struct qkv_mha_kv_state {
  size_t batch;    /**< sequences decoded together */
  size_t capacity; /**< tokens per sequence the buffer holds */
  size_t length;   /**< tokens cached so far in every sequence (when lengths is NULL) */
  qkv_kv_format format; /**< how K and V are stored (QKV_KV_F32 when zeroed) */
  size_t* lengths; /**< since 0.5. NULL (every sequence holds length tokens), or a caller
                        array of batch counts: sequence b holds lengths[b] tokens (ragged
                        batched decoding). Decoding then appends each sequence's new tokens
                        at its own length, each new token attends to its own sequence's
                        tokens only, and every lengths[b] grows by n_new (length is not
                        used). Setting lengths[b] back to a smaller value drops tokens:
                        e.g. after prefilling right-padded prompts together, set each
                        lengths[b] to its prompt's true length and decoding overwrites the
                        padding. */
} qkv_mha_kv_state;

/** Bytes of a KV cache for @p batch sequences of up to @p capacity tokens.
 *  @param[in]  desc             the layer.
 *  @param[in]  batch, capacity  each >= 1.
 *  @param[out] bytes            written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); the statuses of
 *  qkv_mha_validate(); QKV_ERR_BAD_SHAPE (batch or capacity 0); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_kv_cache_size(const qkv_mha_desc* desc, size_t batch, size_t capacity, size_t* bytes);

/** Bytes of a KV cache in @p format: for each of K and V, batch x capacity
 *  rows of d_kv elements (d_out, or num_kv_heads * d_head; QKV_KV_Q8_0: d_kv / 32 blocks
 *  of 34 bytes).
 *  @param[in]  desc             the layer.
 *  @param[in]  batch, capacity  each >= 1.
 *  @param[in]  format           a qkv_kv_format.
 *  @param[out] bytes            written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); the statuses of
 *  qkv_mha_validate(); QKV_ERR_BAD_ARGUMENT (format outside the enum);
 *  QKV_ERR_BAD_SHAPE (batch or capacity 0; QKV_KV_Q8_0 with a head_dim that
 *  is not a multiple of 32); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_mha_kv_cache_size_ex(const qkv_mha_desc* desc, size_t batch, size_t capacity,
                                            qkv_kv_format format, size_t* bytes);

/** Sets @p state to an empty cache of that batch, capacity and format (lengths NULL).
 *  @param[out] state            the bookkeeping to initialize.
 *  @param[in]  batch, capacity  each >= 1.
 *  @param[in]  format           a qkv_kv_format.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (format outside
 *  the enum); QKV_ERR_BAD_SHAPE (batch or capacity 0). */
QKV_API qkv_status qkv_mha_kv_cache_init_ex(qkv_mha_kv_state* state, size_t batch, size_t capacity,
                                            qkv_kv_format format);

/** Sets @p state to an empty fp32 cache of that batch and capacity.
 *  @param[out] state            the bookkeeping to initialize.
 *  @param[in]  batch, capacity  each >= 1.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (batch or capacity 0). */
QKV_API qkv_status qkv_mha_kv_cache_init(qkv_mha_kv_state* state, size_t batch, size_t capacity);

/** Scratch bytes for qkv_mha_decode() of @p n_new tokens.
 *  @param[in]  desc     the layer.
 *  @param[in]  state    the cache the call will append to.
 *  @param[in]  n_new    tokens per sequence the call appends, >= 1.
 *  @param[in]  threads  >= 1.
 *  @param[out] bytes    written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes or state NULL); QKV_ERR_BAD_ARGUMENT
 *  (threads < 1, state->format outside the enum); the statuses of qkv_mha_validate();
 *  QKV_ERR_BAD_SHAPE (also QKV_KV_Q8_0 with head_dim % 32 != 0); QKV_ERR_SIZE_OVERFLOW;
 *  QKV_ERR_CAPACITY (as qkv_mha_decode()).
 *  The size covers the state's current lengths: query it again when they grow.
 *  It is qkv_mha_forward_workspace_size()'s for batch * n_new rows, its
 *  attention over the L = length + n_new cached keys (t from L), plus 64 bytes
 *  per 8 sequences; a reduced-format cache (or a wrapped window, or in hosted
 *  builds an fp32 cache when n_new is 1) attends one query row and up to n
 *  heads at a time instead, reading the cache in
 *  place, in threads * 4 * n * ceil16(L) + 64 bytes, n = min(num_heads,
 *  max(1, L2 cache / (16 ceil16(L)))) (L2 512 KiB where unknown, as on
 *  Cortex-M). Hosted builds split a single query row (batch * n_new == 1)
 *  over its keys too, in C = ceil(L / 512) chunks: there the attention takes
 *  4 * ceil16(C * num_heads * (head_dim + 2)) + (num_heads * P rounded up to 64) +
 *  threads * 4 * n * ceil16(K) + 64 bytes with K = min(L, 512) in place of L
 *  in n, P = sizeof(size_t). */
QKV_API qkv_status qkv_mha_decode_workspace_size(const qkv_mha_desc* desc, const qkv_mha_kv_state* state,
                                                 size_t n_new, int threads, size_t* bytes);

/** Appends @p n_new tokens per sequence and returns their layer outputs,
 *  attending over everything cached (inference: no dropout). Requires a
 *  causal layer. Token by token this equals one full-sequence forward (to
 *  fp32 rounding) for an fp32 cache; a bf16, fp16 or q8_0 cache (state->format)
 *  stores the new tokens' K and V rounded to its format, and attention then
 *  equals the fp32 computation over those stored values (fp32 accumulation
 *  and softmax; the error against an fp32 cache is the storage rounding's,
 *  qkv_kv_format). Reduced-format caches attend one query row at a time
 *  (decode speed: bytes read per token halve with bf16/fp16 and fall ~3.8x
 *  with q8_0); a long prompt is faster prefilled with an fp32 cache.
 *  @param[in]     desc   the layer (causal).
 *  @param[in]     params qkv_mha_param_count() floats.
 *  @param[in]     n_new  tokens per sequence to append, >= 1.
 *  @param[in]     x_new  [batch][n_new][d_in].
 *  @param[out]    y_new  [batch][n_new][d_out].
 *  @param[in,out] state, kv_buffer  the cache; state->length grows by n_new.
 *  @param[in]     kv_bytes  size of kv_buffer; less than qkv_mha_kv_cache_size_ex()
 *                           for state->format is QKV_ERR_WORKSPACE_TOO_SMALL.
 *  @param[in]     workspace        qkv_mha_decode_workspace_size() bytes, any alignment
 *                                  (the workspace rule of qkv/qkv.h).
 *  @param[in]     workspace_bytes  its size in bytes.
 *  @return QKV_OK; QKV_ERR_CAPACITY if length + n_new (any lengths[b] + n_new) > capacity
 *  and the layer has no window, or has one and capacity < window + n_new - 1 (nothing changed);
 *  QKV_ERR_BAD_ARGUMENT for a non-causal layer or a format outside the enum;
 *  QKV_ERR_BAD_SHAPE for QKV_KV_Q8_0 with head_dim % 32 != 0; QKV_ERR_NOT_FINITE
 *  when a new K or V value cannot be stored in a q8_0 cache (NaN, Inf, or a
 *  block's scale beyond fp16's range; nothing changed); the statuses of
 *  qkv_mha_forward(). */
QKV_API qkv_status qkv_mha_decode(const qkv_mha_desc* desc, const float* params, qkv_mha_kv_state* state,
                                  void* kv_buffer, size_t kv_bytes, size_t n_new, const float* x_new, float* y_new,
                                  void* workspace, size_t workspace_bytes);

/** Scratch bytes for qkv_mha_decode_packed() with weights of @p wtype.
 *  @param[in]  desc, state, n_new, threads  as for qkv_mha_decode_workspace_size().
 *  @param[in]  wtype  QKV_DTYPE_BF16 or QKV_DTYPE_I8.
 *  @param[out] bytes  written on success.
 *  @return as qkv_mha_decode_workspace_size(), and QKV_ERR_BAD_DTYPE (wtype
 *  neither BF16 nor I8) after the description's statuses. */
QKV_API qkv_status qkv_mha_decode_packed_workspace_size(const qkv_mha_desc* desc, qkv_dtype wtype,
                                                        const qkv_mha_kv_state* state, size_t n_new, int threads,
                                                        size_t* bytes);

/** qkv_mha_decode() from packed weights: the projections as in
 *  qkv_mha_forward_packed(), the KV cache and attention as qkv_mha_decode().
 *  @param[in]     desc, packed, packed_bytes  as for qkv_mha_forward_packed().
 *  @param[in,out] state, kv_buffer  the cache, as for qkv_mha_decode().
 *  @param[in]     kv_bytes, n_new, x_new  as for qkv_mha_decode().
 *  @param[out]    y_new  [batch][n_new][d_out].
 *  @param[in]     workspace        qkv_mha_decode_packed_workspace_size() bytes.
 *  @param[in]     workspace_bytes  its size in bytes.
 *  @return the statuses of qkv_mha_decode(), with the packed buffer's checks of
 *  qkv_mha_forward_packed() (QKV_ERR_NULL_POINTER, QKV_ERR_BAD_ARGUMENT,
 *  QKV_ERR_BAD_FORMAT) where qkv_mha_decode() checks params. */
QKV_API qkv_status qkv_mha_decode_packed(const qkv_mha_desc* desc, const void* packed, size_t packed_bytes,
                                         qkv_mha_kv_state* state, void* kv_buffer, size_t kv_bytes, size_t n_new,
                                         const float* x_new, float* y_new, void* workspace, size_t workspace_bytes);

QKV_EXTERN_C_END

#endif /* QKV_LAYER_H */
