// SPDX-License-Identifier: MIT
// The attention layer: projections (GEMM), fused attention, output projection,
// and the backward through all three. See mha_layer.hpp.
#include "ops/mha_layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "ops/dtype.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_ex.hpp"
#include "ops/kv_decode.hpp"
#include "ops/mha_attention.hpp"
#include "ops/rope.hpp"
#include "ops/rows.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using util::round_up;

using u16 = std::uint16_t;
enum { kQ = 0, kK = 1, kV = 2, kO = 3 };

bool bf16_compute(const qkv_mha_desc& d) { return d.compute_type == QKV_DTYPE_BF16; }

// Output columns of projection i: d_kv for K and V, d_out for Q and O.
std::size_t width(const qkv_mha_desc& d, int i) { return i == kK || i == kV ? mha_kv_width(d) : d.d_out; }

// The projections' operand types of a call: activations `at` (F32 or BF16)
// times weights `wt` (F32: the params through sgemm, today's fp32 path; BF16
// or I8 through gemm_ex). wt F32 implies at F32.
struct proj_types {
  qkv_dtype at, wt;
  bool round_weights;  // params rounded to bf16 per call (workspace; training: the cache)
};
proj_types types_of(const qkv_mha_desc& d, qkv_dtype wtype) {
  const qkv_dtype at = bf16_compute(d) ? QKV_DTYPE_BF16 : QKV_DTYPE_F32;
  if (wtype == QKV_DTYPE_F32) return {at, at, bf16_compute(d)};
  return {at, wtype, false};
}

// The weights one call multiplies by: pointers into the params, the
// workspace's bf16 copies or a packed buffer. w[i] is [in][out] (F32, BF16)
// or [out][in] with per-row scales s[i] (I8).
struct proj_weights {
  qkv_dtype at, wt;
  const void* w[4];
  const float* s[4];
  const float* b[4];  // nullptr: no bias
};

// bf16 copies of the four weight tensors (BF16 compute from fp32 params).
struct weight_copies {
  u16* w[4];
};
weight_copies carve_weights(ws_carver& w, const qkv_mha_desc& d, const proj_types& t) {
  weight_copies r = util::zeroed<weight_copies>();
  if (!t.round_weights) return r;
  for (int i = kQ; i <= kV; ++i) r.w[i] = w.take<u16>(d.d_in * width(d, i));
  if (d.out_proj) r.w[kO] = w.take<u16>(d.d_out * d.d_out);
  return r;
}

// Resolves where each weight comes from; with round_weights, fills the copies.
proj_weights resolve_weights(const exec& xc, const qkv_mha_desc& d, const mha_weights& src, const proj_types& t,
                             const weight_copies& copies) {
  proj_weights r = util::zeroed<proj_weights>();
  r.at = t.at;
  r.wt = t.wt;
  if (src.wtype == QKV_DTYPE_F32) {
    const qkv_mha_layout& p = *src.layout;
    const std::size_t w_off[4] = {p.w_q, p.w_k, p.w_v, p.w_o}, b_off[4] = {p.b_q, p.b_k, p.b_v, p.b_o};
    for (int i = kQ; i <= kO; ++i) {
      if (i == kO && !d.out_proj) break;
      const std::size_t in = i == kO ? d.d_out : d.d_in;
#ifdef QKV_HOSTED  // (bare metal: the mirror entry points return QKV_ERR_UNSUPPORTED)
      if (t.round_weights && src.mirror) {  // rounded already, by the caller (or its optimizer)
        r.w[i] = src.mirror + w_off[i];
      } else
#endif
      if (t.round_weights) {
        round_to_bf16(xc, in * width(d, i), src.params + w_off[i], copies.w[i]);
        r.w[i] = copies.w[i];
      } else {
        r.w[i] = src.params + w_off[i];
      }
      const bool has_bias = i == kO || d.qkv_bias;
      r.b[i] = has_bias ? src.params + b_off[i] : nullptr;
    }
    return r;
  }
  const mha_packed_layout l = mha_packed_layout_for(d, src.wtype);
  const char* base = static_cast<const char*>(src.packed);
  for (int i = kQ; i <= kO; ++i) {
    if (l.w[i] == SIZE_MAX) continue;
    r.w[i] = base + l.w[i];
    if (l.s[i] != SIZE_MAX) r.s[i] = reinterpret_cast<const float*>(base + l.s[i]);
    if (l.b[i] != SIZE_MAX) r.b[i] = reinterpret_cast<const float*>(base + l.b[i]);
  }
  return r;
}

