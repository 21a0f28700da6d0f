// SPDX-License-Identifier: MIT
// The fused attention's bf16 mode (ops::sdpa_plan::bf16_dot, what the layer's
// BF16 compute runs): fp32 Q, K, V, O and dO, the forward's and backward's
// products on bf16 pairs (vdpbf16ps) with fp32 sums. Checked against the
// double reference (tests/ref) computed from the bf16-rounded Q, K, V and
// dO, so that what remains is the mode's own rounding:
//  - forward: P rounded to bf16 (relative error <= u = 2^-8 per weight)
//    before it meets V: |O - O*| <= u sum_j P_j |V_j| <= u max|V| / (1 - p)
//    per element, plus fp32 sums of exact bf16 products (~2^-24 relative);
//    we require 2u max|V| / (1 - p) (+1e-6). lse: fp32 scores of exact
//    products, 1e-4 (1 + |lse|).
//  - backward: P and dS rounded (u each), D = dO . O taken from the unrounded
//    dO and the forward's O (its error above) while dP multiplies the
//    rounded dO: these add up to a few u per element at worst, and
//    normwise (random signs) to less: each gradient tensor within 2u of its
//    norm (measured 0.3-0.5u on every case; printed on failure).
// Also: both schedules (per-head at 1 thread, split when the heads are fewer
// than the threads) and 1, 2, 3 threads give the same bits; where the ISA
// has no bf16 set the flag changes nothing (the fp32 bits).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_attention.hpp"
#include "util/half.hpp"

#if __has_include("ops/sdpa_plan.hpp")
#include "ops/exec.hpp"
#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_plan.hpp"

namespace {

constexpr double kU = 1.0 / 256;  // bf16 unit roundoff

struct dot_case {
  const char* name;
  std::size_t B, H, KVH, Tq, Tk, D, Dv;
  bool causal;
  float dropout, softcap;
  std::size_t window;
};

qkv_sdpa_desc desc_of(const dot_case& c) {
  qkv_sdpa_desc d{};
  d.batch = c.B, d.heads = c.H, d.kv_heads = c.KVH, d.q_len = c.Tq, d.kv_len = c.Tk;
  d.head_dim = c.D, d.v_dim = c.Dv;
  // [B, T, H, d] rows, as the layer lays them out
  d.q = {c.Tq * c.H * c.D, c.D, c.H * c.D};
  d.k = {c.Tk * c.KVH * c.D, c.D, c.KVH * c.D};
  d.v = {c.Tk * c.KVH * c.Dv, c.Dv, c.KVH * c.Dv};
  d.o = {c.Tq * c.H * c.Dv, c.Dv, c.H * c.Dv};
  d.causal = c.causal;
  d.dropout_p = c.dropout;
  d.dropout_seed = 77;
  d.softcap = c.softcap;
  d.window = c.window;
  d.algo = QKV_SDPA_FUSED;
  return d;
}

std::vector<float> rounded(std::vector<float> x) {
  for (float& v : x) v = qkv::util::bf16_to_f32(qkv::util::f32_to_bf16(v));
  return x;
}

// Random Q, K (in [-2, 2]), V and dO (in [-1, 1]) for d, from seeds s..s+3.
struct inputs {
  std::vector<float> q, k, v, dout;
  inputs(const qkv_sdpa_desc& d, std::uint64_t s)
      : q(qkv_test::random_vector(d.batch * d.q.batch, s, -2.f, 2.f)),
        k(qkv_test::random_vector(d.batch * d.k.batch, s + 1, -2.f, 2.f)),
        v(qkv_test::random_vector(d.batch * d.v.batch, s + 2)),
        dout(qkv_test::random_vector(d.batch * d.o.batch, s + 3)) {}
};

struct outputs {
  std::vector<float> o, lse, dq, dk, dv;
};

// Forward then backward through ops with the plan's bf16_dot as given.
outputs run(const qkv_sdpa_desc& d, bool dot, const std::vector<float>& q, const std::vector<float>& k,
            const std::vector<float>& v, const std::vector<float>& dout) {
  qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(d, qkv::ops::current_exec());
  p.bf16_dot = dot;
  const int threads = p.x.threads;
  outputs r;
  r.o.assign(d.batch * d.o.batch, 0.f);
  r.lse.assign(d.batch * d.heads * d.q_len, 0.f);
  std::size_t bytes = 0;
  REQUIRE(qkv::ops::sdpa_forward_workspace_bytes(p, QKV_DTYPE_F32, threads, &bytes));
  std::vector<unsigned char> ws(bytes);
  REQUIRE(qkv::ops::sdpa_forward(p, QKV_DTYPE_F32, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), ws.data(),
                                 bytes));
  r.dq.assign(q.size(), 0.f);
  r.dk.assign(k.size(), 0.f);
  r.dv.assign(v.size(), 0.f);
  REQUIRE(qkv::ops::sdpa_backward_workspace_bytes(p, threads, &bytes));
  ws.assign(bytes, 0);
  REQUIRE(qkv::ops::sdpa_backward(p, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), dout.data(), r.dq.data(),
                                  r.dk.data(), r.dv.data(), ws.data(), bytes));
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool same_bits(const outputs& a, const outputs& b) {
  return same_bits(a.o, b.o) && same_bits(a.lse, b.lse) && same_bits(a.dq, b.dq) && same_bits(a.dk, b.dk) &&
         same_bits(a.dv, b.dv);
}

