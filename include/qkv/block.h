/* SPDX-License-Identifier: MIT */
/** @file qkv/block.h
 * @brief A trainable transformer decoder block: normalisation, the attention
 *        layer (qkv/layer.h), a feed-forward network and two residual
 *        connections, forward, backward and KV-cache decoding.
 *
 * Pre-norm (pre_norm = 1: GPT-2, Llama), X and Y [batch][seq_len][d_model]:
 *     R = X + drop(attn(norm1(X)) W_o + b_o)
 *     Y = R + drop(ffn(norm2(R)))
 * Post-norm (pre_norm = 0: the original Transformer, BERT):
 *     R = norm1(X + drop(attn(X) W_o + b_o))
 *     Y = norm2(R + drop(ffn(R)))
 * where attn is the layer of qkv/layer.h without its output projection
 * (heads, grouped K/V heads, causal, window, RoPE, attention dropout), drop
 * is the residual dropout (resid_dropout, inverted: kept values scaled by
 * 1/(1-p)), norm is LayerNorm (gamma, beta) or RMSNorm (gamma) over d_model
 * with eps, and ffn, with H = d_ff:
 *     QKV_FFN_GELU_TANH, QKV_FFN_GELU_ERF, QKV_FFN_RELU, QKV_FFN_SILU:
 *         ffn(Z) = act(Z W_up + b_up) W_down + b_down
 *     QKV_FFN_SWIGLU (Llama):
 *         ffn(Z) = (silu(Z W_gate + b_gate) * (Z W_up + b_up)) W_down + b_down
 * Biases exist only with bias = 1 (every linear layer: b_q, b_k, b_v, b_o,
 * b_up, b_gate, b_down); LayerNorm always has its shift beta.
 *
 * Parameters live in ONE caller-owned float buffer of qkv_block_param_count()
 * floats, in this order (offsets from qkv_block_param_layout(); tensors the
 * block does not have take no room):
 *   norm1_g [d], norm1_b [d] (LayerNorm),
 *   W_q [d][d], W_k [d][d_kv], W_v [d][d_kv], b_q [d], b_k [d_kv], b_v [d_kv],
 *   W_o [d][d], b_o [d],
 *   norm2_g [d], norm2_b [d] (LayerNorm),
 *   W_gate [d][H], b_gate [H] (SwiGLU), W_up [d][H], b_up [H], W_down [H][d], b_down [d]
 * with d = d_model, d_kv = d_model / num_heads * num_kv_heads. Weights are in
 * the x*W layout ([in][out], row-major; qkv_linear_weight_from_torch()
 * converts an nn.Linear's). The attention's tensors W_q .. b_v are exactly a
 * qkv_mha_layout of the block's attention (qkv_block_attention_desc()) at
 * offset w_q. Gradients use the same layout in a buffer of the same size.
 *
 * A GPT-2 block (d 768, 12 heads, pre-LN, GELU tanh, biases):
 *     qkv_block_desc b = {0};
 *     b.d_model = 768; b.num_heads = 12; b.d_ff = 3072;
 *     b.norm = QKV_NORM_LAYER; b.ffn = QKV_FFN_GELU_TANH;
 *     b.pre_norm = 1; b.bias = 1; b.causal = 1;
 * A Llama block: norm = QKV_NORM_RMS, ffn = QKV_FFN_SWIGLU, bias = 0,
 * num_kv_heads, rope = 1 (and rope_theta, window as in qkv_mha_desc).
 *
 * Memory: the caller owns everything. The training forward writes what the
 * backward needs into a cache (qkv_block_cache_size(): the norms' inputs'
 * statistics and outputs, the attention layer's cache, the FFN's
 * pre-activations and hidden activations: O(B*T*(d + H)) floats, never
 * T x T). Scratch comes from a workspace sized by the matching
 * *_workspace_size() query (one rule for NULL and short workspaces: qkv/qkv.h).
 * Nothing allocates. Results are bitwise identical for any thread count.
 * Dropout masks are pure functions of (dropout_seed, position): change the
 * seed every training step. Thread-safety: reentrant; concurrent calls must
 * use distinct caches, workspaces and outputs.
 * Bare-metal builds (Cortex-M) return QKV_ERR_UNSUPPORTED from every
 * function of this header for now (the 64 KiB .text budget of the M4). */
#ifndef QKV_BLOCK_H
#define QKV_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/layer.h"
#include "qkv/rope.h"
#include "qkv/status.h"

