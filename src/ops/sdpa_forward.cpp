// SPDX-License-Identifier: MIT
#include "ops/sdpa_forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/attn/attn.hpp"
#include "kernels/softmax/softmax.hpp"
#include "ops/attn_blocking.hpp"
#include "ops/gemm.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/softmax.hpp"
#include "ops/threads.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using namespace fused_step;

using util::add_ok;
using util::mul_ok;

// ---- fused ---------------------------------------------------------------

// One task: query tile `qi` of head (b, h). w: this thread's workspace.
void fused_task(const kern::attn_kernels& kn, const sdpa_plan& p, const dropout_cfg& drop, std::size_t key_chunk,
                const float* q, const float* k, const float* v, float* out, float* lse, std::size_t b, std::size_t h,
                std::size_t qi, float* w) {
  const std::size_t br = kn.br, D = p.head_dim, Dv = p.v_dim;
  const std::size_t i0 = qi * br;
  const std::size_t rows = p.q_len - i0 < br ? p.q_len - i0 : br;
  float* qt = w;                       // [D][br]
  float* st = qt + D * br;             // [kSdpaKeyTile][br]
  float* ot = st + kSdpaKeyTile * br;  // [Dv][br]
  float* m = ot + Dv * br;             // [br] each
  float* l = m + br;
  float* alpha = l + br;

  // Qt = scale * Q^T; padding queries are zero (finite, never written out).
  const float* qb = q + base(p.q, b, h) + i0 * p.q.token;
  pack_qt(qb, p.q.token, rows, D, p.scale, br, qt);
  for (std::size_t r = 0; r < br; ++r) {
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  for (std::size_t e = 0; e < Dv * br; ++e) ot[e] = 0.0f;

  const std::size_t end = kv_end(p, i0, rows);
  const float* kb_ptr = k + base(p.k, b, h);
  const float* vb_ptr = v + base(p.v, b, h);
  for (std::size_t j0 = 0; j0 < end; j0 += kSdpaKeyTile) {
    const std::size_t kb = end - j0 < kSdpaKeyTile ? end - j0 : kSdpaKeyTile;
    kn.scores(kb, D, qt, kb_ptr + j0 * p.k.token, p.k.token, st);
    mask_diagonal(p, br, i0, j0, kb, st);
    kn.softmax(kb, st, m, l, alpha);  // l and lse are taken before dropout
    drop_weights(p, drop, b, h, br, i0, rows, j0, kb, st);
    kn.accumulate(kb, Dv, st, vb_ptr + j0 * p.v.token, p.v.token, alpha, ot, key_chunk);
  }

  // O = O^T / l (times the dropout scale); a row that saw nothing is zero.
  float* ob = out + base(p.o, b, h) + i0 * p.o.token;
  for (std::size_t r = 0; r < rows; ++r) {
    const float inv = l[r] > 0.0f ? drop.keep_scale / l[r] : 0.0f;
    for (std::size_t f = 0; f < Dv; ++f) ob[r * p.o.token + f] = ot[f * br + r] * inv;
    if (lse) lse[(b * p.heads + h) * p.q_len + i0 + r] = l[r] > 0.0f ? m[r] + std::log(l[r]) : kNegInf;
  }
}

void fused_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out, float* lse,
                   float* ws, std::size_t per_thread_floats, int max_threads) {
  const kern::attn_kernels& kn = kern::attn_for(p.x.isa);
  const dropout_cfg drop(p);
  const std::size_t key_chunk = attn_key_chunk(p.v.token, kn.br);
  const std::size_t nqt = (p.q_len + kn.br - 1) / kn.br;
  const std::size_t heads = p.batch * p.heads;
  const std::size_t tasks = heads * nqt;
  float flops = 4.0f * static_cast<float>(heads) * static_cast<float>(p.q_len) *
                static_cast<float>(p.kv_len) * static_cast<float>(p.head_dim + p.v_dim) / 2.0f;
  if (p.causal) flops *= 0.5f;
  int threads = threads_for(p.x, flops, tasks);
  if (threads > max_threads) threads = max_threads;
  // Task t: query tile nqt-1 - t/heads of head t%heads. The last query tiles
  // see the most keys under a causal mask, so the heaviest tasks go first.
  auto run = [&](std::size_t t, float* w) {
    const std::size_t bh = t % heads, qi = nqt - 1 - t / heads;
    fused_task(kn, p, drop, key_chunk, q, k, v, out, lse, bh / p.heads, bh % p.heads, qi, w);
  };
  parallel_for_tasks(p.x, threads, tasks, [&](std::size_t t, int thread) {
    run(t, ws + static_cast<std::size_t>(thread) * per_thread_floats);
  });
}

// ---- reference -----------------------------------------------------------

