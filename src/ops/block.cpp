// SPDX-License-Identifier: MIT
// block - the decoder block's forward, backward and decode (qkv/block.h).
//
// Pre-norm:  N1 = norm1(X); A = attn(N1); R = X + drop1(A W_o + b_o);
//            N2 = norm2(R); Y = R + drop2(ffn(N2))
// Post-norm: A = attn(X); S1 = X + drop1(A W_o + b_o); R = norm1(S1);
//            S2 = R + drop2(ffn(R)); Y = norm2(S2)
// Without residual dropout a residual sum is one GEMM: the output starts as
// base + bias and the product accumulates into it (beta = 1), so no branch
// output is ever stored. The training cache keeps what the backward reads:
// the norms' statistics, N1/S1, R, N2/S2, the FFN's pre-activations and
// hidden activations, and the attention layer's own cache (which holds A).
#include "ops/block.hpp"

#ifdef QKV_HOSTED  // bare metal: the C boundary is stubs (capi/block.cpp)

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/act.hpp"
#include "ops/dropout_rng.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_ex.hpp"
#include "ops/norm.hpp"
#include "ops/rows.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"

namespace qkv::ops {

qkv_mha_desc block_attention_desc(const qkv_block_desc& d) {
  qkv_mha_desc a;  // every field set below (no `{}`: bare metal would call memset)
  a.d_in = a.d_out = d.d_model;
  a.num_heads = d.num_heads;
  a.num_kv_heads = d.num_kv_heads;
  a.causal = d.causal;
  a.qkv_bias = d.bias;
  a.out_proj = 0;
  a.dropout_p = d.attn_dropout;
  a.dropout_seed = d.dropout_seed;
  // Copied as bits: a caller's description may hold any int there, and
  // loading an enum outside its range is undefined (the layer's validation
  // reads it as an integer and refuses it).
  std::memcpy(&a.compute_type, &d.compute_type, sizeof a.compute_type);
  a.window = d.window;
  a.rope = d.rope;
  a.rope_layout = d.rope_layout;
  a.rope_dim = d.rope_dim;
  a.rope_theta = d.rope_theta;
  a.softcap = d.softcap;
  return a;
}

block_dims block_dims_for(const qkv_block_desc& d, std::size_t batch, std::size_t seq) {
  block_dims n;
  n.batch = batch, n.seq = seq, n.rows = batch * seq, n.d = d.d_model, n.ff = d.d_ff;
  n.attn = mha_dims_for(block_attention_desc(d), batch, seq);
  return n;
}

namespace {

using u16 = std::uint16_t;

bool gated(const qkv_block_desc& d) { return d.ffn == QKV_FFN_SWIGLU; }
// BF16 compute: the block's GEMMs multiply bf16 copies (qkv/block.h).
bool lowp(const qkv_block_desc& d) { return d.compute_type == QKV_DTYPE_BF16; }
norm_kind norm_of(const qkv_block_desc& d) { return d.norm == QKV_NORM_RMS ? norm_kind::rms : norm_kind::layer; }
float eps_of(const qkv_block_desc& d) { return d.norm_eps > 0.f ? d.norm_eps : 1e-5f; }
act_kind act_of(const qkv_block_desc& d) {
  switch (d.ffn) {
    case QKV_FFN_GELU_ERF: return act_kind::gelu_erf;
    case QKV_FFN_RELU: return act_kind::relu;
    case QKV_FFN_SILU: return act_kind::silu;
    default: return act_kind::gelu_tanh;
  }
}

// The activations of one call. Training: carved from the cache, everything
// the backward reads. Inference: from the workspace, only what the forward
// needs (pre-norm keeps R in Y, a non-gated FFN no pre-activations).
// BF16 compute adds the bf16 operands of the block's own GEMMs (the
// attention layer keeps its own in its cache or workspace): the attention
// output A16, the FFN's input F16 (N2 or R), the hidden H16 and the
// rounded weights.
struct state {
  float *mean1, *rstd1, *mean2, *rstd2;  // row statistics (training)
  float *n1, *s1, *r1, *n2, *s2;         // N1 (pre), S1 (post), R, N2 (pre), S2 (post)
  float *gate, *up, *h;                  // FFN: gate and up pre-activations, hidden
  float* mha;                            // the attention layer's cache (training)
  u16 *a16, *f16, *h16;                  // BF16 compute: the GEMMs' activation operands
  u16* copies[4];                        // BF16 compute: the weights W_o, W_gate, W_up, W_down rounded
  const u16 *wo16, *wgate16, *wup16, *wdown16;  // the weights the GEMMs read: copies or a mirror
};

state carve_state(ws_carver& c, const qkv_block_desc& d, const block_dims& n, bool training) {
  const std::size_t rd = n.rows * n.d, rf = n.rows * n.ff;
  const bool pre = d.pre_norm != 0;
  state s{};
  if (training) {
    s.mean1 = c.take<float>(n.rows), s.rstd1 = c.take<float>(n.rows);
    s.mean2 = c.take<float>(n.rows), s.rstd2 = c.take<float>(n.rows);
  }
  if (pre) s.n1 = c.take<float>(rd);
  else s.s1 = c.take<float>(rd);
  if (training || !pre) s.r1 = c.take<float>(rd);
  if (pre) s.n2 = c.take<float>(rd);
  else s.s2 = c.take<float>(rd);
  if (gated(d)) s.gate = c.take<float>(rf);
  if (training || gated(d)) s.up = c.take<float>(rf);
  s.h = c.take<float>(rf);
  if (training) s.mha = c.take<float>(mha_cache_layout_for(block_attention_desc(d), n.attn).floats);
  if (lowp(d)) {
    s.a16 = c.take<u16>(rd), s.f16 = c.take<u16>(rd), s.h16 = c.take<u16>(rf);
    s.copies[0] = c.take<u16>(n.d * n.d), s.copies[2] = c.take<u16>(n.d * n.ff);
    s.copies[3] = c.take<u16>(n.ff * n.d);
    if (gated(d)) s.copies[1] = c.take<u16>(n.d * n.ff);
    s.wo16 = s.copies[0], s.wgate16 = s.copies[1], s.wup16 = s.copies[2], s.wdown16 = s.copies[3];
  }
  return s;
}

std::size_t carved(const ws_carver& c) {
  std::size_t b = 0;
  c.size(&b);
  return b;
}

// A bf16 x bf16 -> fp32 gemm_ex problem, alpha 1: C = beta C + op(A) op(B)
// (+ bias, set per C tile, with beta 1).
gemm_ex_args bf16_args(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const u16* A, std::size_t lda,
                       const u16* B, std::size_t ldb, float beta, float* C, std::size_t ldc,
                       const float* bias = nullptr) {
  gemm_ex_args g{};
  g.ta = ta, g.tb = tb, g.M = M, g.N = N, g.K = K;
  g.at = g.bt = QKV_DTYPE_BF16, g.ct = QKV_DTYPE_F32;
  g.A = A, g.lda = lda, g.B = B, g.ldb = ldb, g.C = C, g.ldc = ldc;
  g.alpha = 1.f, g.beta = bias ? 1.f : beta, g.bias = bias;
  return g;
}

// The largest workspace of the block's own GEMMs (forward and backward).
std::size_t gemm_ws(qkv_isa isa, const qkv_block_desc& d, const block_dims& n, int threads) {
  const std::size_t R = n.rows, D = n.d, F = n.ff;
  const struct {
    bool ta, tb;
    std::size_t M, N, K;
  } g[] = {{false, false, R, D, D}, {false, false, R, F, D}, {false, false, R, D, F},
           {true, false, D, D, R},  {false, true, R, D, D},  {true, false, F, D, R},
           {false, true, R, F, D},  {true, false, D, F, R},  {false, true, R, D, F}};
  std::size_t m = 0;
  if (!lowp(d)) m = sgemm_bias_act_workspace_bytes(isa, false, false, R, F, D, threads);
  for (const auto& s : g) {
    if (!lowp(d)) {
      m = std::max(m, sgemm_workspace_bytes(isa, s.ta, s.tb, s.M, s.N, s.K, threads));
      continue;
    }
    for (float beta : {0.f, 1.f}) {  // fp32 C with beta 1 may need an accumulator
      std::size_t b = 0;
      if (gemm_ex_workspace_bytes(isa, bf16_args(s.ta, s.tb, s.M, s.N, s.K, nullptr, 0, nullptr, 0, beta, nullptr, 0),
                                  threads, &b))
        m = std::max(m, b);
    }
  }
  return m;
}

// ---- residual connections -------------------------------------------------

// The residual dropout mask of branch 1 or 2: keep (r, j) iff
// keep(row_key(seed, 0, branch, r), j), a pure function of the position, as
// attention dropout's (ops/dropout_rng.hpp); a stream of its own.
struct resid_drop {
  std::uint64_t seed;
  std::uint32_t thresh;
  float scale;
  std::uint64_t branch;
  std::uint64_t row(std::size_t r) const {
    return dropout::row_key(seed ^ 0x8F1BBCDCCA62C1D6ull, 0, branch, r);
  }
};

resid_drop drop_of(const qkv_block_desc& d, int branch) {
  return resid_drop{d.dropout_seed, dropout::threshold(d.resid_dropout), 1.f / (1.f - d.resid_dropout),
                    static_cast<std::uint64_t>(branch)};
}

float flops_of(std::size_t rows, std::size_t cols) { return static_cast<float>(rows) * static_cast<float>(cols); }

// out[r] = base[r] + bias (bias null: base); out may be base.
void residual_start(const exec& xc, std::size_t rows, std::size_t d, const float* base, const float* bias,
                    float* out) {
  parallel_for_blocks(xc, rows, flops_of(rows, d), [&](std::size_t r) {
    const float* b = base + r * d;
    float* o = out + r * d;
    if (bias)
      for (std::size_t j = 0; j < d; ++j) o[j] = b[j] + bias[j];
    else if (o != b)
      util::copy_floats(o, b, d);
  });
}

// out = base + drop(br); out may be base.
void dropout_add(const exec& xc, std::size_t rows, std::size_t d, const float* base, const float* br,
                 const resid_drop& m, float* out) {
  parallel_for_blocks(xc, rows, flops_of(rows, d), [&](std::size_t r) {
    const std::uint64_t key = m.row(r);
    for (std::size_t j = 0; j < d; ++j) {
      const float v = dropout::keep(key, j, m.thresh) ? br[r * d + j] * m.scale : 0.f;
      out[r * d + j] = base[r * d + j] + v;
    }
  });
}

// out = the gradient through drop: g * scale where kept, else 0.
void dropout_backward(const exec& xc, std::size_t rows, std::size_t d, const float* g, const resid_drop& m,
                      float* out) {
  parallel_for_blocks(xc, rows, flops_of(rows, d), [&](std::size_t r) {
    const std::uint64_t key = m.row(r);
    for (std::size_t j = 0; j < d; ++j) out[r * d + j] = dropout::keep(key, j, m.thresh) ? g[r * d + j] * m.scale : 0.f;
  });
}

// out += a.
void add_into(const exec& xc, std::size_t n, const float* a, float* out) {
  const std::size_t blk = 4096, blocks = (n + blk - 1) / blk;
  parallel_for_blocks(xc, blocks, static_cast<float>(n), [&](std::size_t b) {
    const std::size_t end = std::min(n, (b + 1) * blk);
    for (std::size_t i = b * blk; i < end; ++i) out[i] += a[i];
  });
}

// Everything a forward-shaped call shares.
struct ctx {
  const exec& xc;
  const qkv_block_desc& d;
  const qkv_block_layout& p;
  const float* P;
  std::size_t rows;
  void* gws;
  std::size_t gws_bytes;
  const u16* mirror;  // BF16 compute: the params rounded by the caller (same layout), or nullptr
  const float* at(std::size_t off) const { return off == SIZE_MAX ? nullptr : P + off; }
};

// The block's own bf16 weights in the caller's mirror instead of the
// state's copies (which then stay unwritten).
void point_at_mirror(const ctx& c, state& s) {
  if (!c.mirror) return;
  s.wo16 = c.mirror + c.p.w_o, s.wup16 = c.mirror + c.p.w_up, s.wdown16 = c.mirror + c.p.w_down;
  if (gated(c.d)) s.wgate16 = c.mirror + c.p.w_gate;
}

// C[rows][n] = in[rows][k] W[k][n] (+ b) with beta: the fp32 weights at
// offset w through sgemm, or (BF16 compute) in16 times w16 through gemm_ex.
void linear(const ctx& c, const float* in, const u16* in16, std::size_t k, std::size_t n, std::size_t w,
            const u16* w16, const float* b, float beta, float* out) {
  if (lowp(c.d)) {
    gemm_ex(c.xc, bf16_args(false, false, c.rows, n, k, in16, k, w16, n, beta, out, n, b), c.gws, c.gws_bytes);
  } else if (b) {  // beta 0 here
    sgemm_bias(c.xc, false, false, c.rows, n, k, in, k, c.P + w, n, b, out, n, c.gws, c.gws_bytes);
  } else {
    sgemm(c.xc, false, false, c.rows, n, k, 1.f, in, k, c.P + w, n, beta, out, n, c.gws, c.gws_bytes);
  }
}

// out = base + drop(in W + b) over [rows][d] (in: [rows][k]; in16 its bf16
// copy with BF16 compute); br: scratch for the branch when dropout is on
// (else unused).
void residual(const ctx& c, const float* base, const float* in, const u16* in16, std::size_t k, std::size_t w,
              const u16* w16, std::size_t b, float* out, bool dropout, int branch, float* br) {
  const std::size_t D = c.d.d_model;
  if (!dropout) {
    residual_start(c.xc, c.rows, D, base, c.at(b), out);
    linear(c, in, in16, k, D, w, w16, nullptr, 1.f, out);
    return;
  }
  linear(c, in, in16, k, D, w, w16, c.at(b), 0.f, br);
  dropout_add(c.xc, c.rows, D, base, br, drop_of(c.d, branch), out);
}

// h = act(in W_up + b_up), or silu(in W_gate + b_gate) * (in W_up + b_up);
// with BF16 compute in is rounded to s.f16 first and h to s.h16 after.
void ffn_hidden(const ctx& c, const float* in, const state& s) {
  const std::size_t D = c.d.d_model, F = c.d.d_ff;
  if (lowp(c.d)) {
    round_to_bf16(c.xc, c.rows * D, in, s.f16);
    float* up = s.up ? s.up : s.h;  // inference without a gate keeps no pre-activation
    if (gated(c.d)) linear(c, in, s.f16, D, F, c.p.w_gate, s.wgate16, c.at(c.p.b_gate), 0.f, s.gate);
    linear(c, in, s.f16, D, F, c.p.w_up, s.wup16, c.at(c.p.b_up), 0.f, up);
    if (gated(c.d))
      swiglu_forward(c.xc, c.rows, F, s.gate, F, s.up, F, s.h, F);
    else
      act_forward(c.xc, act_of(c.d), c.rows, F, up, F, s.h, F);
    round_to_bf16(c.xc, c.rows * F, s.h, s.h16);
    return;
  }
  if (!gated(c.d)) {
    sgemm_bias_act(c.xc, false, false, c.rows, F, D, in, D, c.P + c.p.w_up, F, c.at(c.p.b_up), act_of(c.d), s.up, F,
                   s.h, F, c.gws, c.gws_bytes);
    return;
  }
  const std::size_t w[2] = {c.p.w_gate, c.p.w_up}, b[2] = {c.p.b_gate, c.p.b_up};
  float* out[2] = {s.gate, s.up};
  for (int i = 0; i < 2; ++i) {
    if (c.at(b[i]))
      sgemm_bias(c.xc, false, false, c.rows, F, D, in, D, c.P + w[i], F, c.at(b[i]), out[i], F, c.gws, c.gws_bytes);
    else
      sgemm(c.xc, false, false, c.rows, F, D, 1.f, in, D, c.P + w[i], F, 0.f, out[i], F, c.gws, c.gws_bytes);
  }
  swiglu_forward(c.xc, c.rows, F, s.gate, F, s.up, F, s.h, F);
}

void norm_rows(const ctx& c, const float* in, std::size_t g, std::size_t b, float* out, float* mean, float* rstd) {
  const std::size_t D = c.d.d_model;
  norm_forward(c.xc, norm_of(c.d), c.rows, D, eps_of(c.d), in, D, nullptr, 0, nullptr, 0, c.P + g, c.at(b), out, D,
               mean, rstd);
}

// The forward around an attention call attend(in, out) -> bool (false: stop,
// nothing written to y). att: [rows][d] scratch for the attention output.
// BF16 compute: the block's own weights rounded into s (the attention
// layer rounds its own), unless they come from the caller's mirror.
void round_weights(const ctx& c, const state& s) {
  if (!lowp(c.d) || c.mirror) return;
  const std::size_t D = c.d.d_model, F = c.d.d_ff;
  round_to_bf16(c.xc, D * D, c.P + c.p.w_o, s.copies[0]);
  if (gated(c.d)) round_to_bf16(c.xc, D * F, c.P + c.p.w_gate, s.copies[1]);
  round_to_bf16(c.xc, D * F, c.P + c.p.w_up, s.copies[2]);
  round_to_bf16(c.xc, F * D, c.P + c.p.w_down, s.copies[3]);
}

template <class Attend>
bool run_forward(const ctx& c, const float* x, float* y, const state& s, float* att, bool dropout, float* br,
                 Attend&& attend) {
  const qkv_block_desc& d = c.d;
  const qkv_block_layout& p = c.p;
  round_weights(c, s);
  const float* a_in = x;
  if (d.pre_norm) {
    norm_rows(c, x, p.norm1_g, p.norm1_b, s.n1, s.mean1, s.rstd1);
    a_in = s.n1;
  }
  if (!attend(a_in, att)) return false;
  if (lowp(d)) round_to_bf16(c.xc, c.rows * d.d_model, att, s.a16);
  float* r1 = s.r1 ? s.r1 : y;  // pre-norm inference keeps R in Y
  if (d.pre_norm) {
    residual(c, x, att, s.a16, d.d_model, p.w_o, s.wo16, p.b_o, r1, dropout, 1, br);
    norm_rows(c, r1, p.norm2_g, p.norm2_b, s.n2, s.mean2, s.rstd2);
    ffn_hidden(c, s.n2, s);
    residual(c, r1, s.h, s.h16, d.d_ff, p.w_down, s.wdown16, p.b_down, y, dropout, 2, br);
  } else {
    residual(c, x, att, s.a16, d.d_model, p.w_o, s.wo16, p.b_o, s.s1, dropout, 1, br);
    norm_rows(c, s.s1, p.norm1_g, p.norm1_b, r1, s.mean1, s.rstd1);
    ffn_hidden(c, r1, s);
    residual(c, r1, s.h, s.h16, d.d_ff, p.w_down, s.wdown16, p.b_down, s.s2, dropout, 2, br);
    norm_rows(c, s.s2, p.norm2_g, p.norm2_b, y, s.mean2, s.rstd2);
  }
  return true;
}

// The attention's parameter layout, relative to the block's w_q.
qkv_mha_layout attn_layout(const qkv_block_layout& p) {
  auto rel = [&](std::size_t off) { return off == SIZE_MAX ? SIZE_MAX : off - p.w_q; };
  return qkv_mha_layout{rel(p.w_q), rel(p.w_k), rel(p.w_v), rel(p.b_q), rel(p.b_k), rel(p.b_v),
                        SIZE_MAX,   SIZE_MAX,   p.w_o - p.w_q};
}

// Forward-shaped workspace: the state (inference), the attention output, the
// dropout branch, then the larger of the GEMMs' and the attention's.
struct fwd_ws {
  state s;
  float *att, *br;
};
fwd_ws carve_fwd(ws_carver& c, const qkv_block_desc& d, const block_dims& n, bool training) {
  fwd_ws w{};
  if (!training) w.s = carve_state(c, d, n, false);
  w.att = c.take<float>(n.rows * n.d);
  if (training && d.resid_dropout > 0.f) w.br = c.take<float>(n.rows * n.d);
  return w;
}

}  // namespace

std::size_t block_cache_bytes(const qkv_block_desc& d, const block_dims& n) {
  ws_carver c;
  carve_state(c, d, n, true);
  return carved(c);
}

std::size_t block_forward_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, const block_dims& n, int threads) {
  std::size_t most = 0;
  for (bool training : {false, true}) {
    ws_carver c;
    carve_fwd(c, d, n, training);
    most = std::max(most, carved(c));
  }
  const qkv_mha_desc a = block_attention_desc(d);
  const std::size_t sub =
      std::max(gemm_ws(isa, d, n, threads), mha_forward_workspace_bytes(isa, a, QKV_DTYPE_F32, n.attn, threads));
  return most + sub + ws_carver::kAlign;
}