/** Normalisation of a block. */
typedef enum qkv_norm_type {
  QKV_NORM_LAYER = 0, /**< LayerNorm: (x - mean) / sqrt(var + eps) * gamma + beta */
  QKV_NORM_RMS = 1    /**< RMSNorm: x / sqrt(mean(x^2) + eps) * gamma */
} qkv_norm_type;

/** Feed-forward network of a block (H = d_ff hidden features). */
typedef enum qkv_ffn_type {
  QKV_FFN_GELU_TANH = 0, /**< GELU, tanh approximation (GPT-2; PyTorch approximate='tanh') */
  QKV_FFN_GELU_ERF = 1,  /**< GELU with erf (PyTorch's default GELU) */
  QKV_FFN_RELU = 2,      /**< ReLU */
  QKV_FFN_SILU = 3,      /**< SiLU (x * sigmoid(x)) */
  QKV_FFN_SWIGLU = 4     /**< SwiGLU: silu(Z W_gate + b_gate) * (Z W_up + b_up) (Llama) */
} qkv_ffn_type;

/** Plain description of a decoder block. Zeroed, with d_model, num_heads and
 *  d_ff set, it is a post-norm LayerNorm block with a GELU (tanh) network and
 *  no biases, dropout, mask or RoPE: set the fields you want (examples above). */
typedef struct qkv_block_desc {
  size_t d_model;        /**< features of X and Y, >= 1, divisible by num_heads */
  size_t num_heads;      /**< attention heads, >= 1 */
  size_t num_kv_heads;   /**< 0: num_heads; else a divisor of num_heads (grouped-query attention) */
  size_t d_ff;           /**< hidden features of the feed-forward network, >= 1 (GPT-2: 4 d_model) */
  qkv_norm_type norm;    /**< QKV_NORM_LAYER or QKV_NORM_RMS */
  float norm_eps;        /**< added to the variance: finite and > 0; 0 means 1e-5 */
  qkv_ffn_type ffn;      /**< the feed-forward network's activation */
  int pre_norm;          /**< 0 or 1: normalise each branch's input (1) or each residual sum (0) */
  int bias;              /**< 0 or 1: biases on every linear layer */
  int causal;            /**< 0 or 1: token t attends to tokens <= t */
  float attn_dropout;    /**< dropout on the attention weights in training, in [0, 1) */
  float resid_dropout;   /**< dropout on each branch's output before its residual add, in [0, 1) */
  uint64_t dropout_seed; /**< seeds both dropout masks (counter-based: change it every step) */
  size_t window;         /**< 0 or a sliding window, as qkv_mha_desc::window */
  int rope;              /**< 0 or 1: rotary embedding on Q and K, as qkv_mha_desc::rope */
  qkv_rope_layout rope_layout; /**< with rope: as qkv_mha_desc::rope_layout */
  size_t rope_dim;       /**< with rope: as qkv_mha_desc::rope_dim */
  float rope_theta;      /**< with rope: as qkv_mha_desc::rope_theta */
  /* since 0.7 */
  float softcap;         /**< 0: off; else the attention's logit soft-capping, as qkv_mha_desc::softcap
                              (finite and > 0; else QKV_ERR_BAD_ARGUMENT) */
  /* since 0.9 */
  qkv_dtype compute_type; /**< QKV_DTYPE_F32 (0, a zeroed description's) or QKV_DTYPE_BF16
                               (else QKV_ERR_BAD_ARGUMENT): the type every GEMM of the block
                               multiplies in. BF16 is the attention layer's mixed precision
                               (qkv_mha_desc::compute_type) carried through the block: each
                               call rounds the weights (W_q .. W_v, W_o, W_gate, W_up, W_down,
                               from the fp32 params) and each GEMM's activation operands (the
                               norms' outputs, the attention output, the hidden activations,
                               and in the backward the branch gradients) to bf16, round to
                               nearest even, and multiplies them with fp32 accumulation into
                               fp32 results. Norms, activations, residual sums, dropout,
                               softmax statistics, biases and every gradient stay fp32. The
                               training cache (and the forward's workspace) grows by the bf16
                               copies; X, Y, dY, dX and the params keep their float types.
                               Error: 2^-8 relative per rounded operand, about 2^-7 of
                               sum_k |a||b| per GEMM (docs/block.md). */
} qkv_block_desc;

/** Offsets (in floats) of each parameter tensor in the flat buffer;
 *  SIZE_MAX for tensors the description does not have. */
