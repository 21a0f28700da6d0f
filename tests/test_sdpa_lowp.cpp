// SPDX-License-Identifier: MIT
// Attention on bf16 and fp16 tensors (qkv_sdpa_forward_ex /
// qkv_sdpa_backward_ex): the forward, fused and reference, on every ISA
// against the double-precision oracle run on the very values stored (the
// inputs are rounded by the test, not the library), within the bound
// stated in qkv/attention.h; the backward against the fp32 backward of the
// widened tensors, bit for bit (that is what it is defined to be); F32
// through _ex equal to the fp32 entry points; thread counts bitwise equal;
// refusals with nothing written.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_attention.hpp"
#include "support/teams.hpp"

namespace {

constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr std::uint16_t kCanary16 = 0x7c01;  // a signalling fp16 NaN / a bf16 subnormal: never produced
constexpr float kCanary = -777.25f;

struct shape {
  std::size_t B, H, Tq, Tk, D, Dv;
  bool causal;
  std::size_t pad;  // extra elements per token row (BTHD layout: heads interleaved)
  float dropout;
};

std::string describe(const shape& s) {
  return "B" + std::to_string(s.B) + " H" + std::to_string(s.H) + " Tq" + std::to_string(s.Tq) + " Tk" +
         std::to_string(s.Tk) + " D" + std::to_string(s.D) + " Dv" + std::to_string(s.Dv) +
         (s.causal ? " causal" : "") + " pad" + std::to_string(s.pad) + " p" + std::to_string(s.dropout);
}

qkv_sdpa_strides bthd(std::size_t H, std::size_t T, std::size_t F, std::size_t pad) {
  return {T * (H * F + pad), F, H * F + pad};
}
std::size_t extent(const qkv_sdpa_strides& s, std::size_t B, std::size_t H, std::size_t T, std::size_t F) {
  return (B - 1) * s.batch + (H - 1) * s.head + (T - 1) * s.token + F;
}

// Rounds x to `type` in place (through the library's conversion, tested
// exhaustively in test_dtype.cpp) and returns the stored bits.
std::vector<std::uint16_t> store(qkv_dtype type, std::vector<float>& x) {
  std::vector<std::uint16_t> bits(x.size());
  REQUIRE(qkv_convert(x.size(), QKV_DTYPE_F32, x.data(), type, bits.data()) == QKV_OK);
  REQUIRE(qkv_convert(x.size(), type, bits.data(), QKV_DTYPE_F32, x.data()) == QKV_OK);
  return bits;
}

float widen(qkv_dtype type, std::uint16_t h) {
  float f;
  REQUIRE(qkv_convert(1, type, &h, QKV_DTYPE_F32, &f) == QKV_OK);
  return f;
}

double unit_roundoff(qkv_dtype t) { return t == QKV_DTYPE_BF16 ? 0x1p-8 : 0x1p-11; }

struct problem {
  shape s;
  qkv_dtype type;
  qkv_sdpa_desc d{};
  std::vector<float> q, k, v;              // the stored values, widened
  std::vector<std::uint16_t> qb, kb, vb;   // their bits
  std::vector<double> ref_o, ref_lse, mass;  // oracle; mass = sum_j P*_ij |V_jf|
  std::size_t o_elems = 0;

