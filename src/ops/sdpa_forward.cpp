#include "ops/sdpa_forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/attn/attn.hpp"
#include "kernels/softmax/softmax.hpp"
#include "ops/dropout_rng.hpp"
#include "ops/gemm.hpp"
#include "ops/softmax.hpp"
#include "ops/threads.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

constexpr float kNegInf = -__builtin_huge_valf();
using ll = long long;

using util::add_ok;
using util::mul_ok;

// Where (b, h) starts in a tensor of layout s.
inline std::size_t base(const qkv_sdpa_strides& s, std::size_t b, std::size_t h) {
  return b * s.batch + h * s.head;
}

// Dropout: weight (b,h,i,j) survives with probability 1-p, scaled by 1/(1-p).
struct dropout_cfg {
  bool on;
  std::uint32_t thresh;
  float keep_scale;
  explicit dropout_cfg(const qkv_sdpa_desc& d)
      : on(d.dropout_p > 0.0f), thresh(dropout::threshold(d.dropout_p)),
        keep_scale(d.dropout_p > 0.0f ? 1.0f / (1.0f - d.dropout_p) : 1.0f) {}
};

// ---- fused ---------------------------------------------------------------

// qt[f][r] = scale * q[r][f] for r < rows, 0 for rows <= r < br. Four rows
// at a time, so each feature's four values leave as one vector store.
void pack_qt(const float* q, std::size_t ldq, std::size_t rows, std::size_t D, float scale, std::size_t br,
             float* qt) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* q0 = q + r * ldq;
    const float* q1 = q0 + ldq;
    const float* q2 = q1 + ldq;
    const float* q3 = q2 + ldq;
    for (std::size_t f = 0; f < D; ++f) {
      float* o = qt + f * br + r;
      o[0] = scale * q0[f];
      o[1] = scale * q1[f];
      o[2] = scale * q2[f];
      o[3] = scale * q3[f];
    }
  }
  for (; r < rows; ++r)
    for (std::size_t f = 0; f < D; ++f) qt[f * br + r] = scale * q[r * ldq + f];
  if (rows < br)
    for (std::size_t f = 0; f < D; ++f)
      for (std::size_t t = rows; t < br; ++t) qt[f * br + t] = 0.0f;
}