// ||got - want|| / ||want|| over the rows [B][heads][T][F] of a tensor in
// layout s (want: contiguous, as the reference writes it).
double rel_error(const std::vector<float>& got, const std::vector<double>& want, const qkv_sdpa_strides& s,
                 std::size_t B, std::size_t heads, std::size_t T, std::size_t F) {
  double num = 0, den = 0;
  std::size_t e = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t f = 0; f < F; ++f, ++e) {
          const double g = got[b * s.batch + h * s.head + t * s.token + f];
          num += (g - want[e]) * (g - want[e]);
          den += want[e] * want[e];
        }
  return std::sqrt(num / (den + 1e-300));
}

const dot_case kCases[] = {
    {"causal, d 64", 1, 2, 2, 100, 100, 64, 64, true, 0.f, 0.f, 0},
    {"GQA, odd d 33 / dv 17, dropout", 2, 4, 2, 70, 90, 33, 17, false, 0.2f, 0.f, 0},
    {"causal window 40, softcap 5", 1, 1, 1, 130, 130, 16, 16, true, 0.f, 5.f, 40},
};

}  // namespace

TEST_CASE("sdpa bf16 mode: forward and backward within the bf16 bounds of the double reference, every ISA",
          "[sdpa][bf16_dot]") {
  for (const dot_case& c : kCases) {
    INFO(c.name);
    const qkv_sdpa_desc d = desc_of(c);
    const inputs in(d, 1);
    const std::vector<float>&q = in.q, &k = in.k, &v = in.v, &dout = in.dout;
    const std::vector<float> qr = rounded(q), kr = rounded(k), vr = rounded(v), dor = rounded(dout);
    std::vector<double> o_ref, lse_ref, dq_ref, dk_ref, dv_ref;
    qkv_test::ref_sdpa_forward(d, qr.data(), kr.data(), vr.data(), o_ref, lse_ref);
    qkv_test::ref_sdpa_backward(d, qr.data(), kr.data(), vr.data(), dor.data(), dq_ref, dk_ref, dv_ref);
    double vmax = 0;
    for (float x : vr) vmax = std::max(vmax, double(std::fabs(x)));

    qkv_test::for_each_isa([&](qkv_isa isa) {
      qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(d, qkv::ops::current_exec());
      const outputs f32 = run(d, false, q, k, v, dout);
      const outputs b16 = run(d, true, q, k, v, dout);
      if (!qkv::ops::sdpa_bf16_dot_usable(p)) {  // no bf16 set here: the flag is inert
        INFO("ISA " << isa << " has no bf16 attention set");
        CHECK(same_bits(b16, f32));
        return;
      }
      CHECK_FALSE(same_bits(b16.o, f32.o));  // the bf16 products ran
      const double tol_o = 2 * kU * vmax / (1.0 - c.dropout) + 1e-6;
      std::size_t e = 0;
      for (std::size_t b = 0; b < c.B; ++b)
        for (std::size_t h = 0; h < c.H; ++h)
          for (std::size_t t = 0; t < c.Tq; ++t) {
            const double l = lse_ref[(b * c.H + h) * c.Tq + t];
            REQUIRE(std::fabs(b16.lse[(b * c.H + h) * c.Tq + t] - l) <= 1e-4 * (1 + std::fabs(l)));
            for (std::size_t f = 0; f < c.Dv; ++f, ++e)
              REQUIRE(std::fabs(b16.o[b * d.o.batch + h * d.o.head + t * d.o.token + f] - o_ref[e]) <= tol_o);
          }
      const double eq = rel_error(b16.dq, dq_ref, d.q, c.B, c.H, c.Tq, c.D);
      const double ek = rel_error(b16.dk, dk_ref, d.k, c.B, c.KVH, c.Tk, c.D);
      const double ev = rel_error(b16.dv, dv_ref, d.v, c.B, c.KVH, c.Tk, c.Dv);
      INFO("normwise errors / u: dQ " << eq / kU << ", dK " << ek / kU << ", dV " << ev / kU);
      CHECK(eq <= 2 * kU);
      CHECK(ek <= 2 * kU);
      CHECK(ev <= 2 * kU);
    });
  }
}

