// SPDX-License-Identifier: MIT
// Attention backward (issue 5): the fused and the reference paths against
// the double-precision oracle (tests/support/ref_attention.hpp) and against
// central differences; thread-count determinism; the C boundary's statuses.
// O and lse come from the oracle's forward, rounded to float, so these tests
// do not depend on qkv_sdpa_forward.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"
#include "support/ref_attention.hpp"

namespace {

constexpr float kCanary = -12345.5f;

enum layout { BTHD, BHTD };

// Strides of a [B, T, H, F] or [B, H, T, F] tensor with `pad` spare floats per row.
qkv_sdpa_strides strides_for(layout l, std::size_t H, std::size_t T, std::size_t F, std::size_t pad) {
  if (l == BTHD) return {T * (H * F + pad), F, H * F + pad};
  return {H * T * (F + pad), T * (F + pad), F + pad};
}

std::size_t elems(const qkv_sdpa_strides& s, std::size_t B, std::size_t H, std::size_t T, std::size_t F) {
  return (B - 1) * s.batch + (H - 1) * s.head + (T - 1) * s.token + F;
}

struct shape {
  std::size_t B, H, Tq, Tk, D, Dv;
  int causal;
  layout lay;
  std::size_t pad;
  float dropout;
};

struct problem {
  qkv_sdpa_desc d{};
  std::vector<float> q, k, v, o, lse, dout;
  std::size_t nq, nk, nv;  // element spans of dq, dk, dv

  problem(const shape& s, std::uint64_t seed) {
    d.batch = s.B; d.heads = s.H; d.q_len = s.Tq; d.kv_len = s.Tk; d.head_dim = s.D;
    d.v_dim = s.Dv == s.D ? 0 : s.Dv;
    d.q = strides_for(s.lay, s.H, s.Tq, s.D, s.pad);
    d.k = strides_for(s.lay, s.H, s.Tk, s.D, s.pad);
    d.v = strides_for(s.lay, s.H, s.Tk, s.Dv, s.pad);
    d.o = strides_for(s.lay, s.H, s.Tq, s.Dv, s.pad);
    d.causal = s.causal;
    d.dropout_p = s.dropout;
    d.dropout_seed = seed * 7 + 1;
    nq = elems(d.q, s.B, s.H, s.Tq, s.D);
    nk = elems(d.k, s.B, s.H, s.Tk, s.D);
    nv = elems(d.v, s.B, s.H, s.Tk, s.Dv);
    // Scores of a few units: softmax neither uniform nor one-hot.
    q = qkv_test::random_vector(nq, seed, -2.f, 2.f);
    k = qkv_test::random_vector(nk, seed + 1, -2.f, 2.f);
    v = qkv_test::random_vector(nv, seed + 2);
    dout = qkv_test::random_vector(elems(d.o, s.B, s.H, s.Tq, s.Dv), seed + 3);
    std::vector<double> out, l;
    qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), out, l);
    o.assign(dout.size(), 0.f);
    for_each(d.o, s.Tq, s.Dv, [&](std::size_t off, std::size_t dense) { o[off] = static_cast<float>(out[dense]); });
    lse.assign(l.begin(), l.end());
  }

  // f(offset in layout, index in the oracle's dense [b][h][t][f]) over every element.
  template <class F>
  void for_each(const qkv_sdpa_strides& s, std::size_t T, std::size_t Fd, F&& f) const {
    for (std::size_t b = 0; b < d.batch; ++b)
      for (std::size_t h = 0; h < d.heads; ++h)
        for (std::size_t t = 0; t < T; ++t)
          for (std::size_t x = 0; x < Fd; ++x)
            f(b * s.batch + h * s.head + t * s.token + x, ((b * d.heads + h) * T + t) * Fd + x);
  }
  std::size_t Dv() const { return d.v_dim ? d.v_dim : d.head_dim; }
};

struct grads {
  std::vector<float> dq, dk, dv;
  explicit grads(const problem& p) : dq(p.nq, kCanary), dk(p.nk, kCanary), dv(p.nv, kCanary) {}
};