  problem(const shape& sh, qkv_dtype t, std::uint64_t seed) : s(sh), type(t) {
    d.batch = s.B;
    d.heads = s.H;
    d.q_len = s.Tq;
    d.kv_len = s.Tk;
    d.head_dim = s.D;
    d.v_dim = s.Dv;
    d.q = bthd(s.H, s.Tq, s.D, s.pad);
    d.k = bthd(s.H, s.Tk, s.D, s.pad);
    d.v = bthd(s.H, s.Tk, s.Dv, s.pad);
    d.o = bthd(s.H, s.Tq, s.Dv, s.pad);
    d.causal = s.causal;
    d.dropout_p = s.dropout;
    d.dropout_seed = seed * 13 + 5;
    q = qkv_test::random_vector(extent(d.q, s.B, s.H, s.Tq, s.D), seed, -2.f, 2.f);
    k = qkv_test::random_vector(extent(d.k, s.B, s.H, s.Tk, s.D), seed + 1, -2.f, 2.f);
    v = qkv_test::random_vector(extent(d.v, s.B, s.H, s.Tk, s.Dv), seed + 2, -1.f, 1.f);
    qb = store(type, q);
    kb = store(type, k);
    vb = store(type, v);
    o_elems = extent(d.o, s.B, s.H, s.Tq, s.Dv);
    qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), ref_o, ref_lse);
    oracle_mass();
  }

  // sum_j P*_ij |V_jf| in double, P* = exp(scale q.k - lse) times the dropout multiplier.
  void oracle_mass() {
    const qkv_test::ref_dims n(d);
    mass.assign(n.B * n.H * n.Tq * n.Dv, 0.0);
    const long long off = static_cast<long long>(n.Tk) - static_cast<long long>(n.Tq);
    for (std::size_t b = 0; b < n.B; ++b)
      for (std::size_t h = 0; h < n.H; ++h)
        for (std::size_t i = 0; i < n.Tq; ++i) {
          const std::size_t row = (b * n.H + h) * n.Tq + i;
          if (std::isinf(ref_lse[row])) continue;
          for (std::size_t j = 0; j < n.Tk; ++j) {
            if (s.causal && static_cast<long long>(j) > static_cast<long long>(i) + off) continue;
            double dot = 0;
            for (std::size_t f = 0; f < n.D; ++f)
              dot += double(q[b * d.q.batch + h * d.q.head + i * d.q.token + f]) *
                     k[b * d.k.batch + h * d.k.head + j * d.k.token + f];
            const double p = std::exp(n.scale * dot - ref_lse[row]) *
                             (s.dropout > 0 ? qkv_test::ref_dropout(d.dropout_seed, s.dropout, b, h, i, j) : 1.0);
            for (std::size_t f = 0; f < n.Dv; ++f)
              mass[row * n.Dv + f] += p * std::fabs(double(v[b * d.v.batch + h * d.v.head + j * d.v.token + f]));
          }
        }
  }

  qkv_status run(qkv_sdpa_algo algo, std::vector<std::uint16_t>& out, std::vector<float>& lse) {
    d.algo = algo;
    std::size_t bytes = 0;
    REQUIRE(qkv_sdpa_workspace_size_ex(&d, type, 1, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes);
    out.assign(o_elems + 1, kCanary16);
    lse.assign(d.batch * d.heads * d.q_len + 1, kCanary);
    return qkv_sdpa_forward_ex(&d, type, qb.data(), kb.data(), vb.data(), out.data(), lse.data(), ws.data(), bytes);
  }

  // The bound of qkv/attention.h: |O - O*| <= u|O*| + (u_p + e) mass, with
  // u_p = 2^-8 for bf16 (P may be rounded to bf16), 0 for fp16 (never
  // rounded), and e the fp32 attention's error, as test_sdpa_forward.cpp
  // derives it: score error 4 D scale eps (|q|,|k| <= 2) moves the weights
  // by twice that relatively, plus (Tk + 16) eps of the sums and exp. As a
  // relative error of the mass it also covers lse.
  void check(const std::vector<std::uint16_t>& out, const std::vector<float>& lse) const {
    const qkv_test::ref_dims n(d);
    const double score_err = 4.0 * double(n.D) * n.scale * kEps;
    const double e = 2 * score_err + (double(n.Tk) + 16) * kEps;
    const double drop = s.dropout > 0 ? 1.0 / (1.0 - s.dropout) : 1.0;
    const double u = unit_roundoff(type), up = type == QKV_DTYPE_BF16 ? 0x1p-8 : 0.0;
    std::vector<bool> owned(out.size(), false);
    for (std::size_t b = 0; b < n.B; ++b)
      for (std::size_t h = 0; h < n.H; ++h)
        for (std::size_t i = 0; i < n.Tq; ++i) {
          const std::size_t row = (b * n.H + h) * n.Tq + i;
          const double rl = ref_lse[row];
          if (std::isinf(rl))
            REQUIRE(std::isinf(lse[row]));
          else
            REQUIRE(std::fabs(lse[row] - rl) <= score_err + (double(n.Tk) + 16 + std::fabs(rl)) * kEps);
          for (std::size_t f = 0; f < n.Dv; ++f) {
            const std::size_t at = b * d.o.batch + h * d.o.head + i * d.o.token + f;
            owned[at] = true;
            const double want = ref_o[row * n.Dv + f], got = widen(type, out[at]);
            const double tol = u * std::fabs(want) + (up + e) * mass[row * n.Dv + f] * drop + 1e-30;
            if (!(std::fabs(got - want) <= tol)) {
              INFO("b " << b << " h " << h << " i " << i << " f " << f << " got " << got << " want " << want
                        << " tol " << tol);
              REQUIRE(std::fabs(got - want) <= tol);
            }
          }
        }
    REQUIRE(lse.back() == kCanary);
    for (std::size_t at = 0; at < out.size(); ++at)
      if (!owned[at]) REQUIRE(out[at] == kCanary16);
  }
};