// Per (b, h), one after the other: S = scale Q K^T (GEMM), masked; each row
// a stable softmax (threaded over rows), then dropout; O = P V (GEMM). The
// GEMMs thread themselves; every element is computed the same way for any
// thread count, so the result is too.
void reference_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* s, int max_threads) {
  const dropout_cfg drop(p);
  const kern::softmax_kernels& sk = kern::softmax_for(p.x.isa);
  const std::size_t Tq = p.q_len, Tk = p.kv_len, Dv = p.v_dim;
  const ll off = static_cast<ll>(Tk) - static_cast<ll>(Tq);
  int threads = threads_for(p.x, 25.0f * static_cast<float>(Tq) * static_cast<float>(Tk), Tq);
  if (threads > max_threads) threads = max_threads;
  for (std::size_t b = 0; b < p.batch; ++b)
    for (std::size_t h = 0; h < p.heads; ++h) {
      sgemm(p.x, false, true, Tq, Tk, p.head_dim, p.scale, q + base(p.q, b, h), p.q.token, k + base(p.k, b, h),
            p.k.token, 0.0f, s, Tk, nullptr, 0);
      auto row = [&](std::size_t i) {
        float* si = s + i * Tk;
        if (p.causal)
          for (std::size_t j = 0; j < Tk; ++j)
            if (static_cast<ll>(j) > static_cast<ll>(i) + off) si[j] = kNegInf;
        const float row_lse = softmax_row(sk, Tk, 1.0f, si, si, false);
        if (lse) lse[(b * p.heads + h) * Tq + i] = row_lse;
        if (drop.on) {
          const std::uint64_t key = dropout::row_key(p.dropout_seed, b, h, i);
          for (std::size_t j = 0; j < Tk; ++j)
            si[j] = dropout::keep(key, j, drop.thresh) ? si[j] * drop.keep_scale : 0.0f;
        }
      };
      parallel_for_static(p.x, threads, Tq, row);
      sgemm(p.x, false, false, Tq, Dv, Tk, 1.0f, s, Tk, v + base(p.v, b, h), p.v.token, 0.0f, out + base(p.o, b, h),
            p.o.token, nullptr, 0);
    }
}

// Bytes one thread needs, a multiple of kSdpaAlign; false when the size
// overflows.
bool bytes_per_thread(const sdpa_plan& p, std::size_t* bytes) {
  std::size_t floats;
  if (p.algo == QKV_SDPA_REFERENCE) {
    if (!mul_ok(p.q_len, p.kv_len, &floats)) return false;
  } else {
    // Qt [D][br], St [key tile][br], Ot [Dv][br], m, l, alpha [br], at the largest br.
    std::size_t rows;
    if (!add_ok(p.head_dim, p.v_dim, &rows) || !add_ok(rows, kSdpaKeyTile + 3, &rows) ||
        !mul_ok(rows, kern::kAttnMaxBr, &floats))
      return false;
  }
  std::size_t b;
  if (!mul_ok(floats, sizeof(float), &b) || !add_ok(b, kSdpaAlign - 1, &b)) return false;
  *bytes = b / kSdpaAlign * kSdpaAlign;
  return true;
}

}  // namespace

bool sdpa_forward_workspace_bytes(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept {
  std::size_t per = 0, total = 0;
  // The reference path holds one score matrix whatever the thread count.
  if (p.algo == QKV_SDPA_REFERENCE) threads = 1;
  if (!bytes_per_thread(p, &per) || __builtin_mul_overflow(per, static_cast<std::size_t>(threads), &total) ||
      __builtin_add_overflow(total, kSdpaAlign - 1, &total))
    return false;
  *bytes = total;
  return true;
}

bool sdpa_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out, float* lse,
                  void* ws, std::size_t bytes) noexcept {
  std::size_t per = 0;
  if (!ws || !bytes_per_thread(p, &per)) return false;
  const auto addr = reinterpret_cast<std::uintptr_t>(ws);
  const std::size_t pad = (kSdpaAlign - addr % kSdpaAlign) % kSdpaAlign;
  if (bytes < pad || (bytes - pad) / per < 1) return false;
  // Threads the workspace can feed; the reference's one score matrix serves any number.
  const std::size_t fit = p.algo == QKV_SDPA_REFERENCE ? 1024 : (bytes - pad) / per;
  const int max_threads = fit > 1024 ? 1024 : static_cast<int>(fit);
  float* w = reinterpret_cast<float*>(static_cast<char*>(ws) + pad);
  if (p.algo == QKV_SDPA_REFERENCE)
    reference_forward(p, q, k, v, out, lse, w, max_threads);
  else
    fused_forward(p, q, k, v, out, lse, w, per / sizeof(float), max_threads);
  return true;
}

}  // namespace qkv::ops
