// SPDX-License-Identifier: MIT
// The plain attention backward: per (batch, head) it materializes the
// q_len x kv_len weights P and the score gradient dS in the workspace, then
// forms the three gradient products with level-1 kernels. O(T^2) memory per
// thread; an oracle for the fused path and the "unfused" baseline.
//
// P is recomputed the way the reference forward formed it: the scores by
// the same sgemm call (scale as alpha, one thread here: the same bits), the
// soft-cap with its derivative (fused_step::softcap_scores, into dS's row,
// which holds it until dS replaces it), the masks as -inf
// (fused_step::add_masks), then P = exp(S - lse) with the library's exp (the
// softmax kernels'). A saturated (one-hot) row then gives its 1 exactly.
#include <cmath>
#include <cstdint>

#include "kernels/softmax/softmax.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/dropout_rng.hpp"
#include "ops/gemm.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/sdpa_backward.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
#ifdef QKV_HOSTED  // the reference drivers are hosted-only (ops/sdpa_plan.hpp)
namespace {

bool per_thread(const sdpa_plan& p, std::size_t* bytes) {
  std::size_t tt;
  if (__builtin_mul_overflow(p.q_len, p.kv_len, &tt)) return false;
  ws_carver w;
  w.take<float>(tt);  // P, then P m (the dropped weights)
  w.take<float>(tt);  // scale dS
  return w.size(bytes);
}

// Head h of sequence b: P and dS of its rows, dQ; dK and dV of its K/V
// head accumulated (the caller zeroed them; heads of a group in order).
void head_backward(const sdpa_bwd_args& a, std::size_t b, std::size_t h, float* P, float* dS) {
  const sdpa_plan& p = a.plan;
  const kern::vec_kernels& vk = kern::vec_for(p.x.isa);
  const kern::softmax_kernels& sk = kern::softmax_for(p.x.isa);
  const std::size_t Tq = p.q_len, Tk = p.kv_len, D = p.head_dim, Dv = p.v_dim, hk = h / p.group;
  auto base = [&](const qkv_sdpa_strides& s, std::size_t head) { return b * s.batch + head * s.head; };
  const float* q = a.q + base(p.q, h);
  const float* k = a.k + base(p.k, hk);
  const float* v = a.v + base(p.v, hk);
  const float* o = a.out + base(p.o, h);
  const float* dout = a.dout + base(p.o, h);
  const float* lse = a.lse + (b * p.heads + h) * Tq;
  float* dq = a.dq + base(p.q, h);
  float* dk = a.dk + base(p.k, hk);
  float* dv = a.dv + base(p.v, hk);
  const fused_step::seq sq = fused_step::seq_of(p, b);
  const bool dropout = p.dropout_p > 0.f;
  const std::uint32_t thresh = dropout::threshold(p.dropout_p);
  const float drop_scale = 1.0f / (1.0f - p.dropout_p);

  // S = scale Q K^T, as the reference forward's sgemm (calls on one thread
  // inside this task never start a nested team).
  sgemm(plain_exec(p.x.isa, 1), false, true, Tq, Tk, D, p.scale, q, p.q.token, k, p.k.token, 0.0f, P, Tk, nullptr, 0);
  for (std::size_t i = 0; i < Tq; ++i) {
    const float* doi = dout + i * p.o.token;
    const float Di = vk.dot(Dv, doi, o + i * p.o.token);  // D_i = rowsum(dO ∘ O)
    const std::uint64_t key = dropout ? dropout::row_key(p.dropout_seed, b, h, i) : 0;
    float* pi = P + i * Tk;
    if (lse[i] == -INFINITY || fused_step::keys_of_row(p, sq, i).empty()) {  // a row that sees no key: P = 0
      util::zero_floats(pi, Tk);
    } else {
      if (p.softcap != 0.f) fused_step::softcap_scores(p, Tk, pi, dS + i * Tk);  // dS row: 1 - tanh²
      fused_step::add_masks(p, sq, b, h, 1, i, 1, 0, Tk, pi);
      sk.exp_sum(Tk, 1.0f, lse[i], pi, pi);  // P = exp(S - lse); lse >= every score of the row
    }
    for (std::size_t j = 0; j < Tk; ++j) {
      float& w = pi[j];  // P_ij, then (P m)_ij
      float& ds = dS[i * Tk + j];
      if (w == 0.f) {
        ds = 0.f;
        continue;
      }
      const float pij = w;
      const float m = dropout ? (dropout::keep(key, j, thresh) ? drop_scale : 0.f) : 1.f;
      const float dpij = vk.dot(Dv, doi, v + j * p.v.token) * m;
      w = pij * m;
      if (p.softcap != 0.f)
        ds = pij * (dpij - Di) * ds * p.scale;  // ds held 1 - tanh² of the row's raw score
      else
        ds = pij * (dpij - Di) * p.scale;
    }
  }
  for (std::size_t j = 0; j < Tk; ++j) {  // dV_j += sum_i (P m)_ij dO_i ; dK_j += sum_i scale dS_ij Q_i
    float* dvj = dv + j * p.v.token;
    float* dkj = dk + j * p.k.token;
    for (std::size_t i = 0; i < Tq; ++i) {
      if (P[i * Tk + j] != 0.f) vk.axpy(Dv, P[i * Tk + j], dout + i * p.o.token, dvj);
      if (dS[i * Tk + j] != 0.f) vk.axpy(D, dS[i * Tk + j], q + i * p.q.token, dkj);
    }
  }
  for (std::size_t i = 0; i < Tq; ++i) {  // dQ_i = sum_j scale dS_ij K_j
    float* dqi = dq + i * p.q.token;
    util::zero_floats(dqi, D);
    for (std::size_t j = 0; j < Tk; ++j)
      if (dS[i * Tk + j] != 0.f) vk.axpy(D, dS[i * Tk + j], k + j * p.k.token, dqi);
  }
}

// Task (b, K/V head): dK and dV zeroed, then every query head of its group.
void group_backward(const sdpa_bwd_args& a, std::size_t bg, float* P, float* dS) {
  const sdpa_plan& p = a.plan;
  const std::size_t b = bg / p.kv_heads, hk = bg % p.kv_heads;
  for (std::size_t j = 0; j < p.kv_len; ++j) {
    util::zero_floats(a.dk + b * p.k.batch + hk * p.k.head + j * p.k.token, p.head_dim);
    util::zero_floats(a.dv + b * p.v.batch + hk * p.v.head + j * p.v.token, p.v_dim);
  }
  for (std::size_t h = hk * p.group; h < (hk + 1) * p.group; ++h) head_backward(a, b, h, P, dS);
}

}  // namespace

