/* SPDX-License-Identifier: MIT */
/** @file qkv/safetensors.h
 * @brief Checkpoints as safetensors files, over caller buffers.
 *
 * The format (the one PyTorch users load with safetensors.torch.load_file):
 *
 *   [ N: 8 bytes, unsigned little-endian ]
 *   [ header: N bytes of UTF-8 JSON, first byte '{', padded with spaces ]
 *   [ data section: every tensor's elements, little-endian, row-major ]
 *
 *   {"__metadata__": {"key": "value", ...},
 *    "attn.w_q": {"dtype": "F32", "shape": [64, 64], "data_offsets": [0, 16384]}, ...}
 *
 * data_offsets [begin, end) count bytes from the start of the data section.
 * "__metadata__" (optional) maps strings to strings.
 *
 * qkv reads and writes memory, never files: the caller reads the file into a
 * buffer (or maps it) and hands it over, and writes out the buffer the writer
 * fills. Nothing allocates. Every function is reentrant.
 *
 * Reading validates the whole file before anything is written: a truncated,
 * corrupt or hostile file is a status, never an out-of-bounds access. What the
 * reader accepts (every rule is checked, each with its status):
 *  - QKV_ERR_BAD_FORMAT: fewer than 8 bytes; N larger than the bytes that
 *    follow or than QKV_SAFETENSORS_MAX_HEADER; a header that is not JSON
 *    starting with '{' (whitespace around tokens and trailing spaces allowed),
 *    with strings that are not valid UTF-8 or hold raw control characters or
 *    bad escapes (\\uXXXX surrogates must pair); a member that does not fit the
 *    schema: "__metadata__" not an object of strings, given twice, or a tensor
 *    entry without exactly the three fields dtype (a string), shape (an array
 *    of integers) and data_offsets (an array of two integers), or with other
 *    fields; a number with a sign, fraction, exponent or leading zero;
 *    begin > end; end - begin not shape product x dtype size; tensors whose
 *    byte ranges, sorted, do not tile the data section exactly from 0 to its
 *    end (a gap, an overlap or trailing bytes); two tensors with the same name
 *    or two metadata entries with the same key (compared after unescaping);
 *  - QKV_ERR_SIZE_OVERFLOW: a number above SIZE_MAX, or a shape whose byte
 *    size overflows size_t;
 *  - QKV_ERR_BAD_DTYPE: a dtype string that is not a qkv_dtype name;
 *  - QKV_ERR_UNSUPPORTED: a valid file qkv cannot represent: rank above
 *    QKV_SAFETENSORS_MAX_RANK, a tensor name of QKV_SAFETENSORS_MAX_NAME bytes
 *    or more (as UTF-8, unescaped) or holding a NUL character.
 * These are the reference implementation's rules (it also requires the exact
 * tiling), with two stricter ones: unknown fields in a tensor entry and
 * duplicate names, which it would ignore or resolve silently, are errors here.
 *
 * Byte order: the file is little-endian. The writer reads a view's elements in
 * the host's order and stores them little-endian; views returned by the reader
 * point at the file's little-endian bytes (the same thing on every target qkv
 * builds for today), and qkv_safetensors_copy_f32() converts. */
#ifndef QKV_SAFETENSORS_H
#define QKV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/dtype.h"
#include "qkv/export.h"
#include "qkv/layer.h"
#include "qkv/status.h"

/** Largest rank a tensor may have (a file with more is QKV_ERR_UNSUPPORTED). */
#define QKV_SAFETENSORS_MAX_RANK 8
/** Bytes of a tensor name, NUL included: names are at most 255 bytes of UTF-8. */
#define QKV_SAFETENSORS_MAX_NAME 256
/** Largest header the reader accepts and the writer produces (as the reference). */
#define QKV_SAFETENSORS_MAX_HEADER 100000000u