// Under emulation (QKV_TEST_SCALE=small) the cases with more than ~0.5M
// multiply-adds are left to the native run.
std::vector<shape> shapes() {
  std::vector<shape> all = {
      {1, 1, 1, 1, 1, 1, false, 0, 0.f},
      {1, 1, 1, 1, 1, 1, true, 0, 0.f},
      {1, 2, 17, 31, 5, 7, false, 3, 0.f},     // odd head_dim and key count: pairs padded
      {2, 1, 65, 65, 64, 64, true, 0, 0.f},    // diagonal tiles
      {1, 1, 129, 257, 64, 64, true, 1, 0.f},  // decoding alignment, > two key tiles
      {1, 1, 70, 33, 32, 32, true, 0, 0.f},    // early rows see nothing: zeros
      {1, 2, 64, 129, 16, 16, true, 0, 0.5f},  // dropout + causal
      {1, 1, 7, 300, 128, 80, false, 2, 0.f},  // Dv != D
      {1, 3, 33, 130, 63, 65, false, 0, 0.f},
  };
  if (!qkv_test::small_tests()) return all;
  std::vector<shape> small;
  for (const shape& s : all)
    if (s.B * s.H * s.Tq * s.Tk * (s.D + s.Dv) <= 500000) small.push_back(s);
  return small;
}

}  // namespace

TEST_CASE("sdpa_forward_ex: bf16 and fp16 within the stated bound, fused and reference, every ISA", "[sdpa][lowp]") {
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    std::vector<problem> problems;
    std::uint64_t seed = 500;
    for (const shape& s : shapes()) problems.emplace_back(s, type, ++seed);
    qkv_test::for_each_isa([&](qkv_isa) {
      for (problem& p : problems) {
        INFO(describe(p.s) << " type " << int(type));
        std::vector<std::uint16_t> out;
        std::vector<float> lse;
        for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
          INFO("algo " << int(algo));
          REQUIRE(p.run(algo, out, lse) == QKV_OK);
          p.check(out, lse);
        }
      }
    });
  }
}

TEST_CASE("sdpa_forward_ex: a one-hot row is exact and a row that sees nothing is zero", "[sdpa][lowp]") {
  // Query 0 matches key 2 with a score 60 above every other: its weight is
  // 1 and the rest exp(-60) < 2^-86 (flushed or far below half an ulp of
  // V), so O is V's row 2 exactly in either type. Causal with q_len > kv_len:
  // query 0 sees no key.
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    qkv_sdpa_desc d{};
    d.batch = d.heads = 1;
    d.q_len = 1;
    d.kv_len = 5;
    d.head_dim = d.v_dim = 4;
    d.q = d.o = {4, 4, 4};
    d.k = d.v = {20, 20, 4};
    d.scale = 1.0f;
    std::vector<float> q = {8, 0, 0, 0}, k(20, 0.f), v = qkv_test::random_vector(20, 9, -1.f, 1.f);
    k[2 * 4] = 8;
    k[1 * 4] = 0.5f;
    const auto qb = store(type, q), kb = store(type, k), vb = store(type, v);
    qkv_test::for_each_isa([&](qkv_isa) {
      std::size_t bytes;
      REQUIRE(qkv_sdpa_workspace_size_ex(&d, type, 1, &bytes) == QKV_OK);
      std::vector<unsigned char> ws(bytes);
      std::vector<std::uint16_t> o(4);
      float lse;
      REQUIRE(qkv_sdpa_forward_ex(&d, type, qb.data(), kb.data(), vb.data(), o.data(), &lse, ws.data(), bytes) ==
              QKV_OK);
      for (int f = 0; f < 4; ++f) REQUIRE(o[f] == vb[2 * 4 + f]);
    });
    qkv_sdpa_desc m = d;
    m.q_len = 3;
    m.kv_len = 2;
    m.causal = 1;
    std::vector<float> q3 = qkv_test::random_vector(12, 3, -1.f, 1.f);
    const auto q3b = store(type, q3);
    qkv_test::for_each_isa([&](qkv_isa) {
      std::size_t bytes;
      REQUIRE(qkv_sdpa_workspace_size_ex(&m, type, 1, &bytes) == QKV_OK);
      std::vector<unsigned char> ws(bytes);
      std::vector<std::uint16_t> o(12, kCanary16);
      std::vector<float> lse(3);
      REQUIRE(qkv_sdpa_forward_ex(&m, type, q3b.data(), kb.data(), vb.data(), o.data(), lse.data(), ws.data(),
                                  bytes) == QKV_OK);
      for (int f = 0; f < 4; ++f) REQUIRE(o[f] == 0);
      REQUIRE(std::isinf(lse[0]));
      for (int f = 4; f < 12; ++f) REQUIRE(std::isfinite(widen(type, o[f])));
    });
  }
}

