/* SPDX-License-Identifier: MIT */
/** @file qkv/embedding.h
 * @brief Token embedding lookup plus learned positional embedding
 * (GPT-2's wte + wpe), forward and backward.
 *
 *   out[b][t][:] = tok[ids[b][t]][:] + pos[pos_offset + t][:]
 *
 * Tables are contiguous row-major: tok [vocab][dim], pos [max_positions][dim].
 * ids are [batch][seq_len] contiguous int32. The output (and, in the
 * backward, its gradient) is [batch][seq_len][dim] with a leading dimension:
 * row r = b * seq_len + t starts at r * ld. pos_offset is the position of
 * the first token, so that decoding with a KV cache embeds token t of a
 * sequence with the same position row as a full forward did.
 *
 * Validation happens before anything is written: an id outside [0, vocab)
 * returns QKV_ERR_BAD_TOKEN and reports the index b * seq_len + t of the
 * first bad id through the optional bad_index; pos_offset + seq_len >
 * max_positions returns QKV_ERR_BAD_SHAPE.
 *
 * The backward accumulates (+=) into dtok and dpos, as training loops with
 * gradient accumulation need; clear them with qkv_zero() (qkv/init.h) before
 * the first accumulation. The scatter-add is deterministic: each gradient row
 * receives its contributions in token order (b, then t), without atomics, so
 * the result is bitwise identical for any thread count. Thread-safety: reentrant. */
#ifndef QKV_EMBEDDING_H
#define QKV_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/status.h"

/** Shape of the embedding tables. */
typedef struct qkv_embedding_desc {
  size_t vocab;         /**< rows of the token table, >= 1 */
  size_t dim;           /**< embedding width, >= 1 */
  size_t max_positions; /**< rows of the position table; 0: no positional embedding (pos unused) */
} qkv_embedding_desc;

QKV_EXTERN_C_BEGIN

/** Embeds batch x seq_len token ids.
 *  @param[in]  desc        table shapes.
 *  @param[in]  batch       number of sequences.
 *  @param[in]  seq_len     tokens per sequence; batch * seq_len == 0 is a no-op (after the
 *                          shape checks) and then ids, tables and out may be NULL.
 *  @param[in]  pos_offset  position of the first token (0 for a full sequence).
 *  @param[in]  ids         batch * seq_len ids, each in [0, vocab).
 *  @param[in]  tok         token table [vocab][dim].
 *  @param[in]  pos         position table [max_positions][dim]; ignored (may be NULL)
 *                          when max_positions == 0.
 *  @param[out] out         batch * seq_len rows of dim floats, leading dimension ld_out;
 *                          must not overlap the tables.
 *  @param[in]  ld_out      >= dim.
 *  @param[out] bad_index   optional (may be NULL): written only when QKV_ERR_BAD_TOKEN is
 *                          returned, with the flat index of the first bad id.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_SHAPE (vocab or dim 0, or
 *          pos_offset + seq_len > max_positions); QKV_ERR_BAD_STRIDE (ld_out < dim);
 *          QKV_ERR_SIZE_OVERFLOW; QKV_ERR_BAD_TOKEN. */
QKV_API qkv_status qkv_embedding_forward(const qkv_embedding_desc* desc, size_t batch, size_t seq_len,
                                         size_t pos_offset, const int32_t* ids, const float* tok,
                                         const float* pos, float* out, size_t ld_out, size_t* bad_index);

/** Accumulates the gradients of the tables from the output gradient:
 *    dtok[ids[b][t]][:]      += dout[b][t][:]   for every (b, t), in that order,
 *    dpos[pos_offset + t][:] += dout[b][t][:]   for every (b, t), in that order.
 *  @param[in]     desc, batch, seq_len, pos_offset, ids, bad_index  as in the forward.
 *  @param[in]     dout      gradient of the output, batch * seq_len rows, leading dimension ld_dout.
 *  @param[in]     ld_dout   >= dim.
 *  @param[in,out] dtok      [vocab][dim], accumulated; NULL skips the token-table gradient.
 *  @param[in,out] dpos      [max_positions][dim], accumulated; NULL skips the position-table
 *                           gradient (ignored when max_positions == 0).
 *  dtok and dpos must not overlap each other or dout.
 *  @return as the forward (QKV_ERR_BAD_STRIDE for ld_dout < dim). */
QKV_API qkv_status qkv_embedding_backward(const qkv_embedding_desc* desc, size_t batch, size_t seq_len,
                                          size_t pos_offset, const int32_t* ids, const float* dout,
                                          size_t ld_dout, float* dtok, float* dpos, size_t* bad_index);

QKV_EXTERN_C_END

#endif /* QKV_EMBEDDING_H */
