// SPDX-License-Identifier: MIT
// Attention forward: the fused kernel and the reference path against the
// double-precision oracle (tests/support/ref_attention.hpp) on every ISA,
// over a sampled matrix of shapes, layouts, masks and dropout; 1 vs 2
// threads bitwise; and the C boundary's refusals (nothing written).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"
#include "support/ref_attention.hpp"

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr float kCanary = -777.25f;

enum class layout { bhtd, bthd };

// Strides of a [B,H,T,F] tensor in either layout, rows padded by `pad` floats.
qkv_sdpa_strides make_strides(layout l, std::size_t H, std::size_t T, std::size_t F, std::size_t pad) {
  if (l == layout::bhtd) return {H * T * (F + pad), T * (F + pad), F + pad};
  return {T * (H * F + pad), F, H * F + pad};  // heads interleaved in a token row
}

std::size_t extent(const qkv_sdpa_strides& s, std::size_t B, std::size_t H, std::size_t T, std::size_t F) {
  return (B - 1) * s.batch + (H - 1) * s.head + (T - 1) * s.token + F;
}

struct shape {
  std::size_t B, H, Tq, Tk, D, Dv;
  bool causal;
  layout lay;
  std::size_t pad;
  float dropout;
  bool shared_kv;  // K/V head stride 0 (multi-query)
};

std::string describe(const shape& s) {
  return "B" + std::to_string(s.B) + " H" + std::to_string(s.H) + " Tq" + std::to_string(s.Tq) + " Tk" +
         std::to_string(s.Tk) + " D" + std::to_string(s.D) + " Dv" + std::to_string(s.Dv) +
         (s.causal ? " causal" : "") + (s.lay == layout::bthd ? " BTHD" : " BHTD") + " pad" +
         std::to_string(s.pad) + " p" + std::to_string(s.dropout) + (s.shared_kv ? " mqa" : "");
}

// One problem: descriptor, inputs and the oracle's answer.
struct problem {
  qkv_sdpa_desc d{};
  std::vector<float> q, k, v;
  std::vector<double> ref_o, ref_lse;
  std::size_t o_elems = 0;

