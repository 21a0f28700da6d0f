// SPDX-License-Identifier: MIT
// C boundary of the decoder block: validation, parameter layout, size
// queries, then src/ops/block.cpp. The block's attention is a qkv_mha_desc
// (qkv_block_attention_desc), checked by the layer's own validation.
// Bare-metal builds have stubs that return QKV_ERR_UNSUPPORTED (the norms
// and activations it needs are hosted-only: the Cortex-M4 .text budget).
#include "qkv/block.h"

#ifdef QKV_HOSTED
#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/kv_state.hpp"
#include "capi/report.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/block.hpp"
#include "ops/optim_init.hpp"
#include "ops/threads.hpp"
#include "qkv/block.h"
#include "util/copy.hpp"

namespace {

using qkv::capi::add_ok;
using qkv::capi::mul_ok;
constexpr std::size_t kAbsent = SIZE_MAX;

qkv_status validate(const qkv_block_desc* d) {
  if (!d) return QKV_ERR_NULL_POINTER;
  if (d->d_model == 0 || d->num_heads == 0 || d->d_ff == 0) return QKV_ERR_BAD_SHAPE;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*d);
  if (qkv_status st = qkv_mha_validate(&a); st != QKV_OK) return st;  // heads, flags, RoPE, attention dropout
  for (int flag : {d->pre_norm, d->bias})
    if (flag != 0 && flag != 1) return QKV_ERR_BAD_ARGUMENT;
  const long long norm = qkv::capi::enum_value(d->norm), ffn = qkv::capi::enum_value(d->ffn);
  if ((norm != QKV_NORM_LAYER && norm != QKV_NORM_RMS) || ffn < QKV_FFN_GELU_TANH || ffn > QKV_FFN_SWIGLU)
    return QKV_ERR_BAD_ARGUMENT;
  if (!(d->norm_eps >= 0.f && std::isfinite(d->norm_eps))) return QKV_ERR_BAD_ARGUMENT;
  if (!(d->resid_dropout >= 0.f && d->resid_dropout < 1.f)) return QKV_ERR_BAD_ARGUMENT;
  return QKV_OK;
}

qkv_status layout(const qkv_block_desc* d, qkv_block_layout* out) {
  if (qkv_status st = validate(d); st != QKV_OK) return st;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*d);
  qkv_mha_layout al;
  if (qkv_status st = qkv_mha_param_layout(&a, &al); st != QKV_OK) return st;
  const std::size_t D = d->d_model, F = d->d_ff;
  const bool ln = d->norm == QKV_NORM_LAYER, b = d->bias != 0, gated = d->ffn == QKV_FFN_SWIGLU;
  qkv_block_layout l;
  std::size_t* all[] = {&l.norm1_g, &l.norm1_b, &l.w_q,    &l.w_k,    &l.w_v,  &l.b_q,  &l.b_k,    &l.b_v,  &l.w_o,
                        &l.b_o,     &l.norm2_g, &l.norm2_b, &l.w_gate, &l.b_gate, &l.w_up, &l.b_up, &l.w_down, &l.b_down};
  for (std::size_t* f : all) *f = kAbsent;
  std::size_t off = 0, dd = 0, df = 0;
  bool ok = mul_ok(D, D, &dd) && mul_ok(D, F, &df);
  auto place = [&](std::size_t* field, std::size_t n, bool present) {
    if (!ok || !present) return;
    *field = off;
    ok = add_ok(off, n, &off);
  };
  place(&l.norm1_g, D, true);
  place(&l.norm1_b, D, ln);
  if (ok) {
    const std::size_t base = off;
    auto rel = [&](std::size_t o) { return o == kAbsent ? kAbsent : base + o; };
    l.w_q = rel(al.w_q), l.w_k = rel(al.w_k), l.w_v = rel(al.w_v);
    l.b_q = rel(al.b_q), l.b_k = rel(al.b_k), l.b_v = rel(al.b_v);
    ok = add_ok(off, al.count, &off);
  }
  place(&l.w_o, dd, true);
  place(&l.b_o, D, b);
  place(&l.norm2_g, D, true);
  place(&l.norm2_b, D, ln);
  place(&l.w_gate, df, gated);
  place(&l.b_gate, F, gated && b);
  place(&l.w_up, df, true);
  place(&l.b_up, F, b);
  place(&l.w_down, df, true);
  place(&l.b_down, D, b);
  if (!ok || off > qkv::capi::kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  l.count = off;
  qkv::util::copy_bytes(out, &l, sizeof l);  // no struct assignment: bare metal would call memcpy
  return QKV_OK;
}

