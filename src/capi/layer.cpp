// SPDX-License-Identifier: MIT
// C boundary of the attention layer: validation, parameter layout, size
// queries. The computation is in src/ops/mha_layer.cpp.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/kv_state.hpp"
#include "capi/report.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/mha_layer.hpp"
#include "ops/optim_init.hpp"
#include "ops/threads.hpp"
#include "qkv/dtype.h"
#include "qkv/layer.h"
#include "util/copy.hpp"

namespace {

using qkv::capi::add_ok;
using qkv::capi::mul_ok;
constexpr std::size_t kAbsent = SIZE_MAX;

qkv_status validate(const qkv_mha_desc* d) {
  if (!d) return QKV_ERR_NULL_POINTER;
  if (d->d_in == 0 || d->d_out == 0 || d->num_heads == 0 || d->d_out % d->num_heads != 0 ||
      (d->num_kv_heads != 0 && d->num_heads % d->num_kv_heads != 0))
    return QKV_ERR_BAD_SHAPE;
  const std::size_t d_head = d->d_out / d->num_heads;
  if (d->rope == 1 && (d->rope_dim % 2 != 0 || d->rope_dim > d_head || (d->rope_dim == 0 && d_head % 2 != 0)))
    return QKV_ERR_BAD_SHAPE;
  for (int flag : {d->causal, d->qkv_bias, d->out_proj, d->rope})
    if (flag != 0 && flag != 1) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->dropout_p >= 0.f && d->dropout_p < 1.f)) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->softcap >= 0.f && d->softcap <= FLT_MAX)) return QKV_ERR_BAD_ARGUMENT;  // 0 (off), or finite > 0
  const long long ct = qkv::capi::enum_value(d->compute_type);
  if (ct != QKV_DTYPE_F32 && ct != QKV_DTYPE_BF16) return QKV_ERR_BAD_ARGUMENT;
  if (d->rope) {
    const long long layout = qkv::capi::enum_value(d->rope_layout);
    if ((layout != QKV_ROPE_HALF && layout != QKV_ROPE_INTERLEAVED) ||
        !(d->rope_theta >= 0.f && std::isfinite(d->rope_theta)))
      return QKV_ERR_BAD_ARGUMENT;
  }
  return QKV_OK;
}

// Packed weights are BF16 or I8 (read as the enum's bits, as formats are).
bool wtype_ok(const qkv_dtype& t) {
  const long long v = qkv::capi::enum_value(t);
  return v == QKV_DTYPE_BF16 || v == QKV_DTYPE_I8;
}

// The packed buffer's checks, in the documented order (after the pointer's
// NULL check): 64-byte alignment, then the header against the layer.
qkv_status check_packed(const qkv_mha_desc& d, const void* packed, std::size_t packed_bytes, qkv_dtype* wtype) {
  if (reinterpret_cast<std::uintptr_t>(packed) % 64 != 0) return QKV_ERR_BAD_ARGUMENT;
  if (packed_bytes < qkv::ops::kMhaPackedHeader) return QKV_ERR_BAD_FORMAT;
  std::uint32_t h32[4];
  std::uint64_t h64[4];
  qkv::util::copy_bytes(h32, packed, sizeof h32);
  qkv::util::copy_bytes(h64, static_cast<const char*>(packed) + sizeof h32, sizeof h64);
  const std::uint32_t flags = (d.qkv_bias ? 1u : 0u) | (d.out_proj ? 2u : 0u);
  if (h32[0] != QKV_MHA_PACKED_MAGIC || h32[1] != QKV_MHA_PACKED_VERSION ||
      (h32[2] != QKV_DTYPE_BF16 && h32[2] != QKV_DTYPE_I8) || h32[3] != flags || h64[0] != d.d_in ||
      h64[1] != d.d_out || h64[3] != qkv::ops::mha_kv_width(d))
    return QKV_ERR_BAD_FORMAT;
  const qkv_dtype t = static_cast<qkv_dtype>(h32[2]);
  const std::size_t need = qkv::ops::mha_packed_layout_for(d, t).bytes;
  if (h64[2] != need || packed_bytes < need) return QKV_ERR_BAD_FORMAT;
  *wtype = t;
  return QKV_OK;
}