/** One tensor: what the writer stores, what the reader returns. */
typedef struct qkv_tensor_view {
  char name[QKV_SAFETENSORS_MAX_NAME]; /**< NUL-terminated UTF-8, unescaped */
  qkv_dtype dtype;                        /**< element type */
  size_t rank;                            /**< 0 (a scalar) .. QKV_SAFETENSORS_MAX_RANK */
  size_t shape[QKV_SAFETENSORS_MAX_RANK]; /**< shape[0 .. rank) */
  /** The elements, row-major, contiguous, any alignment. Writer: host order.
   *  Reader: the little-endian bytes inside the caller's file buffer. May be
   *  NULL when bytes is 0. */
  const void* data;
  size_t bytes; /**< product(shape) x element size */
} qkv_tensor_view;

/** A "__metadata__" entry for the writer: two NUL-terminated UTF-8 strings. */
typedef struct qkv_safetensors_meta {
  const char* key;   /**< the entry's key */
  const char* value; /**< its value */
} qkv_safetensors_meta;

/** Why a call failed (optional out-parameter of the readers and loaders):
 *  written on every error they return, never on success; the only output a
 *  qkv function writes when it returns an error. */
typedef struct qkv_safetensors_diag {
  size_t offset;    /**< byte offset in the file where the problem is; 0 if none applies */
  const char* what; /**< a static English sentence; never NULL after an error */
  char name[QKV_SAFETENSORS_MAX_NAME]; /**< the tensor concerned, "" when none */
} qkv_safetensors_diag;

QKV_EXTERN_C_BEGIN

/* ---- Writing ------------------------------------------------------------ */

/** Serializes @p count tensors and @p meta_count metadata entries into @p dst.
 *  Tensors are stored in the order given, back to back from offset 0; the
 *  header is compact JSON ("__metadata__" first when there is metadata),
 *  padded with spaces to a multiple of 8 bytes, so the data section starts
 *  8-byte aligned within the file. With the tensors sorted by name and one
 *  dtype, the bytes equal the reference implementation's.
 *  @param[in]  tensors  @p count views; may be NULL when count is 0.
 *  @param[in]  count    tensors to store.
 *  @param[in]  meta     @p meta_count entries; may be NULL when meta_count is 0.
 *  @param[in]  meta_count  metadata entries to store (none: no "__metadata__").
 *  @param[out] dst      @p capacity bytes; NULL with capacity 0 asks for the size.
 *  @param[in]  capacity bytes at @p dst.
 *  @param[out] written  the file's size in bytes (also the size query's answer).
 *  @return QKV_OK; else, in this order: QKV_ERR_NULL_POINTER (written; tensors or meta with a non-zero
 *  count; a view's data with bytes > 0; a meta key or value; dst with capacity
 *  > 0); then per tensor in order QKV_ERR_BAD_ARGUMENT (a name that is not
 *  NUL-terminated within QKV_SAFETENSORS_MAX_NAME, is not valid UTF-8, or is
 *  "__metadata__"; rank above QKV_SAFETENSORS_MAX_RANK), QKV_ERR_BAD_DTYPE
 *  (dtype outside the enum), QKV_ERR_SIZE_OVERFLOW (its byte size), QKV_ERR_BAD_SHAPE
 *  (bytes differs from product(shape) x element size); QKV_ERR_BAD_ARGUMENT
 *  (a meta key or value not valid UTF-8; a duplicate tensor name or meta key);
 *  QKV_ERR_SIZE_OVERFLOW (the file's size, or a header above
 *  QKV_SAFETENSORS_MAX_HEADER); QKV_ERR_BAD_ARGUMENT (dst overlaps an input);
 *  QKV_ERR_CAPACITY (capacity smaller than the file). Nothing is written on error. */
QKV_API qkv_status qkv_safetensors_write(const qkv_tensor_view* tensors, size_t count,
                                         const qkv_safetensors_meta* meta, size_t meta_count, void* dst,
                                         size_t capacity, size_t* written);

/* ---- Reading ------------------------------------------------------------ */