// Checks batch/seq and that every activation buffer's size fits.
qkv_status dims(const qkv_block_desc* d, std::size_t batch, std::size_t seq, qkv::ops::block_dims* n) {
  if (batch == 0 || seq == 0) return QKV_ERR_BAD_SHAPE;
  std::size_t rows, e;
  if (!mul_ok(batch, seq, &rows) || !mul_ok(rows, d->d_model, &e) || !mul_ok(e, 16, &e) ||
      !mul_ok(rows, d->d_ff, &e) || !mul_ok(e, 8, &e) || !mul_ok(rows, d->num_heads, &e) ||
      e > qkv::capi::kMaxElems)
    return QKV_ERR_SIZE_OVERFLOW;
  const qkv::ops::block_dims dims_of_call = qkv::ops::block_dims_for(*d, batch, seq);
  qkv::util::copy_bytes(n, &dims_of_call, sizeof dims_of_call);
  return QKV_OK;
}

qkv_status setup(const qkv_block_desc* d, std::size_t batch, std::size_t seq, qkv_block_layout* p,
                 qkv::ops::block_dims* n) {
  if (qkv_status st = layout(d, p); st != QKV_OK) return st;
  return dims(d, batch, seq, n);
}

qkv_status workspace_query(const qkv_block_desc* d, std::size_t batch, std::size_t seq, int threads,
                           std::size_t* bytes, bool backward) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(d, batch, seq, &l, &n); st != QKV_OK) return st;
  const qkv_isa isa = qkv::dispatch::active();
  *bytes = backward ? qkv::ops::block_backward_workspace_bytes(isa, *d, n, threads)
                    : qkv::ops::block_forward_workspace_bytes(isa, *d, n, threads);
  return QKV_OK;
}

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

// "block_forward,avx512,B4 T256 d768 H12/12 ff3072 pre-norm causal,threads 2".
void report_block(const qkv::capi::report_clock& clock, const char* routine, const qkv::ops::exec& x,
                  const qkv_block_desc& d, std::size_t batch, std::size_t tokens) {
  qkv::capi::report(clock.microseconds(), "%s,%s,B%zu T%zu d%zu H%zu/%zu ff%zu %s%s,threads %d", routine,
                    qkv_isa_name(x.isa), batch, tokens, d.d_model, d.num_heads,
                    d.num_kv_heads ? d.num_kv_heads : d.num_heads, d.d_ff, d.pre_norm ? "pre-norm" : "post-norm",
                    d.causal ? " causal" : "", x.threads);
}

}  // namespace

extern "C" {

qkv_status qkv_block_validate(const qkv_block_desc* desc) {
  qkv_block_layout l;
  return layout(desc, &l);
}

qkv_status qkv_block_attention_desc(const qkv_block_desc* desc, qkv_mha_desc* attn) {
  if (!attn) return QKV_ERR_NULL_POINTER;
  if (qkv_status st = qkv_block_validate(desc); st != QKV_OK) return st;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*desc);
  qkv::util::copy_bytes(attn, &a, sizeof a);
  return QKV_OK;
}

qkv_status qkv_block_param_layout(const qkv_block_desc* desc, qkv_block_layout* out) {
  if (!out) return QKV_ERR_NULL_POINTER;
  return layout(desc, out);
}

qkv_status qkv_block_param_count(const qkv_block_desc* desc, size_t* count) {
  if (!count) return QKV_ERR_NULL_POINTER;
  qkv_block_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  *count = l.count;
  return QKV_OK;
}