typedef struct qkv_block_layout {
  /** @{ */
  size_t norm1_g, norm1_b, w_q, w_k, w_v, b_q, b_k, b_v, w_o, b_o, norm2_g, norm2_b; /**< offset of the tensor of that name */
  size_t w_gate, b_gate, w_up, b_up, w_down, b_down; /**< offset of the tensor of that name */
  /** @} */
  size_t count; /**< total floats */
} qkv_block_layout;

QKV_EXTERN_C_BEGIN

/** Checks a description.
 *  @param[in] desc  the block.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (a zero size, num_kv_heads not
 *  dividing num_heads, d_model not divisible by num_heads; with rope, a rope_dim the
 *  attention layer refuses); QKV_ERR_BAD_ARGUMENT (flags not 0/1, norm or ffn outside
 *  their enums, norm_eps negative or not finite, a dropout outside [0, 1) or NaN; with
 *  rope, rope_layout or rope_theta as qkv_mha_validate(); softcap negative, NaN or
 *  infinite); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_block_validate(const qkv_block_desc* desc);

/** The attention layer inside the block: d_in = d_out = d_model, the block's heads,
 *  causal, window, RoPE, attn_dropout and dropout_seed, qkv_bias = bias, out_proj = 0
 *  (the block owns W_o). Its parameters are the block's from offset w_q on.
 *  @param[in]  desc  the block.
 *  @param[out] attn  written on success.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER (attn NULL), or the statuses of qkv_block_validate(). */
QKV_API qkv_status qkv_block_attention_desc(const qkv_block_desc* desc, qkv_mha_desc* attn);

/** @param[in]  desc    the block.
 *  @param[out] layout  offsets of every parameter tensor (the file comment's order).
 *  @return QKV_OK, QKV_ERR_NULL_POINTER (layout NULL), or the statuses of qkv_block_validate(). */
QKV_API qkv_status qkv_block_param_layout(const qkv_block_desc* desc, qkv_block_layout* layout);

/** @param[in]  desc   the block.
 *  @param[out] count  floats in the parameter (and gradient) buffer.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER (count NULL), or the statuses of qkv_block_validate(). */
QKV_API qkv_status qkv_block_param_count(const qkv_block_desc* desc, size_t* count);

/** Initializes the parameters like PyTorch's defaults: every linear layer as
 *  nn.Linear (weight and bias uniform in +-1/sqrt(fan_in)), gamma = 1,
 *  beta = 0, from a counter-based generator (the same seed gives the same bits
 *  everywhere). GPT-2's N(0, 0.02) initialisation is one loop over the layout.
 *  @param[in]  desc    the block.
 *  @param[out] params  qkv_block_param_count() floats.
 *  @param[in]  seed    any value.
 *  @return QKV_OK, the statuses of qkv_block_validate(), then QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_block_init(const qkv_block_desc* desc, float* params, uint64_t seed);

/** Bytes of the training cache of a forward over @p batch x @p seq_len tokens.
 *  @param[in]  desc            the block.
 *  @param[in]  batch, seq_len  each >= 1.
 *  @param[out] bytes           written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); the statuses of
 *  qkv_block_validate(); QKV_ERR_BAD_SHAPE (batch or seq_len 0); QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_block_cache_size(const qkv_block_desc* desc, size_t batch, size_t seq_len, size_t* bytes);

/** Scratch bytes for qkv_block_forward() (training or not) with up to @p threads threads.
 *  @param[in]  desc            the block.
 *  @param[in]  batch, seq_len  each >= 1.
 *  @param[in]  threads         >= 1.
 *  @param[out] bytes           written on success.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (bytes NULL); QKV_ERR_BAD_ARGUMENT (threads < 1);
 *  the statuses of qkv_block_validate(); QKV_ERR_BAD_SHAPE (batch or seq_len 0);
 *  QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_block_forward_workspace_size(const qkv_block_desc* desc, size_t batch, size_t seq_len,
                                                    int threads, size_t* bytes);

/** Forward: Y = block(X).
 *  @param[in]  desc      the block.
 *  @param[in]  params    qkv_block_param_count() floats.
 *  @param[in]  batch     sequences, >= 1.
 *  @param[in]  seq_len   tokens per sequence, >= 1.
 *  @param[in]  x         [batch][seq_len][d_model].
 *  @param[out] y         [batch][seq_len][d_model]; may be x (in place).
 *  @param[in]  training  1: dropout on, and @p cache filled for qkv_block_backward();
 *                        0: inference (@p cache may be NULL).
 *  @param[out] cache     qkv_block_cache_size() bytes when training, 64-byte aligned.
 *  @param[in]  cache_bytes      its size.
 *  @param[in]  workspace        qkv_block_forward_workspace_size() bytes, any alignment.
 *  @param[in]  workspace_bytes  its size.
 *  @return QKV_OK or, nothing written: the statuses of qkv_block_validate(); QKV_ERR_BAD_SHAPE
 *  (batch or seq_len 0); QKV_ERR_SIZE_OVERFLOW; QKV_ERR_BAD_ARGUMENT (training not 0/1, or
 *  a cache not 64-byte aligned); QKV_ERR_NULL_POINTER (params, x, y, or the cache when
 *  training); QKV_ERR_WORKSPACE_TOO_SMALL (cache_bytes short when training); the workspace
 *  statuses (qkv/qkv.h). */
