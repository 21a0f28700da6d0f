// SPDX-License-Identifier: MIT
#include "ops/mha_int8.hpp"

#include <cmath>

#include "kernels/vec/vec.hpp"
#include "ops/gemm_ex.hpp"
#include "ops/int8_fixed.hpp"
#include "ops/int8_softmax.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/half.hpp"

namespace qkv::ops {
namespace {

constexpr std::size_t round64(std::size_t b) { return (b + 63) / 64 * 64; }

// The int8 projection C[rows][n_out] = X[rows][n_in] W^T, W [n_out][n_in].
gemm_ex_args proj_args(std::size_t rows, std::size_t n_in, std::size_t n_out, const std::int8_t* x,
                       const std::int8_t* w, std::int32_t* acc) {
  gemm_ex_args a;
  a.ta = false, a.tb = true, a.M = rows, a.N = n_out, a.K = n_in;
  a.at = a.bt = QKV_DTYPE_I8, a.ct = QKV_DTYPE_I32;
  a.A = x, a.lda = n_in, a.B = w, a.ldb = n_in, a.C = acc, a.ldc = n_out;
  a.alpha = 1.0f, a.beta = 0.0f, a.sa = a.sb = nullptr, a.bias = nullptr;
  return a;
}

std::size_t gemm_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  const std::size_t shapes[3][2] = {{n.d_in, n.d_out}, {n.d_in, n.d_kv}, {n.d_out, n.d_out}};
  std::size_t best = 0;
  for (int i = 0; i < (d.out_proj ? 3 : 2); ++i) {
    std::size_t b = 0;
    if (gemm_ex_workspace_bytes(isa, proj_args(n.rows, shapes[i][0], shapes[i][1], nullptr, nullptr, nullptr),
                                threads, &b) &&
        b > best)
      best = b;
  }
  return best;
}

std::size_t slot_bytes(const mha_dims& n) { return round64(4 * n.seq) + round64(2 * n.seq) + round64(4 * n.d_head); }

// The codes of one projection: out[r][c] (row stride ldo) from the int32 sums.
void project(const exec& xc, const std::int8_t* in, std::size_t rows, std::size_t n_in, const void* qlayer,
             const qkv_mha_int8_layout& l, int which, std::size_t n_out, std::int32_t z_out, std::int8_t* out,
             std::int32_t* acc, void* gws, std::size_t gws_bytes) {
  const char* base = static_cast<const char*>(qlayer);
  const auto* w = reinterpret_cast<const std::int8_t*>(base + l.w[which]);
  const auto* b = reinterpret_cast<const std::int32_t*>(base + l.b[which]);
  const auto* m = reinterpret_cast<const qkv_qmul*>(base + l.m[which]);
  gemm_ex(xc, proj_args(rows, n_in, n_out, in, w, acc), gws, gws_bytes);
  const kern::vec_kernels& k = kern::vec_for(xc.isa);
  const auto* qm = reinterpret_cast<const std::int32_t*>(m);  // (multiplier, shift) pairs
  parallel_for_blocks(xc, rows, 16.0f * static_cast<float>(rows * n_out), [&](std::size_t r) {
    k.requant_s8(n_out, acc + r * n_out, b, qm, z_out, out + r * n_out);
  });
}

struct attn_rows {
  const kern::vec_kernels* kern;
  const mha_dims* n;
  const qkv_mha_int8_header* h;
  bool causal;
  std::size_t window;
  const std::int8_t *q, *k, *v;
  std::int8_t* a;
};

// Query row t of head `head` in sequence `bi`: scores, integer softmax,
// context, each in the slot's scratch.
void attend_row(const attn_rows& p, std::size_t bi, std::size_t head, std::size_t t, std::int32_t* s,
                std::int16_t* w, std::int32_t* ctx) {
  const mha_dims& n = *p.n;
  const std::size_t dh = n.d_head, g = head / (n.heads / n.kv_heads);
  const std::size_t hi = p.causal ? t : n.seq - 1;
  const std::size_t lo = p.window && t + 1 > p.window ? t + 1 - p.window : 0;
  const std::int8_t* q = p.q + (bi * n.seq + t) * n.d_out + head * dh;
  const std::int8_t* kv0 = p.k + bi * n.seq * n.d_kv + g * dh;
  const std::size_t keys = hi - lo + 1;
  p.kern->dot_rows_s8(keys, dh, kv0 + lo * n.d_kv, n.d_kv, q, s);
  int8_softmax_row(s, keys, p.h->score, w);
  for (std::size_t c = 0; c < dh; ++c) ctx[c] = 0;
  const std::int8_t* v0 = p.v + bi * n.seq * n.d_kv + g * dh;
  p.kern->axpy_rows_s8(keys, dh, w, v0 + lo * n.d_kv, n.d_kv, ctx);
  std::int8_t* a = p.a + (bi * n.seq + t) * n.d_out + head * dh;
  for (std::size_t c = 0; c < dh; ++c) a[c] = clamp_s8(requant(ctx[c], p.h->attn));
}

}  // namespace

qkv_mha_int8_layout mha_int8_layout_for(const qkv_mha_desc& d) {
  const std::size_t d_kv = mha_kv_width(d);
  const std::size_t in[4] = {d.d_in, d.d_in, d.d_in, d.d_out}, out[4] = {d.d_out, d_kv, d_kv, d.d_out};
  qkv_mha_int8_layout l;
  std::size_t off = round64(sizeof(qkv_mha_int8_header));
  for (int i = 0; i < 4; ++i) {
    if (i == 3 && !d.out_proj) {
      l.w[i] = l.b[i] = l.m[i] = SIZE_MAX;
      continue;
    }
    l.w[i] = off;
    off += round64(in[i] * out[i]);
    l.b[i] = off;
    off += round64(4 * out[i]);
    l.m[i] = off;
    off += round64(sizeof(qkv_qmul) * out[i]);
  }
  l.bytes = off;
  return l;
}