qkv_status qkv_block_init(const qkv_block_desc* desc, float* params, uint64_t seed) {
  qkv_block_layout l;
  if (qkv_status st = layout(desc, &l); st != QKV_OK) return st;
  if (!params) return QKV_ERR_NULL_POINTER;
  const std::size_t D = desc->d_model, F = desc->d_ff;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*desc);
  const std::size_t kv = qkv::ops::mha_kv_width(a);
  const float in_d = 1.0f / std::sqrt(static_cast<float>(D)), in_f = 1.0f / std::sqrt(static_cast<float>(F));
  // nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)), each tensor its own
  // stream (seed, index), so a bias or a gate does not move the others.
  const struct {
    std::size_t off, n;
    float bound;
  } tensors[] = {{l.w_q, D * D, in_d},    {l.w_k, D * kv, in_d},   {l.w_v, D * kv, in_d}, {l.b_q, D, in_d},
                 {l.b_k, kv, in_d},       {l.b_v, kv, in_d},       {l.w_o, D * D, in_d},  {l.b_o, D, in_d},
                 {l.w_gate, D * F, in_d}, {l.b_gate, F, in_d},     {l.w_up, D * F, in_d}, {l.b_up, F, in_d},
                 {l.w_down, F * D, in_f}, {l.b_down, D, in_f}};
  const qkv::ops::exec x = qkv::ops::current_exec();
  std::uint64_t stream = 0;
  for (const auto& t : tensors) {
    ++stream;
    if (t.off != kAbsent)
      qkv::ops::init_uniform(x, params + t.off, t.n, t.bound, seed * 0x9E3779B97F4A7C15ull + stream);
  }
  for (std::size_t g : {l.norm1_g, l.norm2_g})
    for (std::size_t j = 0; j < D; ++j) params[g + j] = 1.f;
  for (std::size_t b : {l.norm1_b, l.norm2_b})
    if (b != kAbsent) qkv::util::zero_floats(params + b, D);
  return QKV_OK;
}

qkv_status qkv_block_cache_size(const qkv_block_desc* desc, size_t batch, size_t seq_len, size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  *bytes = qkv::ops::block_cache_bytes(*desc, n);
  return QKV_OK;
}

qkv_status qkv_block_forward_workspace_size(const qkv_block_desc* desc, size_t batch, size_t seq_len, int threads,
                                            size_t* bytes) {
  return workspace_query(desc, batch, seq_len, threads, bytes, false);
}

qkv_status qkv_block_backward_workspace_size(const qkv_block_desc* desc, size_t batch, size_t seq_len, int threads,
                                             size_t* bytes) {
  return workspace_query(desc, batch, seq_len, threads, bytes, true);
}

}  // extern "C"