QKV_API qkv_status qkv_block_forward(const qkv_block_desc* desc, const float* params, size_t batch, size_t seq_len,
                                     const float* x, float* y, int training, void* cache, size_t cache_bytes,
                                     void* workspace, size_t workspace_bytes);

/** Scratch bytes for qkv_block_backward().
 *  @param[in]  desc, batch, seq_len, threads  as for qkv_block_forward_workspace_size().
 *  @param[out] bytes  written on success.
 *  @return as qkv_block_forward_workspace_size(). */
QKV_API qkv_status qkv_block_backward_workspace_size(const qkv_block_desc* desc, size_t batch, size_t seq_len,
                                                     int threads, size_t* bytes);

/** Backward of a training forward with the same desc, params, batch, seq_len and x.
 *  @param[in]  desc, params, batch, seq_len, x  as given to the forward (x unchanged since).
 *  @param[in]  cache        the cache the training forward filled.
 *  @param[in]  cache_bytes  its size.
 *  @param[in]  dy      dL/dY, [batch][seq_len][d_model].
 *  @param[out] dx      dL/dX, [batch][seq_len][d_model]: OVERWRITTEN; may be dy (in place)
 *                      or NULL (no input gradient wanted).
 *  @param[in,out] grads  parameter gradients, the params' layout: ACCUMULATED (grads +=).
 *  @param[in]  workspace        qkv_block_backward_workspace_size() bytes, any alignment.
 *  @param[in]  workspace_bytes  its size.
 *  @return QKV_OK or, nothing written: as qkv_block_forward() (training = 1), with dy and
 *  grads in the NULL checks. */
QKV_API qkv_status qkv_block_backward(const qkv_block_desc* desc, const float* params, size_t batch, size_t seq_len,
                                      const float* x, const void* cache, size_t cache_bytes, const float* dy,
                                      float* dx, float* grads, void* workspace, size_t workspace_bytes);

/** qkv_block_forward() for compute_type BF16 with the weights already rounded:
 *  the block (and its attention layer) reads every weight from @p params_bf16
 *  instead of rounding the fp32 params on each call, and the training cache's
 *  copies of them are not written. For bf16 mixed-precision training, where
 *  the optimizer writes the rounded copy while it holds the new values
 *  (qkv_adamw_step_mirror(), qkv/optim.h). Sizes and threading: as
 *  qkv_block_forward().
 *  @param[in]  desc         the block; compute_type must be QKV_DTYPE_BF16.
 *  @param[in]  params       qkv_block_param_count() floats (biases and norms are read from here).
 *  @param[in]  params_bf16  qkv_block_param_count() bf16 bit patterns, params
 *                           rounded to nearest even (qkv_convert() F32 -> BF16,
 *                           or qkv_adamw_step_mirror()), same layout; only the
 *                           weights are read. With exactly that rounding, Y and
 *                           the cache's contents the backward reads are bitwise
 *                           those of qkv_block_forward(); other values are used
 *                           as given. Give the same buffer, unchanged, to
 *                           qkv_block_backward_mirror().
 *  @param[in]  batch, seq_len, x  as qkv_block_forward().
 *  @param[out] y            as qkv_block_forward().
 *  @param[in]  training     as qkv_block_forward().
 *  @param[out] cache        as qkv_block_forward().
 *  @param[in]  cache_bytes  as qkv_block_forward().
 *  @param[in]  workspace    qkv_block_forward_workspace_size() bytes (any alignment).
 *  @param[in]  workspace_bytes  its size.
 *  @return as qkv_block_forward(), then QKV_ERR_NULL_POINTER (params_bf16 NULL)
 *  and QKV_ERR_BAD_ARGUMENT (compute_type not QKV_DTYPE_BF16). */
