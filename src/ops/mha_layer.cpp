// SPDX-License-Identifier: MIT
// The attention layer: projections (GEMM), fused attention, output projection,
// and the backward through all three. See mha_layer.hpp.
#include "ops/mha_layer.hpp"

#include <algorithm>
#include <cmath>

#include "ops/gemm.hpp"
#include "ops/kv_decode.hpp"
#include "ops/mha_attention.hpp"
#include "ops/rows.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using util::round_up;

// Each call's own arrays, cut by one function for both the size query (a
// null-based carver) and the call, so the two cannot disagree.
struct forward_arrays {  // Q, K, V, A and lse when not training (training uses the cache)
  float *q, *k, *v, *a, *lse;
};
forward_arrays carve_forward(ws_carver& w, const mha_dims& n) {
  forward_arrays r;
  r.q = w.take<float>(n.rows * n.d_out);
  r.k = w.take<float>(n.rows * n.d_out);
  r.v = w.take<float>(n.rows * n.d_out);
  r.a = w.take<float>(n.rows * n.d_out);
  r.lse = w.take<float>(n.batch * n.heads * n.seq);
  return r;
}
struct backward_arrays {
  float *da, *dq, *dk, *dv;
};
backward_arrays carve_backward(ws_carver& w, const mha_dims& n) {
  backward_arrays r;
  r.da = w.take<float>(n.rows * n.d_out);
  r.dq = w.take<float>(n.rows * n.d_out);
  r.dk = w.take<float>(n.rows * n.d_out);
  r.dv = w.take<float>(n.rows * n.d_out);
  return r;
}
// Q of the new tokens, their attention output, lse (unused by the caller);
// with a reduced-format cache also their fp32 K and V before storing.
struct decode_arrays {
  float *q, *a, *lse, *k, *v;
};
decode_arrays carve_decode(ws_carver& w, const mha_dims& n, qkv_kv_format f) {
  decode_arrays r{};
  r.q = w.take<float>(n.rows * n.d_out);
  r.a = w.take<float>(n.rows * n.d_out);
  r.lse = w.take<float>(n.batch * n.heads * n.seq);
  if (f != QKV_KV_F32) {
    r.k = w.take<float>(n.rows * n.d_out);
    r.v = w.take<float>(n.rows * n.d_out);
  }
  return r;
}

// Bytes of a layout sized by a null-based carver. Layer sizes are bounded
// by the C boundary (capi/layer.cpp: dims), so the sum cannot overflow.
std::size_t carved(const ws_carver& plan) {
  std::size_t bytes = 0;
  plan.size(&bytes);
  return bytes;
}

// Y[rows][n] = X[rows][k] W[k][n] (+ b): bias rows first, then GEMM with beta = 1
// (one pass over Y instead of two).
void project(const exec& xc, std::size_t rows, std::size_t k, std::size_t n, const float* x, std::size_t ldx,
             const float* w, const float* b, float* y, std::size_t ldy, void* gws, std::size_t gws_bytes) {
  if (b)
    sgemm_bias(xc, false, false, rows, n, k, x, ldx, w, n, b, y, ldy, gws, gws_bytes);
  else
    sgemm(xc, false, false, rows, n, k, 1.f, x, ldx, w, n, 0.f, y, ldy, gws, gws_bytes);
}

// Workspace the GEMMs of a layer call need: the largest of its shapes.
std::size_t gemm_ws(qkv_isa isa, const mha_dims& n, int threads) {
  std::size_t best = 0;
  auto need = [&](bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K) {
    best = std::max(best, sgemm_workspace_bytes(isa, ta, tb, M, N, K, threads));
  };
  need(false, false, n.rows, n.d_out, n.d_in);   // projections
  need(false, false, n.rows, n.d_out, n.d_out);  // output projection
  need(true, false, n.d_in, n.d_out, n.rows);    // dW = X^T dQ
  need(true, false, n.d_out, n.d_out, n.rows);   // dW_o = A^T dY
  need(false, true, n.rows, n.d_out, n.d_out);   // dA = dY W_o^T
  need(false, true, n.rows, n.d_in, n.d_out);    // dX = dQ W_q^T
  return best;
}

}  // namespace

mha_cache_layout mha_cache_layout_for(const mha_dims& n) {
  // Each piece starts on a 64-byte (16-float) boundary relative to the cache base.
  const std::size_t act = round_up(n.rows * n.d_out, 16);
  mha_cache_layout c;  // every field set below
  c.q = 0;
  c.k = c.q + act;
  c.v = c.k + act;
  c.a = c.v + act;
  c.lse = c.a + act;
  c.floats = c.lse + round_up(n.batch * n.heads * n.seq, 16);
  return c;
}