qkv_status backward(const problem& p, grads& g, qkv_sdpa_algo algo, int threads = 1) {
  qkv_sdpa_desc d = p.d;
  d.algo = algo;
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_backward_workspace_size(&d, threads, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes + 1);
  // An odd address: the library aligns what it needs itself.
  return qkv_sdpa_backward(&d, p.q.data(), p.k.data(), p.v.data(), p.o.data(), p.lse.data(), p.dout.data(),
                           g.dq.data(), g.dk.data(), g.dv.data(), ws.data() + 1, bytes);
}

// Largest |got - want| relative to the largest |want| of the tensor (at
// least 1e-2: with O(1) inputs every term of every gradient is O(1)/T or
// larger, so a gradient that cancels to ~0, e.g. dQ with one key, is judged
// against its terms, not against its rounding noise); also
// fails (returns infinity) if an element outside the layout was touched.
double rel_error(const problem& p, const qkv_sdpa_strides& s, std::size_t T, std::size_t F,
                 const std::vector<float>& got, const std::vector<double>& want) {
  std::vector<char> inside(got.size(), 0);
  double err = 0, mag = 1e-2;
  p.for_each(s, T, F, [&](std::size_t off, std::size_t dense) {
    inside[off] = 1;
    err = std::max(err, std::fabs(double(got[off]) - want[dense]));
    mag = std::max(mag, std::fabs(want[dense]));
  });
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!inside[i] && got[i] != kCanary) return std::numeric_limits<double>::infinity();
  return err / mag;
}

struct oracle {
  std::vector<double> dq, dk, dv;
  explicit oracle(const problem& p) {
    qkv_test::ref_sdpa_backward(p.d, p.q.data(), p.k.data(), p.v.data(), p.dout.data(), dq, dk, dv);
  }
};

// Errors of one run against the oracle, the largest of dQ, dK, dV.
double max_error(const problem& p, const grads& g, const oracle& r) {
  const std::size_t Tq = p.d.q_len, Tk = p.d.kv_len, D = p.d.head_dim;
  return std::max({rel_error(p, p.d.q, Tq, D, g.dq, r.dq), rel_error(p, p.d.k, Tk, D, g.dk, r.dk),
                   rel_error(p, p.d.v, Tk, p.Dv(), g.dv, r.dv)});
}

// Float error budget, relative to the largest gradient entry. Each entry is
// a sum over up to T products of (a) P, computed from a d-term float dot and
// an exp (relative error ~ (d |s| + 2) eps), and (b) dP - D, two dv-term
// float dots, so the normwise error grows like eps (T + d + dv) with a
// constant for the cancellation in dP - D (|dP|, |D| ~ the same size as the
// result here). With 8 eps per unit of length the worst shape in this file
// (kv_len 1, where dQ and dK cancel to rounding noise of dP - D) uses a third
// of the budget, the others a tenth or less.
double tolerance(const problem& p) {
  const double eps = std::numeric_limits<float>::epsilon();
  return 8 * eps * double(p.d.q_len + p.d.kv_len + p.d.head_dim + p.Dv() + 16);
}

}  // namespace