/** First step of reading: checks the header (everything but the rules that
 *  need the workspace: the tiling of the data section and duplicate names)
 *  and says how many tensors the file holds and how much scratch
 *  qkv_safetensors_read() needs.
 *  @param[in]  file       @p file_bytes bytes: the whole file (NULL allowed when
 *                         file_bytes is 0: a file too short, QKV_ERR_BAD_FORMAT).
 *  @param[in]  file_bytes the file's size.
 *  @param[out] count      tensors in the file.
 *  @param[out] workspace_bytes  scratch for qkv_safetensors_read() (0 for a
 *                         file without tensors or metadata).
 *  @param[out] diag       optional (NULL allowed): on a format error, where and why.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (file with
 *  file_bytes > 0, count or workspace_bytes); the
 *  file statuses listed at the top of this header. */
QKV_API qkv_status qkv_safetensors_read_size(const void* file, size_t file_bytes, size_t* count,
                                             size_t* workspace_bytes, qkv_safetensors_diag* diag);

/** Validates the whole file and describes its tensors, sorted by their offset
 *  in the data section (the order they are stored in). Each view's data points
 *  into @p file, which must outlive the views. @p file, @p tensors and
 *  @p workspace must not overlap (not checked).
 *  @param[in]  file       @p file_bytes bytes: the whole file.
 *  @param[in]  file_bytes the file's size.
 *  @param[out] tensors    @p capacity views.
 *  @param[in]  capacity   views at @p tensors.
 *  @param[out] count      tensors written.
 *  @param[in]  workspace  qkv_safetensors_read_size() bytes, any alignment (the
 *                         workspace rule of qkv/qkv.h).
 *  @param[in]  workspace_bytes  bytes at @p workspace.
 *  @param[out] diag       optional (NULL allowed): on an error, where and why.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (file with file_bytes > 0, count); the file statuses of
 *  qkv_safetensors_read_size(); QKV_ERR_NULL_POINTER (tensors, when the file
 *  has tensors); QKV_ERR_CAPACITY (capacity below the file's tensor count);
 *  the workspace rule's statuses; then the rules needing the workspace
 *  (QKV_ERR_BAD_FORMAT). Nothing but @p diag is written on error. */
QKV_API qkv_status qkv_safetensors_read(const void* file, size_t file_bytes, qkv_tensor_view* tensors,
                                        size_t capacity, size_t* count, void* workspace, size_t workspace_bytes,
                                        qkv_safetensors_diag* diag);

/** Looks up "__metadata__"[@p key] and copies the value, unescaped and
 *  NUL-terminated, into @p value. Checks the header as qkv_safetensors_read_size() does.
 *  @param[in]  file      @p file_bytes bytes: the whole file.
 *  @param[in]  file_bytes the file's size.
 *  @param[in]  key       NUL-terminated UTF-8.
 *  @param[out] value     @p capacity bytes; NULL with capacity 0 asks for the length.
 *  @param[in]  capacity  bytes at @p value.
 *  @param[out] length    the value's length in bytes, NUL not counted (it may
 *                        hold NUL characters of its own, from "\\u0000").
 *  @param[out] diag      optional (NULL allowed): on an error, where and why.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (file with file_bytes > 0, key, length; value with capacity
 *  > 0); the file statuses; QKV_ERR_NOT_FOUND (no such key);
 *  QKV_ERR_BAD_FORMAT (the key given twice); QKV_ERR_CAPACITY (capacity below
 *  length + 1). */
QKV_API qkv_status qkv_safetensors_metadata(const void* file, size_t file_bytes, const char* key, char* value,
                                            size_t capacity, size_t* length, qkv_safetensors_diag* diag);

/** Finds a view by name.
 *  @param[in]  tensors  @p count views (as qkv_safetensors_read() returns them).
 *  @param[in]  count    views at @p tensors.
 *  @param[in]  name     NUL-terminated.
 *  @param[out] index  the position of the view named @p name in @p tensors.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (tensors with count > 0, name, index);
 *  QKV_ERR_NOT_FOUND. */
QKV_API qkv_status qkv_safetensors_find(const qkv_tensor_view* tensors, size_t count, const char* name,
                                        size_t* index);

