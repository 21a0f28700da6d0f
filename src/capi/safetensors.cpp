// SPDX-License-Identifier: MIT
// C boundary of qkv/safetensors.h: the caller's pointers, enums, capacities
// and workspace, in each function's documented order; the file's bytes are
// io/safetensors' business.
#include "io/safetensors.hpp"

#include <cstdint>

#include "capi/enum_value.hpp"
#include "capi/workspace.hpp"
#include "qkv/safetensors.h"
#include "util/size_math.hpp"

namespace {

using qkv::io::fail;
using qkv::util::add_ok;
using qkv::util::mul_ok;

bool dtype_ok(const qkv_dtype& d) {  // by reference: a C caller may pass any int
  const long long v = qkv::capi::enum_value(d);
  return v >= 0 && v < QKV_DTYPE_COUNT;
}

// [a, a + an) and [b, b + bn) share a byte.
bool overlap(const void* a, std::size_t an, const void* b, std::size_t bn) {
  if (!an || !bn) return false;
  const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return x < y ? y - x < an : x - y < bn;
}

bool names_equal(const char* a, const char* b) {
  std::size_t i = 0;
  while (a[i] && a[i] == b[i]) ++i;
  return a[i] == b[i];
}

const unsigned char* bytes_of(const void* p) { return static_cast<const unsigned char*>(p); }

// A view the writer may store: name, rank, dtype, size.
qkv_status check_view(const qkv_tensor_view& v) {
  const std::size_t len = qkv::io::bounded_strlen(v.name, QKV_SAFETENSORS_MAX_NAME);
  if (len == QKV_SAFETENSORS_MAX_NAME || !qkv::io::valid_utf8(bytes_of(v.name), len) ||
      names_equal(v.name, "__metadata__") || v.rank > QKV_SAFETENSORS_MAX_RANK)
    return QKV_ERR_BAD_ARGUMENT;
  if (!dtype_ok(v.dtype)) return QKV_ERR_BAD_DTYPE;
  std::size_t want = qkv::io::dtype_size(v.dtype);
  for (std::size_t d = 0; d < v.rank; ++d)
    if (!mul_ok(want, v.shape[d], &want)) return QKV_ERR_SIZE_OVERFLOW;
  return want == v.bytes ? QKV_OK : QKV_ERR_BAD_SHAPE;
}

bool valid_cstr(const char* s, std::size_t* len) {
  std::size_t n = 0;
  while (s[n]) ++n;
  *len = n;
  return qkv::io::valid_utf8(bytes_of(s), n);
}

}  // namespace

extern "C" {

qkv_status qkv_dtype_size(qkv_dtype dtype, size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  if (!dtype_ok(dtype)) return QKV_ERR_BAD_DTYPE;
  *bytes = qkv::io::dtype_size(dtype);
  return QKV_OK;
}

const char* qkv_dtype_name(qkv_dtype dtype) { return dtype_ok(dtype) ? qkv::io::dtype_name(dtype) : "unknown"; }

qkv_status qkv_safetensors_write(const qkv_tensor_view* tensors, size_t count, const qkv_safetensors_meta* meta,
                                 size_t meta_count, void* dst, size_t capacity, size_t* written) {
  if (!written || (count && !tensors) || (meta_count && !meta) || (capacity && !dst)) return QKV_ERR_NULL_POINTER;
  for (std::size_t i = 0; i < count; ++i)
    if (tensors[i].bytes && !tensors[i].data) return QKV_ERR_NULL_POINTER;
  for (std::size_t i = 0; i < meta_count; ++i)
    if (!meta[i].key || !meta[i].value) return QKV_ERR_NULL_POINTER;
  for (std::size_t i = 0; i < count; ++i)
    if (qkv_status st = check_view(tensors[i]); st != QKV_OK) return st;
  for (std::size_t i = 0; i < meta_count; ++i) {
    std::size_t n;
    if (!valid_cstr(meta[i].key, &n) || !valid_cstr(meta[i].value, &n)) return QKV_ERR_BAD_ARGUMENT;
  }
  // Duplicates, pair by pair: the writer takes no workspace, and a caller's
  // list of tensors is short next to the bytes it serializes.
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = i + 1; j < count; ++j)
      if (names_equal(tensors[i].name, tensors[j].name)) return QKV_ERR_BAD_ARGUMENT;
  for (std::size_t i = 0; i < meta_count; ++i)
    for (std::size_t j = i + 1; j < meta_count; ++j)
      if (names_equal(meta[i].key, meta[j].key)) return QKV_ERR_BAD_ARGUMENT;
  std::size_t size;
  if (!qkv::io::st_write_size(tensors, count, meta, meta_count, &size)) return QKV_ERR_SIZE_OVERFLOW;
  if (dst) {
    bool clash =
        overlap(dst, size, tensors, count * sizeof *tensors) || overlap(dst, size, meta, meta_count * sizeof *meta);
    for (std::size_t i = 0; !clash && i < count; ++i) clash = overlap(dst, size, tensors[i].data, tensors[i].bytes);
    for (std::size_t i = 0; !clash && i < meta_count; ++i) {
      std::size_t k, v;
      valid_cstr(meta[i].key, &k);
      valid_cstr(meta[i].value, &v);
      clash = overlap(dst, size, meta[i].key, k + 1) || overlap(dst, size, meta[i].value, v + 1);
    }
    if (clash) return QKV_ERR_BAD_ARGUMENT;
    if (capacity < size) return QKV_ERR_CAPACITY;
    qkv::io::st_write(tensors, count, meta, meta_count, static_cast<unsigned char*>(dst));
  }
  *written = size;
  return QKV_OK;
}