TEST_CASE("sdpa backward: fused and reference match the double oracle", "[sdpa][backward]") {
  const std::size_t Ts[] = {1, 2, 7, 63, 64, 65, 129};
  const std::size_t Ds[] = {1, 5, 16, 64, 128};
  // A deterministic sample of Tq x Tk x d x causal x layout: every T appears
  // as q_len with several kv_len (mostly different), every d with both masks.
  std::vector<shape> shapes;
  for (std::size_t a = 0; a < 7; ++a)
    for (std::size_t b = 0; b < 3; ++b) {
      const std::size_t Tq = Ts[a], Tk = Ts[(a + 2 * b + 1) % 7], D = Ds[(a + 3 * b) % 5];
      const std::size_t Dv = (a + b) % 4 == 0 ? Ds[(a + b + 1) % 5] : D;
      shapes.push_back({1 + b % 2, 1 + (a + b) % 3, Tq, Tk, D, Dv, int((a + b) % 2), layout((a + b / 2) % 2),
                        (a % 3 == 0) ? std::size_t(3) : 0, b == 2 ? 0.25f : 0.f});
    }
  if (qkv_test::small_tests()) shapes.resize(8);
  std::uint64_t seed = 100;
  for (const shape& s : shapes) {
    const problem p(s, seed += 10);
    const oracle r(p);
    INFO("B" << s.B << " H" << s.H << " Tq" << s.Tq << " Tk" << s.Tk << " d" << s.D << " dv" << s.Dv << " causal "
             << s.causal << " layout " << s.lay << " pad " << s.pad << " dropout " << s.dropout);
    const double tol = tolerance(p);
    grads ref(p);
    REQUIRE(backward(p, ref, QKV_SDPA_REFERENCE) == QKV_OK);
    CHECK(max_error(p, ref, r) <= tol);
    qkv_test::for_each_isa([&](qkv_isa) {
      grads fused(p), autoalgo(p);
      REQUIRE(backward(p, fused, QKV_SDPA_FUSED) == QKV_OK);
      CHECK(max_error(p, fused, r) <= tol);
      REQUIRE(backward(p, autoalgo, QKV_SDPA_AUTO) == QKV_OK);
      CHECK(autoalgo.dq == fused.dq);
      CHECK(autoalgo.dk == fused.dk);
      CHECK(autoalgo.dv == fused.dv);
    });
  }
}

TEST_CASE("sdpa backward: gradients match central differences of the forward", "[sdpa][backward]") {
  // The oracle's forward in double, differentiated numerically through the
  // float inputs; the library's float gradients must match it. Loss = <O, G>.
  const shape shapes[] = {
      {1, 2, 5, 7, 3, 3, 0, BHTD, 0, 0.f}, {1, 2, 7, 5, 4, 2, 1, BTHD, 1, 0.f},
      {2, 1, 17, 17, 8, 8, 1, BHTD, 0, 0.f}, {1, 1, 9, 13, 5, 6, 0, BTHD, 2, 0.3f},
      {1, 2, 11, 11, 8, 8, 1, BTHD, 0, 0.2f},
  };
  std::uint64_t seed = 7;
  for (const shape& s : shapes) {
    if (qkv_test::small_tests() && s.Tq > 9) continue;
    problem p(s, seed += 5);
    INFO("Tq" << s.Tq << " Tk" << s.Tk << " d" << s.D << " causal " << s.causal << " dropout " << s.dropout);
    grads g(p);
    REQUIRE(backward(p, g, QKV_SDPA_FUSED) == QKV_OK);
    std::vector<double> out, lse;
    auto loss = [&]() {
      qkv_test::ref_sdpa_forward(p.d, p.q.data(), p.k.data(), p.v.data(), out, lse);
      double sum = 0;
      p.for_each(p.d.o, s.Tq, s.Dv, [&](std::size_t off, std::size_t dense) { sum += out[dense] * p.dout[off]; });
      return sum;
    };
    auto check = [&](std::vector<float>& x, const std::vector<float>& grad, const qkv_sdpa_strides& st,
                     std::size_t T, std::size_t F) {
      p.for_each(st, T, F, [&](std::size_t off, std::size_t) {
        const float x0 = x[off], h = 1e-2f;  // O(h^2) truncation ~1e-5 here, far above float noise
        x[off] = x0 + h;
        const double lp = loss();
        x[off] = x0 - h;
        const double lm = loss();
        x[off] = x0;
        const double fd = (lp - lm) / (double(x0 + h) - double(x0 - h));
        CHECK(std::fabs(fd - grad[off]) <= 2e-4 * (1 + std::fabs(fd)));
      });
    };
    check(p.q, g.dq, p.d.q, s.Tq, s.D);
    check(p.k, g.dk, p.d.k, s.Tk, s.D);
    check(p.v, g.dv, p.d.v, s.Tk, s.Dv);
  }
}