qkv_sdpa_desc mha_sdpa_desc(const qkv_mha_desc& layer, const mha_dims& n, bool training) {
  auto s = util::zeroed<qkv_sdpa_desc>();
  s.batch = n.batch;
  s.heads = n.heads;
  s.q_len = s.kv_len = n.seq;
  s.head_dim = s.v_dim = n.d_head;
  // [B, T, H, d_head] as rows of d_out: heads interleaved, no copies.
  s.q = s.k = s.v = s.o = qkv_sdpa_strides{n.seq * n.d_out, n.d_head, n.d_out};
  s.causal = layer.causal;
  s.dropout_p = training ? layer.dropout_p : 0.f;
  s.dropout_seed = layer.dropout_seed;
  s.algo = QKV_SDPA_AUTO;
  return s;
}

std::size_t mha_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  ws_carver plan;
  carve_forward(plan, n);
  const sdpa_plan att = resolve_sdpa(mha_sdpa_desc(d, n, true), plain_exec(isa, threads));
  const std::size_t sub = std::max(gemm_ws(isa, n, threads), layer_attention_forward_ws(att, threads));
  return carved(plan) + sub + ws_carver::kAlign;  // slack to align the caller's base
}

void mha_forward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n, const float* params,
                 const float* x, float* y, bool training, float* cache, void* ws, std::size_t ws_bytes) {
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  float *q, *k, *v, *a, *lse;
  const forward_arrays own = carve_forward(mem, n);
  if (training) {
    const mha_cache_layout c = mha_cache_layout_for(n);
    q = cache + c.q, k = cache + c.k, v = cache + c.v, a = cache + c.a, lse = cache + c.lse;
  } else {
    q = own.q, k = own.k, v = own.v, a = own.a, lse = own.lse;
  }
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);

  const bool bias = d.qkv_bias != 0;
  project(xc, n.rows, n.d_in, n.d_out, x, n.d_in, params + p.w_q, bias ? params + p.b_q : nullptr, q, n.d_out, sub, sub_bytes);
  project(xc, n.rows, n.d_in, n.d_out, x, n.d_in, params + p.w_k, bias ? params + p.b_k : nullptr, k, n.d_out, sub, sub_bytes);
  project(xc, n.rows, n.d_in, n.d_out, x, n.d_in, params + p.w_v, bias ? params + p.b_v : nullptr, v, n.d_out, sub, sub_bytes);

  float* attn_out = d.out_proj ? a : y;  // without W_o the attention output is Y
  const sdpa_plan att = resolve_sdpa(mha_sdpa_desc(d, n, training), xc);
  layer_attention_forward(att, q, k, v, attn_out, lse, sub, sub_bytes);
  if (d.out_proj) {
    project(xc, n.rows, n.d_out, n.d_out, a, n.d_out, params + p.w_o, params + p.b_o, y, n.d_out, sub, sub_bytes);
  } else if (training) {
    util::copy_floats(a, y, n.rows * n.d_out);  // backward needs O
  }
}

std::size_t mha_backward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  ws_carver plan;
  carve_backward(plan, n);
  const sdpa_plan att = resolve_sdpa(mha_sdpa_desc(d, n, true), plain_exec(isa, threads));
  const std::size_t sub = std::max(gemm_ws(isa, n, threads), layer_attention_backward_ws(att, threads));
  return carved(plan) + sub + ws_carver::kAlign;  // slack to align the caller's base
}

void mha_backward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n, const float* params,
                  const float* x, const float* cache, const float* dy, float* dx, float* grads, void* ws,
                  std::size_t ws_bytes) {
  const mha_cache_layout c = mha_cache_layout_for(n);
  const float *q = cache + c.q, *k = cache + c.k, *v = cache + c.v, *a = cache + c.a, *lse = cache + c.lse;
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const backward_arrays own = carve_backward(mem, n);
  float *da = own.da, *dq = own.dq, *dk = own.dk, *dv = own.dv;
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);

  // Output projection: dW_o += A^T dY, db_o += colsum(dY), dA = dY W_o^T.
  const float* dattn = dy;
  if (d.out_proj) {
    sgemm(xc, true, false, n.d_out, n.d_out, n.rows, 1.f, a, n.d_out, dy, n.d_out, 1.f, grads + p.w_o, n.d_out, sub, sub_bytes);
    add_column_sums(xc, n.rows, n.d_out, dy, n.d_out, grads + p.b_o);
    sgemm(xc, false, true, n.rows, n.d_out, n.d_out, 1.f, dy, n.d_out, params + p.w_o, n.d_out, 0.f, da, n.d_out, sub, sub_bytes);
    dattn = da;
  }

  const sdpa_plan att = resolve_sdpa(mha_sdpa_desc(d, n, true), xc);
  layer_attention_backward(att, q, k, v, a, lse, dattn, dq, dk, dv, sub, sub_bytes);

  // Projections: dW += X^T dP, db += colsum(dP), dX = sum of dP W^T.
  const float* dproj[3] = {dq, dk, dv};
  const std::size_t w_off[3] = {p.w_q, p.w_k, p.w_v};
  const std::size_t b_off[3] = {p.b_q, p.b_k, p.b_v};
  for (int i = 0; i < 3; ++i) {
    sgemm(xc, true, false, n.d_in, n.d_out, n.rows, 1.f, x, n.d_in, dproj[i], n.d_out, 1.f, grads + w_off[i], n.d_out, sub, sub_bytes);
    if (d.qkv_bias) add_column_sums(xc, n.rows, n.d_out, dproj[i], n.d_out, grads + b_off[i]);
    if (dx)
      sgemm(xc, false, true, n.rows, n.d_in, n.d_out, 1.f, dproj[i], n.d_out, params + w_off[i], n.d_out, i ? 1.f : 0.f, dx, n.d_in, sub, sub_bytes);
  }
}

