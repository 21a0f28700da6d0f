// SPDX-License-Identifier: MIT
// C boundary: the attention layer's parameters as safetensors views
// (qkv/safetensors.h, "The attention layer's parameters"). The names and
// shapes come from the layer's documented flat layout (qkv_mha_param_layout).
#include <cstdint>

#include "capi/enum_value.hpp"
#include "io/safetensors.hpp"
#include "ops/mha_layer.hpp"
#include "qkv/safetensors.h"

namespace {

using qkv::io::fail;

// The layer's tensors in buffer order: suffix, and where its offset and
// shape come from.
struct param {
  const char* suffix;
  std::size_t qkv_mha_layout::*offset;
  bool square;  // [d_out, d_out] (W_o) rather than [d_in, d_out]
  bool vector;  // [d_out]
};
constexpr param kParams[] = {{"w_q", &qkv_mha_layout::w_q, false, false}, {"w_k", &qkv_mha_layout::w_k, false, false},
                             {"w_v", &qkv_mha_layout::w_v, false, false}, {"b_q", &qkv_mha_layout::b_q, false, true},
                             {"b_k", &qkv_mha_layout::b_k, false, true},  {"b_v", &qkv_mha_layout::b_v, false, true},
                             {"w_o", &qkv_mha_layout::w_o, true, false},  {"b_o", &qkv_mha_layout::b_o, false, true}};
constexpr std::size_t kSuffixBytes = 3;
constexpr std::size_t kMaxPrefix = QKV_SAFETENSORS_MAX_NAME - 1 - kSuffixBytes;

// The name prefix + suffix into dst (the caller checked the prefix length).
void make_name(char* dst, const char* prefix, const char* suffix) {
  std::size_t i = 0;
  for (std::size_t k = 0; prefix[k]; ++k) dst[i++] = prefix[k];
  for (std::size_t k = 0; suffix[k]; ++k) dst[i++] = suffix[k];
  for (; i < QKV_SAFETENSORS_MAX_NAME; ++i) dst[i] = 0;
}

bool is_name(const char* name, const char* prefix, const char* suffix) {
  std::size_t i = 0;
  for (std::size_t k = 0; prefix[k]; ++k, ++i)
    if (name[i] != prefix[k]) return false;
  for (std::size_t k = 0; suffix[k]; ++k, ++i)
    if (name[i] != suffix[k]) return false;
  return name[i] == 0;
}

// Index of the view named prefix+suffix, or count.
std::size_t find(const qkv_tensor_view* views, std::size_t count, const char* prefix, const char* suffix) {
  for (std::size_t i = 0; i < count; ++i)
    if (qkv::io::bounded_strlen(views[i].name, QKV_SAFETENSORS_MAX_NAME) < QKV_SAFETENSORS_MAX_NAME &&
        is_name(views[i].name, prefix, suffix))
      return i;
  return count;
}

// Rank and shape of parameter p (K and V: d_kv columns).
std::size_t shape_of(const param& p, const qkv_mha_desc& d, std::size_t* shape) {
  const bool kv = p.offset == &qkv_mha_layout::w_k || p.offset == &qkv_mha_layout::w_v ||
                  p.offset == &qkv_mha_layout::b_k || p.offset == &qkv_mha_layout::b_v;
  const std::size_t cols = kv ? qkv::ops::mha_kv_width(d) : d.d_out;
  if (p.vector) {
    shape[0] = cols;
    return 1;
  }
  shape[0] = p.square ? d.d_out : d.d_in;
  shape[1] = cols;
  return 2;
}

bool present(const qkv_mha_layout& l, const param& p) { return l.*p.offset != SIZE_MAX; }

bool overlap(const void* a, std::size_t an, const void* b, std::size_t bn) {
  if (!an || !bn) return false;
  const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return x < y ? y - x < an : x - y < bn;
}

}  // namespace