TEST_CASE("sdpa backward: 1 and 2 threads give the same bits", "[sdpa][backward][threads]") {
  // B*H = 1 runs one task per head on 1 thread and the split schedule (key
  // tiles, query groups) on 2; B*H = 3 runs per head on both.
  // Big enough that the library starts 2 threads (~1 MFLOP per thread by
  // the drivers' estimates: fused 5 (D + Dv) flops a score, reference 8 D).
  // The reference splits only across heads: with B*H = 1 it must stay on the
  // caller's thread, and the test checks that too.
  std::vector<shape> shapes = {
      {1, 1, 200, 190, 64, 64, 1, BHTD, 0, 0.f}, {1, 3, 130, 140, 16, 16, 1, BTHD, 0, 0.f},
      {1, 1, 200, 200, 5, 7, 0, BTHD, 1, 0.1f}, {2, 1, 160, 97, 64, 32, 0, BHTD, 0, 0.f},
      {1, 1, 600, 330, 16, 16, 1, BHTD, 0, 0.f},  // several key blocks and query groups
  };
  if (qkv_test::small_tests())
    shapes = {{1, 1, 100, 90, 64, 64, 1, BHTD, 0, 0.1f}, {1, 3, 80, 80, 16, 16, 0, BTHD, 1, 0.f}};
  std::uint64_t seed = 900;
  for (const shape& s : shapes) {
    const problem p(s, seed += 3);
    INFO("B" << s.B << " H" << s.H << " Tq" << s.Tq << " d" << s.D);
    qkv_test::for_each_isa([&](qkv_isa) {
      for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
        grads one(p), two(p);
        {
          qkv_test::threads_scope t(1);
          REQUIRE(backward(p, one, algo, 1) == QKV_OK);
        }
        {
          qkv_test::threads_scope t(2);
          qkv_test::team_watch watch;
          REQUIRE(backward(p, two, algo, 2) == QKV_OK);
          INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
          if (algo == QKV_SDPA_FUSED || s.B * s.H > 1)
            QKV_CHECK_TEAM(watch);
          else
            CHECK(watch.regions() == 0);
        }
        CHECK(std::memcmp(one.dq.data(), two.dq.data(), one.dq.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(one.dk.data(), two.dk.data(), one.dk.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(one.dv.data(), two.dv.data(), one.dv.size() * sizeof(float)) == 0);
      }
    });
  }
}

TEST_CASE("sdpa backward: rows that see no key get zero gradients", "[sdpa][backward]") {
  // Causal with q_len > kv_len: the first q_len - kv_len queries see nothing
  // (lse = -inf); their dQ must be exactly 0, not NaN.
  const problem p({1, 2, 9, 4, 8, 8, 1, BHTD, 0, 0.f}, 5);
  const oracle r(p);
  for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
    grads g(p);
    REQUIRE(backward(p, g, algo) == QKV_OK);
    CHECK(max_error(p, g, r) <= tolerance(p));
    for (std::size_t h = 0; h < 2; ++h)
      for (std::size_t i = 0; i < 5; ++i)
        for (std::size_t f = 0; f < 8; ++f) CHECK(g.dq[h * p.d.q.head + i * p.d.q.token + f] == 0.f);
  }
}

TEST_CASE("sdpa backward: workspace is O(tile * d) per thread and may buy fewer threads", "[sdpa][backward]") {
  qkv_sdpa_desc d{};
  d.batch = 1; d.heads = 1; d.q_len = d.kv_len = 4096; d.head_dim = 64;
  d.q = d.k = d.v = d.o = {4096 * 64, 4096 * 64, 64};
  std::size_t one = 0, two = 0;
  REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &one) == QKV_OK);
  REQUIRE(qkv_sdpa_backward_workspace_size(&d, 2, &two) == QKV_OK);
  CHECK(one < (std::size_t(2) << 20));
  CHECK(two < (std::size_t(4) << 20));
  d.dropout_p = 0.1f;
  d.head_dim = 65;  // the padded-copy path
  d.q = d.k = d.v = d.o = {4096 * 65, 4096 * 65, 65};
  REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &one) == QKV_OK);
  CHECK(one < (std::size_t(2) << 20));

  // A workspace for 1 thread while 2 are allowed: same result.
  const problem p({1, 1, 100, 100, 64, 64, 1, BHTD, 0, 0.f}, 3);
  qkv_test::threads_scope t(2);
  grads a(p), b(p);
  REQUIRE(backward(p, a, QKV_SDPA_FUSED, 1) == QKV_OK);
  REQUIRE(backward(p, b, QKV_SDPA_FUSED, 2) == QKV_OK);
  CHECK(a.dq == b.dq);
  CHECK(a.dk == b.dk);
  CHECK(a.dv == b.dv);
}