// A gemm_ex problem with fp32 C, alpha 1 and no A scales (field by field:
// a braced aggregate is cleared with a memset call on bare metal). Not
// inlined: it has three callers, and each copy costs its zeroing loop.
[[gnu::noinline]] gemm_ex_args ex_args(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, qkv_dtype at,
                                       const void* A, std::size_t lda, qkv_dtype bt, const void* B, std::size_t ldb,
                                       const float* sb, float beta, float* C, std::size_t ldc) {
  gemm_ex_args g = util::zeroed<gemm_ex_args>();
  g.ta = ta, g.tb = tb, g.M = M, g.N = N, g.K = K;
  g.at = at, g.bt = bt, g.ct = QKV_DTYPE_F32;
  g.A = A, g.lda = lda, g.B = B, g.ldb = ldb, g.sb = sb, g.C = C, g.ldc = ldc;
  g.alpha = 1.f, g.beta = beta;
  return g;
}

// Each call's own arrays, cut by one function for both the size query (a
// null-based carver) and the call, so the two cannot disagree.
// The forward: Q, K, V, A and lse when not training (training uses the
// cache); bf16 activations (BF16 compute): X, and A before W_o. Decode:
// Q, K and V of the new tokens (K and V before they are stored in the
// cache's format and rows), their attention output, lse (unused).
struct forward_arrays {
  float *q, *k, *v, *a, *lse;
  u16 *x16, *a16;
};
forward_arrays carve_forward(ws_carver& w, const mha_dims& n, const qkv_mha_desc& d) {
  forward_arrays r = util::zeroed<forward_arrays>();
  r.q = w.take<float>(n.rows * n.d_out);
  r.k = w.take<float>(n.rows * n.d_kv);
  r.v = w.take<float>(n.rows * n.d_kv);
  r.a = w.take<float>(n.rows * n.d_out);
  r.lse = w.take<float>(n.batch * n.heads * n.seq);
  if (bf16_compute(d)) {
    r.x16 = w.take<u16>(n.rows * n.d_in);
    if (d.out_proj) r.a16 = w.take<u16>(n.rows * n.d_out);
  }
  return r;
}
struct backward_arrays {
  float *da, *dq, *dk, *dv;
  u16 *dy16, *dp16;  // bf16 GEMM inputs (BF16 compute; X, A and the weights are in the cache)
};
backward_arrays carve_backward(ws_carver& w, const mha_dims& n, const qkv_mha_desc& d) {
  backward_arrays r = util::zeroed<backward_arrays>();
  r.da = w.take<float>(n.rows * n.d_out);
  r.dq = w.take<float>(n.rows * n.d_out);
  r.dk = w.take<float>(n.rows * n.d_kv);
  r.dv = w.take<float>(n.rows * n.d_kv);
  if (bf16_compute(d)) {
    r.dp16 = w.take<u16>(n.rows * n.d_out);
    if (d.out_proj) r.dy16 = w.take<u16>(n.rows * n.d_out);
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

// Y[rows][n] = A[rows][k] W_i (+ b_i) with the call's weights: A is fp32
// (x) or its bf16 copy (x16), as w.at says. fp32 weights: the sgemm path
// above; otherwise one gemm_ex (bias rows first, then beta = 1).
void project(const exec& xc, const proj_weights& w, int i, std::size_t rows, std::size_t k, std::size_t n,
             const float* x, const u16* x16, std::size_t lda, float* y, void* gws, std::size_t gws_bytes) {
  if (w.wt == QKV_DTYPE_F32) {
    project(xc, rows, k, n, x, lda, static_cast<const float*>(w.w[i]), w.b[i], y, n, gws, gws_bytes);
    return;
  }
  const bool tb = w.wt == QKV_DTYPE_I8;  // [out][in]: a row per output feature
  const void* a = w.at == QKV_DTYPE_BF16 ? static_cast<const void*>(x16) : static_cast<const void*>(x);
  gemm_ex_args g = ex_args(false, tb, rows, n, k, w.at, a, lda, w.wt, w.w[i], tb ? k : n, w.s[i], w.b[i] ? 1.f : 0.f, y, n);
#ifdef QKV_HOSTED
  g.bias = w.b[i];  // set per C tile by gemm_ex
#else
  if (w.b[i]) broadcast_rows(rows, n, w.b[i], y, n);
#endif
  gemm_ex(xc, g, gws, gws_bytes);
}

// C (+)= op(A) op(B) with fp32 C, the backward's products: the fp32
// operands through sgemm, or (lowp, BF16 compute) their bf16 copies
// through gemm_ex.
struct operand {
  const float* f;
  const u16* h;
};
void product(const exec& xc, bool lowp, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, operand a,
             std::size_t lda, operand b, std::size_t ldb, float beta, float* C, std::size_t ldc, void* gws,
             std::size_t gws_bytes) {
  if (!lowp) {
    sgemm(xc, ta, tb, M, N, K, 1.f, a.f, lda, b.f, ldb, beta, C, ldc, gws, gws_bytes);
    return;
  }
  gemm_ex(xc, ex_args(ta, tb, M, N, K, QKV_DTYPE_BF16, a.h, lda, QKV_DTYPE_BF16, b.h, ldb, nullptr, beta, C, ldc), gws,
          gws_bytes);
}

// A projection's output gradient g [rows][cols]: its column sums added to
// the bias gradient db (nullptr: no bias) and, lowp, its bf16 copy g16 for
// the GEMMs (hosted: in one pass).
// (Bare metal: the two passes, written at the call sites: its code budget.)
#ifdef QKV_HOSTED
void round_and_sum(const exec& xc, bool lowp, std::size_t rows, std::size_t cols, const float* g, float* db,
                   u16* g16) {
  if (lowp && db) {
    add_column_sums_to_bf16(xc, rows, cols, g, cols, db, g16, cols);
    return;
  }
  if (lowp) round_to_bf16(xc, rows * cols, g, g16);
  if (db) add_column_sums(xc, rows, cols, g, cols, db);
}
#endif

// RoPE on rows [seqs x tokens] of Q (ld d_out) and K (ld d_kv) in place,
// token t of every sequence at position first + t; inverse: their gradients.
void rotate_qk(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, std::size_t seqs, std::size_t tokens,
               std::size_t first, float* q, float* k, bool inverse) {
  if (!d.rope) return;
  auto r = util::zeroed<qkv_rope_desc>();
  r.batch = seqs, r.tokens = tokens, r.head_dim = n.d_head;
  r.rotary_dim = d.rope_dim, r.theta = d.rope_theta, r.layout = d.rope_layout, r.pos_offset = first;
  r.heads = n.heads;
  r.x = qkv_sdpa_strides{tokens * n.d_out, n.d_head, n.d_out};
  rope_apply(xc, r, QKV_DTYPE_F32, q, q, inverse);
  r.heads = n.kv_heads;
  r.x = qkv_sdpa_strides{tokens * n.d_kv, n.d_head, n.d_kv};
  rope_apply(xc, r, QKV_DTYPE_F32, k, k, inverse);
}

// Workspace the GEMMs of a layer call need: the largest of its shapes. The
// fp32 path sizes sgemm's; the others gemm_ex's for the types, either beta
// (an fp32 C with beta != 0 may need an accumulator).
std::size_t gemm_ws(qkv_isa isa, const mha_dims& n, int threads, const proj_types& t, bool backward) {
  // {M, N, K} of the projections and the output projection (B the weights,
  // transposed when I8), then the backward's dW = X^T dQ and dW_o = A^T dY
  // (A transposed, B activations) and dA = dY W_o^T and dX = dQ W_q^T (B
  // the weights, transposed, never I8 there). Plain arrays: a table of
  // structs is cleared by a memset call on bare metal.
  // The K and V projections' shapes (d_kv <= d_out wide) need no more
  // than these: GEMM workspaces grow with N and K.
  const std::size_t mnk[6][3] = {{n.rows, n.d_out, n.d_in},  {n.rows, n.d_out, n.d_out}, {n.d_in, n.d_out, n.rows},
                                 {n.d_out, n.d_out, n.rows}, {n.rows, n.d_out, n.d_out}, {n.rows, n.d_in, n.d_out}};
  const bool i8 = t.wt == QKV_DTYPE_I8;
  std::size_t best = 0;
  for (int i = 0; i < (backward ? 6 : 2); ++i) {
    const bool ta = i == 2 || i == 3, tb = i < 2 ? i8 : i >= 4;
    const std::size_t M = mnk[i][0], N = mnk[i][1], K = mnk[i][2];
    const qkv_dtype bt = ta ? t.at : t.wt;
    if (t.at == QKV_DTYPE_F32 && bt == QKV_DTYPE_F32) {
      best = std::max(best, sgemm_workspace_bytes(isa, ta, tb, M, N, K, threads));
      continue;
    }
    for (float beta : {0.f, 1.f}) {
      std::size_t b = 0;
      const gemm_ex_args a = ex_args(ta, tb, M, N, K, t.at, nullptr, 0, bt, nullptr, 0, nullptr, beta, nullptr, 0);
      if (gemm_ex_workspace_bytes(isa, a, threads, &b)) best = std::max(best, b);
    }
  }
  return best;
}

}  // namespace

mha_cache_layout mha_cache_layout_for(const qkv_mha_desc& d, const mha_dims& n) {
  // Each piece starts on a 64-byte (16-float) boundary relative to the cache base.
  const std::size_t act = round_up(n.rows * n.d_out, 16), act_kv = round_up(n.rows * n.d_kv, 16);
  mha_cache_layout c;  // every field set below
  c.q = 0;
  c.k = c.q + act;
  c.v = c.k + act_kv;
  c.a = c.v + act_kv;
  c.lse = c.a + act;
  c.floats = c.lse + round_up(n.batch * n.heads * n.seq, 16);
  c.w16[0] = c.w16[1] = c.w16[2] = c.w16[3] = c.x16 = c.a16 = SIZE_MAX;
  if (bf16_compute(d)) {
    auto place_u16 = [&](std::size_t* field, std::size_t count) {  // count bf16 values
      *field = c.floats;
      c.floats += round_up((count + 1) / 2, 16);
    };
    for (int i = kQ; i <= kV; ++i) place_u16(&c.w16[i], n.d_in * width(d, i));
    if (d.out_proj) place_u16(&c.w16[kO], n.d_out * n.d_out);
    place_u16(&c.x16, n.rows * n.d_in);
    if (d.out_proj) place_u16(&c.a16, n.rows * n.d_out);
  }
  return c;
}

qkv_sdpa_desc mha_sdpa_desc(const qkv_mha_desc& layer, const mha_dims& n, bool training) {
  auto s = util::zeroed<qkv_sdpa_desc>();
  s.batch = n.batch;
  s.heads = n.heads;
  s.kv_heads = n.kv_heads;
  s.q_len = s.kv_len = n.seq;
  s.head_dim = s.v_dim = n.d_head;
  // [B, T, H, d_head] as rows of d_out (K, V: d_kv): heads interleaved, no copies.
  s.q = s.o = qkv_sdpa_strides{n.seq * n.d_out, n.d_head, n.d_out};
  s.k = s.v = qkv_sdpa_strides{n.seq * n.d_kv, n.d_head, n.d_kv};
  s.causal = layer.causal;
  s.window = layer.window;
  s.dropout_p = training ? layer.dropout_p : 0.f;
  s.dropout_seed = layer.dropout_seed;
  s.algo = QKV_SDPA_AUTO;
  s.softcap = layer.softcap;
  return s;
}

mha_packed_layout mha_packed_layout_for(const qkv_mha_desc& d, qkv_dtype wtype) {
  mha_packed_layout l;
  for (int i = 0; i < 4; ++i) l.w[i] = l.s[i] = l.b[i] = SIZE_MAX;
  std::size_t off = kMhaPackedHeader;
  auto place = [&](std::size_t* field, std::size_t bytes) {
    *field = off;
    off = round_up(off + bytes, ws_carver::kAlign);
  };
  const std::size_t eb = wtype == QKV_DTYPE_I8 ? 1 : 2;
  for (int i = kQ; i <= kO; ++i) {
    if (i == kO && !d.out_proj) break;
    const std::size_t in = i == kO ? d.d_out : d.d_in;
    place(&l.w[i], in * width(d, i) * eb);
    if (wtype == QKV_DTYPE_I8) place(&l.s[i], width(d, i) * sizeof(float));
  }
  for (int i = kQ; i <= kO; ++i)
    if (i == kO ? d.out_proj != 0 : d.qkv_bias != 0) place(&l.b[i], width(d, i) * sizeof(float));
  l.bytes = off;
  return l;
}

bool mha_pack_weights(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const float* params,
                      qkv_dtype wtype, void* packed) {
  const kern::convert_kernels& k = kern::convert_for(xc.isa);
  const std::size_t w_off[4] = {p.w_q, p.w_k, p.w_v, p.w_o}, b_off[4] = {p.b_q, p.b_k, p.b_v, p.b_o};
  const int tensors = d.out_proj ? 4 : 3;
  auto rows_of = [&](int i) { return i == kO ? d.d_out : d.d_in; };
  if (wtype == QKV_DTYPE_I8)  // every weight finite before anything is written
    for (int i = 0; i < tensors; ++i)
      if (k.abs_max_bits(rows_of(i) * width(d, i), params + w_off[i]) > 0x7f7fffffu) return false;
  const mha_packed_layout l = mha_packed_layout_for(d, wtype);
  char* base = static_cast<char*>(packed);
  const std::uint32_t h32[4] = {QKV_MHA_PACKED_MAGIC, QKV_MHA_PACKED_VERSION, static_cast<std::uint32_t>(wtype),
                                static_cast<std::uint32_t>((d.qkv_bias ? 1u : 0u) | (d.out_proj ? 2u : 0u))};
  const std::uint64_t h64[4] = {d.d_in, d.d_out, l.bytes, mha_kv_width(d)};
  for (std::size_t i = sizeof h32 + sizeof h64; i < kMhaPackedHeader; ++i) base[i] = 0;
  util::copy_bytes(base, h32, sizeof h32);
  util::copy_bytes(base + sizeof h32, h64, sizeof h64);
  for (int i = 0; i < tensors; ++i) {
    const std::size_t rows = rows_of(i), cols = width(d, i);
    if (wtype == QKV_DTYPE_I8)
      quantize_cols_s8(k, rows, cols, params + w_off[i], cols, reinterpret_cast<std::int8_t*>(base + l.w[i]), rows,
                       reinterpret_cast<float*>(base + l.s[i]));
    else
      k.f32_to_bf16(rows * cols, params + w_off[i], reinterpret_cast<u16*>(base + l.w[i]));
  }
  for (int i = kQ; i <= kO; ++i)
    if (l.b[i] != SIZE_MAX) util::copy_floats(reinterpret_cast<float*>(base + l.b[i]), params + b_off[i], width(d, i));
  return true;
}

namespace {

// The forward on resolved weights. Training writes Q, K, V, A and lse into
// the cache; inference into the workspace.
// Workspace of a forward-shaped call (the forward, decode): its arrays,
// the weight copies, then the larger of the GEMMs' and the attention's
// (att_ws) workspaces.
std::size_t forward_ws(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads, const proj_types& t,
                       bool sizes_backward, std::size_t att_ws) {
  ws_carver plan;
  carve_forward(plan, n, d);
  carve_weights(plan, d, t);
  const std::size_t sub = std::max(gemm_ws(isa, n, threads, t, sizes_backward), att_ws);
  return carved(plan) + sub + ws_carver::kAlign;  // slack to align the caller's base
}

// The fused attention's workspace over kv_len keys (the layer's own: n.seq).
std::size_t attention_ws(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads, std::size_t kv_len,
                         bool backward) {
  qkv_sdpa_desc s = mha_sdpa_desc(d, n, true);
  s.kv_len = kv_len;
  const sdpa_plan att = layer_attention_plan(s, plain_exec(isa, threads), bf16_compute(d));
  return backward ? layer_attention_backward_ws(att, threads) : layer_attention_forward_ws(att, threads);
}

void forward(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const mha_weights& src, const float* x,
             float* y, bool training, float* cache, void* ws, std::size_t ws_bytes) {
  const proj_types t = types_of(d, src.wtype);
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  float *q, *k, *v, *a, *lse;
  forward_arrays own = carve_forward(mem, n, d);
  weight_copies copies = carve_weights(mem, d, t);
  if (training) {
    const mha_cache_layout c = mha_cache_layout_for(d, n);
    q = cache + c.q, k = cache + c.k, v = cache + c.v, a = cache + c.a, lse = cache + c.lse;
    if (bf16_compute(d)) {  // the bf16 operands go to the cache, for the backward
      auto u16_at = [&](std::size_t off) { return off == SIZE_MAX ? nullptr : reinterpret_cast<u16*>(cache + off); };
      for (int i = kQ; i <= kO; ++i) copies.w[i] = u16_at(c.w16[i]);
      own.x16 = u16_at(c.x16);
      own.a16 = u16_at(c.a16);
    }
  } else {
    q = own.q, k = own.k, v = own.v, a = own.a, lse = own.lse;
  }
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);
  const proj_weights w = resolve_weights(xc, d, src, t, copies);

  if (t.at == QKV_DTYPE_BF16) round_to_bf16(xc, n.rows * n.d_in, x, own.x16);
  project(xc, w, kQ, n.rows, n.d_in, n.d_out, x, own.x16, n.d_in, q, sub, sub_bytes);
  project(xc, w, kK, n.rows, n.d_in, n.d_kv, x, own.x16, n.d_in, k, sub, sub_bytes);
  project(xc, w, kV, n.rows, n.d_in, n.d_kv, x, own.x16, n.d_in, v, sub, sub_bytes);
  rotate_qk(xc, d, n, n.batch, n.seq, 0, q, k, false);

  float* attn_out = d.out_proj ? a : y;  // without W_o the attention output is Y
  const sdpa_plan att = layer_attention_plan(mha_sdpa_desc(d, n, training), xc, bf16_compute(d));
  layer_attention_forward(att, q, k, v, attn_out, lse, sub, sub_bytes);
  if (d.out_proj) {
    if (t.at == QKV_DTYPE_BF16) round_to_bf16(xc, n.rows * n.d_out, a, own.a16);
    project(xc, w, kO, n.rows, n.d_out, n.d_out, a, own.a16, n.d_out, y, sub, sub_bytes);
  } else if (training) {
    util::copy_floats(a, y, n.rows * n.d_out);  // backward needs O
  }
}

}  // namespace