bool sdpa_backward_reference_workspace(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept {
  std::size_t per;
  const std::size_t bh = p.batch * p.kv_heads;
  const std::size_t t = static_cast<std::size_t>(threads) < bh ? static_cast<std::size_t>(threads) : bh;
  return per_thread(p, &per) && !__builtin_mul_overflow(per, t, bytes) &&
         !__builtin_add_overflow(*bytes, ws_carver::kAlign, bytes);
}

bool sdpa_backward_reference(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept {
  const sdpa_plan& p = a.plan;
  std::size_t per;
  if (!per_thread(p, &per)) return false;
  char* base = align_workspace(workspace, &bytes);
  const std::size_t bh = p.batch * p.kv_heads;  // tasks: one per K/V head, its group inside
  const float flops = 8.0f * float(p.batch * p.heads) * float(p.q_len) * float(p.kv_len) * float(p.head_dim);
  int threads = threads_for(p.x, flops, bh);
  auto fits = [&](int t) {
    std::size_t need;
    return !__builtin_mul_overflow(per, static_cast<std::size_t>(t), &need) && need <= bytes;
  };
  while (threads > 1 && !fits(threads)) --threads;
  if (!fits(1)) return false;
  auto task = [&](std::size_t id, int tid) {
    ws_carver w(base + static_cast<std::size_t>(tid) * per);
    const std::size_t tt = p.q_len * p.kv_len;
    float* P = w.take<float>(tt);
    float* dS = w.take<float>(tt);
    group_backward(a, id, P, dS);
  };
  parallel_for_tasks(p.x, threads, bh, task);
  return true;
}

#else  // never called: plans are FUSED on bare metal

bool sdpa_backward_reference_workspace(const sdpa_plan&, int, std::size_t*) noexcept { return false; }
bool sdpa_backward_reference(const sdpa_bwd_args&, void*, std::size_t) noexcept { return false; }

#endif  // QKV_HOSTED

}  // namespace qkv::ops