  explicit problem(const shape& s, std::uint64_t seed) {
    d.batch = s.B;
    d.heads = s.H;
    d.q_len = s.Tq;
    d.kv_len = s.Tk;
    d.head_dim = s.D;
    d.v_dim = s.Dv == s.D ? 0 : s.Dv;
    d.q = make_strides(s.lay, s.H, s.Tq, s.D, s.pad);
    d.k = make_strides(s.lay, s.shared_kv ? 1 : s.H, s.Tk, s.D, s.pad);
    d.v = make_strides(s.lay, s.shared_kv ? 1 : s.H, s.Tk, s.Dv, s.pad);
    if (s.shared_kv) d.k.head = d.v.head = 0;
    d.o = make_strides(s.lay, s.H, s.Tq, s.Dv, s.pad);
    d.causal = s.causal;
    d.dropout_p = s.dropout;
    d.dropout_seed = seed * 31 + 7;
    // Inputs in [-2, 2]: scores up to 4*sqrt(D), a peaked but not one-hot softmax.
    q = qkv_test::random_vector(extent(d.q, s.B, s.H, s.Tq, s.D), seed, -2.f, 2.f);
    k = qkv_test::random_vector(extent(d.k, s.B, s.H, s.Tk, s.D), seed + 1, -2.f, 2.f);
    v = qkv_test::random_vector(extent(d.v, s.B, s.H, s.Tk, s.Dv), seed + 2, -1.f, 1.f);
    o_elems = extent(d.o, s.B, s.H, s.Tq, s.Dv);
    qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), ref_o, ref_lse);
  }

  // Runs the library; out gets canaries where the layout has gaps.
  qkv_status run(qkv_sdpa_algo algo, std::vector<float>& out, std::vector<float>& lse, int ws_threads = 1) {
    d.algo = algo;
    std::size_t bytes = 0;
    REQUIRE(qkv_sdpa_workspace_size(&d, ws_threads, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes);
    out.assign(o_elems + 1, kCanary);
    lse.assign(d.batch * d.heads * d.q_len + 1, kCanary);
    return qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), out.data(), lse.data(), ws.data(), bytes);
  }

  // Compares with the oracle. Error model: each score has a dot-product error
  // <= D*eps*scale*|q||k| (|q|,|k| <= 2, so 4*D*scale*eps); a score error
  // moves every weight by the same relative amount, so O (a convex
  // combination of V rows, |V| <= 1, times 1/(1-p) under dropout) moves by
  // about twice that; the sums over Tk keys add Tk*eps (worst case; blocked
  // sums do far better); exp adds a few ulp. lse gets the same plus its
  // own rounding (|lse| * eps).
  void check(const std::vector<float>& out, const std::vector<float>& lse) const {
    const ref_dims n(d);
    const double score_err = 4.0 * double(n.D) * n.scale * kEps;
    const double drop = d.dropout_p > 0 ? 1.0 / (1.0 - d.dropout_p) : 1.0;
    const double tol_o = drop * (2 * score_err + (double(n.Tk) + 16) * kEps);
    for (std::size_t b = 0; b < n.B; ++b)
      for (std::size_t h = 0; h < n.H; ++h)
        for (std::size_t i = 0; i < n.Tq; ++i) {
          const std::size_t row = (b * n.H + h) * n.Tq + i;
          const double rl = ref_lse[row];
          if (std::isinf(rl)) {
            REQUIRE(lse[row] == -kInf);
          } else {
            REQUIRE(std::fabs(lse[row] - rl) <= score_err + (double(n.Tk) + 16 + std::fabs(rl)) * kEps);
          }
          for (std::size_t f = 0; f < n.Dv; ++f) {
            const float got = out[b * d.o.batch + h * d.o.head + i * d.o.token + f];
            const double want = ref_o[row * n.Dv + f];
            if (!(std::fabs(got - want) <= tol_o)) {
              INFO("b " << b << " h " << h << " i " << i << " f " << f << " got " << got << " want " << want);
              REQUIRE(std::fabs(got - want) <= tol_o);
            }
          }
        }
    REQUIRE(lse.back() == kCanary);
    // Every element outside the output's rows (padding, the guard) keeps its canary.
    std::vector<bool> owned(out.size(), false);
    for (std::size_t b = 0; b < n.B; ++b)
      for (std::size_t h = 0; h < n.H; ++h)
        for (std::size_t i = 0; i < n.Tq; ++i)
          for (std::size_t f = 0; f < n.Dv; ++f) owned[b * d.o.batch + h * d.o.head + i * d.o.token + f] = true;
    for (std::size_t e = 0; e < out.size(); ++e)
      if (!owned[e]) REQUIRE(out[e] == kCanary);
  }
  using ref_dims = qkv_test::ref_dims;
};

const std::size_t kT[] = {1, 2, 3, 7, 16, 17, 63, 64, 65, 129, 257};
const std::size_t kD[] = {1, 2, 5, 8, 16, 31, 32, 64, 80, 128};

// A deterministic sample of the cartesian product (it has >10^5 points).
std::vector<shape> sampled_shapes(std::size_t count, std::uint64_t seed) {
  qkv_test::rng r(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r.next() % n); };
  std::vector<shape> out;
  for (std::size_t c = 0; c < count; ++c) {
    shape s{};
    s.B = 1 + pick(2);
    s.H = 1 + pick(3);
    s.Tq = kT[pick(11)];
    s.Tk = pick(3) == 0 ? s.Tq : kT[pick(11)];  // kv_len != q_len most of the time
    s.D = kD[pick(10)];
    s.Dv = pick(4) == 0 ? kD[pick(10)] : s.D;
    s.causal = pick(2) == 1;
    s.lay = pick(2) ? layout::bthd : layout::bhtd;
    s.pad = pick(2) ? 3 : 0;
    s.dropout = pick(5) == 0 ? 0.25f : 0.0f;
    s.shared_kv = pick(6) == 0;
    // Keep each case small enough for the oracle: at most ~2M MACs.
    while (s.B * s.H * s.Tq * s.Tk * (s.D + s.Dv) > 2000000) s.H > 1 ? --s.H : (s.B > 1 ? --s.B : s.Tq /= 2);
    out.push_back(s);
  }
  return out;
}