std::size_t mha_kv_cache_bytes(qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t d_out) {
  return 2 * batch * capacity * kv_row_bytes(f, d_out);
}

std::size_t mha_decode_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_kv_format f, std::size_t batch,
                                       std::size_t n_new, std::size_t kv_len, int threads) {
  const std::size_t d_head = d.d_out / d.num_heads;
  const mha_dims n{batch, n_new, d.d_in, d.d_out, d.num_heads, d_head, batch * n_new};
  ws_carver plan;
  carve_decode(plan, n, f);
  std::size_t att_ws;
  if (f == QKV_KV_F32) {
    qkv_sdpa_desc s = mha_sdpa_desc(d, n, false);
    s.kv_len = kv_len;
    att_ws = layer_attention_forward_ws(resolve_sdpa(s, plain_exec(isa, threads)), threads);
  } else {
    att_ws = kv_attention_workspace_bytes(isa, kv_len, d_head, threads);
  }
  const std::size_t sub = std::max(gemm_ws(isa, n, threads), att_ws);
  return carved(plan) + sub + ws_carver::kAlign;  // slack to align the caller's base
}

bool mha_decode(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const float* params,
                qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t length, std::size_t n_new,
                void* kv, const float* x_new, float* y_new, void* ws, std::size_t ws_bytes) {
  const std::size_t d_head = d.d_out / d.num_heads;
  const mha_dims n{batch, n_new, d.d_in, d.d_out, d.num_heads, d_head, batch * n_new};
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const decode_arrays own = carve_decode(mem, n, f);
  float *q = own.q, *a = own.a, *lse = own.lse;
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);

  const std::size_t row_bytes = kv_row_bytes(f, n.d_out);
  unsigned char* kc = static_cast<unsigned char*>(kv);
  unsigned char* vc = kc + batch * capacity * row_bytes;
  const bool bias = d.qkv_bias != 0;
  auto proj = [&](std::size_t rows, const float* x, std::size_t w, std::size_t b, float* y) {
    project(xc, rows, n.d_in, n.d_out, x, n.d_in, params + w, bias ? params + b : nullptr, y, n.d_out, sub, sub_bytes);
  };
  proj(n.rows, x_new, p.w_q, p.b_q, q);
  float* attn_out = d.out_proj ? a : y_new;
  if (f == QKV_KV_F32) {
    // K and V of the new tokens go straight into their cache rows.
    for (std::size_t b = 0; b < batch; ++b) {
      const float* xb = x_new + b * n_new * n.d_in;
      proj(n_new, xb, p.w_k, p.b_k, reinterpret_cast<float*>(kc + (b * capacity + length) * row_bytes));
      proj(n_new, xb, p.w_v, p.b_v, reinterpret_cast<float*>(vc + (b * capacity + length) * row_bytes));
    }
    qkv_sdpa_desc s = mha_sdpa_desc(d, n, false);
    s.kv_len = length + n_new;  // bottom-right causal alignment: new token i sees keys <= length + i
    s.k = s.v = qkv_sdpa_strides{capacity * n.d_out, d_head, n.d_out};
    layer_attention_forward(resolve_sdpa(s, xc), q, reinterpret_cast<const float*>(kc),
                            reinterpret_cast<const float*>(vc), attn_out, lse, sub, sub_bytes);
  } else {
    // fp32 K and V first; stored (rounded or quantized) only when every
    // value fits the format, so a refused call changes nothing.
    proj(n.rows, x_new, p.w_k, p.b_k, own.k);
    proj(n.rows, x_new, p.w_v, p.b_v, own.v);
    if (!kv_storable(xc.isa, f, n.rows, n.d_out, own.k) || !kv_storable(xc.isa, f, n.rows, n.d_out, own.v))
      return false;
    for (std::size_t b = 0; b < batch; ++b) {
      const std::size_t src = b * n_new * n.d_out, dst = (b * capacity + length) * row_bytes;
      kv_store(xc.isa, f, n_new, n.d_out, own.k + src, n.d_out, kc + dst, row_bytes);
      kv_store(xc.isa, f, n_new, n.d_out, own.v + src, n.d_out, vc + dst, row_bytes);
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(d_head));  // the layer's (sdpa scale 0)
    const kv_attention_problem kp{f, batch, n.heads, n_new, length, d_head, n.d_out, capacity, row_bytes,
                                  scale, q, kc, vc, attn_out};
    kv_attention(xc, kp, sub, sub_bytes);
  }
  if (d.out_proj)
    project(xc, n.rows, n.d_out, n.d_out, a, n.d_out, params + p.w_o, params + p.b_o, y_new, n.d_out, sub, sub_bytes);
  return true;
}

}  // namespace qkv::ops