using qkv::capi::kv_format_fits;
using qkv::capi::kv_format_ok;
using qkv::capi::kv_longest_fits;

qkv_status layout(const qkv_mha_desc* d, qkv_mha_layout* p) {
  if (qkv_status st = validate(d); st != QKV_OK) return st;
  std::size_t w, wkv, off = 0;
  const std::size_t d_kv = qkv::ops::mha_kv_width(*d);  // <= d_out
  if (!mul_ok(d->d_in, d->d_out, &w)) return QKV_ERR_SIZE_OVERFLOW;
  wkv = d->d_in * d_kv;
  qkv_mha_layout l{kAbsent, kAbsent, kAbsent, kAbsent, kAbsent, kAbsent, kAbsent, kAbsent, 0};
  auto place = [&](std::size_t* field, std::size_t n) {
    *field = off;
    return add_ok(off, n, &off);
  };
  bool ok = place(&l.w_q, w) && place(&l.w_k, wkv) && place(&l.w_v, wkv);
  if (ok && d->qkv_bias) ok = place(&l.b_q, d->d_out) && place(&l.b_k, d_kv) && place(&l.b_v, d_kv);
  if (ok && d->out_proj) {
    std::size_t wo;
    ok = mul_ok(d->d_out, d->d_out, &wo) && place(&l.w_o, wo) && place(&l.b_o, d->d_out);
  }
  if (!ok || off > qkv::capi::kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  l.count = off;
  *p = l;
  return QKV_OK;
}

// Checks batch/seq and that every activation buffer's size fits.
qkv_status dims(const qkv_mha_desc* d, std::size_t batch, std::size_t seq, qkv::ops::mha_dims* n) {
  if (batch == 0 || seq == 0) return QKV_ERR_BAD_SHAPE;
  std::size_t rows, e;
  if (!mul_ok(batch, seq, &rows) || !mul_ok(rows, d->d_out, &e) || !mul_ok(e, 8, &e) ||
      !mul_ok(rows, d->d_in, &e) || !mul_ok(rows, d->num_heads, &e) || e > qkv::capi::kMaxElems)
    return QKV_ERR_SIZE_OVERFLOW;
  *n = qkv::ops::mha_dims_for(*d, batch, seq);
  return QKV_OK;
}

qkv_status layer_setup(const qkv_mha_desc* d, std::size_t batch, std::size_t seq, qkv_mha_layout* p,
                       qkv::ops::mha_dims* n) {
  if (qkv_status st = layout(d, p); st != QKV_OK) return st;
  return dims(d, batch, seq, n);
}

int threads_or_error(int threads) { return threads >= 1 ? threads : 0; }

// The forward (wtype null: the fp32 params), packed forward and backward
// workspace queries: one order of checks, BAD_DTYPE after the description's.
qkv_status workspace_query(const qkv_mha_desc* d, const qkv_dtype* wtype, std::size_t batch, std::size_t seq,
                           int threads, std::size_t* bytes, bool backward) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  if (!threads_or_error(threads)) return QKV_ERR_BAD_ARGUMENT;
  qkv_mha_layout l;
  if (qkv_status st = layout(d, &l); st != QKV_OK) return st;
  if (wtype && !wtype_ok(*wtype)) return QKV_ERR_BAD_DTYPE;
  qkv::ops::mha_dims n;
  if (qkv_status st = dims(d, batch, seq, &n); st != QKV_OK) return st;
  const qkv_isa isa = qkv::dispatch::active();
  *bytes = backward ? qkv::ops::mha_backward_workspace_bytes(isa, *d, n, threads)
                    : qkv::ops::mha_forward_workspace_bytes(isa, *d, wtype ? *wtype : QKV_DTYPE_F32, n, threads);
  return QKV_OK;
}

}  // namespace