TEST_CASE("sdpa backward: bad arguments return a status and write nothing", "[sdpa][backward][capi]") {
  const problem p({1, 2, 9, 11, 8, 8, 1, BTHD, 0, 0.f}, 77);
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_backward_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes);
  grads g(p);
  auto call = [&](const qkv_sdpa_desc* d, const float* q, const float* dout, float* dq, void* w, std::size_t n) {
    return qkv_sdpa_backward(d, q, p.k.data(), p.v.data(), p.o.data(), p.lse.data(), dout, dq, g.dk.data(),
                             g.dv.data(), w, n);
  };
  auto untouched = [&]() {
    auto all = [](const std::vector<float>& x) {
      return std::all_of(x.begin(), x.end(), [](float f) { return f == kCanary; });
    };
    return all(g.dq) && all(g.dk) && all(g.dv);
  };
  const float* q = p.q.data();
  const float* dout = p.dout.data();
  float* dq = g.dq.data();
  CHECK(call(nullptr, q, dout, dq, ws.data(), bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, nullptr, dout, dq, ws.data(), bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, q, nullptr, dq, ws.data(), bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, q, dout, nullptr, ws.data(), bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, q, dout, dq, nullptr, bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, q, dout, dq, nullptr, 0) == QKV_ERR_NULL_POINTER);
  CHECK(call(&p.d, q, dout, dq, ws.data(), bytes - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  qkv_sdpa_desc ref = p.d;
  ref.algo = QKV_SDPA_REFERENCE;
  std::size_t ref_bytes = 0;
  REQUIRE(qkv_sdpa_backward_workspace_size(&ref, 1, &ref_bytes) == QKV_OK);
  std::vector<unsigned char> ref_ws(ref_bytes);
  CHECK(call(&ref, q, dout, dq, ref_ws.data(), ref_bytes - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);

  struct bad {
    const char* what;
    void (*edit)(qkv_sdpa_desc&);
    qkv_status want;
  };
  const bad cases[] = {
      {"batch 0", [](qkv_sdpa_desc& d) { d.batch = 0; }, QKV_ERR_BAD_SHAPE},
      {"head_dim 0", [](qkv_sdpa_desc& d) { d.head_dim = 0; }, QKV_ERR_BAD_SHAPE},
      {"kv_len 0", [](qkv_sdpa_desc& d) { d.kv_len = 0; }, QKV_ERR_BAD_SHAPE},
      {"token stride < d", [](qkv_sdpa_desc& d) { d.k.token = 7; }, QKV_ERR_BAD_STRIDE},
      {"shared K heads", [](qkv_sdpa_desc& d) { d.k.head = 0; }, QKV_ERR_BAD_STRIDE},
      {"overlapping dO heads", [](qkv_sdpa_desc& d) { d.o.head = 1; }, QKV_ERR_BAD_STRIDE},
      {"negative scale", [](qkv_sdpa_desc& d) { d.scale = -1.f; }, QKV_ERR_BAD_ARGUMENT},
      {"NaN scale", [](qkv_sdpa_desc& d) { d.scale = std::nanf(""); }, QKV_ERR_BAD_ARGUMENT},
      {"causal 2", [](qkv_sdpa_desc& d) { d.causal = 2; }, QKV_ERR_BAD_ARGUMENT},
      {"dropout 1", [](qkv_sdpa_desc& d) { d.dropout_p = 1.f; }, QKV_ERR_BAD_ARGUMENT},
      {"algo out of range",  // any int can reach the enum from C
       [](qkv_sdpa_desc& d) {
         const int bad_algo = 9;
         std::memcpy(&d.algo, &bad_algo, sizeof bad_algo);
       },
       QKV_ERR_BAD_ARGUMENT},
      // 2^62 on 64-bit, 2^30 on 32-bit size_t (armhf, i686): overflows either way.
      {"huge batch", [](qkv_sdpa_desc& d) { d.batch = std::size_t(1) << (sizeof(std::size_t) * 8 - 2); },
       QKV_ERR_SIZE_OVERFLOW},
  };
  for (const bad& c : cases) {
    INFO(c.what);
    qkv_sdpa_desc d = p.d;
    c.edit(d);
    CHECK(call(&d, q, dout, dq, ws.data(), bytes) == c.want);
    std::size_t n = 12345;
    CHECK(qkv_sdpa_backward_workspace_size(&d, 1, &n) == c.want);
    CHECK(n == 12345);
  }
  CHECK(untouched());
  std::size_t n = 0;
  CHECK(qkv_sdpa_backward_workspace_size(&p.d, 0, &n) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_sdpa_backward_workspace_size(&p.d, 1, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_backward_workspace_size(nullptr, 1, &n) == QKV_ERR_NULL_POINTER);
}

namespace {

// Rewrites q and k of `p` so that the scaled logits reach about +-level:
// keys are unit vectors and each query row is c times one key it sees (its
// dominant key, logit ~ level; the others level * cos). Keys 4m+1 are twins
// of keys 4m (equal, or one component one ulp apart): a row aimed at key 4m
// is a near-tie of two weights ~1/2, any other row is one-hot. Ties stay at
// |logit| <= 1e3: their P = exp(s - lse) carries lse's own rounding,
// |lse| eps / 2, which at 1e4 alone is twice the tolerance.
// Returns each row's dominant key (dense [b][h][i]; Tk when it sees none).
std::vector<std::size_t> saturate(problem& p, double level, std::uint64_t seed) {
  const qkv_sdpa_desc& d = p.d;
  const std::size_t Tq = d.q_len, Tk = d.kv_len, D = d.head_dim;
  const double scale = 1.0 / std::sqrt(double(D));
  const std::ptrdiff_t off = std::ptrdiff_t(Tk) - std::ptrdiff_t(Tq);
  qkv_test::rng r(seed);
  std::vector<std::size_t> dom(d.batch * d.heads * Tq, Tk);
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h) {
      float* k = p.k.data() + b * d.k.batch + h * d.k.head;
      float* q = p.q.data() + b * d.q.batch + h * d.q.head;
      for (std::size_t j = 0; j < Tk; ++j) {
        float* kj = k + j * d.k.token;
        if (j % 4 == 1) {  // the twin of key j - 1
          std::copy(kj - d.k.token, kj - d.k.token + D, kj);
          if (j % 8 == 5) kj[0] = std::nextafter(kj[0], 2.f);
          continue;
        }
        double n2 = 0;
        for (std::size_t f = 0; f < D; ++f) {
          kj[f] = r.uniform();
          n2 += double(kj[f]) * kj[f];
        }
        for (std::size_t f = 0; f < D; ++f) kj[f] = float(kj[f] / std::sqrt(n2));
      }
      for (std::size_t i = 0; i < Tq; ++i) {
        const std::ptrdiff_t last = d.causal ? std::min(std::ptrdiff_t(i) + off, std::ptrdiff_t(Tk) - 1)
                                             : std::ptrdiff_t(Tk) - 1;
        if (last < 0) continue;  // sees no key
        const std::size_t vis = std::size_t(last) + 1;
        std::size_t a;
        if (i % 4 == 3 || vis < 3) {  // a tie (or the only key)
          a = 4 * static_cast<std::size_t>(r.next() % std::max<std::size_t>(1, (vis + 2) / 4));  // 4m, 4m+1 < vis
        } else {  // one-hot: a key 4m+2 or 4m+3, which has no twin
          do a = static_cast<std::size_t>(r.next() % vis); while (a % 4 < 2);
        }
        const bool tie = a % 4 == 0;
        const double lvl = tie ? std::min(level, 1e3) : level;
        float* qi = q + i * d.q.token;
        const float* ka = k + a * d.k.token;
        double n2 = 0;
        for (std::size_t f = 0; f < D; ++f) n2 += double(ka[f]) * ka[f];
        const double c = lvl / (scale * n2);
        for (std::size_t f = 0; f < D; ++f) qi[f] = float(c * ka[f]);
        dom[(b * d.heads + h) * Tq + i] = a;
      }
    }
  return dom;
}

// A one-hot row whose runner-up is 100 or more below (its weight exp(-100)
// flushes to 0) has weight exactly 1: its output is its key's V row, bit for bit.
void check_one_hot(const problem& p, const std::vector<std::size_t>& dom) {
  const qkv_sdpa_desc& d = p.d;
  const double scale = 1.0 / std::sqrt(double(d.head_dim));
  const std::ptrdiff_t off = std::ptrdiff_t(d.kv_len) - std::ptrdiff_t(d.q_len);
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h)
      for (std::size_t i = 0; i < d.q_len; ++i) {
        const std::size_t a = dom[(b * d.heads + h) * d.q_len + i];
        if (a == d.kv_len || a % 4 < 2) continue;
        const float* qi = p.q.data() + b * d.q.batch + h * d.q.head + i * d.q.token;
        auto logit = [&](std::size_t j) {
          const float* kj = p.k.data() + b * d.k.batch + h * d.k.head + j * d.k.token;
          double s = 0;
          for (std::size_t f = 0; f < d.head_dim; ++f) s += double(qi[f]) * kj[f];
          return scale * s;
        };
        double second = -INFINITY;
        for (std::size_t j = 0; j < d.kv_len; ++j)
          if (j != a && (!d.causal || std::ptrdiff_t(j) <= std::ptrdiff_t(i) + off)) second = std::max(second, logit(j));
        if (logit(a) - second < 100) continue;
        const float* va = p.v.data() + b * d.v.batch + h * d.v.head + a * d.v.token;
        const float* oi = p.o.data() + b * d.o.batch + h * d.o.head + i * d.o.token;
        INFO("row " << i << " key " << a);
        CHECK(std::memcmp(oi, va, p.Dv() * sizeof(float)) == 0);
      }
}

// O and lse of the library's own forward (the backward's contract).
void forward(problem& p, qkv_sdpa_algo algo) {
  qkv_sdpa_desc d = p.d;
  d.algo = algo;
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_workspace_size(&d, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes + 1);
  REQUIRE(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), p.o.data(), p.lse.data(), ws.data() + 1,
                           bytes) == QKV_OK);
}

}  // namespace

