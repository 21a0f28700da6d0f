/* SPDX-License-Identifier: MIT */
/** @file qkv/attention.h
 * @brief Scaled dot-product attention (SDPA), forward and backward.
 *
 *   O = softmax(scale * Q K^T + mask) V      per (batch, head)
 *
 * Shapes: Q [batch, heads, q_len, head_dim], K [batch, heads, kv_len, head_dim],
 * V [batch, heads, kv_len, v_dim], O [batch, heads, q_len, v_dim], each
 * described by element strides for batch, head and token; the feature
 * dimension is contiguous. So both [B,T,H,d] (heads interleaved, as a fused
 * QKV projection writes them: token stride H*d, head stride d) and [B,H,T,d]
 * (head stride T*d, token stride d) work without copies. Input head strides
 * may be 0 (K/V shared by all heads) in the forward.
 *
 * Grouped-query attention: K and V have kv_heads heads (kv_heads divides
 * heads; kv_heads = heads is multi-head, 1 multi-query attention), and query
 * head h reads K/V head h / (heads / kv_heads), with no copy. Strides of K,
 * V (and dK, dV) index those kv_heads heads. The backward sums dK and dV
 * over each group in a fixed order (deterministic for any thread count).
 *
 * Which keys a query sees. Sequence b (of batch) has q_b = q_lens[b] queries
 * and k_b = kv_lens[b] keys (q_len and kv_len when those arrays are NULL);
 * the tensors stay [.., q_len, ..] and [.., kv_len, ..], the rest is padding.
 * Query i of sequence b sees key j iff all of
 *   - i < q_b and j < k_b;
 *   - causal:  j <= i + k_b - q_b  (bottom-right alignment, as in decoding);
 *   - window w > 0:  j > i + k_b - q_b - w  (with causal: the last w keys up
 *     to its own position, sliding-window attention);
 *   - mask != NULL: mask(b, h, i, j) != -INFINITY.
 * A query row that sees no key (padding rows i >= q_b among them) outputs
 * zeros and log-sum-exp -INFINITY, and gets zero gradients; keys no query
 * sees (padding keys j >= k_b) get zero dK and dV.
 *
 * Additive mask (bias): when desc->mask is not NULL, element
 *   mask(b, h, i, j) = mask[b * mask_strides.batch + h * mask_strides.head
 *                           + i * mask_strides.token + j]
 * is added to the scaled score scale * q_i . k_j before the softmax (h the
 * query head); any stride may be 0 (broadcast), e.g. a [q_len, kv_len]
 * mask shared by every sequence and head has strides {0, 0, kv_len}.
 * Finite values are a bias (ALiBi, relative positions), part of the row's
 * log-sum-exp; -INFINITY hides the key; +INFINITY or NaN is non-finite input
 * (see Numerics). The mask gets no gradient.
 *
 * Example: Llama-style grouped-query attention over a right-padded batch
 * ([B,T,H,d] rows; 32 query heads share 8 K/V heads; a 4096-token window):
 *
 *     size_t lens[2] = {1800, 2048};
 *     qkv_sdpa_desc d = {0};
 *     d.batch = 2; d.heads = 32; d.kv_heads = 8; d.q_len = d.kv_len = 2048;
 *     d.head_dim = 128; d.causal = 1; d.window = 4096;
 *     d.q = d.o = (qkv_sdpa_strides){2048 * 4096, 128, 4096};
 *     d.k = d.v = (qkv_sdpa_strides){2048 * 1024, 128, 1024};
 *     d.q_lens = d.kv_lens = lens;
 *     qkv_sdpa_workspace_size(&d, 1, &bytes);
 *     qkv_sdpa_forward(&d, q, k, v, o, lse, ws, bytes);
 *
 * A [B,1,1,kv_len] padding mask instead: d.mask = pad;
 * d.mask_strides = (qkv_sdpa_strides){kv_len, 0, 0}.
 *
 * Soft-capping (since 0.7): with softcap c > 0, each scaled score
 * s = scale * q_i . k_j is replaced by c * tanh(s / c), which lies in (-c, c),
 * before the additive mask and the -INFINITY masking; so, in order: scale,
 * cap, mask, softmax, dropout. The log-sum-exp is that of the capped scores
 * (plus the mask), and the backward multiplies each score gradient by the
 * cap's derivative 1 - tanh^2(s / c) (recomputed from the scores) before the
 * chain through scale. tanh is the library's own (from its exp): within a
 * few ulp of the exact value (tests/test_sdpa_softcap.cpp measures it), so a
 * capped score differs from c * tanh(s / c) by a few ulp of c at most. Large
 * scores saturate at +-c (never NaN); softcap 0 runs exactly the code and
 * gives exactly the bits of a call without the cap.
 *
 * Dropout on the attention weights (training): weight (b,h,i,j) is kept iff a
 * counter-based hash of (dropout_seed, b, h, i, j) clears p, and kept weights
 * are scaled by 1/(1-p), as in PyTorch. The mask is never stored: the
 * backward pass regenerates it, and it does not depend on the thread count.
 *
 * Numerics: scores are handled with a running maximum, so finite inputs give
 * finite outputs for scores of any magnitude (as long as each scale * q.k is
 * finite in fp32); zero or denormal Q/K give uniform weights. Non-finite
 * input (NaN or +-INFINITY in Q, K, V or dO) of one (batch, head) may make
 * any output of that (batch, head) non-finite (a masked or dropped weight of
 * 0 times NaN is NaN); other (batch, head) pairs are unaffected.
 *
 * Results are bitwise identical for any thread count. Outputs must not alias
 * inputs. Thread-safety: reentrant (each call uses only its own workspace). */