qkv_status qkv_safetensors_read_size(const void* file, size_t file_bytes, size_t* count, size_t* workspace_bytes,
                                     qkv_safetensors_diag* diag) {
  if ((!file && file_bytes) || !count || !workspace_bytes)
    return fail(diag, QKV_ERR_NULL_POINTER, "a required pointer is NULL");
  std::size_t tensors, metas, ws;
  if (qkv_status st = qkv::io::st_scan(bytes_of(file), file_bytes, &tensors, &metas, diag); st != QKV_OK) return st;
  if (!qkv::io::st_workspace_bytes(tensors, metas, &ws))
    return fail(diag, QKV_ERR_SIZE_OVERFLOW, "workspace size overflows size_t");
  *count = tensors;
  *workspace_bytes = ws;
  return QKV_OK;
}

qkv_status qkv_safetensors_read(const void* file, size_t file_bytes, qkv_tensor_view* tensors, size_t capacity,
                                size_t* count, void* workspace, size_t workspace_bytes, qkv_safetensors_diag* diag) {
  if ((!file && file_bytes) || !count) return fail(diag, QKV_ERR_NULL_POINTER, "a required pointer is NULL");
  std::size_t n, metas, need;
  if (qkv_status st = qkv::io::st_scan(bytes_of(file), file_bytes, &n, &metas, diag); st != QKV_OK) return st;
  if (n && !tensors) return fail(diag, QKV_ERR_NULL_POINTER, "tensors is NULL and the file holds tensors");
  if (capacity < n) return fail(diag, QKV_ERR_CAPACITY, "capacity below the file's tensor count");
  if (!qkv::io::st_workspace_bytes(n, metas, &need))
    return fail(diag, QKV_ERR_SIZE_OVERFLOW, "workspace size overflows size_t");
  if (qkv_status st = qkv::capi::check_workspace(workspace, workspace_bytes, need); st != QKV_OK)
    return fail(diag, st, st == QKV_ERR_NULL_POINTER ? "workspace is NULL" : "workspace smaller than the size query");
  if (qkv_status st = qkv::io::st_read(bytes_of(file), file_bytes, n, metas, tensors, workspace, workspace_bytes, diag);
      st != QKV_OK)
    return st;
  *count = n;
  return QKV_OK;
}

qkv_status qkv_safetensors_metadata(const void* file, size_t file_bytes, const char* key, char* value, size_t capacity,
                                    size_t* length, qkv_safetensors_diag* diag) {
  if ((!file && file_bytes) || !key || !length || (capacity && !value))
    return fail(diag, QKV_ERR_NULL_POINTER, "a required pointer is NULL");
  return qkv::io::st_metadata(bytes_of(file), file_bytes, key, value, capacity, length, diag);
}

qkv_status qkv_safetensors_find(const qkv_tensor_view* tensors, size_t count, const char* name, size_t* index) {
  if ((count && !tensors) || !name || !index) return QKV_ERR_NULL_POINTER;
  for (std::size_t i = 0; i < count; ++i)
    if (qkv::io::bounded_strlen(tensors[i].name, QKV_SAFETENSORS_MAX_NAME) < QKV_SAFETENSORS_MAX_NAME &&
        names_equal(tensors[i].name, name)) {
      *index = i;
      return QKV_OK;
    }
  return QKV_ERR_NOT_FOUND;
}

qkv_status qkv_safetensors_copy_f32(const qkv_tensor_view* view, size_t rank, const size_t* shape, float* dst) {
  if (!view || (rank && !shape)) return QKV_ERR_NULL_POINTER;
  if (qkv::capi::enum_value(view->dtype) != QKV_DTYPE_F32) return QKV_ERR_BAD_DTYPE;
  if (view->rank != rank) return QKV_ERR_BAD_SHAPE;
  std::size_t n = 1, bytes;
  for (std::size_t d = 0; d < rank; ++d)
    if (view->shape[d] != shape[d] || !mul_ok(n, shape[d], &n)) return QKV_ERR_BAD_SHAPE;
  if (!mul_ok(n, sizeof(float), &bytes) || bytes != view->bytes) return QKV_ERR_BAD_SHAPE;
  if (bytes && (!dst || !view->data)) return QKV_ERR_NULL_POINTER;
  if (overlap(dst, bytes, view->data, bytes)) return QKV_ERR_BAD_ARGUMENT;
  qkv::io::load_le_f32(dst, bytes_of(view->data), n);
  return QKV_OK;
}

}  // extern "C"