TEST_CASE("sdpa backward: saturated softmax rows (one-hot, near ties) are as accurate as ordinary ones",
          "[sdpa][backward][saturated]") {
  // Scaled logits of +-1e2 .. +-1e4: the backward recomputes P = exp(s - lse)
  // from the forward's lse, so a score that differs from the forward's by an
  // ulp of the logit (1e-3 at 1e4) moves a weight of 1 by that much. The
  // backward gets its own forward's O and lse; the same tolerance as
  // ordinary inputs. d = 20, 5, 48: scales 1/sqrt(d) that round.
  const shape shapes[] = {
      {1, 2, 33, 47, 20, 20, 0, BTHD, 0, 0.f},  {1, 1, 70, 50, 5, 7, 1, BHTD, 3, 0.f},
      {2, 1, 65, 130, 48, 32, 1, BTHD, 0, 0.f}, {1, 1, 129, 100, 20, 20, 0, BHTD, 1, 0.f},
      {1, 2, 40, 40, 20, 16, 1, BTHD, 0, 0.2f},
  };
  std::uint64_t seed = 4000;
  for (const shape& s : shapes)
    for (const double level : {1e2, 1e3, 1e4}) {
      problem p(s, seed += 10);
      const std::vector<std::size_t> dom = saturate(p, level, seed + 5);
      const oracle r(p);
      const double tol = tolerance(p);
      INFO("B" << s.B << " H" << s.H << " Tq" << s.Tq << " Tk" << s.Tk << " d" << s.D << " dv" << s.Dv
               << " causal " << s.causal << " dropout " << s.dropout << " logits " << level);
      qkv_test::for_each_isa([&](qkv_isa) {
        // Each backward after its own algorithm's forward: each recomputes P
        // from the scores its forward formed.
        for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
          INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
          forward(p, algo);
          grads g(p);
          REQUIRE(backward(p, g, algo) == QKV_OK);
          CHECK(max_error(p, g, r) <= tol);
          if (s.dropout == 0.f) check_one_hot(p, dom);
        }
      });
    }
}