#ifndef QKV_ATTENTION_H
#define QKV_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/dtype.h"
#include "qkv/export.h"
#include "qkv/status.h"

/** Element strides of one 4-D attention tensor; the last dimension is contiguous. */
typedef struct qkv_sdpa_strides {
  size_t batch; /**< elements between consecutive batch entries */
  size_t head;  /**< elements between consecutive heads */
  size_t token; /**< elements between consecutive tokens (>= the feature dimension) */
} qkv_sdpa_strides;

/** Which implementation runs. Both honour the same contract. */
typedef enum qkv_sdpa_algo {
  QKV_SDPA_AUTO = 0,     /**< the library picks (the fused kernel) */
  QKV_SDPA_FUSED = 1,    /**< FlashAttention-2 style streaming kernel, O(tile*d) workspace */
  QKV_SDPA_REFERENCE = 2 /**< materializes the q_len x kv_len scores per (batch, head): the plain path
                            (hosted builds; a bare-metal build has no reference drivers and runs
                            the fused kernel, within the same contract) */
} qkv_sdpa_algo;

/** Plain description of one attention call. Zero-initialize, then fill. */
typedef struct qkv_sdpa_desc {
  size_t batch;    /**< >= 1 */
  size_t heads;    /**< >= 1 */
  size_t q_len;    /**< >= 1 query tokens */
  size_t kv_len;   /**< >= 1 key/value tokens */
  size_t head_dim; /**< >= 1, feature size of Q and K */
  size_t v_dim;    /**< feature size of V and O; 0 means head_dim */
  /** @{ */
  qkv_sdpa_strides q, k, v, o; /**< layouts; gradients use their primal's layout (dQ like Q, dO like O) */
  /** @} */
  float scale;         /**< multiplies Q K^T; 0 means 1/sqrt(head_dim); else finite and > 0 */
  int causal;          /**< 0 or 1 */
  float dropout_p;     /**< in [0, 1); 0 disables dropout */
  uint64_t dropout_seed; /**< seeds the counter-based dropout mask; any value */
  qkv_sdpa_algo algo;    /**< which implementation runs */
  /* since 0.5; zero (NULL) keeps each feature off */
  size_t kv_heads;       /**< heads of K and V: 0 means heads; else a divisor of heads (grouped-query attention) */
  size_t window;         /**< 0: no window; else query i sees only keys j > i + k_b - q_b - window */
  const size_t* kv_lens; /**< NULL, or [batch] keys of each sequence, each <= kv_len (0 allowed) */
  const size_t* q_lens;  /**< NULL, or [batch] queries of each sequence, each <= q_len (0 allowed) */
  const float* mask;     /**< NULL, or the additive mask read through mask_strides (fp32 for every type) */
  qkv_sdpa_strides mask_strides; /**< element strides of mask (batch, query head, query row); all 0 when mask is NULL */
  /* since 0.7 */
  float softcap; /**< logit soft-capping: 0 disables it; else finite and > 0, and each scaled
                      score s = scale * q . k becomes softcap * tanh(s / softcap) before the mask
                      is added (Gemma 2: 50); see "Soft-capping" above */
} qkv_sdpa_desc;