QKV_API qkv_status qkv_block_forward_mirror(const qkv_block_desc* desc, const float* params,
                                            const uint16_t* params_bf16, size_t batch, size_t seq_len,
                                            const float* x, float* y, int training, void* cache, size_t cache_bytes,
                                            void* workspace, size_t workspace_bytes);

/** qkv_block_backward() of a qkv_block_forward_mirror() training forward,
 *  with the same @p params_bf16 (the weights are read from there, not from
 *  the cache). With params_bf16 the rounded params, dx and grads are bitwise
 *  those of qkv_block_backward().
 *  @param[in]  desc, params, batch, seq_len, x  as given to the forward.
 *  @param[in]  params_bf16  the mirror given to qkv_block_forward_mirror(), unchanged.
 *  @param[in]  cache, cache_bytes  as qkv_block_backward().
 *  @param[in]  dy           as qkv_block_backward().
 *  @param[out] dx           as qkv_block_backward().
 *  @param[in,out] grads     as qkv_block_backward() (ACCUMULATED).
 *  @param[in]  workspace    qkv_block_backward_workspace_size() bytes (any alignment).
 *  @param[in]  workspace_bytes  its size.
 *  @return as qkv_block_backward(), then QKV_ERR_NULL_POINTER (params_bf16 NULL)
 *  and QKV_ERR_BAD_ARGUMENT (compute_type not QKV_DTYPE_BF16). */
QKV_API qkv_status qkv_block_backward_mirror(const qkv_block_desc* desc, const float* params,
                                             const uint16_t* params_bf16, size_t batch, size_t seq_len,
                                             const float* x, const void* cache, size_t cache_bytes, const float* dy,
                                             float* dx, float* grads, void* workspace, size_t workspace_bytes);

/** Bytes of the block's KV cache: qkv_mha_kv_cache_size_ex() of its attention
 *  (qkv_block_attention_desc()). Initialise the state with qkv_mha_kv_cache_init_ex().
 *  @param[in]  desc      the block (causal).
 *  @param[in]  batch, capacity  sequences and tokens per sequence, each >= 1.
 *  @param[in]  format    how K and V are stored.
 *  @param[out] bytes     written on success.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER, the statuses of qkv_block_validate(), and those
 *  of qkv_mha_kv_cache_size_ex(). */
QKV_API qkv_status qkv_block_kv_cache_size(const qkv_block_desc* desc, size_t batch, size_t capacity,
                                           qkv_kv_format format, size_t* bytes);

/** Scratch bytes for qkv_block_decode() of @p n_new tokens.
 *  @param[in]  desc, state, n_new, threads  as for qkv_mha_decode_workspace_size().
 *  @param[out] bytes  written on success.
 *  @return as qkv_mha_decode_workspace_size(), with the block's description checks. */
QKV_API qkv_status qkv_block_decode_workspace_size(const qkv_block_desc* desc, const qkv_mha_kv_state* state,
                                                   size_t n_new, int threads, size_t* bytes);

/** Appends @p n_new tokens per sequence and returns their block outputs, the
 *  attention attending over everything cached (inference: no dropout), as
 *  qkv_mha_decode() does for the layer. Token by token this equals the
 *  inference forward over the whole sequence (to fp32 rounding, fp32 cache).
 *  @param[in]     desc    the block (causal).
 *  @param[in]     params  qkv_block_param_count() floats.
 *  @param[in,out] state, kv_buffer  the cache; the length(s) grow by n_new.
 *  @param[in]     kv_bytes  size of kv_buffer.
 *  @param[in]     n_new   tokens per sequence, >= 1.
 *  @param[in]     x_new   [batch][n_new][d_model].
 *  @param[out]    y_new   [batch][n_new][d_model]; may be x_new.
 *  @param[in]     workspace        qkv_block_decode_workspace_size() bytes, any alignment.
 *  @param[in]     workspace_bytes  its size.
 *  @return QKV_OK or, nothing changed, the statuses of qkv_mha_decode() with the block's
 *  description checks. */
QKV_API qkv_status qkv_block_decode(const qkv_block_desc* desc, const float* params, qkv_mha_kv_state* state,
                                    void* kv_buffer, size_t kv_bytes, size_t n_new, const float* x_new,
                                    float* y_new, void* workspace, size_t workspace_bytes);

QKV_EXTERN_C_END

#endif /* QKV_BLOCK_H */