// Edge cases every ISA must get right, beyond the random sample.
std::vector<shape> edge_shapes() {
  return {
      {1, 1, 1, 1, 1, 1, false, layout::bhtd, 0, 0.f, false},
      {1, 1, 1, 1, 1, 1, true, layout::bhtd, 0, 0.f, false},
      {1, 2, 65, 65, 64, 64, true, layout::bthd, 0, 0.f, false},
      {1, 1, 129, 257, 64, 64, true, layout::bhtd, 0, 0.f, false},   // decoding alignment
      {1, 1, 257, 129, 32, 32, true, layout::bhtd, 0, 0.f, false},   // early rows see nothing
      {2, 2, 17, 63, 80, 31, false, layout::bthd, 3, 0.f, true},     // MQA, Dv != D, padding
      {1, 2, 64, 129, 16, 16, true, layout::bhtd, 0, 0.5f, false},   // dropout + causal
      {1, 1, 7, 300, 128, 128, false, layout::bhtd, 1, 0.f, false},  // > two key tiles
  };
}

void check_all(const std::vector<shape>& shapes) {
  std::vector<problem> problems;  // the oracle runs once, not once per ISA
  std::uint64_t seed = 100;
  for (const shape& s : shapes) problems.emplace_back(s, ++seed);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (std::size_t c = 0; c < shapes.size(); ++c) {
      INFO(describe(shapes[c]));
      problem& p = problems[c];
      std::vector<float> out, lse;
      for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
        INFO("algo " << int(algo));
        REQUIRE(p.run(algo, out, lse) == QKV_OK);
        p.check(out, lse);
      }
    }
  });
}

}  // namespace

TEST_CASE("sdpa forward: edge shapes, fused and reference vs the oracle, every ISA", "[sdpa]") {
  std::vector<shape> shapes = edge_shapes();
  if (qkv_test::small_tests())  // under emulation: the long-sequence cases stay native
    shapes.erase(std::remove_if(shapes.begin(), shapes.end(), [](const shape& s) { return s.Tq * s.Tk > 20000; }),
                 shapes.end());
  check_all(shapes);
}

TEST_CASE("sdpa forward: sampled shape matrix, fused and reference vs the oracle, every ISA", "[sdpa]") {
  check_all(sampled_shapes(qkv_test::small_tests() ? 6 : 24, 2024));
}

TEST_CASE("sdpa forward: a query that sees no key gives zeros and lse -inf", "[sdpa]") {
  qkv_test::for_each_isa([](qkv_isa) {
    problem p({1, 1, 9, 4, 8, 8, true, layout::bhtd, 0, 0.f, false}, 3);  // rows 0..4 see nothing
    std::vector<float> out, lse;
    for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
      REQUIRE(p.run(algo, out, lse) == QKV_OK);
      for (std::size_t i = 0; i < 5; ++i) {
        CHECK(lse[i] == -kInf);
        for (std::size_t f = 0; f < 8; ++f) CHECK(out[i * 8 + f] == 0.0f);
      }
      p.check(out, lse);
    }
  });
}