QKV_EXTERN_C_BEGIN

/** Workspace the forward needs when it runs with up to @p threads threads.
 *  A call given less than that for @p threads but enough for fewer threads
 *  runs with fewer threads (same result, bitwise). The fused kernel (fp32)
 *  needs per thread 4 * ceil16((head_dim + v_dim + t + 3) * br) bytes, plus
 *  63 once (to align any pointer), where t = min(128, max(8, kv_len rounded
 *  up to 8)) keys per score tile and br is the widest query tile of the
 *  kernel sets built in (16 on Cortex-M, 64 where AVX-512 is built) and
 *  ceil16 rounds up to a multiple of 16 floats: 1,023 bytes for head_dim 2
 *  and kv_len 6 on Cortex-M, 66,367 bytes at head_dim 64 and kv_len >= 128
 *  with br 64 (hosted builds: or the few-query decode path's share, when
 *  larger). Hosted builds copy fp32 K and V whose rows are strided (token
 *  stride above head_dim or v_dim: a [B, T, H, d] layout) into contiguous
 *  rows, one K/V head at a time, when q_len > 2 * br and kv_len * (head_dim
 *  + v_dim) <= 262,144: per thread 4 * (16 + ceil16(kv_len * head_dim) +
 *  ceil16(kv_len * v_dim)) bytes more (the bits do not change). BF16/F16
 *  tensors add the widened K and V tiles (t *
 *  (head_dim + v_dim) floats) and P pairs (t / 2 * br). The reference needs
 *  one q_len x kv_len float matrix whatever the thread count.
 *  @param[in]  desc     a valid description.
 *  @param[in]  threads  >= 1.
 *  @param[out] bytes    written on success.
 *  @return QKV_OK or the status qkv_sdpa_forward() would return for @p desc;
 *          QKV_ERR_BAD_ARGUMENT for threads < 1. */
QKV_API qkv_status qkv_sdpa_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes);

/** Forward attention.
 *  @param[in]  desc       the shapes, strides, scale, soft-cap, mask, dropout and algorithm.
 *  @param[in]  q, k, v    inputs in the layouts of @p desc.
 *  @param[out] out        O in layout desc->o; fully overwritten.
 *  @param[out] lse        optional (may be NULL): [batch][heads][q_len] contiguous natural-log
 *                         sum-exp of each row's scaled (and capped) scores (plus the mask) over the keys it sees (before
 *                         dropout): what qkv_sdpa_backward() needs.
 *  @param[in]  workspace  scratch of at least qkv_sdpa_workspace_size(desc, 1) bytes, any
 *                         alignment (64 bytes wastes none); the workspace rule of qkv/qkv.h.
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (a zero dimension, kv_heads not
 *          dividing heads, a kv_lens entry above kv_len or a q_lens entry above q_len);
 *          QKV_ERR_BAD_STRIDE (token stride < feature size, or an output layout whose
 *          elements overlap); QKV_ERR_BAD_ARGUMENT (scale, causal, dropout_p, algo or softcap
 *          (negative, NaN or infinite) out of range, or mask NULL with a nonzero mask stride); QKV_ERR_SIZE_OVERFLOW (also the
 *          mask's span);
 *          QKV_ERR_WORKSPACE_TOO_SMALL. Nothing is written on error. */
QKV_API qkv_status qkv_sdpa_forward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v,
                                    float* out, float* lse, void* workspace, size_t workspace_bytes);