// One task: query tile `qi` of head (b, h). w: this thread's workspace.
void fused_task(const kern::attn_kernels& kn, const sdpa_problem& p, const dropout_cfg& drop, const float* q,
                const float* k, const float* v, float* out, float* lse, std::size_t b, std::size_t h,
                std::size_t qi, float* w) {
  const qkv_sdpa_desc& d = *p.desc;
  const std::size_t br = kn.br, D = d.head_dim, Dv = p.v_dim;
  const std::size_t i0 = qi * br;
  const std::size_t rows = d.q_len - i0 < br ? d.q_len - i0 : br;
  float* qt = w;                       // [D][br]
  float* st = qt + D * br;             // [kSdpaKeyTile][br]
  float* ot = st + kSdpaKeyTile * br;  // [Dv][br]
  float* m = ot + Dv * br;             // [br] each
  float* l = m + br;
  float* alpha = l + br;

  // Qt = scale * Q^T; padding queries are zero (finite, never written out).
  const float* qb = q + base(d.q, b, h) + i0 * d.q.token;
  pack_qt(qb, d.q.token, rows, D, p.scale, br, qt);
  for (std::size_t r = 0; r < br; ++r) {
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  for (std::size_t e = 0; e < Dv * br; ++e) ot[e] = 0.0f;

  // Query i sees key j iff j <= i + off (bottom-right aligned causal mask).
  const ll off = static_cast<ll>(d.kv_len) - static_cast<ll>(d.q_len);
  std::size_t kv_end = d.kv_len;
  if (d.causal) {
    const ll last = static_cast<ll>(i0 + rows - 1) + off;  // the furthest key any row sees
    kv_end = last < 0 ? 0 : std::min(static_cast<std::size_t>(last) + 1, d.kv_len);
  }
  const float* kb_ptr = k + base(d.k, b, h);
  const float* vb_ptr = v + base(d.v, b, h);
  for (std::size_t j0 = 0; j0 < kv_end; j0 += kSdpaKeyTile) {
    const std::size_t kb = kv_end - j0 < kSdpaKeyTile ? kv_end - j0 : kSdpaKeyTile;
    kn.scores(kb, D, qt, kb_ptr + j0 * d.k.token, d.k.token, st);
    if (d.causal && static_cast<ll>(j0 + kb - 1) > static_cast<ll>(i0) + off) {  // a diagonal tile
      for (std::size_t j = 0; j < kb; ++j) {
        const ll first_seeing = static_cast<ll>(j0 + j) - off - static_cast<ll>(i0);  // first row r that sees j
        const std::size_t hidden = static_cast<std::size_t>(std::clamp<ll>(first_seeing, 0, static_cast<ll>(br)));
        for (std::size_t r = 0; r < hidden; ++r) st[j * br + r] = kNegInf;
      }
    }
    kn.softmax(kb, st, m, l, alpha);  // l and lse are taken before dropout
    if (drop.on) {
      for (std::size_t r = 0; r < rows; ++r) {
        const std::uint64_t key = dropout::row_key(d.dropout_seed, b, h, i0 + r);
        for (std::size_t j = 0; j < kb; ++j)
          if (!dropout::keep(key, j0 + j, drop.thresh)) st[j * br + r] = 0.0f;
      }
    }
    kn.accumulate(kb, Dv, st, vb_ptr + j0 * d.v.token, d.v.token, alpha, ot);
  }

  // O = O^T / l (times the dropout scale); a row that saw nothing is zero.
  float* ob = out + base(d.o, b, h) + i0 * d.o.token;
  for (std::size_t r = 0; r < rows; ++r) {
    const float inv = l[r] > 0.0f ? drop.keep_scale / l[r] : 0.0f;
    for (std::size_t f = 0; f < Dv; ++f) ob[r * d.o.token + f] = ot[f * br + r] * inv;
    if (lse) lse[(b * d.heads + h) * d.q_len + i0 + r] = l[r] > 0.0f ? m[r] + std::log(l[r]) : kNegInf;
  }
}

void fused_forward(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                   float* ws, std::size_t per_thread_floats, int max_threads) {
  const qkv_sdpa_desc& d = *p.desc;
  const kern::attn_kernels& kn = kern::attn_for(p.x.isa);
  const dropout_cfg drop(d);
  const std::size_t nqt = (d.q_len + kn.br - 1) / kn.br;
  const std::size_t heads = d.batch * d.heads;
  const std::size_t tasks = heads * nqt;
  float flops = 4.0f * static_cast<float>(heads) * static_cast<float>(d.q_len) *
                static_cast<float>(d.kv_len) * static_cast<float>(d.head_dim + p.v_dim) / 2.0f;
  if (d.causal) flops *= 0.5f;
  int threads = threads_for(p.x, flops, tasks);
  if (threads > max_threads) threads = max_threads;
  // Task t: query tile nqt-1 - t/heads of head t%heads. The last query tiles
  // see the most keys under a causal mask, so the heaviest tasks go first.
  auto run = [&](std::size_t t, float* w) {
    const std::size_t bh = t % heads, qi = nqt - 1 - t / heads;
    fused_task(kn, p, drop, q, k, v, out, lse, bh / d.heads, bh % d.heads, qi, w);
  };
  parallel_for_tasks(threads, tasks, [&](std::size_t t, int thread) {
    run(t, ws + static_cast<std::size_t>(thread) * per_thread_floats);
  });
}

// ---- reference -----------------------------------------------------------

// Per (b, h), one after the other: S = scale Q K^T (GEMM), masked; each row
// a stable softmax (threaded over rows), then dropout; O = P V (GEMM). The
// GEMMs thread themselves; every element is computed the same way for any
// thread count, so the result is too.
void reference_forward(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* s, int max_threads) {
  const qkv_sdpa_desc& d = *p.desc;
  const dropout_cfg drop(d);
  const kern::softmax_kernels& sk = kern::softmax_for(p.x.isa);
  const std::size_t Tq = d.q_len, Tk = d.kv_len, Dv = p.v_dim;
  const ll off = static_cast<ll>(Tk) - static_cast<ll>(Tq);
  int threads = threads_for(p.x, 25.0f * static_cast<float>(Tq) * static_cast<float>(Tk), Tq);
  if (threads > max_threads) threads = max_threads;
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h) {
      sgemm(p.x, false, true, Tq, Tk, d.head_dim, p.scale, q + base(d.q, b, h), d.q.token, k + base(d.k, b, h),
            d.k.token, 0.0f, s, Tk, nullptr, 0);
      auto row = [&](std::size_t i) {
        float* si = s + i * Tk;
        if (d.causal)
          for (std::size_t j = 0; j < Tk; ++j)
            if (static_cast<ll>(j) > static_cast<ll>(i) + off) si[j] = kNegInf;
        const float row_lse = softmax_row(sk, Tk, 1.0f, si, si, false);
        if (lse) lse[(b * d.heads + h) * Tq + i] = row_lse;
        if (drop.on) {
          const std::uint64_t key = dropout::row_key(d.dropout_seed, b, h, i);
          for (std::size_t j = 0; j < Tk; ++j)
            si[j] = dropout::keep(key, j, drop.thresh) ? si[j] * drop.keep_scale : 0.0f;
        }
      };
      parallel_for_static(threads, Tq, row);
      sgemm(p.x, false, false, Tq, Dv, Tk, 1.0f, s, Tk, v + base(d.v, b, h), d.v.token, 0.0f, out + base(d.o, b, h),
            d.o.token, nullptr, 0);
    }
}

}  // namespace