bool quantize_multiplier(float real, qkv_qmul* m) noexcept {
  if (!(real >= 0.0f) || !(real < 1073741824.0f)) return false;  // NaN fails both
  if (real < 2.3283064365386963e-10f) {                            // 2^-32: every product rounds to 0 or +-1
    m->multiplier = 0, m->shift = 0;
    return true;
  }
  // real = f * 2^e, f = mant / 2^24 in [0.5, 1): M = f * 2^31 exactly.
  const std::uint32_t b = util::f32_bits(real);
  m->multiplier = static_cast<std::int32_t>(((b & 0x7fffffu) | 0x800000u) << 7);
  m->shift = static_cast<std::int32_t>((b >> 23) & 255u) - 126;
  return true;
}

void quantize_affine_s8(std::size_t n, const float* x, qkv_qparam p, std::int8_t* q) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    float v = x[i] / p.scale;
    v = v > 512.0f ? 512.0f : v < -512.0f ? -512.0f : v;  // beyond any code; keeps the conversion defined
    q[i] = clamp_s8(p.zero_point + static_cast<std::int32_t>(std::nearbyint(v)));
  }
}

void dequantize_affine_s8(std::size_t n, const std::int8_t* q, qkv_qparam p, float* x) noexcept {
  for (std::size_t i = 0; i < n; ++i) x[i] = p.scale * static_cast<float>(q[i] - p.zero_point);
}

// Workspace: Q, K, V (and A with out_proj) codes and the int32 sums, then
// one region the projections' GEMM and, after them, the attention's
// per-slot rows share.
std::size_t mha_int8_forward_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  const std::size_t fixed = round64(n.rows * n.d_out) * (d.out_proj ? 2 : 1) + 2 * round64(n.rows * n.d_kv) +
                            round64(4 * n.rows * (n.d_out > n.d_kv ? n.d_out : n.d_kv));
  const std::size_t attn = static_cast<std::size_t>(threads) * slot_bytes(n), gemm = gemm_bytes(isa, d, n, threads);
  return fixed + (attn > gemm ? attn : gemm) + ws_carver::kAlign;
}

void mha_int8_forward(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const void* qlayer,
                      const std::int8_t* x, std::int8_t* y, void* ws, std::size_t ws_bytes) {
  const auto* h = static_cast<const qkv_mha_int8_header*>(qlayer);
  const qkv_mha_int8_layout l = mha_int8_layout_for(d);
  char* base = align_workspace(ws, &ws_bytes);
  ws_carver c(base);
  auto* q = c.take<std::int8_t>(n.rows * n.d_out);
  auto* k = c.take<std::int8_t>(n.rows * n.d_kv);
  auto* v = c.take<std::int8_t>(n.rows * n.d_kv);
  std::int8_t* a = d.out_proj ? c.take<std::int8_t>(n.rows * n.d_out) : y;
  auto* acc = c.take<std::int32_t>(n.rows * (n.d_out > n.d_kv ? n.d_out : n.d_kv));
  std::size_t rest_bytes = 0;
  char* rest = static_cast<char*>(c.rest(ws_bytes, &rest_bytes));

  project(xc, x, n.rows, n.d_in, qlayer, l, 0, n.d_out, 0, q, acc, rest, rest_bytes);
  project(xc, x, n.rows, n.d_in, qlayer, l, 1, n.d_kv, 0, k, acc, rest, rest_bytes);
  project(xc, x, n.rows, n.d_in, qlayer, l, 2, n.d_kv, 0, v, acc, rest, rest_bytes);

  // Tasks: blocks of up to 16 query rows of one head of one sequence.
  const attn_rows p{&kern::vec_for(xc.isa), &n, h, (h->flags & 1u) != 0, h->window, q, k, v, a};
  const std::size_t blocks = (n.seq + 15) / 16, tasks = n.batch * n.heads * blocks;
  const std::size_t per_slot = slot_bytes(n), fit = rest_bytes / per_slot;
  const float flops = 4.0f * static_cast<float>(n.batch * n.heads) * static_cast<float>(n.seq) *
                      static_cast<float>(n.seq) * static_cast<float>(n.d_head);
  int threads = threads_for(xc, flops, tasks);
  if (static_cast<std::size_t>(threads) > fit) threads = static_cast<int>(fit);
  parallel_for_tasks(xc, threads, tasks, [&](std::size_t task, int slot) {
    char* sb = rest + static_cast<std::size_t>(slot) * per_slot;
    auto* s = reinterpret_cast<std::int32_t*>(sb);
    auto* w = reinterpret_cast<std::int16_t*>(sb + round64(4 * n.seq));
    auto* ctx = reinterpret_cast<std::int32_t*>(sb + round64(4 * n.seq) + round64(2 * n.seq));
    const std::size_t blk = task % blocks, head = task / blocks % n.heads, bi = task / blocks / n.heads;
    const std::size_t t1 = (blk + 1) * 16 < n.seq ? (blk + 1) * 16 : n.seq;
    for (std::size_t t = blk * 16; t < t1; ++t) attend_row(p, bi, head, t, s, w, ctx);
  });

  if (d.out_proj) project(xc, a, n.rows, n.d_out, qlayer, l, 3, n.d_out, h->y.zero_point, y, acc, rest, rest_bytes);
}

}  // namespace qkv::ops