/** Workspace the backward needs with up to @p threads threads (same rules as the forward:
 *  the workspace rule of qkv/qkv.h).
 *  @param[in]  desc     a valid description.
 *  @param[in]  threads  >= 1.
 *  @param[out] bytes    written on success.
 *  @return QKV_OK or the status qkv_sdpa_backward() would return for @p desc;
 *          QKV_ERR_BAD_ARGUMENT for threads < 1. */
QKV_API qkv_status qkv_sdpa_backward_workspace_size(const qkv_sdpa_desc* desc, int threads, size_t* bytes);

/** Backward attention: gradients of a loss L with respect to Q, K and V, given
 *  dO = dL/dO and what the forward produced (O and the log-sum-exp).
 *  @param[in]  desc               the description the forward ran with.
 *  @param[in]  q, k, v, out, lse  the forward's inputs, output and lse (same desc).
 *  @param[in]  dout               dL/dO in layout desc->o.
 *  @param[out] dq, dk, dv         overwritten (not accumulated), in the layouts of q, k, v.
 *                                 Their layouts must not overlap (so head stride 0 is refused
 *                                 when there is more than one head).
 *  @param[in]  workspace          scratch of at least qkv_sdpa_backward_workspace_size(desc, 1)
 *                                 bytes, any alignment; the workspace rule of qkv/qkv.h.
 *  @param[in]  workspace_bytes    its size in bytes.
 *  @return the statuses of qkv_sdpa_forward(). Nothing is written on error. */
QKV_API qkv_status qkv_sdpa_backward(const qkv_sdpa_desc* desc, const float* q, const float* k, const float* v,
                                     const float* out, const float* lse, const float* dout, float* dq, float* dk,
                                     float* dv, void* workspace, size_t workspace_bytes);

/** @name Attention on bf16 or fp16 tensors
 *  The _ex entry points take a @p type (QKV_DTYPE_F32, QKV_DTYPE_BF16 or
 *  QKV_DTYPE_F16) for Q, K, V, O and, in the backward, dO, dQ, dK, dV (bit
 *  patterns as in qkv/dtype.h; strides in elements of @p type). lse stays
 *  fp32; QKV_DTYPE_F32 is exactly qkv_sdpa_forward() / qkv_sdpa_backward().
 *  Semantics, statuses and determinism are theirs, plus QKV_ERR_BAD_ARGUMENT
 *  for another @p type.
 *
 *  How it computes: inputs are taken exactly (widening is exact); scores
 *  are summed and the softmax computed in fp32; outputs are rounded once,
 *  to nearest even. The forward multiplies P V in one of two ways:
 *   - BF16 on a CPU with Intel AMX that the OS lets the process use
 *     (head_dim and v_dim multiples of 32; since 0.9; QKV_AMX=0 in the
 *     environment refuses), or whose bf16 dot products outrun its fp32 FMAs
 *     (the avx512_bf16 set on e.g. AMD Zen 4/5; qkv_gemm_ex's choice): the
 *     weights P are rounded to bf16 before they meet V (as FlashAttention's
 *     bf16 kernels do), and bf16 inputs or partial sums below 2^-126 may be
 *     flushed to zero (tdpbf16ps and vdpbf16ps do);
 *   - otherwise (F16, and BF16 elsewhere): K and V tiles are widened to
 *     fp32 and the fp32 kernels run on them.
 *  Error bound of the forward, with O* the exact attention of the stored
 *  inputs and u the unit roundoff of @p type (bf16 2^-8, fp16 2^-11):
 *    |O - O*| <= u |O*| + (u_p + e) sum_j P*_ij |V_jf|
 *  where u_p = 2^-8 when P is rounded to bf16, else 0, and e is the fp32
 *  attention's own error (a few units of 2^-24 times head_dim times the
 *  largest |scale q.k| of the row).
 *  The backward widens Q, K, V, O and dO into fp32 copies in the workspace,
 *  runs the fp32 backward on them and rounds dQ, dK, dV once: its error is
 *  the fp32 backward's plus u of each output, its workspace that of
 *  qkv_sdpa_backward() plus eight fp32 copies of the tensors (each of
 *  batch * heads * len * dim floats). Where the forward multiplies in bf16 on
 *  bf16 dot products (BF16 on such a CPU, the fused algorithm; since 0.9)
 *  the backward does too: it recomputes the forward's scores bit for bit (a
 *  one-hot row's weight is exactly 1) and rounds P and dS to bf16 before
 *  they meet dO, Q and K (2^-8 relative each), so each gradient is within
 *  about 2^-7 of the fp32 backward's, normwise (measured below 2^-8). Where
 *  the forward ran on AMX tiles, the backward is that same bf16 mode with its
 *  products on the same tiles (the recomputed scores are the forward's bits).
 *  @{ */