TEST_CASE("sdpa forward: 1 vs 2 threads and a one-thread workspace are bitwise identical", "[sdpa][threads]") {
  // Several query tiles, several key tiles and several heads: many tasks.
  // Each is large enough for the fused path to start two threads; the first
  // also for the reference path's per-head GEMMs (3.8 MFLOP).
  const shape shapes[] = {{2, 2, 229, 256, 32, 32, false, layout::bthd, 0, 0.f, false},
                          {1, 3, 160, 160, 16, 16, true, layout::bhtd, 0, 0.1f, false}};  // causal: 2.5 MFLOP
  std::vector<problem> problems;
  for (const shape& s : shapes) problems.emplace_back(s, 9);
  // Thread splits are ISA-independent driver code: under emulation (slow,
  // and where OpenMP threads share one emulated CPU) the active ISA suffices.
  qkv_test::for_each_isa_or_active([&](qkv_isa) {
    for (problem& p : problems) {
      for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
        if (qkv_test::small_tests() && algo == QKV_SDPA_REFERENCE) continue;  // GEMM-threaded; native only
        std::vector<float> o1, l1, o2, l2, o3, l3;
        {
          qkv_test::threads_scope one(1);
          REQUIRE(p.run(algo, o1, l1) == QKV_OK);
        }
        {
          qkv_test::threads_scope two(2);
          qkv_test::team_watch watch;
          REQUIRE(p.run(algo, o2, l2, 2) == QKV_OK);
          // The reference threads inside its per-head GEMMs and softmax rows:
          // only the first problem is large enough for those.
          if (algo == QKV_SDPA_FUSED || &p == &problems.front()) QKV_CHECK_TEAM(watch);
          REQUIRE(p.run(algo, o3, l3, 1) == QKV_OK);  // workspace for one thread: runs with one
        }
        CHECK(std::memcmp(o1.data(), o2.data(), o1.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(l1.data(), l2.data(), l1.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(o1.data(), o3.data(), o1.size() * sizeof(float)) == 0);
      }
    }
  });
}

TEST_CASE("sdpa forward: strided K/V rows (copied per head) give the dense layout's bits, any thread count",
          "[sdpa][threads]") {
  // fp32 K and V with token strides wider than a head are copied one K/V
  // head at a time into a thread's workspace when a head has several query
  // tiles (ops/sdpa_forward_lowp.cpp: packs_kv). The copy is exact and the
  // tiles' sums keep their order, so [B, T, H, d] rows must give the bits
  // of the same values laid out [B, H, T, d]; with GQA, two sequences and
  // 3 threads a thread's copy changes head often, which a stale or shared
  // copy would show.
  struct gqa_case {
    std::size_t B, H, KVH, Tq, Tk, D;
    bool causal;
  };
  const gqa_case cases[] = {{2, 4, 2, 200, 300, 32, false},
                            {1, 3, 3, 257, 257, 64, true},
                            {2, 2, 1, 150, 90, 16, true},
                            {1, 2, 1, 200, 150, 32, false}};  // one K/V head: a reused workspace's copy is it
  for (const gqa_case& c : cases) {
    INFO("B" << c.B << " H" << c.H << " KVH" << c.KVH << " Tq" << c.Tq << " Tk" << c.Tk << " D" << c.D
             << (c.causal ? " causal" : ""));
    qkv_sdpa_desc strided{}, dense{};
    strided.batch = c.B;
    strided.heads = c.H;
    strided.kv_heads = c.KVH;
    strided.q_len = c.Tq;
    strided.kv_len = c.Tk;
    strided.head_dim = c.D;
    strided.causal = c.causal;
    strided.algo = QKV_SDPA_FUSED;
    dense = strided;
    strided.q = strided.o = make_strides(layout::bthd, c.H, c.Tq, c.D, 0);
    strided.k = strided.v = make_strides(layout::bthd, c.KVH, c.Tk, c.D, 5);  // padded: 4 KiB multiples aside
    dense.q = dense.o = make_strides(layout::bhtd, c.H, c.Tq, c.D, 0);
    dense.k = dense.v = make_strides(layout::bhtd, c.KVH, c.Tk, c.D, 0);
    std::vector<float> q[2], k[2], v[2];
    const qkv_sdpa_desc* ds[2] = {&strided, &dense};
    for (int l = 0; l < 2; ++l) {
      q[l].assign(extent(ds[l]->q, c.B, c.H, c.Tq, c.D), 0.f);
      k[l].assign(extent(ds[l]->k, c.B, c.KVH, c.Tk, c.D), 0.f);
      v[l].assign(extent(ds[l]->v, c.B, c.KVH, c.Tk, c.D), 0.f);
    }
    qkv_test::rng r(77 + c.Tq);
    auto fill = [&](std::vector<float>* t, const qkv_sdpa_strides qkv_sdpa_desc::*st, std::size_t heads,
                    std::size_t len) {
      for (std::size_t b = 0; b < c.B; ++b)
        for (std::size_t h = 0; h < heads; ++h)
          for (std::size_t i = 0; i < len; ++i)
            for (std::size_t f = 0; f < c.D; ++f) {
              const float x = static_cast<float>(static_cast<int>(r.next() % 2001) - 1000) * 2e-3f;
              for (int l = 0; l < 2; ++l) {
                const qkv_sdpa_strides& s = ds[l]->*st;
                t[l][b * s.batch + h * s.head + i * s.token + f] = x;
              }
            }
    };
    fill(q, &qkv_sdpa_desc::q, c.H, c.Tq);
    fill(k, &qkv_sdpa_desc::k, c.KVH, c.Tk);
    fill(v, &qkv_sdpa_desc::v, c.KVH, c.Tk);
    qkv_test::for_each_isa([&](qkv_isa isa) {
      INFO("isa " << qkv_isa_name(isa));
      std::vector<float> want, want_lse;
      // Emulated (small tests), 3 threads only: the copies change hands
      // there; other tests compare 1 and 3 threads.
      for (int threads : {1, 3}) {
        if (threads == 1 && qkv_test::small_tests()) continue;
        qkv_test::threads_scope scope(threads);
        std::vector<float> o[2], lse[2];
        for (int l = 0; l < 2; ++l) {
          std::size_t bytes = 0;
          REQUIRE(qkv_sdpa_workspace_size(ds[l], threads, &bytes) == QKV_OK);
          std::vector<unsigned char> ws(bytes);
          o[l].assign(extent(ds[l]->o, c.B, c.H, c.Tq, c.D), kCanary);
          lse[l].assign(c.B * c.H * c.Tq, kCanary);
          REQUIRE(qkv_sdpa_forward(ds[l], q[l].data(), k[l].data(), v[l].data(), o[l].data(), lse[l].data(),
                                   ws.data(), bytes) == QKV_OK);
        }
        std::size_t diff = 0;
        for (std::size_t b = 0; b < c.B; ++b)
          for (std::size_t h = 0; h < c.H; ++h)
            for (std::size_t i = 0; i < c.Tq; ++i)
              for (std::size_t f = 0; f < c.D; ++f) {
                const float x = o[0][b * strided.o.batch + h * strided.o.head + i * strided.o.token + f];
                const float y = o[1][b * dense.o.batch + h * dense.o.head + i * dense.o.token + f];
                diff += std::memcmp(&x, &y, sizeof x) != 0;
              }
        CHECK(diff == 0);
        CHECK(std::memcmp(lse[0].data(), lse[1].data(), lse[0].size() * sizeof(float)) == 0);
        if (want.empty()) {
          want = o[1], want_lse = lse[1];
        } else {
          CHECK(std::memcmp(want.data(), o[1].data(), want.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(want_lse.data(), lse[1].data(), want_lse.size() * sizeof(float)) == 0);
        }
      }
      // A workspace used before, by a call on other K values (scaled by 2,
      // exactly), holds that call's copies: the next call must not read them.
      std::size_t bytes = 0;
      REQUIRE(qkv_sdpa_workspace_size(&strided, 1, &bytes) == QKV_OK);
      std::vector<unsigned char> ws(bytes);
      std::vector<float> k2 = k[0], o1(extent(strided.o, c.B, c.H, c.Tq, c.D)), o2(o1.size());
      for (float& x : k2) x *= 2.f;
      REQUIRE(qkv_sdpa_forward(&strided, q[0].data(), k2.data(), v[0].data(), o1.data(), nullptr, ws.data(), bytes) ==
              QKV_OK);
      REQUIRE(qkv_sdpa_forward(&strided, q[0].data(), k[0].data(), v[0].data(), o2.data(), nullptr, ws.data(), bytes) ==
              QKV_OK);
      std::size_t diff = 0;
      for (std::size_t b = 0; b < c.B; ++b)
        for (std::size_t h = 0; h < c.H; ++h)
          for (std::size_t i = 0; i < c.Tq; ++i)
            for (std::size_t f = 0; f < c.D; ++f) {
              const float x = o2[b * strided.o.batch + h * strided.o.head + i * strided.o.token + f];
              const float y = want[b * dense.o.batch + h * dense.o.head + i * dense.o.token + f];
              diff += std::memcmp(&x, &y, sizeof x) != 0;
            }
      CHECK(diff == 0);
    });
  }
}

TEST_CASE("sdpa forward: the causal mask gives the bits of the same mask given as an additive one",
          "[sdpa][threads]") {
  // Under a causal mask the fp32 tiles of the SIMD sets go through the
  // diagonal in parts, skipping the query vectors past each key (ops/
  // sdpa_forward_lowp.cpp: vector_ends). The skipped weights are exactly 0,
  // so the result must be bit for bit that of whole tiles, which the same
  // mask given as an additive one (0 or -INFINITY, no causal flag) runs.
  // Query lengths below, at and around the tile widths (16, 32, 64 queries)
  // and the 16-query vectors; more keys than queries (bottom-right
  // alignment) and fewer (leading queries that see nothing); strided rows
  // (the K/V copy); 1 and 2 threads.
  struct causal_case {
    std::size_t Tq, Tk, D, Dv;
    layout lay;
  };
  const causal_case all[] = {{1, 1, 8, 8, layout::bhtd},       {5, 9, 16, 8, layout::bhtd},
                             {17, 17, 24, 40, layout::bthd},    {64, 64, 64, 64, layout::bhtd},
                             {100, 130, 32, 16, layout::bhtd},  {257, 257, 64, 64, layout::bthd},
                             {200, 150, 16, 24, layout::bhtd},  {129, 300, 48, 32, layout::bthd}};
  const std::size_t cases = qkv_test::small_tests() ? 4 : sizeof all / sizeof all[0];
  const std::size_t B = 2, H = 2;
  for (std::size_t ci = 0; ci < cases; ++ci) {
    const causal_case& c = all[ci];
    INFO("Tq" << c.Tq << " Tk" << c.Tk << " D" << c.D << " Dv" << c.Dv << (c.lay == layout::bthd ? " BTHD" : ""));
    qkv_sdpa_desc causal{};
    causal.batch = B;
    causal.heads = causal.kv_heads = H;
    causal.q_len = c.Tq;
    causal.kv_len = c.Tk;
    causal.head_dim = c.D;
    causal.v_dim = c.Dv;
    causal.algo = QKV_SDPA_FUSED;
    causal.q = make_strides(c.lay, H, c.Tq, c.D, 0);
    causal.k = make_strides(c.lay, H, c.Tk, c.D, c.lay == layout::bthd ? 3 : 0);
    causal.v = make_strides(c.lay, H, c.Tk, c.Dv, 0);
    causal.o = make_strides(c.lay, H, c.Tq, c.Dv, 0);
    qkv_sdpa_desc masked = causal;
    causal.causal = true;
    std::vector<float> mask(c.Tq * c.Tk);
    const long off = static_cast<long>(c.Tk) - static_cast<long>(c.Tq);
    for (std::size_t i = 0; i < c.Tq; ++i)
      for (std::size_t j = 0; j < c.Tk; ++j)
        mask[i * c.Tk + j] = static_cast<long>(j) <= static_cast<long>(i) + off ? 0.f : -kInf;
    masked.mask = mask.data();
    masked.mask_strides = {0, 0, c.Tk};
    qkv_test::rng r(31 + c.Tq);
    auto random = [&](std::size_t n) {
      std::vector<float> t(n);
      for (float& x : t) x = static_cast<float>(static_cast<int>(r.next() % 2001) - 1000) * 3e-3f;
      return t;
    };
    const std::vector<float> q = random(extent(causal.q, B, H, c.Tq, c.D));
    const std::vector<float> k = random(extent(causal.k, B, H, c.Tk, c.D));
    const std::vector<float> v = random(extent(causal.v, B, H, c.Tk, c.Dv));
    qkv_test::for_each_isa_or_active([&](qkv_isa isa) {
      INFO("isa " << qkv_isa_name(isa));
      for (int threads : {1, 2}) {
        INFO(threads << " threads");
        qkv_test::threads_scope scope(threads);
        std::vector<float> o[2], lse[2];
        const qkv_sdpa_desc* ds[2] = {&causal, &masked};
        for (int m = 0; m < 2; ++m) {
          std::size_t bytes = 0;
          REQUIRE(qkv_sdpa_workspace_size(ds[m], threads, &bytes) == QKV_OK);
          std::vector<unsigned char> ws(bytes, 0xFF);  // NaN patterns: no lane may read stale workspace
          o[m].assign(extent(causal.o, B, H, c.Tq, c.Dv), kCanary);
          lse[m].assign(B * H * c.Tq, kCanary);
          REQUIRE(qkv_sdpa_forward(ds[m], q.data(), k.data(), v.data(), o[m].data(), lse[m].data(), ws.data(),
                                   bytes) == QKV_OK);
        }
        std::size_t diff = 0, nonfinite = 0;
        for (std::size_t e = 0; e < o[0].size(); ++e) {
          diff += std::memcmp(&o[0][e], &o[1][e], sizeof(float)) != 0;
          nonfinite += !std::isfinite(o[0][e]);
        }
        CHECK(diff == 0);
        CHECK(nonfinite == 0);
        CHECK(std::memcmp(lse[0].data(), lse[1].data(), lse[0].size() * sizeof(float)) == 0);
      }
    });
  }
}

TEST_CASE("sdpa forward: lse is optional and the fused workspace does not grow with T", "[sdpa]") {
  problem p({1, 1, 40, 50, 16, 16, false, layout::bhtd, 0, 0.f, false}, 4);
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes);
  std::vector<float> out(p.o_elems);
  REQUIRE(qkv_sdpa_forward(&p.d, p.q.data(), p.k.data(), p.v.data(), out.data(), nullptr, ws.data(), bytes) ==
          QKV_OK);
  std::vector<float> out2, lse;
  REQUIRE(p.run(QKV_SDPA_FUSED, out2, lse) == QKV_OK);
  CHECK(std::memcmp(out.data(), out2.data(), out.size() * sizeof(float)) == 0);

  qkv_sdpa_desc d{};
  d.batch = d.heads = 1;
  d.head_dim = 64;
  for (std::size_t t : {256, 4096, 1 << 20}) {
    d.q_len = d.kv_len = t;
    d.q = d.k = d.v = d.o = {t * 64, t * 64, 64};
    REQUIRE(qkv_sdpa_workspace_size(&d, 1, &bytes) == QKV_OK);
    CHECK(bytes < (1u << 20));  // < 1 MiB per thread at any T
  }
}

TEST_CASE("sdpa forward rejects bad descriptors, NULLs and short workspaces, writing nothing", "[sdpa][args]") {
  problem p({1, 2, 5, 6, 4, 4, false, layout::bhtd, 0, 0.f, false}, 5);
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes + 64);
  std::vector<float> out(p.o_elems, kCanary), lse(2 * 5, kCanary);
  auto fwd = [&](const qkv_sdpa_desc& d) {
    return qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), out.data(), lse.data(), ws.data(), bytes);
  };
  auto bad = [&](auto mutate) {
    qkv_sdpa_desc d = p.d;
    mutate(d);
    return d;
  };
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.heads = 0; })) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.batch = 0; })) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.head_dim = 0; })) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.q_len = 0; })) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.kv_len = 0; })) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.q.token = 3; })) == QKV_ERR_BAD_STRIDE);   // overlaps the features
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.k.token = 2; })) == QKV_ERR_BAD_STRIDE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.o.token = 3; })) == QKV_ERR_BAD_STRIDE);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.o.head = 0; })) == QKV_ERR_BAD_STRIDE);    // heads write one place
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.o.head = 8; })) == QKV_ERR_BAD_STRIDE);    // heads overlap tokens
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.scale = -1.f; })) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.scale = kInf; })) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.causal = 2; })) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.dropout_p = 1.f; })) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { d.dropout_p = std::nanf(""); })) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(bad([](qkv_sdpa_desc& d) { const int seven = 7;  // what a C caller can pass
    static_assert(sizeof d.algo == sizeof seven, "enum is int-sized");
    std::memcpy(&d.algo, &seven, sizeof seven); })) == QKV_ERR_BAD_ARGUMENT);
  const std::size_t huge = std::numeric_limits<std::size_t>::max() / 4;
  CHECK(fwd(bad([&](qkv_sdpa_desc& d) { d.batch = 3, d.q.batch = huge; })) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(fwd(bad([&](qkv_sdpa_desc& d) { d.head_dim = huge, d.v_dim = 4, d.q.token = d.k.token = huge; })) ==
        QKV_ERR_SIZE_OVERFLOW);
#if SIZE_MAX > 0xFFFFFFFFu  // strides of 2^33 need a 64-bit size_t (not armhf, i686)
  CHECK(fwd(bad([&](qkv_sdpa_desc& d) {
          d.q_len = d.kv_len = 1u << 31;
          d.algo = QKV_SDPA_REFERENCE;
          d.q.token = d.k.token = d.v.token = d.o.token = 4;
          d.q.head = d.k.head = d.v.head = d.o.head = 4ull << 31;
          d.q.batch = d.k.batch = d.v.batch = d.o.batch = 8ull << 31;
        })) == QKV_ERR_SIZE_OVERFLOW);  // the T x T reference scores (2^62 floats) overflow
#endif
  const qkv_sdpa_desc& d = p.d;
  CHECK(qkv_sdpa_forward(nullptr, p.q.data(), p.k.data(), p.v.data(), out.data(), lse.data(), ws.data(), bytes) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_forward(&d, nullptr, p.k.data(), p.v.data(), out.data(), lse.data(), ws.data(), bytes) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_forward(&d, p.q.data(), nullptr, p.v.data(), out.data(), lse.data(), ws.data(), bytes) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), nullptr, out.data(), lse.data(), ws.data(), bytes) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), nullptr, lse.data(), ws.data(), bytes) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), out.data(), lse.data(), nullptr, bytes) ==
        QKV_ERR_NULL_POINTER);
  // Too small: one byte under the one-thread size, whatever the alignment.
  CHECK(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), out.data(), lse.data(), ws.data(), bytes - 1) ==
        QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_sdpa_forward(&d, p.q.data(), p.k.data(), p.v.data(), out.data(), lse.data(), ws.data(), 0) ==
        QKV_ERR_WORKSPACE_TOO_SMALL);
  for (float x : out) CHECK(x == kCanary);
  for (float x : lse) CHECK(x == kCanary);

  std::size_t b2 = 0;
  CHECK(qkv_sdpa_workspace_size(&d, 0, &b2) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_sdpa_workspace_size(&d, 1, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdpa_workspace_size(nullptr, 1, &b2) == QKV_ERR_NULL_POINTER);
  qkv_sdpa_desc zero = d;
  zero.heads = 0;
  CHECK(qkv_sdpa_workspace_size(&zero, 1, &b2) == QKV_ERR_BAD_SHAPE);
  CHECK(b2 == 0);  // untouched by the failures
}