void block_forward(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const block_dims& n,
                   const float* params, const float* x, float* y, bool training, float* cache, void* ws,
                   std::size_t ws_bytes, const std::uint16_t* mirror) {
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  fwd_ws w = carve_fwd(mem, d, n, training);
  if (training) {
    ws_carver cc(cache);
    w.s = carve_state(cc, d, n, true);
  }
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);
  const ctx c{xc, d, p, params, n.rows, sub, sub_bytes, mirror};
  point_at_mirror(c, w.s);
  const qkv_mha_desc a = block_attention_desc(d);
  const qkv_mha_layout l = attn_layout(p);
  const mha_weights wts{QKV_DTYPE_F32, params + p.w_q, &l, nullptr, mirror ? mirror + p.w_q : nullptr};
  run_forward(c, x, y, w.s, w.att, training && d.resid_dropout > 0.f, w.br, [&](const float* in, float* out) {
    mha_forward(xc, a, n.attn, wts, in, out, training, w.s.mha, sub, sub_bytes);
    return true;
  });
}

namespace {

// Backward scratch: the gradient of R/S1 when dx is null (gr), the norms'
// input gradients (dn), the dropout branch (t1), dA (t2), the FFN's hidden
// gradients (dh; gated: dg, du); BF16 compute: one branch gradient at a
// time rounded for its two GEMMs (g16, rows x max(d, ff)).
struct bwd_ws {
  float *gr, *dn, *t1, *t2, *dh, *dg, *du;
  u16* g16;
};
bwd_ws carve_bwd(ws_carver& c, const qkv_block_desc& d, const block_dims& n) {
  const std::size_t rd = n.rows * n.d, rf = n.rows * n.ff;
  bwd_ws w{};
  w.gr = c.take<float>(rd), w.dn = c.take<float>(rd), w.t2 = c.take<float>(rd);
  if (d.resid_dropout > 0.f) w.t1 = c.take<float>(rd);
  w.dh = c.take<float>(rf);
  if (gated(d)) w.dg = c.take<float>(rf), w.du = c.take<float>(rf);
  if (lowp(d)) w.g16 = c.take<u16>(std::max(rd, rf));
  return w;
}

// The two GEMMs through a linear layer Y = in W (+ b) given G = dL/dY
// [rows][n] (in: [rows][k]): dW += in^T G, the bias gradient (b_off), and
// out = out_beta * out + G W^T. BF16 compute: G rounded to w.g16 (with the
// bias sums in the same pass), in16 and w16 the forward's bf16 copies.
void linear_backward(const ctx& c, const float* in, const u16* in16, std::size_t k, std::size_t n, std::size_t w_off,
                     const u16* w16, std::size_t b_off, const float* g, float* out, float out_beta, const bwd_ws& w,
                     float* grads) {
  const exec& xc = c.xc;
  const std::size_t R = c.rows;
  float* db = b_off == SIZE_MAX ? nullptr : grads + b_off;
  if (!lowp(c.d)) {
    sgemm(xc, true, false, k, n, R, 1.f, in, k, g, n, 1.f, grads + w_off, n, c.gws, c.gws_bytes);
    if (db) add_column_sums(xc, R, n, g, n, db);
    sgemm(xc, false, true, R, k, n, 1.f, g, n, c.P + w_off, n, out_beta, out, k, c.gws, c.gws_bytes);
    return;
  }
  if (db)
    add_column_sums_to_bf16(xc, R, n, g, n, db, w.g16, n);
  else
    round_to_bf16(xc, R * n, g, w.g16);
  gemm_ex(xc, bf16_args(true, false, k, n, R, in16, k, w.g16, n, 1.f, grads + w_off, n), c.gws, c.gws_bytes);
  gemm_ex(xc, bf16_args(false, true, R, k, n, w.g16, n, w16, n, out_beta, out, k), c.gws, c.gws_bytes);
}

// Through Y = base + drop(ffn(in)) given g = dL/dY: accumulates the FFN's
// parameter gradients and writes out = out_beta * out + dL/d(in) from the FFN.
void ffn_backward(const ctx& c, const state& s, const float* in, const float* g, float* out, float out_beta,
                  const bwd_ws& w, float* grads) {
  const exec& xc = c.xc;
  const qkv_block_layout& p = c.p;
  const std::size_t R = c.rows, D = c.d.d_model, F = c.d.d_ff;
  const float* df = g;
  if (c.d.resid_dropout > 0.f) {
    dropout_backward(xc, R, D, g, drop_of(c.d, 2), w.t1);
    df = w.t1;
  }
  linear_backward(c, s.h, s.h16, F, D, p.w_down, s.wdown16, p.b_down, df, w.dh, 0.f, w, grads);
  // The pre-activations' gradients and the projections they come from.
  const float* dpre[2] = {w.dh, nullptr};
  std::size_t wt[2] = {p.w_up, SIZE_MAX}, bs[2] = {p.b_up, SIZE_MAX};
  const u16* w16[2] = {s.wup16, nullptr};
  if (gated(c.d)) {
    swiglu_backward(xc, R, F, s.gate, F, s.up, F, w.dh, F, w.dg, F, w.du, F);
    dpre[0] = w.dg, dpre[1] = w.du;
    wt[0] = p.w_gate, wt[1] = p.w_up, bs[0] = p.b_gate, bs[1] = p.b_up;
    w16[0] = s.wgate16, w16[1] = s.wup16;
  } else {
    act_backward(xc, act_of(c.d), R, F, s.up, F, w.dh, F, w.dh, F);
  }
  for (int i = 0; i < 2 && dpre[i]; ++i)
    linear_backward(c, in, s.f16, D, F, wt[i], w16[i], bs[i], dpre[i], out, i ? 1.f : out_beta, w, grads);
}

}  // namespace