/** Workspace of qkv_sdpa_forward_ex() with up to @p threads threads.
 *  @param[in]  desc     a valid description.
 *  @param[in]  type     QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16.
 *  @param[in]  threads  >= 1.
 *  @param[out] bytes    written on success.
 *  @return as qkv_sdpa_workspace_size(); QKV_ERR_BAD_ARGUMENT for an unsupported @p type. */
QKV_API qkv_status qkv_sdpa_workspace_size_ex(const qkv_sdpa_desc* desc, qkv_dtype type, int threads, size_t* bytes);

/** qkv_sdpa_forward() on tensors of @p type (see above).
 *  @param[in]  desc       the shapes, strides (in elements of @p type), scale, mask, dropout and algorithm.
 *  @param[in]  type       QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16: Q, K, V and O.
 *  @param[in]  q, k, v    inputs of @p type in the layouts of @p desc.
 *  @param[out] out        O of @p type in layout desc->o; fully overwritten.
 *  @param[out] lse        optional (may be NULL): fp32, as in qkv_sdpa_forward().
 *  @param[in]  workspace  scratch of at least qkv_sdpa_workspace_size_ex(desc, type, 1) bytes, any alignment.
 *  @param[in]  workspace_bytes  its size in bytes.
 *  @return the statuses of qkv_sdpa_forward(); QKV_ERR_BAD_ARGUMENT for an unsupported @p type.
 *          Nothing is written on error. */
QKV_API qkv_status qkv_sdpa_forward_ex(const qkv_sdpa_desc* desc, qkv_dtype type, const void* q, const void* k,
                                       const void* v, void* out, float* lse, void* workspace,
                                       size_t workspace_bytes);

/** Workspace of qkv_sdpa_backward_ex() with up to @p threads threads.
 *  @param[in]  desc     a valid description.
 *  @param[in]  type     QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16.
 *  @param[in]  threads  >= 1.
 *  @param[out] bytes    written on success.
 *  @return as qkv_sdpa_backward_workspace_size(); QKV_ERR_BAD_ARGUMENT for an unsupported @p type. */
QKV_API qkv_status qkv_sdpa_backward_workspace_size_ex(const qkv_sdpa_desc* desc, qkv_dtype type, int threads,
                                                       size_t* bytes);

/** qkv_sdpa_backward() on tensors of @p type (see above).
 *  @param[in]  desc               the description the forward ran with.
 *  @param[in]  type               QKV_DTYPE_F32, QKV_DTYPE_BF16 or QKV_DTYPE_F16: every tensor but lse.
 *  @param[in]  q, k, v, out       the forward's inputs and output, of @p type.
 *  @param[in]  lse                the forward's log-sum-exp, fp32.
 *  @param[in]  dout               dL/dO of @p type in layout desc->o.
 *  @param[out] dq, dk, dv         of @p type, overwritten, in the layouts of q, k, v (not overlapping).
 *  @param[in]  workspace          scratch of at least qkv_sdpa_backward_workspace_size_ex(desc, type, 1)
 *                                 bytes, any alignment.
 *  @param[in]  workspace_bytes    its size in bytes.
 *  @return the statuses of qkv_sdpa_backward(); QKV_ERR_BAD_ARGUMENT for an unsupported @p type.
 *          Nothing is written on error. */
QKV_API qkv_status qkv_sdpa_backward_ex(const qkv_sdpa_desc* desc, qkv_dtype type, const void* q, const void* k,
                                        const void* v, const void* out, const float* lse, const void* dout,
                                        void* dq, void* dk, void* dv, void* workspace, size_t workspace_bytes);
/** @} */

QKV_EXTERN_C_END

#endif /* QKV_ATTENTION_H */