std::size_t mha_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_dtype wtype, const mha_dims& n,
                                        int threads) {
  return forward_ws(isa, d, n, threads, types_of(d, wtype), wtype == QKV_DTYPE_F32,
                    attention_ws(isa, d, n, threads, n.seq, false));
}

void mha_forward(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const mha_weights& w, const float* x,
                 float* y, bool training, float* cache, void* ws, std::size_t ws_bytes) {
  forward(xc, d, n, w, x, y, training, cache, ws, ws_bytes);
}

std::size_t mha_backward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  const proj_types t = types_of(d, QKV_DTYPE_F32);
  ws_carver plan;
  carve_backward(plan, n, d);
  const std::size_t sub = std::max(gemm_ws(isa, n, threads, t, true), attention_ws(isa, d, n, threads, n.seq, true));
  return carved(plan) + sub + ws_carver::kAlign;  // slack to align the caller's base
}

void mha_backward(const exec& xc, const qkv_mha_desc& d, const qkv_mha_layout& p, const mha_dims& n, const float* params,
                  const float* x, const float* cache, const float* dy, float* dx, float* grads, void* ws,
                  std::size_t ws_bytes, const u16* mirror) {
  const bool lowp = bf16_compute(d);
  const mha_cache_layout c = mha_cache_layout_for(d, n);
  const float *q = cache + c.q, *k = cache + c.k, *v = cache + c.v, *a = cache + c.a, *lse = cache + c.lse;
  // BF16 compute: the forward's rounded X and A from the cache, its rounded
  // weights from the cache or the caller's mirror.
  auto u16_at = [&](std::size_t off) {
    return off == SIZE_MAX ? nullptr : reinterpret_cast<const u16*>(cache + off);
  };
#ifdef QKV_HOSTED
  auto w16 = [&](int i, std::size_t w_off) { return mirror ? mirror + w_off : u16_at(c.w16[i]); };
#else  // no mirrors on bare metal
  static_cast<void>(mirror);
  auto w16 = [&](int i, std::size_t) { return u16_at(c.w16[i]); };
#endif
  const u16 *x16 = u16_at(c.x16), *a16 = u16_at(c.a16);
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const backward_arrays own = carve_backward(mem, n, d);
  float *da = own.da, *dq = own.dq, *dk = own.dk, *dv = own.dv;
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);

  // Output projection: dW_o += A^T dY, db_o += colsum(dY), dA = dY W_o^T.
  const float* dattn = dy;
  if (d.out_proj) {
#ifdef QKV_HOSTED
    round_and_sum(xc, lowp, n.rows, n.d_out, dy, grads + p.b_o, own.dy16);
#else
    if (lowp) round_to_bf16(xc, n.rows * n.d_out, dy, own.dy16);
#endif
    const operand a_op{a, a16}, dy_op{dy, own.dy16}, wo{params + p.w_o, w16(kO, p.w_o)};
    product(xc, lowp, true, false, n.d_out, n.d_out, n.rows, a_op, n.d_out, dy_op, n.d_out, 1.f, grads + p.w_o,
            n.d_out, sub, sub_bytes);
#ifndef QKV_HOSTED
    add_column_sums(xc, n.rows, n.d_out, dy, n.d_out, grads + p.b_o);
#endif
    product(xc, lowp, false, true, n.rows, n.d_out, n.d_out, dy_op, n.d_out, wo, n.d_out, 0.f, da, n.d_out, sub,
            sub_bytes);
    dattn = da;
  }

  const sdpa_plan att = layer_attention_plan(mha_sdpa_desc(d, n, true), xc, bf16_compute(d));
  layer_attention_backward(att, q, k, v, a, lse, dattn, dq, dk, dv, sub, sub_bytes);
  rotate_qk(xc, d, n, n.batch, n.seq, 0, dq, dk, true);  // gradients of the projections' outputs

  // Projections: dW += X^T dP, db += colsum(dP), dX = sum of dP W^T.
  const float* dproj[3] = {dq, dk, dv};
  const std::size_t w_off[3] = {p.w_q, p.w_k, p.w_v};
  const std::size_t b_off[3] = {p.b_q, p.b_k, p.b_v};
  for (int i = 0; i < 3; ++i) {
    const std::size_t cols = i ? n.d_kv : n.d_out;  // of dQ, dK, dV
#ifdef QKV_HOSTED
    round_and_sum(xc, lowp, n.rows, cols, dproj[i], d.qkv_bias ? grads + b_off[i] : nullptr, own.dp16);
#else
    if (lowp) round_to_bf16(xc, n.rows * cols, dproj[i], own.dp16);
#endif
    const operand dp{dproj[i], own.dp16}, w{params + w_off[i], w16(i, w_off[i])};
    product(xc, lowp, true, false, n.d_in, cols, n.rows, operand{x, x16}, n.d_in, dp, cols, 1.f, grads + w_off[i],
            cols, sub, sub_bytes);
#ifndef QKV_HOSTED
    if (d.qkv_bias) add_column_sums(xc, n.rows, cols, dproj[i], cols, grads + b_off[i]);
#endif
    if (dx)
      product(xc, lowp, false, true, n.rows, n.d_in, cols, dp, cols, w, cols, i ? 1.f : 0.f, dx, n.d_in, sub,
              sub_bytes);
  }
}