/** Copies an F32 tensor of the expected shape into @p dst (host order).
 *  @param[in]  view   a tensor (as qkv_safetensors_read() returns it).
 *  @param[in]  rank   the rank it must have.
 *  @param[in]  shape  @p rank sizes the tensor must have (NULL allowed for rank 0).
 *  @param[out] dst    product(shape) floats (NULL allowed when that is 0).
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (view; shape with rank > 0; dst or the
 *  view's data when there are bytes to copy); QKV_ERR_BAD_DTYPE (not F32);
 *  QKV_ERR_BAD_SHAPE (another rank or shape, or bytes inconsistent with it);
 *  QKV_ERR_BAD_ARGUMENT (dst overlaps the view's data). */
QKV_API qkv_status qkv_safetensors_copy_f32(const qkv_tensor_view* view, size_t rank, const size_t* shape,
                                            float* dst);

/* ---- The attention layer's parameters ----------------------------------
 *
 * Names and shapes, each a view into the flat parameter buffer (qkv/layer.h),
 * in the buffer's order; <p> is the caller's prefix (e.g. "attn."):
 *   <p>w_q [d_in, d_out], <p>w_k [d_in, d_out], <p>w_v [d_in, d_out],
 *   <p>b_q [d_out], <p>b_k [d_out], <p>b_v [d_out]      (only if qkv_bias)
 *   <p>w_o [d_out, d_out], <p>b_o [d_out]               (only if out_proj)
 * Weights are qkv's x*W layout: for PyTorch's nn.Linear, weight = w.T
 * (W_query.weight = file["attn.w_q"].T). */

/** Views of the layer's parameter tensors for qkv_safetensors_write().
 *  @param[in]  desc    the layer.
 *  @param[in]  params  qkv_mha_param_count() floats; must outlive the views.
 *  @param[in]  prefix  NUL-terminated, prepended to every name; NULL means "".
 *  @param[out] views   @p capacity views; NULL with capacity 0 asks for the count.
 *  @param[in]  capacity  views at @p views.
 *  @param[out] count   tensors of this layer (3, 6, 5 or 8).
 *  @return QKV_OK; the statuses of qkv_mha_validate(); QKV_ERR_NULL_POINTER (count;
 *  params or views when capacity > 0); QKV_ERR_BAD_ARGUMENT (prefix longer
 *  than QKV_SAFETENSORS_MAX_NAME - 4 bytes: a name would not fit);
 *  QKV_ERR_CAPACITY. */
QKV_API qkv_status qkv_mha_param_views(const qkv_mha_desc* desc, const float* params, const char* prefix,
                                       qkv_tensor_view* views, size_t capacity, size_t* count);

/** Loads the layer's parameters from views returned by qkv_safetensors_read().
 *  Other views are ignored (the file may hold a whole model), except one named
 *  as a parameter this description lacks (say <p>b_q for a layer without
 *  biases): that file holds another configuration.
 *  @param[in]  desc    the layer.
 *  @param[in]  prefix  NUL-terminated, before every name; NULL means "".
 *  @param[in]  views   @p count views; NULL allowed when count is 0.
 *  @param[in]  count   views at @p views.
 *  @param[out] params  qkv_mha_param_count() floats; written only when every
 *                      tensor matches.
 *  @param[out] diag    optional: which tensor did not match, and why.
 *  @return QKV_OK; the statuses of qkv_mha_validate(); QKV_ERR_NULL_POINTER
 *  (params; views with count > 0); QKV_ERR_BAD_ARGUMENT (prefix too long);
 *  then, for the first tensor in the order above that does not match:
 *  QKV_ERR_NOT_FOUND (missing), QKV_ERR_BAD_DTYPE (not F32), QKV_ERR_BAD_SHAPE
 *  (another shape), QKV_ERR_NULL_POINTER (its data NULL); then
 *  QKV_ERR_BAD_SHAPE for a parameter the description lacks;
 *  QKV_ERR_BAD_ARGUMENT (params overlaps a tensor's data). */
QKV_API qkv_status qkv_mha_param_load(const qkv_mha_desc* desc, const char* prefix, const qkv_tensor_view* views,
                                      size_t count, float* params, qkv_safetensors_diag* diag);

QKV_EXTERN_C_END

#endif /* QKV_SAFETENSORS_H */
