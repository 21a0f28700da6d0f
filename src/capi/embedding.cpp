// SPDX-License-Identifier: MIT
// C boundary: token + position embedding.
#include "capi/checked.hpp"
#include "ops/embedding.hpp"
#include "qkv/embedding.h"

namespace {

using qkv::capi::kMaxElems;

// Everything but the ids and the data pointers: shapes, strides and sizes.
// On success *rows = batch * seq_len.
qkv_status check_shapes(const qkv_embedding_desc* d, size_t batch, size_t seq_len, size_t pos_offset,
                        size_t ld, size_t* rows) {
  if (!d) return QKV_ERR_NULL_POINTER;
  if (d->vocab == 0 || d->dim == 0) return QKV_ERR_BAD_SHAPE;
  if (d->max_positions) {
    size_t end;
    if (!qkv::capi::add_ok(pos_offset, seq_len, &end) || end > d->max_positions) return QKV_ERR_BAD_SHAPE;
  }
  if (ld < d->dim) return QKV_ERR_BAD_STRIDE;
  size_t table, r, extent;
  if (!qkv::capi::mul_ok(d->vocab, d->dim, &table) || table > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (!qkv::capi::mul_ok(d->max_positions, d->dim, &table) || table > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  // ids are int32: their count must fit too.
  if (!qkv::capi::mul_ok(batch, seq_len, &r) || r > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (!qkv::capi::matrix_extent(r, d->dim, ld, &extent)) return QKV_ERR_SIZE_OVERFLOW;
  *rows = r;
  return QKV_OK;
}

// First id outside [0, vocab), or QKV_OK.
qkv_status check_ids(const int32_t* ids, size_t rows, size_t vocab, size_t* bad_index) {
  for (size_t r = 0; r < rows; ++r) {
    if (ids[r] < 0 || static_cast<size_t>(ids[r]) >= vocab) {
      if (bad_index) *bad_index = r;
      return QKV_ERR_BAD_TOKEN;
    }
  }
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_embedding_forward(const qkv_embedding_desc* desc, size_t batch, size_t seq_len, size_t pos_offset,
                                 const int32_t* ids, const float* tok, const float* pos, float* out,
                                 size_t ld_out, size_t* bad_index) {
  size_t rows = 0;
  const qkv_status st = check_shapes(desc, batch, seq_len, pos_offset, ld_out, &rows);
  if (st != QKV_OK) return st;
  if (rows == 0) return QKV_OK;
  const bool use_pos = desc->max_positions != 0;
  if (!ids || !tok || !out || (use_pos && !pos)) return QKV_ERR_NULL_POINTER;
  const qkv_status ids_st = check_ids(ids, rows, desc->vocab, bad_index);
  if (ids_st != QKV_OK) return ids_st;
  const qkv::ops::embedding_shape s{rows, seq_len, desc->dim, pos_offset};
  qkv::ops::embedding_forward(qkv::ops::current_exec(), s, ids, tok, use_pos ? pos : nullptr, out, ld_out);
  return QKV_OK;
}

qkv_status qkv_embedding_backward(const qkv_embedding_desc* desc, size_t batch, size_t seq_len,
                                  size_t pos_offset, const int32_t* ids, const float* dout, size_t ld_dout,
                                  float* dtok, float* dpos, size_t* bad_index) {
  size_t rows = 0;
  const qkv_status st = check_shapes(desc, batch, seq_len, pos_offset, ld_dout, &rows);
  if (st != QKV_OK) return st;
  if (rows == 0) return QKV_OK;
  if (!ids || !dout) return QKV_ERR_NULL_POINTER;
  const qkv_status ids_st = check_ids(ids, rows, desc->vocab, bad_index);
  if (ids_st != QKV_OK) return ids_st;
  float* dp = desc->max_positions != 0 ? dpos : nullptr;
  if (!dtok && !dp) return QKV_OK;
  const qkv::ops::embedding_shape s{rows, seq_len, desc->dim, pos_offset};
  qkv::ops::embedding_backward(qkv::ops::current_exec(), s, ids, dout, ld_dout, dtok, dp);
  return QKV_OK;
}

}  // extern "C"