std::size_t mha_kv_cache_bytes(qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t d_kv) {
  return 2 * batch * capacity * kv_row_bytes(f, d_kv);
}

namespace {

// Whether an fp32 cache's decode reads its rows with kv_attention rather
// than the fused attention: one new token per sequence (hosted builds).
// kv_attention streams each cached row once per query row, which is all one
// token needs (the fused path shares K and V tiles between query rows,
// which cost it twice the memory floor there; bench/README.md, "Few-row
// GEMMs without packing"). A wrapped window's ring always takes it.
bool f32_walks(std::size_t n_new) {
#ifdef QKV_HOSTED
  return n_new == 1;
#else
  static_cast<void>(n_new);
  return false;
#endif
}

}  // namespace

std::size_t mha_decode_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, qkv_dtype wtype, qkv_kv_format f,
                                       std::size_t batch, std::size_t n_new, std::size_t kv_len, int threads) {
  const mha_dims n = mha_dims_for(d, batch, n_new);
  // A windowed layer's ring may wrap: then every format takes kv_attention,
  // the fp32 cache included (own K and V rows first, stored row by row);
  // so does one new token on an fp32 cache (f32_walks).
#ifdef QKV_HOSTED
  std::size_t att_ws =
      kv_attention_workspace_bytes(isa, kv_attention_keys(kv_len, d.window), n.heads, n.d_head, n.rows, threads);
#else
  std::size_t att_ws = kv_attention_workspace_bytes(isa, kv_attention_keys(kv_len, d.window), n.heads, threads);
#endif
  if (f == QKV_KV_F32 && !f32_walks(n_new))
    att_ws = std::max(d.window ? att_ws : 0, attention_ws(isa, d, n, threads, kv_len, false));
  // + the per-sequence key counts of a ragged fp32 decode
  return forward_ws(isa, d, n, threads, types_of(d, wtype), wtype == QKV_DTYPE_F32, att_ws) +
         util::round_up(batch * sizeof(std::size_t), ws_carver::kAlign);
}