namespace {
// "mha_forward,avx512,fused attention,B4 T256 d_in768 d_out768 H12 causal,threads 2".
void report_layer(const qkv::capi::report_clock& clock, const char* routine, const qkv::ops::exec& x,
                  const qkv_mha_desc& d, size_t batch, size_t tokens) {
  qkv::capi::report(clock.microseconds(), "%s,%s,fused attention,B%zu T%zu d_in%zu d_out%zu H%zu/%zu%s window %zu,threads %d%s",
                    routine, qkv_isa_name(x.isa), batch, tokens, d.d_in, d.d_out, d.num_heads,
                    d.num_kv_heads ? d.num_kv_heads : d.num_heads, d.causal ? " causal" : "", d.window, x.threads,
                    x.pool.parallel_for ? " (executor)" : "");
}

// qkv_mha_forward (params) and qkv_mha_forward_packed (packed, never
// training): one order of checks, the packed buffer's after the NULL
// pointers.
// qkv_mha_forward_mirror passes the mirror (checked after the NULL pointers).
qkv_status forward_call(const qkv_mha_desc* desc, const float* params, const void* packed, std::size_t packed_bytes,
                        std::size_t batch, std::size_t seq_len, const float* x, float* y, int training, void* cache,
                        std::size_t cache_bytes, void* workspace, std::size_t workspace_bytes,
                        const uint16_t* mirror = nullptr, bool with_mirror = false) {
  qkv_mha_layout l;
  qkv::ops::mha_dims n;
  if (qkv_status st = layer_setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  if (training != 0 && training != 1) return QKV_ERR_BAD_ARGUMENT;
  if (!(params || packed) || !x || !y || (training && !cache)) return QKV_ERR_NULL_POINTER;
#ifdef QKV_HOSTED
  if (with_mirror && !mirror) return QKV_ERR_NULL_POINTER;
  if (with_mirror && desc->compute_type != QKV_DTYPE_BF16) return QKV_ERR_BAD_ARGUMENT;
#else
  static_cast<void>(with_mirror);
#endif
  qkv::ops::mha_weights src;  // field by field: a braced init is a memset call on bare metal
  src.wtype = QKV_DTYPE_F32;
  src.params = params;
  src.layout = &l;
  src.packed = packed;
#ifdef QKV_HOSTED
  src.mirror = mirror;
#endif
  if (!params)
    if (qkv_status st = check_packed(*desc, packed, packed_bytes, &src.wtype); st != QKV_OK) return st;
  if (training && cache_bytes < qkv::ops::mha_cache_layout_for(*desc, n).floats * sizeof(float))
    return QKV_ERR_WORKSPACE_TOO_SMALL;
  // Sized for one thread; more threads only need more when the caller asked for them.
  const qkv::ops::exec xc = qkv::ops::current_exec();  // the settings, read once for the call
  const std::size_t need = qkv::ops::mha_forward_workspace_bytes(xc.isa, *desc, src.wtype, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::mha_forward(xc, *desc, n, src, x, y, training != 0, static_cast<float*>(cache), workspace,
                        workspace_bytes);
  if (clock.on())
    report_layer(clock,
                 mirror ? (training ? "mha_forward_mirror (training)" : "mha_forward_mirror")
                 : params ? (training ? "mha_forward (training)" : "mha_forward")
                 : src.wtype == QKV_DTYPE_I8 ? "mha_forward_packed (i8 weights)"
                                             : "mha_forward_packed (bf16 weights)",
                 xc, *desc, batch, seq_len);
  return QKV_OK;
}

// qkv_mha_decode_workspace_size (wtype null: the fp32 params) and
// qkv_mha_decode_packed_workspace_size: the same checks, BAD_DTYPE after the
// description's.
qkv_status decode_workspace_query(const qkv_mha_desc* desc, const qkv_dtype* wtype, const qkv_mha_kv_state* state,
                                  std::size_t n_new, int threads, std::size_t* bytes) {
  if (!bytes || !state) return QKV_ERR_NULL_POINTER;
  if (!threads_or_error(threads)) return QKV_ERR_BAD_ARGUMENT;
  qkv_mha_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  if (wtype && !wtype_ok(*wtype)) return QKV_ERR_BAD_DTYPE;
  qkv::ops::mha_dims n;
  if (qkv_status st = dims(desc, state->batch, state->capacity, &n); st != QKV_OK) return st;
  const qkv_kv_format& format = state->format;
  if (!kv_format_ok(format)) return QKV_ERR_BAD_ARGUMENT;
  if (n_new == 0 || !kv_format_fits(format, n)) return QKV_ERR_BAD_SHAPE;
  std::size_t longest;
  if (!kv_longest_fits(*desc, *state, n_new, &longest)) return QKV_ERR_CAPACITY;
  *bytes = qkv::ops::mha_decode_workspace_bytes(qkv::dispatch::active(), *desc, wtype ? *wtype : QKV_DTYPE_F32,
                                                 format, state->batch, n_new, longest + n_new, threads);
  return QKV_OK;
}

// qkv_mha_decode (params) and qkv_mha_decode_packed (packed): one order of
// checks, the packed buffer's after the NULL pointers.
qkv_status decode_call(const qkv_mha_desc* desc, const float* params, const void* packed, std::size_t packed_bytes,
                       qkv_mha_kv_state* state, void* kv_buffer, std::size_t kv_bytes, std::size_t n_new,
                       const float* x_new, float* y_new, void* workspace, std::size_t workspace_bytes) {
  if (!state) return QKV_ERR_NULL_POINTER;
  qkv_mha_layout l;
  qkv::ops::mha_dims n;
  if (qkv_status st = layer_setup(desc, state->batch, state->capacity, &l, &n); st != QKV_OK) return st;
  const qkv_kv_format& format = state->format;
  if (!desc->causal || !kv_format_ok(format)) return QKV_ERR_BAD_ARGUMENT;
  if (n_new == 0 || !kv_format_fits(format, n)) return QKV_ERR_BAD_SHAPE;
  if (!(params || packed) || !kv_buffer || !x_new || !y_new) return QKV_ERR_NULL_POINTER;
  qkv::ops::mha_weights src;  // field by field, as above
  src.wtype = QKV_DTYPE_F32;
  src.params = params;
  src.layout = &l;
  src.packed = packed;
  if (!params)
    if (qkv_status st = check_packed(*desc, packed, packed_bytes, &src.wtype); st != QKV_OK) return st;
  std::size_t longest;
  if (!kv_longest_fits(*desc, *state, n_new, &longest)) return QKV_ERR_CAPACITY;
  if (kv_bytes < qkv::ops::mha_kv_cache_bytes(format, state->batch, state->capacity, n.d_kv))
    return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();  // the settings, read once for the call
  const std::size_t need = qkv::ops::mha_decode_workspace_bytes(xc.isa, *desc, src.wtype, format, state->batch,
                                                                n_new, longest + n_new, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  if (!qkv::ops::mha_decode(xc, *desc, src, format, state->batch, state->capacity, state->length, state->lengths,
                            n_new, kv_buffer, x_new, y_new, workspace, workspace_bytes))
    return QKV_ERR_NOT_FINITE;
  if (clock.on()) report_layer(clock, params ? "mha_decode" : "mha_decode_packed", xc, *desc, state->batch, n_new);
  qkv::capi::kv_advance(*state, n_new);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_mha_validate(const qkv_mha_desc* desc) {
  qkv_mha_layout l;
  return layout(desc, &l);
}

qkv_status qkv_mha_param_count(const qkv_mha_desc* desc, size_t* count) {
  if (!count) return QKV_ERR_NULL_POINTER;
  qkv_mha_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  *count = l.count;
  return QKV_OK;
}

qkv_status qkv_mha_param_layout(const qkv_mha_desc* desc, qkv_mha_layout* out) {
  if (!out) return QKV_ERR_NULL_POINTER;
  return layout(desc, out);
}

qkv_status qkv_mha_init(const qkv_mha_desc* desc, float* params, uint64_t seed) {
  qkv_mha_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  if (!params) return QKV_ERR_NULL_POINTER;
  // nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. Each
  // tensor gets its own stream (seed + index) so adding a bias does not
  // change the weights.
  const float in_bound = 1.0f / std::sqrt(static_cast<float>(desc->d_in));
  const float out_bound = 1.0f / std::sqrt(static_cast<float>(desc->d_out));
  // Tensor i of the layout's order (W_q, W_k, W_v, b_q, b_k, b_v, W_o, b_o):
  // rows x cols, the K and V tensors d_kv wide, the biases one row.
  const std::size_t d_kv = qkv::ops::mha_kv_width(*desc);
  const std::size_t off[8] = {l.w_q, l.w_k, l.w_v, l.b_q, l.b_k, l.b_v, l.w_o, l.b_o};
  const qkv::ops::exec x = qkv::ops::current_exec();
  for (int i = 0; i < 8; ++i) {
    if (off[i] == kAbsent) continue;
    const std::size_t rows = i < 3 ? desc->d_in : i == 6 ? desc->d_out : 1;
    const std::size_t cols = i % 3 == 0 || i >= 6 ? desc->d_out : d_kv;
    qkv::ops::init_uniform(x, params + off[i], rows * cols, i < 6 ? in_bound : out_bound,
                           seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(i + 1));
  }
  return QKV_OK;
}

qkv_status qkv_linear_weight_from_torch(size_t out_features, size_t in_features, const float* src, float* dst) {
  if (out_features == 0 || in_features == 0) return QKV_ERR_BAD_SHAPE;
  std::size_t n;
  if (!mul_ok(out_features, in_features, &n) || n > qkv::capi::kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (!src || !dst) return QKV_ERR_NULL_POINTER;
  if (dst < src + n && src < dst + n) return QKV_ERR_BAD_ARGUMENT;  // overlap
  for (std::size_t o = 0; o < out_features; ++o)
    for (std::size_t i = 0; i < in_features; ++i) dst[i * out_features + o] = src[o * in_features + i];
  return QKV_OK;
}

qkv_status qkv_mha_cache_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len, size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  qkv_mha_layout l;
  qkv::ops::mha_dims n;
  if (qkv_status st = layer_setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  *bytes = qkv::ops::mha_cache_layout_for(*desc, n).floats * sizeof(float);
  return QKV_OK;
}

qkv_status qkv_mha_forward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len, int threads,
                                          size_t* bytes) {
  return workspace_query(desc, nullptr, batch, seq_len, threads, bytes, false);
}

qkv_status qkv_mha_backward_workspace_size(const qkv_mha_desc* desc, size_t batch, size_t seq_len, int threads,
                                           size_t* bytes) {
  return workspace_query(desc, nullptr, batch, seq_len, threads, bytes, true);
}

qkv_status qkv_mha_forward(const qkv_mha_desc* desc, const float* params, size_t batch, size_t seq_len,
                           const float* x, float* y, int training, void* cache, size_t cache_bytes, void* workspace,
                           size_t workspace_bytes) {
  return forward_call(desc, params, nullptr, 0, batch, seq_len, x, y, training, cache, cache_bytes, workspace,
                      workspace_bytes);
}

#ifdef QKV_HOSTED
qkv_status qkv_mha_forward_mirror(const qkv_mha_desc* desc, const float* params, const uint16_t* params_bf16,
                                  size_t batch, size_t seq_len, const float* x, float* y, int training, void* cache,
                                  size_t cache_bytes, void* workspace, size_t workspace_bytes) {
  return forward_call(desc, params, nullptr, 0, batch, seq_len, x, y, training, cache, cache_bytes, workspace,
                      workspace_bytes, params_bf16, true);
}
#else  // bare metal: no mirrors (the optimizer that writes them is hosted-only; code size)
qkv_status qkv_mha_forward_mirror(const qkv_mha_desc*, const float*, const uint16_t*, size_t, size_t, const float*, float*,
                                  int, void*, size_t, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
#endif

namespace {
// qkv_mha_backward and qkv_mha_backward_mirror (with_mirror): one order of checks.
// Always inlined: on bare metal qkv_mha_backward is its only caller, and a
// call in between costs Cortex-M4's 64 KiB budget bytes it does not have.
[[gnu::always_inline]] inline qkv_status backward_call(const qkv_mha_desc* desc, const float* params,
                                                     const uint16_t* mirror, bool with_mirror, size_t batch,
                                                     size_t seq_len, const float* x, const void* cache,
                                                     size_t cache_bytes, const float* dy, float* dx, float* grads,
                                                     void* workspace, size_t workspace_bytes) {
  qkv_mha_layout l;
  qkv::ops::mha_dims n;
  if (qkv_status st = layer_setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  if (!params || !x || !cache || !dy || !grads) return QKV_ERR_NULL_POINTER;
#ifdef QKV_HOSTED
  if (with_mirror && !mirror) return QKV_ERR_NULL_POINTER;
  if (with_mirror && desc->compute_type != QKV_DTYPE_BF16) return QKV_ERR_BAD_ARGUMENT;
#endif
  if (cache_bytes < qkv::ops::mha_cache_layout_for(*desc, n).floats * sizeof(float)) return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();  // the settings, read once for the call
  const std::size_t need = qkv::ops::mha_backward_workspace_bytes(xc.isa, *desc, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::mha_backward(xc, *desc, l, n, params, x, static_cast<const float*>(cache), dy, dx, grads, workspace,
                         workspace_bytes, mirror);
  if (clock.on()) report_layer(clock, with_mirror ? "mha_backward_mirror" : "mha_backward", xc, *desc, batch, seq_len);
  return QKV_OK;
}
}  // namespace

qkv_status qkv_mha_backward(const qkv_mha_desc* desc, const float* params, size_t batch, size_t seq_len,
                            const float* x, const void* cache, size_t cache_bytes, const float* dy, float* dx,
                            float* grads, void* workspace, size_t workspace_bytes) {
  return backward_call(desc, params, nullptr, false, batch, seq_len, x, cache, cache_bytes, dy, dx, grads, workspace,
                       workspace_bytes);
}

#ifdef QKV_HOSTED
qkv_status qkv_mha_backward_mirror(const qkv_mha_desc* desc, const float* params, const uint16_t* params_bf16,
                                   size_t batch, size_t seq_len, const float* x, const void* cache,
                                   size_t cache_bytes, const float* dy, float* dx, float* grads, void* workspace,
                                   size_t workspace_bytes) {
  return backward_call(desc, params, params_bf16, true, batch, seq_len, x, cache, cache_bytes, dy, dx, grads,
                       workspace, workspace_bytes);
}
#else
qkv_status qkv_mha_backward_mirror(const qkv_mha_desc*, const float*, const uint16_t*, size_t, size_t, const float*,
                                   const void*, size_t, const float*, float*, float*, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
#endif

qkv_status qkv_mha_zero_grads(const qkv_mha_desc* desc, float* grads) {
  qkv_mha_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  if (!grads) return QKV_ERR_NULL_POINTER;
  qkv::util::zero_floats(grads, l.count);
  return QKV_OK;
}

qkv_status qkv_mha_kv_cache_size_ex(const qkv_mha_desc* desc, size_t batch, size_t capacity, qkv_kv_format format,
                                    size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  qkv_mha_layout l;
  qkv::ops::mha_dims n;
  if (qkv_status st = layer_setup(desc, batch, capacity, &l, &n); st != QKV_OK) return st;
  if (!kv_format_ok(format)) return QKV_ERR_BAD_ARGUMENT;
  if (!kv_format_fits(format, n)) return QKV_ERR_BAD_SHAPE;
  // The fp32 size bounds every format's (at most 4 bytes per element).
  std::size_t b;
  if (!mul_ok(n.rows * n.d_kv, 2 * sizeof(float), &b)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = qkv::ops::mha_kv_cache_bytes(format, batch, capacity, n.d_kv);
  return QKV_OK;
}

qkv_status qkv_mha_kv_cache_size(const qkv_mha_desc* desc, size_t batch, size_t capacity, size_t* bytes) {
  return qkv_mha_kv_cache_size_ex(desc, batch, capacity, QKV_KV_F32, bytes);
}

qkv_status qkv_mha_kv_cache_init_ex(qkv_mha_kv_state* state, size_t batch, size_t capacity, qkv_kv_format format) {
  if (!state) return QKV_ERR_NULL_POINTER;
  if (!kv_format_ok(format)) return QKV_ERR_BAD_ARGUMENT;
  if (batch == 0 || capacity == 0) return QKV_ERR_BAD_SHAPE;
  *state = qkv_mha_kv_state{batch, capacity, 0, format, nullptr};
  return QKV_OK;
}

qkv_status qkv_mha_kv_cache_init(qkv_mha_kv_state* state, size_t batch, size_t capacity) {
  return qkv_mha_kv_cache_init_ex(state, batch, capacity, QKV_KV_F32);
}

qkv_status qkv_mha_decode_workspace_size(const qkv_mha_desc* desc, const qkv_mha_kv_state* state, size_t n_new,
                                         int threads, size_t* bytes) {
  return decode_workspace_query(desc, nullptr, state, n_new, threads, bytes);
}

qkv_status qkv_mha_decode(const qkv_mha_desc* desc, const float* params, qkv_mha_kv_state* state, void* kv_buffer,
                          size_t kv_bytes, size_t n_new, const float* x_new, float* y_new, void* workspace,
                          size_t workspace_bytes) {
  return decode_call(desc, params, nullptr, 0, state, kv_buffer, kv_bytes, n_new, x_new, y_new, workspace,
                     workspace_bytes);
}

qkv_status qkv_mha_pack_weights_size(const qkv_mha_desc* desc, qkv_dtype wtype, size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  qkv_mha_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  if (!wtype_ok(wtype)) return QKV_ERR_BAD_DTYPE;
  // The packed bytes are at most 4 per parameter plus the header and 64
  // bytes of padding per piece (12 pieces at most).
  std::size_t b;
  if (!mul_ok(l.count, sizeof(float), &b) || !add_ok(b, 13 * 64, &b)) return QKV_ERR_SIZE_OVERFLOW;
  *bytes = qkv::ops::mha_packed_layout_for(*desc, wtype).bytes;
  return QKV_OK;
}

qkv_status qkv_mha_pack_weights(const qkv_mha_desc* desc, const float* params, qkv_dtype wtype, void* packed,
                                size_t packed_bytes) {
  std::size_t need = 0;
  if (qkv_status st = qkv_mha_pack_weights_size(desc, wtype, &need); st != QKV_OK) return st;
  if (!params || !packed) return QKV_ERR_NULL_POINTER;
  if (reinterpret_cast<std::uintptr_t>(packed) % 64 != 0) return QKV_ERR_BAD_ARGUMENT;
  qkv_mha_layout l;
  (void)layout(desc, &l);
  const auto p0 = reinterpret_cast<std::uintptr_t>(params), p1 = p0 + l.count * sizeof(float);
  const auto q0 = reinterpret_cast<std::uintptr_t>(packed), q1 = q0 + packed_bytes;
  if (p0 < q1 && q0 < p1) return QKV_ERR_BAD_ARGUMENT;  // overlap
  if (packed_bytes < need) return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();
  if (!qkv::ops::mha_pack_weights(xc, *desc, l, params, wtype, packed)) return QKV_ERR_NOT_FINITE;
  return QKV_OK;
}

qkv_status qkv_mha_forward_packed_workspace_size(const qkv_mha_desc* desc, qkv_dtype wtype, size_t batch,
                                                 size_t seq_len, int threads, size_t* bytes) {
  return workspace_query(desc, &wtype, batch, seq_len, threads, bytes, false);
}

qkv_status qkv_mha_forward_packed(const qkv_mha_desc* desc, const void* packed, size_t packed_bytes, size_t batch,
                                  size_t seq_len, const float* x, float* y, void* workspace, size_t workspace_bytes) {
  return forward_call(desc, nullptr, packed, packed_bytes, batch, seq_len, x, y, 0, nullptr, 0, workspace,
                      workspace_bytes);
}

qkv_status qkv_mha_decode_packed_workspace_size(const qkv_mha_desc* desc, qkv_dtype wtype,
                                                const qkv_mha_kv_state* state, size_t n_new, int threads,
                                                size_t* bytes) {
  return decode_workspace_query(desc, &wtype, state, n_new, threads, bytes);
}

qkv_status qkv_mha_decode_packed(const qkv_mha_desc* desc, const void* packed, size_t packed_bytes,
                                 qkv_mha_kv_state* state, void* kv_buffer, size_t kv_bytes, size_t n_new,
                                 const float* x_new, float* y_new, void* workspace, size_t workspace_bytes) {
  return decode_call(desc, nullptr, packed, packed_bytes, state, kv_buffer, kv_bytes, n_new, x_new, y_new, workspace,
                     workspace_bytes);
}

}  // extern "C"