TEST_CASE("sdpa bf16 mode: the same bits on 1, 2 and 3 threads (both backward schedules)", "[sdpa][bf16_dot][threads]") {
  // One K/V head: more threads than heads takes the split schedule.
  for (const dot_case& c : {kCases[0], kCases[2]}) {
    INFO(c.name);
    const qkv_sdpa_desc d = desc_of(c);
    const inputs in(d, 5);
    qkv_test::for_each_isa([&](qkv_isa) {
      outputs first;
      for (int threads : {1, 2, 3}) {
        qkv_test::threads_scope scope(threads);
        const outputs r = run(d, true, in.q, in.k, in.v, in.dout);
        if (threads == 1)
          first = r;
        else
          REQUIRE(same_bits(r, first));
      }
    });
  }
}

TEST_CASE("sdpa bf16 mode: a one-hot row's weight is exactly 1, forward and backward", "[sdpa][bf16_dot]") {
  // 16 keys 16 e_j, queries 64 e_(i mod 16): the matching score is 256, the
  // others 0 (exp(-256) is 0 in fp32), every input exact in bf16. The
  // forward's O row is then bf16(V_j) itself and lse 256; the backward's
  // recomputed weight is exactly 1 as well, so dV_j is the sum of the
  // rounded dO rows that chose key j (two rows per key: one pair product).
  dot_case c{"one-hot", 1, 1, 1, 32, 16, 16, 16, false, 0.f, 0.f, 0};
  const qkv_sdpa_desc d = desc_of(c);
  std::vector<float> q(d.q.batch, 0.f), k(d.k.batch, 0.f);
  for (std::size_t i = 0; i < c.Tq; ++i) q[i * d.q.token + i % 16] = 64.f;
  for (std::size_t j = 0; j < c.Tk; ++j) k[j * d.k.token + j] = 16.f;
  const std::vector<float> v = qkv_test::random_vector(d.v.batch, 9), dout = qkv_test::random_vector(d.o.batch, 10);
  const std::vector<float> vr = rounded(v), dor = rounded(dout);
  qkv_test::for_each_isa([&](qkv_isa) {
    if (!qkv::ops::sdpa_bf16_dot_usable(qkv::ops::resolve_sdpa(d, qkv::ops::current_exec()))) return;
    const outputs r = run(d, true, q, k, v, dout);
    for (std::size_t i = 0; i < c.Tq; ++i) {
      REQUIRE(r.lse[i] == 256.f);
      for (std::size_t f = 0; f < c.Dv; ++f) REQUIRE(r.o[i * d.o.token + f] == vr[(i % 16) * d.v.token + f]);
    }
    for (std::size_t j = 0; j < c.Tk; ++j)
      for (std::size_t f = 0; f < c.Dv; ++f)
        REQUIRE(r.dv[j * d.v.token + f] == dor[j * d.o.token + f] + dor[(j + 16) * d.o.token + f]);
  });
}

#endif  // ops headers