bool mha_decode(const exec& xc, const qkv_mha_desc& d, const mha_weights& src, qkv_kv_format f, std::size_t batch,
                std::size_t capacity, std::size_t length, const std::size_t* lengths, std::size_t n_new, void* kv,
                const float* x_new, float* y_new, void* ws, std::size_t ws_bytes) {
  const mha_dims n = mha_dims_for(d, batch, n_new);
  const proj_types t = types_of(d, src.wtype);
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const forward_arrays own = carve_forward(mem, n, d);
  const weight_copies copies = carve_weights(mem, d, t);
  std::size_t* kv_lens = mem.take<std::size_t>(batch);
  float *q = own.q, *a = own.a, *lse = own.lse;
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);

  // Sequence b's cached tokens; the new ones go to rows [len(b), len(b) + n_new).
  auto len = [&](std::size_t b) { return lengths ? lengths[b] : length; };
  std::size_t longest = 0;
  for (std::size_t b = 0; b < batch; ++b) longest = std::max(longest, len(b));
  const bool wraps = longest + n_new > capacity;  // a windowed layer's ring (the C boundary checked)
  const std::size_t row_bytes = kv_row_bytes(f, n.d_kv);
  unsigned char* kc = static_cast<unsigned char*>(kv);
  unsigned char* vc = kc + batch * capacity * row_bytes;
  // A refused q8_0 store must leave the cache as it was: the weights are
  // resolved (and rounded) into the workspace only, so this is safe.
  const proj_weights w = resolve_weights(xc, d, src, t, copies);
  if (t.at == QKV_DTYPE_BF16) round_to_bf16(xc, n.rows * n.d_in, x_new, own.x16);
  // Q, K and V of the new tokens (K and Q rotated at their positions); K
  // and V stored (rounded or quantized) only when every value fits the
  // format, so a refused call changes nothing. One call site each
  // (Cortex-M4's .text budget).
  float* const qkv[3] = {q, own.k, own.v};
  for (int i = kQ; i <= kV; ++i)
    project(xc, w, i, n.rows, n.d_in, width(d, i), x_new, own.x16, n.d_in, qkv[i], sub, sub_bytes);
  for (std::size_t b = 0; b < batch; ++b)
    rotate_qk(xc, d, n, 1, n_new, len(b), q + b * n_new * n.d_out, own.k + b * n_new * n.d_kv, false);
  if (!kv_storable(xc.isa, f, n.rows, n.d_kv, own.k) || !kv_storable(xc.isa, f, n.rows, n.d_kv, own.v)) return false;
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t i = 0; i < n_new; ++i) {  // position len(b) + i at row (len(b) + i) % capacity
      const std::size_t src_off = (b * n_new + i) * n.d_kv;
      const std::size_t dst = (b * capacity + (len(b) + i) % capacity) * row_bytes;
      for (int kv_i = 0; kv_i < 2; ++kv_i)  // K, then V
        kv_store(xc.isa, f, 1, n.d_kv, (kv_i ? own.v : own.k) + src_off, n.d_kv, (kv_i ? vc : kc) + dst, row_bytes);
    }
    kv_lens[b] = len(b) + n_new;
  }
  float* attn_out = d.out_proj ? a : y_new;
  if (f == QKV_KV_F32 && !wraps && !f32_walks(n_new)) {  // the fused attention over the cache rows in place
    qkv_sdpa_desc s = mha_sdpa_desc(d, n, false);
    s.kv_len = longest + n_new;  // bottom-right causal alignment: new token i sees keys <= len(b) + i
    if (lengths) s.kv_lens = kv_lens;
    s.k = s.v = qkv_sdpa_strides{capacity * n.d_kv, n.d_head, n.d_kv};
    layer_attention_forward(resolve_sdpa(s, xc), q, reinterpret_cast<const float*>(kc),
                            reinterpret_cast<const float*>(vc), attn_out, lse, sub, sub_bytes);
  } else {  // widened rows, or the ring of a windowed layer
    auto kp = util::zeroed<kv_attention_problem>();
    kp.format = f, kp.batch = batch, kp.heads = n.heads, kp.n_new = n_new, kp.length = length;
    kp.lengths = lengths, kp.kv_heads = n.kv_heads, kp.window = d.window;
    kp.d_head = n.d_head, kp.d_out = n.d_out, kp.capacity = capacity, kp.row_bytes = row_bytes;
    kp.scale = 1.0f / std::sqrt(static_cast<float>(n.d_head));  // the layer's (sdpa scale 0)
    kp.softcap = d.softcap;
    kp.q = q, kp.k = kc, kp.v = vc, kp.out = attn_out;
    kv_attention(xc, kp, sub, sub_bytes);
  }
  if (d.out_proj) {
    if (t.at == QKV_DTYPE_BF16) round_to_bf16(xc, n.rows * n.d_out, a, own.a16);
    project(xc, w, kO, n.rows, n.d_out, n.d_out, a, own.a16, n.d_out, y_new, sub, sub_bytes);
  }
  return true;
}

}  // namespace qkv::ops