namespace {

// qkv_block_forward and qkv_block_forward_mirror (with_mirror): one order of
// checks, the mirror's last.
qkv_status forward(const qkv_block_desc* desc, const float* params, const std::uint16_t* mirror, bool with_mirror,
                   size_t batch, size_t seq_len, const float* x, float* y, int training, void* cache,
                   size_t cache_bytes, void* workspace, size_t workspace_bytes) {
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  if (training != 0 && training != 1) return QKV_ERR_BAD_ARGUMENT;
  if (!params || !x || !y || (training && !cache)) return QKV_ERR_NULL_POINTER;
  if (training && !aligned64(cache)) return QKV_ERR_BAD_ARGUMENT;
  if (with_mirror && !mirror) return QKV_ERR_NULL_POINTER;
  if (with_mirror && desc->compute_type != QKV_DTYPE_BF16) return QKV_ERR_BAD_ARGUMENT;
  if (training && cache_bytes < qkv::ops::block_cache_bytes(*desc, n)) return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();  // the settings, read once for the call
  const std::size_t need = qkv::ops::block_forward_workspace_bytes(xc.isa, *desc, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::block_forward(xc, *desc, l, n, params, x, y, training != 0, static_cast<float*>(cache), workspace,
                          workspace_bytes, mirror);
  if (clock.on())
    report_block(clock,
                 with_mirror ? (training ? "block_forward_mirror (training)" : "block_forward_mirror")
                             : (training ? "block_forward (training)" : "block_forward"),
                 xc, *desc, batch, seq_len);
  return QKV_OK;
}

// qkv_block_backward and qkv_block_backward_mirror (with_mirror).
qkv_status backward(const qkv_block_desc* desc, const float* params, const std::uint16_t* mirror, bool with_mirror,
                    size_t batch, size_t seq_len, const float* x, const void* cache, size_t cache_bytes,
                    const float* dy, float* dx, float* grads, void* workspace, size_t workspace_bytes) {
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(desc, batch, seq_len, &l, &n); st != QKV_OK) return st;
  if (!params || !x || !cache || !dy || !grads) return QKV_ERR_NULL_POINTER;
  if (!aligned64(cache)) return QKV_ERR_BAD_ARGUMENT;
  if (with_mirror && !mirror) return QKV_ERR_NULL_POINTER;
  if (with_mirror && desc->compute_type != QKV_DTYPE_BF16) return QKV_ERR_BAD_ARGUMENT;
  if (cache_bytes < qkv::ops::block_cache_bytes(*desc, n)) return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();
  const std::size_t need = qkv::ops::block_backward_workspace_bytes(xc.isa, *desc, n, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::block_backward(xc, *desc, l, n, params, x, static_cast<const float*>(cache), dy, dx, grads, workspace,
                           workspace_bytes, mirror);
  if (clock.on()) report_block(clock, with_mirror ? "block_backward_mirror" : "block_backward", xc, *desc, batch, seq_len);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_block_forward(const qkv_block_desc* desc, const float* params, size_t batch, size_t seq_len,
                             const float* x, float* y, int training, void* cache, size_t cache_bytes, void* workspace,
                             size_t workspace_bytes) {
  return forward(desc, params, nullptr, false, batch, seq_len, x, y, training, cache, cache_bytes, workspace,
                 workspace_bytes);
}

qkv_status qkv_block_forward_mirror(const qkv_block_desc* desc, const float* params, const uint16_t* params_bf16,
                                    size_t batch, size_t seq_len, const float* x, float* y, int training, void* cache,
                                    size_t cache_bytes, void* workspace, size_t workspace_bytes) {
  return forward(desc, params, params_bf16, true, batch, seq_len, x, y, training, cache, cache_bytes, workspace,
                 workspace_bytes);
}

qkv_status qkv_block_backward(const qkv_block_desc* desc, const float* params, size_t batch, size_t seq_len,
                              const float* x, const void* cache, size_t cache_bytes, const float* dy, float* dx,
                              float* grads, void* workspace, size_t workspace_bytes) {
  return backward(desc, params, nullptr, false, batch, seq_len, x, cache, cache_bytes, dy, dx, grads, workspace,
                  workspace_bytes);
}

qkv_status qkv_block_backward_mirror(const qkv_block_desc* desc, const float* params, const uint16_t* params_bf16,
                                     size_t batch, size_t seq_len, const float* x, const void* cache,
                                     size_t cache_bytes, const float* dy, float* dx, float* grads, void* workspace,
                                     size_t workspace_bytes) {
  return backward(desc, params, params_bf16, true, batch, seq_len, x, cache, cache_bytes, dy, dx, grads, workspace,
                  workspace_bytes);
}

qkv_status qkv_block_kv_cache_size(const qkv_block_desc* desc, size_t batch, size_t capacity, qkv_kv_format format,
                                   size_t* bytes) {
  if (!bytes) return QKV_ERR_NULL_POINTER;
  if (qkv_status st = qkv_block_validate(desc); st != QKV_OK) return st;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*desc);
  return qkv_mha_kv_cache_size_ex(&a, batch, capacity, format, bytes);
}

qkv_status qkv_block_decode_workspace_size(const qkv_block_desc* desc, const qkv_mha_kv_state* state, size_t n_new,
                                           int threads, size_t* bytes) {
  if (!bytes || !state) return QKV_ERR_NULL_POINTER;
  if (threads < 1) return QKV_ERR_BAD_ARGUMENT;
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(desc, state->batch, state->capacity, &l, &n); st != QKV_OK) return st;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*desc);
  if (!qkv::capi::kv_format_ok(state->format)) return QKV_ERR_BAD_ARGUMENT;
  if (n_new == 0 || !qkv::capi::kv_format_fits(state->format, n.attn)) return QKV_ERR_BAD_SHAPE;
  std::size_t longest;
  if (!qkv::capi::kv_longest_fits(a, *state, n_new, &longest)) return QKV_ERR_CAPACITY;
  *bytes = qkv::ops::block_decode_workspace_bytes(qkv::dispatch::active(), *desc, state->format, state->batch, n_new,
                                                   longest + n_new, threads);
  return QKV_OK;
}