sdpa_problem resolve_sdpa(const qkv_sdpa_desc& d, const exec& x) noexcept {
  const float scale = d.scale != 0.f ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  return sdpa_problem{&d, d.v_dim ? d.v_dim : d.head_dim, scale, x};
}

bool sdpa_forward_bytes_per_thread(const sdpa_problem& p, qkv_sdpa_algo algo, std::size_t* bytes) noexcept {
  const qkv_sdpa_desc& d = *p.desc;
  std::size_t floats;
  if (algo == QKV_SDPA_REFERENCE) {
    if (!mul_ok(d.q_len, d.kv_len, &floats)) return false;
  } else {
    // Qt [D][br], St [key tile][br], Ot [Dv][br], m, l, alpha [br], at the largest br.
    std::size_t rows;
    if (!add_ok(d.head_dim, p.v_dim, &rows) || !add_ok(rows, kSdpaKeyTile + 3, &rows) ||
        !mul_ok(rows, kern::kAttnMaxBr, &floats))
      return false;
  }
  std::size_t b;
  if (!mul_ok(floats, sizeof(float), &b) || !add_ok(b, kSdpaAlign - 1, &b)) return false;
  *bytes = b / kSdpaAlign * kSdpaAlign;
  return true;
}

void sdpa_forward_run(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                      void* ws, std::size_t per_thread, int max_threads) noexcept {
  float* w = static_cast<float*>(ws);
  const std::size_t per_thread_floats = per_thread / sizeof(float);
  if (p.desc->algo == QKV_SDPA_REFERENCE)
    reference_forward(p, q, k, v, out, lse, w, max_threads);
  else
    fused_forward(p, q, k, v, out, lse, w, per_thread_floats, max_threads);
}

bool sdpa_forward_workspace_bytes(const sdpa_problem& p, int threads, std::size_t* bytes) noexcept {
  std::size_t per = 0, total = 0;
  // The reference path holds one score matrix whatever the thread count.
  if (p.desc->algo == QKV_SDPA_REFERENCE) threads = 1;
  if (!sdpa_forward_bytes_per_thread(p, p.desc->algo, &per) ||
      __builtin_mul_overflow(per, static_cast<std::size_t>(threads), &total) ||
      __builtin_add_overflow(total, kSdpaAlign - 1, &total))
    return false;
  *bytes = total;
  return true;
}

bool sdpa_forward(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                  void* ws, std::size_t bytes) noexcept {
  std::size_t per = 0;
  if (!ws || !sdpa_forward_bytes_per_thread(p, p.desc->algo, &per)) return false;
  const auto addr = reinterpret_cast<std::uintptr_t>(ws);
  const std::size_t pad = (kSdpaAlign - addr % kSdpaAlign) % kSdpaAlign;
  if (bytes < pad || (bytes - pad) / per < 1) return false;
  const std::size_t fit = (bytes - pad) / per;  // threads the workspace can feed
  const int max_threads = fit > 1024 || p.desc->algo == QKV_SDPA_REFERENCE ? 1024 : static_cast<int>(fit);
  sdpa_forward_run(p, q, k, v, out, lse, static_cast<char*>(ws) + pad, per, max_threads);
  return true;
}

}  // namespace qkv::ops