TEST_CASE("sdpa_ex: one-hot rows with huge logits are exact in the forward and the backward", "[sdpa][lowp]") {
  // d 64 (the AMX tiles' sizes, where the CPU has them): query i matches
  // key perm(i) with a logit far above every other, the scores' sums
  // rounding along the way.
  // The backward recomputes P = exp(S - lse): 1 only if S is the forward's
  // score bit for bit. Each key is one query's match, so dV's row of that
  // key is that query's dO exactly, and O is V's row exactly.
  const std::size_t T = 40, D = 64;
  qkv_sdpa_desc d{};
  d.batch = d.heads = 1;
  d.q_len = d.kv_len = T;
  d.head_dim = d.v_dim = D;
  d.q = d.k = d.v = d.o = {T * D, T * D, D};
  d.scale = 1.0f;
  auto perm = [&](std::size_t i) { return (7 * i + 3) % T; };
  // |q| = 60 r^4 (r uniform: magnitudes over 7 binades, so the products'
  // sums are inexact in fp32) with random signs, K's matching row 2q (a few
  // % of noise): the match scores ~5e4 (an fp32 ulp of it is 4e-3 of the
  // weight, a bf16 step), any other key ~N(0, 6e3).
  std::vector<float> q = qkv_test::random_vector(T * D, 41, 0.f, 1.f), k(T * D);
  const std::vector<float> sign = qkv_test::random_vector(T * D, 45), noise = qkv_test::random_vector(T * D, 42);
  for (std::size_t e = 0; e < T * D; ++e) q[e] = (sign[e] < 0 ? -60.f : 60.f) * q[e] * q[e] * q[e] * q[e];
  for (std::size_t i = 0; i < T; ++i)
    for (std::size_t f = 0; f < D; ++f) k[perm(i) * D + f] = q[i * D + f] * (2.f + 0.05f * noise[i * D + f]);
  std::vector<float> v = qkv_test::random_vector(T * D, 43, -1.f, 1.f), g = qkv_test::random_vector(T * D, 44);
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    std::vector<float> qs = q, ks = k, vs = v, gs = g;
    const auto qb = store(type, qs), kb = store(type, ks), vb = store(type, vs), gb = store(type, gs);
    qkv_test::for_each_isa([&](qkv_isa isa) {
      CAPTURE(qkv_isa_name(isa), static_cast<int>(type), qkv_test::sdpa_ex_on_amx(d, type));
      std::size_t fb, bb;
      REQUIRE(qkv_sdpa_workspace_size_ex(&d, type, 1, &fb) == QKV_OK);
      REQUIRE(qkv_sdpa_backward_workspace_size_ex(&d, type, 1, &bb) == QKV_OK);
      std::vector<unsigned char> ws(fb > bb ? fb : bb);
      std::vector<std::uint16_t> o(T * D), dq(T * D), dk(T * D), dv(T * D);
      std::vector<float> lse(T);
      REQUIRE(qkv_sdpa_forward_ex(&d, type, qb.data(), kb.data(), vb.data(), o.data(), lse.data(), ws.data(), fb) ==
              QKV_OK);
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t f = 0; f < D; ++f) REQUIRE(o[i * D + f] == vb[perm(i) * D + f]);
      REQUIRE(qkv_sdpa_backward_ex(&d, type, qb.data(), kb.data(), vb.data(), o.data(), lse.data(), gb.data(),
                                   dq.data(), dk.data(), dv.data(), ws.data(), bb) == QKV_OK);
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t f = 0; f < D; ++f) {
          INFO("query " << i << " feature " << f);
          REQUIRE(dv[perm(i) * D + f] == gb[i * D + f]);
        }
    });
  }
}