std::size_t block_backward_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, const block_dims& n, int threads) {
  ws_carver c;
  carve_bwd(c, d, n);
  const qkv_mha_desc a = block_attention_desc(d);
  const std::size_t sub = std::max(gemm_ws(isa, d, n, threads), mha_backward_workspace_bytes(isa, a, n.attn, threads));
  return carved(c) + sub + ws_carver::kAlign;
}

void block_backward(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const block_dims& n,
                    const float* params, const float* x, const float* cache, const float* dy, float* dx,
                    float* grads, void* ws, std::size_t ws_bytes, const std::uint16_t* mirror) {
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const bwd_ws w = carve_bwd(mem, d, n);
  ws_carver cc(const_cast<float*>(cache));  // read only
  state s = carve_state(cc, d, n, true);
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);
  const ctx c{xc, d, p, params, n.rows, sub, sub_bytes, mirror};
  point_at_mirror(c, s);
  const std::size_t R = n.rows, D = n.d;
  const norm_kind nk = norm_of(d);
  auto grad_at = [&](std::size_t off) { return off == SIZE_MAX ? nullptr : grads + off; };
  float* gr = dx ? dx : w.gr;  // dL/dR, then dL/dS1 (post-norm), finally dL/dX

  if (d.pre_norm) {
    // Y = R + drop(ffn(N2)), N2 = norm2(R): dR = dY + norm2'(dN2).
    ffn_backward(c, s, s.n2, dy, w.dn, 0.f, w, grads);
    if (gr != dy) util::copy_floats(gr, dy, R * D);
    norm_backward(xc, nk, R, D, s.r1, D, params + p.norm2_g, s.mean2, s.rstd2, w.dn, D, gr, D, true,
                  grads + p.norm2_g, grad_at(p.norm2_b));
  } else {
    // Y = norm2(S2), S2 = R + drop(ffn(R)), R = norm1(S1).
    norm_backward(xc, nk, R, D, s.s2, D, params + p.norm2_g, s.mean2, s.rstd2, dy, D, gr, D, false,
                  grads + p.norm2_g, grad_at(p.norm2_b));
    ffn_backward(c, s, s.r1, gr, gr, 1.f, w, grads);
    norm_backward(xc, nk, R, D, s.s1, D, params + p.norm1_g, s.mean1, s.rstd1, gr, D, gr, D, false,
                  grads + p.norm1_g, grad_at(p.norm1_b));
  }

  // R (pre) or S1 (post) = X + drop(A W_o + b_o); gr holds its gradient.
  const float* d_o = gr;
  if (d.resid_dropout > 0.f) {
    dropout_backward(xc, R, D, gr, drop_of(d, 1), w.t1);
    d_o = w.t1;
  }
  const qkv_mha_desc a = block_attention_desc(d);
  const float* att = s.mha + mha_cache_layout_for(a, n.attn).a;
  linear_backward(c, att, s.a16, D, D, p.w_o, s.wo16, p.b_o, d_o, w.t2, 0.f, w, grads);
  const qkv_mha_layout l = attn_layout(p);
  const float* a_in = d.pre_norm ? s.n1 : x;
  float* d_in = (d.pre_norm || dx) ? w.dn : nullptr;
  mha_backward(xc, a, l, n.attn, params + p.w_q, a_in, s.mha, w.t2, d_in, grads + p.w_q, sub, sub_bytes,
               mirror ? mirror + p.w_q : nullptr);
  if (d.pre_norm)  // N1 = norm1(X): dX = dR + norm1'(dN1)
    norm_backward(xc, nk, R, D, x, D, params + p.norm1_g, s.mean1, s.rstd1, w.dn, D, gr, D, true,
                  grads + p.norm1_g, grad_at(p.norm1_b));
  else if (dx)
    add_into(xc, R * D, w.dn, gr);
}