extern "C" {

qkv_status qkv_mha_param_views(const qkv_mha_desc* desc, const float* params, const char* prefix,
                               qkv_tensor_view* views, size_t capacity, size_t* count) {
  qkv_mha_layout l;
  if (qkv_status st = qkv_mha_param_layout(desc, &l); st != QKV_OK) return st;
  if (!count || (capacity && (!params || !views))) return QKV_ERR_NULL_POINTER;
  if (!prefix) prefix = "";
  if (qkv::io::bounded_strlen(prefix, kMaxPrefix + 1) > kMaxPrefix) return QKV_ERR_BAD_ARGUMENT;
  std::size_t n = 0;
  for (const param& p : kParams) n += present(l, p);
  if (views || capacity) {
    if (capacity < n) return QKV_ERR_CAPACITY;
    std::size_t i = 0;
    for (const param& p : kParams) {
      if (!present(l, p)) continue;
      qkv_tensor_view& v = views[i++];
      make_name(v.name, prefix, p.suffix);
      v.dtype = QKV_DTYPE_F32;
      for (std::size_t d = 0; d < QKV_SAFETENSORS_MAX_RANK; ++d) v.shape[d] = 0;
      v.rank = shape_of(p, *desc, v.shape);
      const std::size_t floats = v.rank == 1 ? v.shape[0] : v.shape[0] * v.shape[1];  // fits: the layout checked it
      v.data = params + l.*p.offset;
      v.bytes = floats * sizeof(float);
    }
  }
  *count = n;
  return QKV_OK;
}

qkv_status qkv_mha_param_load(const qkv_mha_desc* desc, const char* prefix, const qkv_tensor_view* views, size_t count,
                              float* params, qkv_safetensors_diag* diag) {
  qkv_mha_layout l;
  if (qkv_status st = qkv_mha_param_layout(desc, &l); st != QKV_OK)
    return fail(diag, st, "the layer description is invalid");
  if (!params || (count && !views)) return fail(diag, QKV_ERR_NULL_POINTER, "a required pointer is NULL");
  if (!prefix) prefix = "";
  if (qkv::io::bounded_strlen(prefix, kMaxPrefix + 1) > kMaxPrefix)
    return fail(diag, QKV_ERR_BAD_ARGUMENT, "prefix too long for a tensor name");
  char name[QKV_SAFETENSORS_MAX_NAME];
  std::size_t at[sizeof kParams / sizeof kParams[0]];
  std::size_t k = 0;
  for (const param& p : kParams) {
    make_name(name, prefix, p.suffix);
    const std::size_t i = find(views, count, prefix, p.suffix);
    at[k++] = i;
    if (!present(l, p)) continue;
    if (i == count) return fail(diag, QKV_ERR_NOT_FOUND, "the file lacks a tensor of this layer", 0, name);
    const qkv_tensor_view& v = views[i];
    if (qkv::capi::enum_value(v.dtype) != QKV_DTYPE_F32)
      return fail(diag, QKV_ERR_BAD_DTYPE, "the tensor is not F32", 0, name);
    std::size_t shape[2];
    const std::size_t rank = shape_of(p, *desc, shape);
    bool same = v.rank == rank;
    for (std::size_t d = 0; same && d < rank; ++d) same = v.shape[d] == shape[d];
    const std::size_t floats = rank == 1 ? shape[0] : shape[0] * shape[1];
    if (!same || v.bytes != floats * sizeof(float))
      return fail(diag, QKV_ERR_BAD_SHAPE, "the tensor's shape differs from this layer's", 0, name);
    if (!v.data) return fail(diag, QKV_ERR_NULL_POINTER, "the tensor's data is NULL", 0, name);
  }
  k = 0;
  for (const param& p : kParams) {
    const std::size_t i = at[k++];
    if (!present(l, p) && i != count) {
      make_name(name, prefix, p.suffix);
      return fail(diag, QKV_ERR_BAD_SHAPE, "the file has a tensor this layer's configuration lacks", 0, name);
    }
  }
  for (std::size_t i : at)
    if (i != count && overlap(params, l.count * sizeof(float), views[i].data, views[i].bytes))
      return fail(diag, QKV_ERR_BAD_ARGUMENT, "params overlaps a tensor's data");
  k = 0;
  for (const param& p : kParams) {
    const std::size_t i = at[k++];
    if (present(l, p))
      qkv::io::load_le_f32(params + l.*p.offset, static_cast<const unsigned char*>(views[i].data),
                           views[i].bytes / sizeof(float));
  }
  return QKV_OK;
}

}  // extern "C"