TEST_CASE("sdpa_ex: F32 is the fp32 entry points, bit for bit", "[sdpa][lowp]") {
  problem p({1, 2, 40, 70, 24, 24, true, 1, 0.25f}, QKV_DTYPE_BF16, 77);
  qkv_sdpa_desc& d = p.d;
  std::size_t b1, b2;
  REQUIRE(qkv_sdpa_workspace_size(&d, 1, &b1) == QKV_OK);
  REQUIRE(qkv_sdpa_workspace_size_ex(&d, QKV_DTYPE_F32, 1, &b2) == QKV_OK);
  REQUIRE(b1 == b2);
  std::vector<unsigned char> ws(b1);
  std::vector<float> o1(p.o_elems, 0.f), o2(p.o_elems, 0.f), l1(80), l2(80);
  REQUIRE(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), o1.data(), l1.data(), ws.data(), b1) == QKV_OK);
  REQUIRE(qkv_sdpa_forward_ex(&d, QKV_DTYPE_F32, p.q.data(), p.k.data(), p.v.data(), o2.data(), l2.data(), ws.data(),
                              b1) == QKV_OK);
  REQUIRE(std::memcmp(o1.data(), o2.data(), o1.size() * 4) == 0);
  REQUIRE(std::memcmp(l1.data(), l2.data(), l1.size() * 4) == 0);
}

TEST_CASE("sdpa_backward_ex: the fp32 backward of the stored values, rounded once (bf16 mode: within 4u), every ISA",
          "[sdpa][lowp]") {
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    // (the third: head sizes the AMX tiles take, where the CPU has them)
    for (const shape& s : {shape{1, 2, 33, 47, 7, 9, true, 2, 0.f}, shape{2, 1, 64, 65, 16, 16, false, 0, 0.25f},
                           shape{1, 2, 70, 97, 64, 32, true, 0, 0.f}}) {
      problem p(s, type, 900);
      INFO(describe(s) << " type " << int(type));
      qkv_test::for_each_isa([&](qkv_isa) {
        for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
          p.d.algo = algo;
          std::vector<std::uint16_t> o;
          std::vector<float> lse;
          REQUIRE(p.run(algo, o, lse) == QKV_OK);
          for (std::uint16_t& x : o)
            if (x == kCanary16) x = 0;  // gaps of the layout: any finite value
          std::vector<float> dout = qkv_test::random_vector(p.o_elems, 31, -1.f, 1.f);
          const auto dob = store(type, dout);
          std::vector<float> of(o.size() - 1);
          for (std::size_t e = 0; e + 1 < o.size(); ++e) of[e] = widen(type, o[e]);
          // The fp32 backward of the widened values.
          std::size_t bytes;
          REQUIRE(qkv_sdpa_backward_workspace_size(&p.d, 1, &bytes) == QKV_OK);
          std::vector<unsigned char> ws(bytes);
          std::vector<float> dq(p.q.size(), 0.f), dk(p.k.size(), 0.f), dv(p.v.size(), 0.f);
          REQUIRE(qkv_sdpa_backward(&p.d, p.q.data(), p.k.data(), p.v.data(), of.data(), lse.data(), dout.data(),
                                    dq.data(), dk.data(), dv.data(), ws.data(), bytes) == QKV_OK);
          // The typed one, with canaries in the gaps.
          REQUIRE(qkv_sdpa_backward_workspace_size_ex(&p.d, type, 1, &bytes) == QKV_OK);
          ws.assign(bytes, 0);
          std::vector<std::uint16_t> tq(p.q.size(), kCanary16), tk(p.k.size(), kCanary16),
              tv(p.v.size(), kCanary16);
          REQUIRE(qkv_sdpa_backward_ex(&p.d, type, p.qb.data(), p.kb.data(), p.vb.data(), o.data(), lse.data(),
                                       dob.data(), tq.data(), tk.data(), tv.data(), ws.data(), bytes) == QKV_OK);
          // bf16 mode (the forward multiplied in bf16 here): P and dS are
          // rounded as well, u relative each, plus the output's rounding:
          // within 4u of the fp32 backward normwise (measured below 1u).
          const bool in_bf16 = qkv_test::sdpa_ex_backward_in_bf16(p.d, type);
          auto same = [&](const std::vector<float>& ref, const std::vector<std::uint16_t>& got,
                          const qkv_sdpa_strides& st, std::size_t T, std::size_t F) {
            std::vector<bool> owned(got.size(), false);
            for (std::size_t b = 0; b < s.B; ++b)
              for (std::size_t h = 0; h < s.H; ++h)
                for (std::size_t t = 0; t < T; ++t)
                  for (std::size_t f = 0; f < F; ++f) owned[b * st.batch + h * st.head + t * st.token + f] = true;
            std::vector<float> r(ref);
            const auto bits = store(type, r);
            for (std::size_t e = 0; e < got.size(); ++e)
              if (!in_bf16 || !owned[e]) REQUIRE(got[e] == (owned[e] ? bits[e] : kCanary16));
            if (in_bf16) {
              const double err =
                  qkv_test::sdpa_rel_error(ref, got, owned, [&](std::uint16_t x) { return widen(type, x); });
              INFO("bf16 mode: normwise error / u = " << err * 256);
              REQUIRE(err <= 4.0 / 256);
            }
          };
          same(dq, tq, p.d.q, s.Tq, s.D);
          same(dk, tk, p.d.k, s.Tk, s.D);
          same(dv, tv, p.d.v, s.Tk, s.Dv);
        }
      });
    }
  }
}