std::size_t block_decode_workspace_bytes(qkv_isa isa, const qkv_block_desc& d, qkv_kv_format f, std::size_t batch,
                                         std::size_t n_new, std::size_t kv_len, int threads) {
  const block_dims n = block_dims_for(d, batch, n_new);
  ws_carver c;
  carve_fwd(c, d, n, false);
  const qkv_mha_desc a = block_attention_desc(d);
  const std::size_t sub = std::max(gemm_ws(isa, d, n, threads),
                                   mha_decode_workspace_bytes(isa, a, QKV_DTYPE_F32, f, batch, n_new, kv_len, threads));
  return carved(c) + sub + ws_carver::kAlign;
}

bool block_decode(const exec& xc, const qkv_block_desc& d, const qkv_block_layout& p, const float* params,
                  qkv_kv_format f, std::size_t batch, std::size_t capacity, std::size_t length,
                  const std::size_t* lengths, std::size_t n_new, void* kv, const float* x_new, float* y_new, void* ws,
                  std::size_t ws_bytes) {
  const block_dims n = block_dims_for(d, batch, n_new);
  std::size_t bytes = ws_bytes;
  ws_carver mem(align_workspace(ws, &bytes));
  const fwd_ws w = carve_fwd(mem, d, n, false);
  std::size_t sub_bytes = 0;
  void* sub = mem.rest(bytes, &sub_bytes);
  const ctx c{xc, d, p, params, n.rows, sub, sub_bytes, nullptr};
  const qkv_mha_desc a = block_attention_desc(d);
  const qkv_mha_layout l = attn_layout(p);
  const mha_weights wts{QKV_DTYPE_F32, params + p.w_q, &l, nullptr};
  return run_forward(c, x_new, y_new, w.s, w.att, false, nullptr, [&](const float* in, float* out) {
    return mha_decode(xc, a, wts, f, batch, capacity, length, lengths, n_new, kv, in, out, sub, sub_bytes);
  });
}


}  // namespace qkv::ops

#endif  // QKV_HOSTED
