// The plain attention backward: per (batch, head) it materializes the
// q_len x kv_len weights P and the score gradient dS in the workspace, then
// forms the three gradient products with level-1 kernels. O(T^2) memory per
// thread; an oracle for the fused path and the "unfused" baseline.
//
// P is recomputed the way the reference forward formed it: the scores by
// the same sgemm call (scale as alpha, one thread here: the same bits), the
// causal mask as -inf, then P = exp(S - lse) with the library's exp (the
// softmax kernels'). A saturated (one-hot) row then gives its 1 exactly.
#include <cmath>
#include <cstdint>

#include "kernels/softmax/softmax.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/dropout_rng.hpp"
#include "ops/gemm.hpp"
#include "ops/sdpa_backward.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
namespace {

bool per_thread(const qkv_sdpa_desc& d, std::size_t* bytes) {
  std::size_t tt;
  if (__builtin_mul_overflow(d.q_len, d.kv_len, &tt)) return false;
  ws_carver w;
  w.take<float>(tt);  // P, then P m (the dropped weights)
  w.take<float>(tt);  // scale dS
  return w.size(bytes);
}

void head_backward(const sdpa_bwd_args& a, std::size_t bh, float* P, float* dS) {
  const qkv_sdpa_desc& d = *a.desc;
  const kern::vec_kernels& vk = kern::vec_for(a.x.isa);
  const kern::softmax_kernels& sk = kern::softmax_for(a.x.isa);
  const std::size_t b = bh / d.heads, h = bh % d.heads, Tq = d.q_len, Tk = d.kv_len, D = d.head_dim, Dv = a.v_dim;
  auto base = [&](const qkv_sdpa_strides& s) { return b * s.batch + h * s.head; };
  const float* q = a.q + base(d.q);
  const float* k = a.k + base(d.k);
  const float* v = a.v + base(d.v);
  const float* o = a.out + base(d.o);
  const float* dout = a.dout + base(d.o);
  const float* lse = a.lse + bh * Tq;
  float* dq = a.dq + base(d.q);
  float* dk = a.dk + base(d.k);
  float* dv = a.dv + base(d.v);
  const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(Tk) - static_cast<std::ptrdiff_t>(Tq);
  const bool dropout = d.dropout_p > 0.f;
  const std::uint32_t thresh = dropout::threshold(d.dropout_p);
  const float drop_scale = 1.0f / (1.0f - d.dropout_p);

  // S = scale Q K^T, as the reference forward's sgemm (calls on one thread
  // inside this task never start a nested team).
  sgemm(exec{a.x.isa, 1}, false, true, Tq, Tk, D, a.scale, q, d.q.token, k, d.k.token, 0.0f, P, Tk, nullptr, 0);
  for (std::size_t i = 0; i < Tq; ++i) {
    const float* doi = dout + i * d.o.token;
    const float Di = vk.dot(Dv, doi, o + i * d.o.token);  // D_i = rowsum(dO ∘ O)
    const std::uint64_t key = dropout ? dropout::row_key(d.dropout_seed, b, h, i) : 0;
    float* pi = P + i * Tk;
    if (lse[i] == -INFINITY) {  // a row that sees no key: P = 0
      util::zero_floats(pi, Tk);
    } else {
      if (d.causal)
        for (std::size_t j = 0; j < Tk; ++j)
          if (static_cast<std::ptrdiff_t>(j) > static_cast<std::ptrdiff_t>(i) + off) pi[j] = -INFINITY;
      sk.exp_sum(Tk, 1.0f, lse[i], pi, pi);  // P = exp(S - lse); lse >= every score of the row
    }
    for (std::size_t j = 0; j < Tk; ++j) {
      float& p = pi[j];
      float& ds = dS[i * Tk + j];
      if (p == 0.f) {
        ds = 0.f;
        continue;
      }
      const float pij = p;
      const float m = dropout ? (dropout::keep(key, j, thresh) ? drop_scale : 0.f) : 1.f;
      const float dpij = vk.dot(Dv, doi, v + j * d.v.token) * m;
      p = pij * m;
      ds = pij * (dpij - Di) * a.scale;
    }
  }
  for (std::size_t j = 0; j < Tk; ++j) {  // dV_j = sum_i (P m)_ij dO_i ; dK_j = sum_i scale dS_ij Q_i
    float* dvj = dv + j * d.v.token;
    float* dkj = dk + j * d.k.token;
    util::zero_floats(dvj, Dv);
    util::zero_floats(dkj, D);
    for (std::size_t i = 0; i < Tq; ++i) {
      if (P[i * Tk + j] != 0.f) vk.axpy(Dv, P[i * Tk + j], dout + i * d.o.token, dvj);
      if (dS[i * Tk + j] != 0.f) vk.axpy(D, dS[i * Tk + j], q + i * d.q.token, dkj);
    }
  }
  for (std::size_t i = 0; i < Tq; ++i) {  // dQ_i = sum_j scale dS_ij K_j
    float* dqi = dq + i * d.q.token;
    util::zero_floats(dqi, D);
    for (std::size_t j = 0; j < Tk; ++j)
      if (dS[i * Tk + j] != 0.f) vk.axpy(D, dS[i * Tk + j], k + j * d.k.token, dqi);
  }
}

}  // namespace

bool sdpa_backward_reference_workspace(const qkv_sdpa_desc& d, int threads, std::size_t* bytes) noexcept {
  std::size_t per;
  const std::size_t bh = d.batch * d.heads;
  const std::size_t t = static_cast<std::size_t>(threads) < bh ? static_cast<std::size_t>(threads) : bh;
  return per_thread(d, &per) && !__builtin_mul_overflow(per, t, bytes) &&
         !__builtin_add_overflow(*bytes, ws_carver::kAlign, bytes);
}

bool sdpa_backward_reference(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept {
  const qkv_sdpa_desc& d = *a.desc;
  std::size_t per;
  if (!per_thread(d, &per)) return false;
  char* base = align_workspace(workspace, &bytes);
  const std::size_t bh = d.batch * d.heads;
  const float flops = 8.0f * float(bh) * float(d.q_len) * float(d.kv_len) * float(d.head_dim);
  int threads = threads_for(a.x, flops, bh);
  auto fits = [&](int t) {
    std::size_t need;
    return !__builtin_mul_overflow(per, static_cast<std::size_t>(t), &need) && need <= bytes;
  };
  while (threads > 1 && !fits(threads)) --threads;
  if (!fits(1)) return false;
  auto task = [&](std::size_t id, int tid) {
    ws_carver w(base + static_cast<std::size_t>(tid) * per);
    const std::size_t tt = d.q_len * d.kv_len;
    float* P = w.take<float>(tt);
    float* dS = w.take<float>(tt);
    head_backward(a, id, P, dS);
  };
  parallel_for_tasks(threads, bh, task);
  return true;
}

}  // namespace qkv::ops