qkv_status qkv_block_decode(const qkv_block_desc* desc, const float* params, qkv_mha_kv_state* state,
                            void* kv_buffer, size_t kv_bytes, size_t n_new, const float* x_new, float* y_new,
                            void* workspace, size_t workspace_bytes) {
  if (!state) return QKV_ERR_NULL_POINTER;
  qkv_block_layout l;
  qkv::ops::block_dims n;
  if (qkv_status st = setup(desc, state->batch, state->capacity, &l, &n); st != QKV_OK) return st;
  const qkv_mha_desc a = qkv::ops::block_attention_desc(*desc);
  const qkv_kv_format& format = state->format;
  if (!desc->causal || !qkv::capi::kv_format_ok(format)) return QKV_ERR_BAD_ARGUMENT;
  if (n_new == 0 || !qkv::capi::kv_format_fits(format, n.attn)) return QKV_ERR_BAD_SHAPE;
  if (!params || !kv_buffer || !x_new || !y_new) return QKV_ERR_NULL_POINTER;
  std::size_t longest;
  if (!qkv::capi::kv_longest_fits(a, *state, n_new, &longest)) return QKV_ERR_CAPACITY;
  if (kv_bytes < qkv::ops::mha_kv_cache_bytes(format, state->batch, state->capacity, n.attn.d_kv))
    return QKV_ERR_WORKSPACE_TOO_SMALL;
  const qkv::ops::exec xc = qkv::ops::current_exec();
  const std::size_t need =
      qkv::ops::block_decode_workspace_bytes(xc.isa, *desc, format, state->batch, n_new, longest + n_new, 1);
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  if (!qkv::ops::block_decode(xc, *desc, l, params, format, state->batch, state->capacity, state->length,
                              state->lengths, n_new, kv_buffer, x_new, y_new, workspace, workspace_bytes))
    return QKV_ERR_NOT_FINITE;
  if (clock.on()) report_block(clock, "block_decode", xc, *desc, state->batch, n_new);
  qkv::capi::kv_advance(*state, n_new);
  return QKV_OK;
}

}  // extern "C"

#else  // !QKV_HOSTED

extern "C" {

qkv_status qkv_block_validate(const qkv_block_desc*) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_attention_desc(const qkv_block_desc*, qkv_mha_desc*) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_param_layout(const qkv_block_desc*, qkv_block_layout*) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_param_count(const qkv_block_desc*, size_t*) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_init(const qkv_block_desc*, float*, uint64_t) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_cache_size(const qkv_block_desc*, size_t, size_t, size_t*) { return QKV_ERR_UNSUPPORTED; }
qkv_status qkv_block_forward_workspace_size(const qkv_block_desc*, size_t, size_t, int, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_backward_workspace_size(const qkv_block_desc*, size_t, size_t, int, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_forward(const qkv_block_desc*, const float*, size_t, size_t, const float*, float*, int, void*,
                             size_t, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_backward(const qkv_block_desc*, const float*, size_t, size_t, const float*, const void*, size_t,
                              const float*, float*, float*, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_forward_mirror(const qkv_block_desc*, const float*, const uint16_t*, size_t, size_t, const float*,
                                    float*, int, void*, size_t, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_backward_mirror(const qkv_block_desc*, const float*, const uint16_t*, size_t, size_t,
                                     const float*, const void*, size_t, const float*, float*, float*, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_kv_cache_size(const qkv_block_desc*, size_t, size_t, qkv_kv_format, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_decode_workspace_size(const qkv_block_desc*, const qkv_mha_kv_state*, size_t, int, size_t*) {
  return QKV_ERR_UNSUPPORTED;
}
qkv_status qkv_block_decode(const qkv_block_desc*, const float*, qkv_mha_kv_state*, void*, size_t, size_t,
                            const float*, float*, void*, size_t) {
  return QKV_ERR_UNSUPPORTED;
}

}  // extern "C"

#endif  // QKV_HOSTED