TEST_CASE("sdpa_ex: 1, 2 and 3 threads give the same bits", "[sdpa][lowp][threads]") {
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    // Just above the driver's ~1 MFLOP-a-thread cut-off at either scale.
    const shape sh = qkv_test::small_tests() ? shape{1, 4, 70, 90, 32, 32, false, 0, 0.f}
                                             : shape{2, 4, 130, 200, 64, 64, true, 0, 0.f};
    problem p(sh, type, 41);
    qkv_test::for_each_isa([&](qkv_isa) {
      std::vector<std::uint16_t> ref;
      for (int threads : {1, 2, 3}) {
        qkv_test::threads_scope scope(threads);
        std::size_t bytes;
        REQUIRE(qkv_sdpa_workspace_size_ex(&p.d, type, threads, &bytes) == QKV_OK);
        std::vector<unsigned char> ws(bytes);
        std::vector<std::uint16_t> o(p.o_elems, kCanary16);
        qkv_test::team_watch watch;
        REQUIRE(qkv_sdpa_forward_ex(&p.d, type, p.qb.data(), p.kb.data(), p.vb.data(), o.data(), nullptr, ws.data(),
                                    bytes) == QKV_OK);
        if (threads > 1) QKV_CHECK_TEAM(watch);
        if (threads == 1)
          ref = o;
        else
          REQUIRE(o == ref);
      }
    });
  }
}

TEST_CASE("sdpa_ex: refusals write nothing", "[sdpa][lowp]") {
  problem p({1, 1, 8, 8, 4, 4, false, 0, 0.f}, QKV_DTYPE_BF16, 3);
  std::size_t bytes = 123;
  for (int bad : {int(QKV_DTYPE_I8), int(QKV_DTYPE_F64), -1, 999}) {
    qkv_dtype t;
    std::memcpy(&t, &bad, sizeof t);
    REQUIRE(qkv_sdpa_workspace_size_ex(&p.d, t, 1, &bytes) == QKV_ERR_BAD_ARGUMENT);
    REQUIRE(qkv_sdpa_backward_workspace_size_ex(&p.d, t, 1, &bytes) == QKV_ERR_BAD_ARGUMENT);
    REQUIRE(bytes == 123);
    std::vector<unsigned char> ws(1 << 20);
    std::vector<std::uint16_t> o(p.o_elems, kCanary16);
    REQUIRE(qkv_sdpa_forward_ex(&p.d, t, p.qb.data(), p.kb.data(), p.vb.data(), o.data(), nullptr, ws.data(),
                                ws.size()) == QKV_ERR_BAD_ARGUMENT);
    for (std::uint16_t x : o) REQUIRE(x == kCanary16);
  }
  REQUIRE(qkv_sdpa_workspace_size_ex(&p.d, QKV_DTYPE_BF16, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes);
  std::vector<std::uint16_t> o(p.o_elems, kCanary16);
  REQUIRE(qkv_sdpa_forward_ex(&p.d, QKV_DTYPE_BF16, p.qb.data(), p.kb.data(), p.vb.data(), o.data(), nullptr,
                              ws.data(), bytes - 65) == QKV_ERR_WORKSPACE_TOO_SMALL);
  REQUIRE(qkv_sdpa_forward_ex(&p.d, QKV_DTYPE_BF16, nullptr, p.kb.data(), p.vb.data(), o.data(), nullptr, ws.data(),
                              bytes) == QKV_ERR_NULL_POINTER);
  for (std::uint16_t x : o) REQUIRE(x == kCanary16);
}
