// SPDX-License-Identifier: MIT
// Attention variants (qkv/attention.h, qkv_sdpa_desc fields since 0.5):
// grouped-query heads (kv_heads), sliding windows, per-sequence lengths
// (kv_lens, q_lens) and the additive mask, alone and combined, through the
// public C API. Fused and reference on every ISA, forward and backward,
// against the double oracle (tests/ref/ref_attention.h, which reads the same
// descriptor); the exact zeros the header promises (rows that see no key,
// keys no query sees); central differences; 1/2/3 threads bitwise; dropout
// with GQA; the refusals (nothing written); the bf16 entry points; logit
// soft-capping (softcap, since 0.7) through all of the above.
#include <algorithm>
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

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr float kCanary = -777.25f;
constexpr std::size_t kFull = std::size_t(-1);  // in a lens list: the full q_len / kv_len

enum class layout { bhtd, bthd };
// How the mask is laid out: which of (batch, query head) it varies over.
// `row`: strides {0, 0, 0}, one row of kv_len values for every query.
enum class mask_kind { none, row, shared, per_batch, per_head, full };

// Strides of a [B,H,T,F] tensor in either layout, rows padded by `pad` elements.
qkv_sdpa_strides make_strides(layout l, std::size_t H, std::size_t T, std::size_t F, std::size_t pad) {
  if (l == layout::bhtd) return {H * T * (F + pad), T * (F + pad), F + pad};
  return {T * (H * F + pad), F, H * F + pad};  // heads interleaved in a token row
}

std::size_t extent(const qkv_sdpa_strides& s, std::size_t B, std::size_t H, std::size_t T, std::size_t F) {
  return (B - 1) * s.batch + (H - 1) * s.head + (T - 1) * s.token + F;
}

struct variant {
  std::size_t B, H, KVH, Tq, Tk, D, Dv;  // KVH as passed: 0 means H
  int causal;
  std::size_t window;
  layout lay;
  std::size_t pad;
  std::vector<std::size_t> q_lens, kv_lens;  // empty: NULL; kFull entries: the full length
  mask_kind mask;
  float dropout;
  float softcap = 0.f;  // since 0.7
  float scale = 0.f;    // 0: 1/sqrt(D)
};

std::string describe(const variant& s) {
  auto lens = [](const std::vector<std::size_t>& l) {
    std::string out = "{";
    for (std::size_t x : l) out += (x == kFull ? std::string("F") : std::to_string(x)) + ",";
    return out + "}";
  };
  return "B" + std::to_string(s.B) + " H" + std::to_string(s.H) + " KVH" + std::to_string(s.KVH) + " Tq" +
         std::to_string(s.Tq) + " Tk" + std::to_string(s.Tk) + " D" + std::to_string(s.D) + " Dv" +
         std::to_string(s.Dv) + (s.causal ? " causal" : "") + " window" + std::to_string(s.window) +
         (s.lay == layout::bthd ? " BTHD" : " BHTD") + " pad" + std::to_string(s.pad) + " q_lens" + lens(s.q_lens) +
         " kv_lens" + lens(s.kv_lens) + " mask" + std::to_string(int(s.mask)) + " p" + std::to_string(s.dropout) +
         " softcap" + std::to_string(s.softcap) + " scale" + std::to_string(s.scale);
}

// One problem: inputs, the oracle's forward (and, rounded to float, the
// O and lse the backward reads), dO. desc() points into this object.
struct problem {
  variant s;
  std::size_t kvh;  // resolved kv_heads
  qkv_sdpa_desc base{};
  std::vector<std::size_t> ql, kl;
  std::vector<float> q, k, v, dout, mask, o, lse;
  std::vector<double> ref_o, ref_lse;
  std::size_t nq = 0, nk = 0, nv = 0, no = 0;

  problem(const variant& v_, std::uint64_t seed) : s(v_), kvh(v_.KVH ? v_.KVH : v_.H) {
    qkv_sdpa_desc& d = base;
    d.batch = s.B;
    d.heads = s.H;
    d.kv_heads = s.KVH;
    d.q_len = s.Tq;
    d.kv_len = s.Tk;
    d.head_dim = s.D;
    d.v_dim = s.Dv == s.D ? 0 : s.Dv;
    d.q = make_strides(s.lay, s.H, s.Tq, s.D, s.pad);
    d.k = make_strides(s.lay, kvh, s.Tk, s.D, s.pad);
    d.v = make_strides(s.lay, kvh, s.Tk, s.Dv, s.pad);
    d.o = make_strides(s.lay, s.H, s.Tq, s.Dv, s.pad);
    d.causal = s.causal;
    d.window = s.window;
    d.dropout_p = s.dropout;
    d.dropout_seed = seed * 31 + 7;
    d.softcap = s.softcap;
    d.scale = s.scale;
    for (std::size_t x : s.q_lens) ql.push_back(x == kFull ? s.Tq : x);
    for (std::size_t x : s.kv_lens) kl.push_back(x == kFull ? s.Tk : x);
    nq = extent(d.q, s.B, s.H, s.Tq, s.D);
    nk = extent(d.k, s.B, kvh, s.Tk, s.D);
    nv = extent(d.v, s.B, kvh, s.Tk, s.Dv);
    no = extent(d.o, s.B, s.H, s.Tq, s.Dv);
    // Inputs in [-2, 2]: scores up to 4 D scale, a peaked but not one-hot softmax.
    q = qkv_test::random_vector(nq, seed, -2.f, 2.f);
    k = qkv_test::random_vector(nk, seed + 1, -2.f, 2.f);
    v = qkv_test::random_vector(nv, seed + 2, -1.f, 1.f);
    dout = qkv_test::random_vector(no, seed + 3, -1.f, 1.f);
    make_mask(seed + 4);
    const qkv_sdpa_desc dd = desc();
    qkv_test::ref_sdpa_forward(dd, q.data(), k.data(), v.data(), ref_o, ref_lse);
    o.assign(no, 0.f);
    for_each(d.o, s.Tq, s.Dv, [&](std::size_t off, std::size_t dense) { o[off] = float(ref_o[dense]); });
    lse.assign(ref_lse.begin(), ref_lse.end());
  }

  // Bias in [-2, 2]; about one entry in eight -INFINITY; mask row Tq / 2 of
  // the first (batch, head) slice entirely -INFINITY (its queries see nothing).
  void make_mask(std::uint64_t seed) {
    if (s.mask == mask_kind::none) return;
    const std::size_t row = s.Tk + 2;  // padded mask rows: token stride != kv_len
    qkv_sdpa_strides& m = base.mask_strides;
    switch (s.mask) {
      case mask_kind::row: m = {0, 0, 0}; break;
      case mask_kind::shared: m = {0, 0, row}; break;
      case mask_kind::per_batch: m = {s.Tq * row, 0, row}; break;
      case mask_kind::per_head: m = {0, s.Tq * row, row}; break;
      default: m = {s.H * s.Tq * row, s.Tq * row, row}; break;
    }
    mask = qkv_test::random_vector(extent(m, s.B, s.H, s.Tq, s.Tk), seed, -2.f, 2.f);
    qkv_test::rng r(seed + 1);
    for (float& x : mask)
      if (r.next() % 8 == 0) x = -kInf;
    if (s.mask != mask_kind::row)
      for (std::size_t j = 0; j < s.Tk; ++j) mask[(s.Tq / 2) * m.token + j] = -kInf;
  }

  qkv_sdpa_desc desc(qkv_sdpa_algo algo = QKV_SDPA_AUTO) const {
    qkv_sdpa_desc d = base;
    d.algo = algo;
    d.q_lens = ql.empty() ? nullptr : ql.data();
    d.kv_lens = kl.empty() ? nullptr : kl.data();
    d.mask = mask.empty() ? nullptr : mask.data();
    return d;
  }

  // f(offset in layout, index in the oracle's dense [b][h][t][f]) over every element.
  template <class F>
  static void for_each(const qkv_sdpa_strides& st, std::size_t B, std::size_t H, std::size_t T, std::size_t Fd,
                       F&& f) {
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t t = 0; t < T; ++t)
          for (std::size_t x = 0; x < Fd; ++x)
            f(b * st.batch + h * st.head + t * st.token + x, ((b * H + h) * T + t) * Fd + x);
  }
  template <class F>
  void for_each(const qkv_sdpa_strides& st, std::size_t T, std::size_t Fd, F&& f) const {
    for_each(st, s.B, s.H, T, Fd, f);
  }

  // Is key j of K/V head kh in sequence b seen by any query of its group?
  bool key_seen(std::size_t b, std::size_t kh, std::size_t j) const {
    const qkv_sdpa_desc d = desc();
    const std::size_t group = s.H / kvh;
    for (std::size_t h = kh * group; h < (kh + 1) * group; ++h)
      for (std::size_t i = 0; i < s.Tq; ++i)
        if (qkv_ref_sdpa_visible(&d, b, h, i, j)) return true;
    return false;
  }

  // ---- forward ------------------------------------------------------------
  qkv_status forward(qkv_sdpa_algo algo, std::vector<float>& out, std::vector<float>& l, int ws_threads = 1) const {
    const qkv_sdpa_desc d = desc(algo);
    std::size_t bytes = 0;
    REQUIRE(qkv_sdpa_workspace_size(&d, ws_threads, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes + 1);
    out.assign(no + 1, kCanary);
    l.assign(s.B * s.H * s.Tq + 1, kCanary);
    // An odd address: the library aligns what it needs itself.
    return qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), out.data(), l.data(), ws.data() + 1, bytes);
  }

  // Error model (test_sdpa_forward.cpp's, plus the mask): a score's error is
  // about 4 D scale eps from the dot product (|q|, |k| <= 2) plus the bias
  // (|bias| <= 2) added and rounded, 4 eps. A score error moves every weight
  // by the same relative amount, so O (a convex combination of V rows, |V|
  // <= 1, times 1/(1-p) under dropout) moves by about twice that; the sums
  // over Tk keys add Tk eps, exp a few ulp. lse: the score error plus its
  // own rounding. A row that sees no key must be exactly 0 with lse -inf.
  // Soft-capping c tanh(s / c) passes the score's error on times its slope
  // (<= 1) and adds its own: s / c rounded twice (1/c, then the product),
  // tanh within 3 ulp and the product with c, about 6 eps of c.
  double score_err() const {
    const qkv_test::ref_dims n(base);
    return (4.0 * double(n.D) * n.scale + 4.0 + 6.0 * double(s.softcap)) * kEps;
  }
  void check_forward(const std::vector<float>& out, const std::vector<float>& l) const {
    const qkv_test::ref_dims n(base);
    const double se = score_err();
    const double drop = s.dropout > 0 ? 1.0 / (1.0 - s.dropout) : 1.0;
    const double tol_o = drop * (2 * se + (double(n.Tk) + 16) * kEps);
    std::vector<bool> owned(out.size(), false);
    for (std::size_t b = 0; b < n.B; ++b)
      for (std::size_t h = 0; h < n.H; ++h)
        for (std::size_t i = 0; i < n.Tq; ++i) {
          const std::size_t row = (b * n.H + h) * n.Tq + i;
          const double rl = ref_lse[row];
          const bool none = std::isinf(rl);
          INFO("b " << b << " h " << h << " i " << i << " lse " << l[row] << " want " << rl);
          if (none)
            REQUIRE(l[row] == -kInf);
          else
            REQUIRE(std::fabs(l[row] - rl) <= se + (double(n.Tk) + 16 + std::fabs(rl)) * kEps);
          for (std::size_t f = 0; f < n.Dv; ++f) {
            const std::size_t at = b * base.o.batch + h * base.o.head + i * base.o.token + f;
            owned[at] = true;
            const double want = ref_o[row * n.Dv + f];
            const float got = out[at];
            if (none ? got != 0.0f : !(std::fabs(got - want) <= tol_o)) {
              INFO("f " << f << " got " << got << " want " << want << " tol " << tol_o);
              REQUIRE(false);
            }
          }
        }
    REQUIRE(l.back() == kCanary);
    for (std::size_t e = 0; e < out.size(); ++e)
      if (!owned[e]) REQUIRE(out[e] == kCanary);
  }

  // ---- backward -----------------------------------------------------------
  struct grads {
    std::vector<float> dq, dk, dv;
  };
  qkv_status backward(qkv_sdpa_algo algo, grads& g, int ws_threads = 1) const {
    const qkv_sdpa_desc d = desc(algo);
    std::size_t bytes = 0;
    REQUIRE(qkv_sdpa_backward_workspace_size(&d, ws_threads, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes + 1);
    g.dq.assign(nq, kCanary);
    g.dk.assign(nk, kCanary);
    g.dv.assign(nv, kCanary);
    return qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(), g.dq.data(),
                             g.dk.data(), g.dv.data(), ws.data() + 1, bytes);
  }

  // Float error budget relative to the largest entry of each gradient
  // (test_sdpa_backward.cpp's: 8 eps per unit of summed length, floor 1e-2
  // for gradients that cancel), with dK and dV summing G = H / kv_heads
  // query heads' Tq terms each: G Tq in place of Tq. The bias only shifts
  // the scores (its rounding is in the score error, far below this).
  // Soft-capping: that budget assumes score errors far below its terms,
  // which the scores of a large scale are not; with the cap a score error
  // se moves P by se relatively and the slope 1 - tanh^2(s / c) by up to
  // 2 se / c: (2 + 2 / c) se more.
  double tolerance() const {
    const double G = double(s.H / kvh);
    const double cap = s.softcap != 0.f ? (2.0 + 2.0 / double(s.softcap)) * score_err() : 0.0;
    return 8 * kEps * (G * double(s.Tq) + double(s.Tk) + double(s.D) + double(s.Dv) + 16) + cap;
  }
  // Largest |got - want| over the largest |want| (at least 1e-2); infinity
  // when an element outside the layout was touched.
  static double rel_error(const qkv_sdpa_strides& st, std::size_t B, std::size_t H, std::size_t T, std::size_t F,
                          const std::vector<float>& got, const std::vector<double>& want) {
    std::vector<char> inside(got.size(), 0);
    double err = 0, mag = 1e-2;
    for_each(st, B, H, T, F, [&](std::size_t off, std::size_t dense) {
      inside[off] = 1;
      err = std::max(err, std::fabs(double(got[off]) - want[dense]));
      mag = std::max(mag, std::fabs(want[dense]));
    });
    for (std::size_t i = 0; i < got.size(); ++i)
      if (!inside[i] && got[i] != kCanary) return std::numeric_limits<double>::infinity();
    return err / mag;
  }
  // The oracle's gradients, computed on first use (once for every ISA and algorithm).
  mutable std::vector<double> rq, rk, rv;
  void check_backward(const grads& g) const {
    const qkv_sdpa_desc d = desc();
    if (rq.empty()) qkv_test::ref_sdpa_backward(d, q.data(), k.data(), v.data(), dout.data(), rq, rk, rv);
    const double tol = tolerance();
    CHECK(rel_error(d.q, s.B, s.H, s.Tq, s.D, g.dq, rq) <= tol);
    CHECK(rel_error(d.k, s.B, kvh, s.Tk, s.D, g.dk, rk) <= tol);
    CHECK(rel_error(d.v, s.B, kvh, s.Tk, s.Dv, g.dv, rv) <= tol);
    // Exact zeros: dQ of rows that see no key (padding rows among them),
    // dK and dV of keys no query sees (padding keys among them).
    for (std::size_t b = 0; b < s.B; ++b) {
      for (std::size_t h = 0; h < s.H; ++h)
        for (std::size_t i = 0; i < s.Tq; ++i)
          if (std::isinf(ref_lse[(b * s.H + h) * s.Tq + i]))
            for (std::size_t f = 0; f < s.D; ++f) {
              INFO("dQ b " << b << " h " << h << " i " << i);
              REQUIRE(g.dq[b * d.q.batch + h * d.q.head + i * d.q.token + f] == 0.f);
            }
      for (std::size_t kh = 0; kh < kvh; ++kh)
        for (std::size_t j = 0; j < s.Tk; ++j) {
          if (key_seen(b, kh, j)) continue;
          INFO("dK/dV b " << b << " kv head " << kh << " j " << j);
          for (std::size_t f = 0; f < s.D; ++f) REQUIRE(g.dk[b * d.k.batch + kh * d.k.head + j * d.k.token + f] == 0.f);
          for (std::size_t f = 0; f < s.Dv; ++f)
            REQUIRE(g.dv[b * d.v.batch + kh * d.v.head + j * d.v.token + f] == 0.f);
        }
    }
  }
};

// Forward and backward, fused and reference, every ISA.
void check_all(const std::vector<variant>& vs, std::uint64_t seed) {
  std::vector<problem> problems;  // the oracle's forward runs once, not once per ISA
  for (const variant& s : vs) problems.emplace_back(s, ++seed);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const problem& p : problems) {
      INFO(describe(p.s));
      for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
        INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
        std::vector<float> out, lse;
        REQUIRE(p.forward(algo, out, lse) == QKV_OK);
        p.check_forward(out, lse);
        problem::grads g;
        REQUIRE(p.backward(algo, g) == QKV_OK);
        p.check_backward(g);
      }
    }
  });
}

// Under emulation the cases over ~0.3M multiply-adds stay native.
std::vector<variant> lean(std::vector<variant> vs) {
  if (qkv_test::small_tests())
    vs.erase(std::remove_if(vs.begin(), vs.end(),
                            [](const variant& s) { return s.B * s.H * s.Tq * s.Tk * (s.D + s.Dv) > 300000; }),
             vs.end());
  return vs;
}

const auto BTHD = layout::bthd;
const auto BHTD = layout::bhtd;
const std::vector<std::size_t> kNone;

}  // namespace

TEST_CASE("oracle: GQA, window, lengths and mask reduce to the plain oracle", "[ref][sdpa][variants]") {
  // The oracle itself, before anything is checked against it: GQA equals
  // multi-head attention on K/V heads copied per query head; a window, and
  // lengths, equal the same call with the hidden keys masked by -INFINITY.
  const std::size_t B = 2, H = 4, KVH = 2, Tq = 5, Tk = 7, D = 3;
  auto q = qkv_test::random_vector(B * H * Tq * D, 1), k = qkv_test::random_vector(B * KVH * Tk * D, 2),
       v = qkv_test::random_vector(B * KVH * Tk * D, 3), g = qkv_test::random_vector(B * H * Tq * D, 4);
  qkv_sdpa_desc gqa{};
  gqa.batch = B, gqa.heads = H, gqa.kv_heads = KVH, gqa.q_len = Tq, gqa.kv_len = Tk, gqa.head_dim = D;
  gqa.q = gqa.o = {H * Tq * D, Tq * D, D};
  gqa.k = gqa.v = {KVH * Tk * D, Tk * D, D};
  gqa.causal = 1;
  gqa.window = 3;
  const std::size_t kv_lens[] = {7, 4}, q_lens[] = {5, 2};
  gqa.kv_lens = kv_lens;
  gqa.q_lens = q_lens;
  // The same as multi-head attention on copied K/V and an explicit mask.
  std::vector<float> k2(B * H * Tk * D), v2(B * H * Tk * D), mask(B * H * Tq * Tk, 0.f);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      for (std::size_t e = 0; e < Tk * D; ++e) {
        k2[(b * H + h) * Tk * D + e] = k[(b * KVH + h / 2) * Tk * D + e];
        v2[(b * H + h) * Tk * D + e] = v[(b * KVH + h / 2) * Tk * D + e];
      }
      for (std::size_t i = 0; i < Tq; ++i)
        for (std::size_t j = 0; j < Tk; ++j) {
          const long long qb = static_cast<long long>(q_lens[b]), kb = static_cast<long long>(kv_lens[b]),
                          ii = static_cast<long long>(i), jj = static_cast<long long>(j);
          const bool vis = ii < qb && jj < kb && jj <= ii + kb - qb && jj > ii + kb - qb - 3;
          mask[((b * H + h) * Tq + i) * Tk + j] = vis ? 0.f : -kInf;
        }
    }
  qkv_sdpa_desc mha = gqa;
  mha.kv_heads = 0;
  mha.k = mha.v = {H * Tk * D, Tk * D, D};
  mha.causal = 0;
  mha.window = 0;
  mha.kv_lens = mha.q_lens = nullptr;
  mha.mask = mask.data();
  mha.mask_strides = {H * Tq * Tk, Tq * Tk, Tk};
  std::vector<double> o1, l1, o2, l2;
  qkv_test::ref_sdpa_forward(gqa, q.data(), k.data(), v.data(), o1, l1);
  qkv_test::ref_sdpa_forward(mha, q.data(), k2.data(), v2.data(), o2, l2);
  CHECK(o1 == o2);
  CHECK(l1 == l2);
  CHECK(std::isinf(l1[(1 * H + 0) * Tq + 3]));  // a padding row: i >= q_lens[1]
  CHECK(o1[((1 * H + 0) * Tq + 3) * D] == 0.0);
  std::vector<double> dq1, dk1, dv1, dq2, dk2, dv2;
  qkv_test::ref_sdpa_backward(gqa, q.data(), k.data(), v.data(), g.data(), dq1, dk1, dv1);
  qkv_test::ref_sdpa_backward(mha, q.data(), k2.data(), v2.data(), g.data(), dq2, dk2, dv2);
  CHECK(dq1 == dq2);
  REQUIRE(dk1.size() == B * KVH * Tk * D);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t kh = 0; kh < KVH; ++kh)
      for (std::size_t e = 0; e < Tk * D; ++e) {  // summed over the group's two query heads
        const std::size_t h0 = (b * H + 2 * kh) * Tk * D + e, h1 = h0 + Tk * D, at = (b * KVH + kh) * Tk * D + e;
        CHECK(dk1[at] == Approx(dk2[h0] + dk2[h1]).margin(1e-14));
        CHECK(dv1[at] == Approx(dv2[h0] + dv2[h1]).margin(1e-14));
      }
  // A finite mask is a bias: a constant per row changes nothing but lse.
  std::vector<float> bias(Tq * Tk);
  for (std::size_t i = 0; i < Tq; ++i)
    for (std::size_t j = 0; j < Tk; ++j) bias[i * Tk + j] = float(i);
  qkv_sdpa_desc biased = gqa;
  biased.mask = bias.data();
  biased.mask_strides = {0, 0, Tk};
  qkv_test::ref_sdpa_forward(biased, q.data(), k.data(), v.data(), o2, l2);
  for (std::size_t e = 0; e < o1.size(); ++e) CHECK(o2[e] == Approx(o1[e]).margin(1e-14));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tq; ++i) {
        const std::size_t row = (b * H + h) * Tq + i;
        if (std::isinf(l1[row]))
          CHECK(std::isinf(l2[row]));
        else
          CHECK(l2[row] == Approx(l1[row] + double(i)).margin(1e-12));
      }
}

TEST_CASE("sdpa variants: grouped-query heads, layouts and padded strides", "[sdpa][variants][gqa]") {
  check_all(lean({
                {1, 6, 2, 7, 7, 8, 8, 0, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},
                {2, 6, 2, 65, 130, 16, 16, 1, 0, BHTD, 3, kNone, kNone, mask_kind::none, 0.f},
                {1, 7, 1, 17, 65, 32, 16, 0, 0, BTHD, 3, kNone, kNone, mask_kind::none, 0.f},  // MQA
                {2, 4, 4, 33, 20, 5, 7, 1, 0, BHTD, 1, kNone, kNone, mask_kind::none, 0.f},    // MHA, explicit
                {1, 4, 0, 9, 9, 4, 4, 1, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},      // kv_heads 0
                {1, 6, 3, 1, 200, 64, 64, 1, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},  // decode
                {1, 7, 1, 130, 130, 16, 16, 1, 0, BHTD, 2, kNone, kNone, mask_kind::none, 0.f},
                // A group whose dQ (256 x 17 rows of 64) is past the backward's 1 MiB copy:
                // accumulated in the caller's rows instead.
                {1, 256, 1, 17, 20, 64, 64, 1, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},
            }),
            10);
}

TEST_CASE("sdpa variants: sliding windows, with and without causal, q_len != kv_len", "[sdpa][variants][window]") {
  check_all(lean({
                {1, 2, 0, 7, 7, 8, 8, 1, 1, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},  // only the diagonal
                {1, 2, 0, 7, 7, 8, 8, 0, 1, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},  // one key, no causal
                {2, 2, 1, 65, 65, 16, 16, 1, 3, BTHD, 1, kNone, kNone, mask_kind::none, 0.f},
                {1, 3, 3, 65, 130, 32, 32, 0, 3, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},
                {1, 2, 2, 130, 130, 16, 8, 1, 64, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},  // a tile wide
                {1, 2, 1, 200, 200, 8, 8, 1, 70, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},
                {1, 2, 0, 7, 9, 4, 4, 1, 1000, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},  // > T: causal only
                {1, 2, 0, 7, 9, 4, 4, 0, 1000, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},  // > T: nothing
                {1, 4, 2, 1, 130, 16, 16, 1, 3, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},  // decode, q_len 1
                {1, 4, 2, 3, 130, 16, 16, 1, 3, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},  // decode, q_len 3
                {1, 4, 2, 3, 130, 16, 16, 0, 3, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},
                {1, 2, 1, 130, 7, 8, 8, 1, 3, BTHD, 0, kNone, kNone, mask_kind::none, 0.f},  // early rows see nothing
                {1, 2, 1, 20, 7, 8, 8, 0, 3, BHTD, 0, kNone, kNone, mask_kind::none, 0.f},   // late rows see nothing
                {1, 1, 0, 5, 5, 4, 4, 0, std::size_t(-1), BHTD, 0, kNone, kNone, mask_kind::none, 0.f},  // SIZE_MAX
            }),
            30);
}

TEST_CASE("sdpa variants: ragged q_lens / kv_lens, with causal and window", "[sdpa][variants][ragged]") {
  check_all(lean({
                // 0 entries, full entries, partial entries; rows >= q_b are padding.
                {3, 2, 0, 9, 11, 8, 8, 0, 0, BHTD, 0, kNone, {11, 0, 4}, mask_kind::none, 0.f},
                {3, 2, 0, 9, 11, 8, 8, 0, 0, BTHD, 1, {9, 0, 3}, kNone, mask_kind::none, 0.f},
                {4, 2, 1, 9, 11, 8, 8, 1, 0, BHTD, 0, {kFull, 0, 3, 9}, {kFull, 5, 0, 2}, mask_kind::none, 0.f},
                {3, 6, 2, 65, 130, 16, 16, 1, 5, BTHD, 3, {65, 1, 40}, {130, 70, 3}, mask_kind::none, 0.f},
                {2, 4, 2, 130, 130, 8, 8, 1, 0, BHTD, 0, {0, 129}, {130, 64}, mask_kind::none, 0.f},
                {2, 2, 2, 3, 200, 32, 32, 1, 0, BTHD, 0, {1, 3}, {200, 66}, mask_kind::none, 0.f},  // decode-like
                {2, 2, 1, 7, 7, 4, 4, 0, 2, BHTD, 0, {7, 7}, {0, 0}, mask_kind::none, 0.f},         // no keys at all
            }),
            50);
}

TEST_CASE("sdpa variants: additive mask with broadcast strides", "[sdpa][variants][mask]") {
  check_all(lean({
                {2, 3, 0, 9, 11, 8, 8, 0, 0, BHTD, 0, kNone, kNone, mask_kind::row, 0.f},
                {2, 3, 0, 9, 11, 8, 8, 0, 0, BHTD, 0, kNone, kNone, mask_kind::shared, 0.f},
                {2, 3, 0, 9, 11, 8, 8, 1, 0, BTHD, 1, kNone, kNone, mask_kind::per_batch, 0.f},
                {2, 3, 0, 9, 11, 8, 8, 1, 0, BHTD, 0, kNone, kNone, mask_kind::per_head, 0.f},
                {2, 3, 0, 9, 11, 8, 8, 0, 0, BTHD, 0, kNone, kNone, mask_kind::full, 0.f},
                {1, 2, 0, 65, 130, 16, 16, 1, 0, BTHD, 0, kNone, kNone, mask_kind::shared, 0.f},
                {1, 2, 0, 130, 200, 32, 32, 0, 0, BHTD, 2, kNone, kNone, mask_kind::full, 0.f},
                {1, 1, 0, 1, 7, 4, 4, 1, 0, BHTD, 0, kNone, kNone, mask_kind::per_head, 0.f},  // row 0 hidden
            }),
            70);
}

TEST_CASE("sdpa variants: GQA x window x causal x ragged x mask", "[sdpa][variants][combined]") {
  check_all(lean({
                {2, 6, 2, 65, 130, 16, 16, 1, 40, BTHD, 3, {65, 20}, {130, 0}, mask_kind::per_head, 0.f},
                {3, 7, 1, 9, 11, 8, 4, 1, 3, BHTD, 0, {9, 0, 5}, {11, 6, 11}, mask_kind::full, 0.f},
                {2, 4, 2, 130, 130, 32, 32, 0, 64, BTHD, 0, {130, 100}, {130, 129}, mask_kind::per_batch, 0.f},
                {2, 6, 3, 3, 200, 64, 64, 1, 70, BHTD, 1, {3, 1}, {200, 150}, mask_kind::shared, 0.f},
                {1, 6, 2, 200, 200, 8, 8, 1, 1, BTHD, 0, {199}, {200}, mask_kind::per_head, 0.f},
                {2, 4, 1, 7, 7, 5, 5, 0, 1000, BHTD, 2, {7, 0}, {3, 7}, mask_kind::row, 0.f},
            }),
            90);
}

TEST_CASE("sdpa variants: sampled combinations", "[sdpa][variants][combined]") {
  qkv_test::rng r(2026);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(r.next() % n); };
  const std::size_t heads[][2] = {{6, 2}, {7, 1}, {4, 4}, {4, 0}, {3, 1}, {8, 2}, {6, 3}};
  const std::size_t Ts[] = {1, 3, 7, 65, 130, 200};
  const std::size_t Ds[] = {1, 8, 16, 32, 64, 80};
  const std::size_t count = qkv_test::small_tests() ? 6 : 24;
  std::vector<variant> vs;
  while (vs.size() < count) {
    variant s{};
    s.B = 1 + pick(3);
    const std::size_t hk = pick(7);
    s.H = heads[hk][0];
    s.KVH = heads[hk][1];
    s.Tq = Ts[pick(6)];
    s.Tk = pick(3) == 0 ? s.Tq : Ts[1 + pick(5)];
    s.D = Ds[pick(6)];
    s.Dv = pick(4) == 0 ? Ds[pick(6)] : s.D;
    s.causal = int(pick(2));
    const std::size_t windows[] = {0, 0, 1, 3, 64, 1000};
    s.window = windows[pick(6)];
    s.lay = pick(2) ? BTHD : BHTD;
    s.pad = pick(2) ? 3 : 0;
    auto lens = [&](std::size_t T) {
      std::vector<std::size_t> l(s.B);
      for (std::size_t& x : l) {
        const std::size_t c = pick(5);
        x = c == 0 ? 0 : c == 1 ? T : 1 + pick(T);
      }
      return l;
    };
    if (pick(2)) s.q_lens = lens(s.Tq);
    if (pick(2)) s.kv_lens = lens(s.Tk);
    s.mask = static_cast<mask_kind>(pick(6));
    s.dropout = pick(5) == 0 ? 0.25f : 0.f;
    // The oracle's backward at most ~2M multiply-adds a case.
    if (s.B * s.H * s.Tq * s.Tk * (s.D + s.Dv) > 2000000) continue;
    vs.push_back(s);
  }
  check_all(lean(vs), 110);
}

TEST_CASE("sdpa variants: dropout with GQA (the stream of the query head)", "[sdpa][variants][dropout]") {
  check_all(lean({
                {2, 6, 2, 33, 40, 8, 8, 0, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.3f},
                {1, 7, 1, 65, 70, 16, 16, 1, 9, BHTD, 1, {60}, {70}, mask_kind::per_head, 0.25f},
            }),
            130);
}

namespace {

// The oracle's forward in double, differentiated numerically through the
// float inputs; the library's float gradients must match. Loss = <O, dO>.
void check_central_differences(const variant& s, std::uint64_t seed) {
  const problem p0(s, seed);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
      INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
      problem p = p0;
      problem::grads g;
      REQUIRE(p.backward(algo, g) == QKV_OK);
      std::vector<double> out, lse;
      auto loss = [&]() {
        qkv_test::ref_sdpa_forward(p.desc(), p.q.data(), p.k.data(), p.v.data(), out, lse);
        double sum = 0;
        p.for_each(p.base.o, s.Tq, s.Dv, [&](std::size_t off, std::size_t dense) { sum += out[dense] * p.dout[off]; });
        return sum;
      };
      auto check = [&](std::vector<float>& x, const std::vector<float>& grad, const qkv_sdpa_strides& st,
                       std::size_t H, std::size_t T, std::size_t F) {
        problem::for_each(st, s.B, H, T, F, [&](std::size_t off, std::size_t) {
          const float x0 = x[off], h = 1e-2f;  // O(h^2) truncation ~1e-5, far above float noise
          x[off] = x0 + h;
          const double lp = loss();
          x[off] = x0 - h;
          const double lm = loss();
          x[off] = x0;
          const double fd = (lp - lm) / (double(x0 + h) - double(x0 - h));
          CHECK(std::fabs(fd - grad[off]) <= 2e-4 * (1 + std::fabs(fd)));
        });
      };
      check(p.q, g.dq, p.base.q, s.H, s.Tq, s.D);
      check(p.k, g.dk, p.base.k, p.kvh, s.Tk, s.D);
      check(p.v, g.dv, p.base.v, p.kvh, s.Tk, s.Dv);
    }
  });
}

}  // namespace

TEST_CASE("sdpa variants: gradients match central differences (GQA, window, mask, ragged)",
          "[sdpa][variants][backward]") {
  check_central_differences({2, 4, 2, 5, 7, 3, 4, 1, 3, BTHD, 1, {5, 3}, {7, 4}, mask_kind::per_head, 0.f}, 7);
}

TEST_CASE("sdpa variants: 1, 2 and 3 threads give the same bits (GQA groups > 1)", "[sdpa][variants][threads]") {
  // Large enough for the fused drivers to start 3 threads (~1 MFLOP a
  // thread); groups of 3 and 7 query heads, so dK/dV sum several heads.
  std::vector<variant> vs = {
      {2, 6, 2, 200, 230, 64, 64, 1, 90, BTHD, 0, {200, 130}, {230, 180}, mask_kind::per_head, 0.f},
      {1, 7, 1, 130, 200, 32, 32, 0, 0, BHTD, 3, kNone, kNone, mask_kind::shared, 0.1f},
      {1, 6, 2, 130, 160, 32, 32, 1, 0, BTHD, 0, kNone, kNone, mask_kind::per_head, 0.1f, 5.f},  // soft-capped
  };
  if (qkv_test::small_tests())
    vs = {{1, 6, 2, 70, 90, 32, 32, 1, 40, BTHD, 0, {70}, {85}, mask_kind::per_head, 0.f},
          {1, 6, 2, 70, 90, 32, 32, 1, 0, BTHD, 0, kNone, kNone, mask_kind::shared, 0.1f, 5.f}};
  std::uint64_t seed = 150;
  for (const variant& s : vs) {
    const problem p(s, ++seed);
    INFO(describe(s));
    qkv_test::for_each_isa_or_active([&](qkv_isa) {  // thread splits are driver code
      for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
        INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
        std::vector<float> o1, l1;
        problem::grads g1;
        for (int threads : {1, 2, 3}) {
          INFO("threads " << threads);
          qkv_test::threads_scope scope(threads);
          std::vector<float> o, l;
          problem::grads g;
          qkv_test::team_watch watch;
          REQUIRE(p.forward(algo, o, l, threads) == QKV_OK);
          REQUIRE(p.backward(algo, g, threads) == QKV_OK);
          if (threads > 1 && algo == QKV_SDPA_FUSED) QKV_CHECK_TEAM(watch);
          if (threads == 1) {
            o1 = o, l1 = l, g1 = g;
            continue;
          }
          CHECK(std::memcmp(o.data(), o1.data(), o.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(l.data(), l1.data(), l.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(g.dq.data(), g1.dq.data(), g.dq.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(g.dk.data(), g1.dk.data(), g.dk.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(g.dv.data(), g1.dv.data(), g.dv.size() * sizeof(float)) == 0);
        }
      }
    });
  }
}

TEST_CASE("sdpa variants: bad kv_heads, lengths and mask strides are refused, writing nothing",
          "[sdpa][variants][args]") {
  const variant s{2, 6, 2, 9, 11, 8, 8, 1, 3, BHTD, 0, {9, 4}, {11, 5}, mask_kind::per_head, 0.f};
  const problem p(s, 5);
  // K and V (and dK, dV) laid out with room for 12 heads: whatever kv_heads
  // an edit sets, their layouts neither overlap nor overflow, so the edit is
  // each call's only fault.
  const std::size_t kv_batch = 12 * s.Tk * s.D, nkv = s.B * kv_batch;
  const std::vector<float> k = qkv_test::random_vector(nkv, 8), v = qkv_test::random_vector(nkv, 9);
  auto valid = [&](qkv_sdpa_algo algo) {
    qkv_sdpa_desc d = p.desc(algo);
    d.k = d.v = {kv_batch, s.Tk * s.D, s.D};
    return d;
  };
  const std::size_t too_long_kv[] = {11, 12}, too_long_q[] = {10, 9}, huge[] = {std::size_t(-1), 0};
  struct bad {
    const char* what;
    void (*edit)(qkv_sdpa_desc&, const std::size_t* lens);
    const std::size_t* lens;
    qkv_status want;
  };
  const bad cases[] = {
      {"kv_heads 4 (6 % 4 != 0)", [](qkv_sdpa_desc& d, const std::size_t*) { d.kv_heads = 4; }, nullptr,
       QKV_ERR_BAD_SHAPE},
      {"kv_heads 7 > heads", [](qkv_sdpa_desc& d, const std::size_t*) { d.kv_heads = 7; }, nullptr, QKV_ERR_BAD_SHAPE},
      {"kv_heads 12, a multiple of heads", [](qkv_sdpa_desc& d, const std::size_t*) { d.kv_heads = 12; }, nullptr,
       QKV_ERR_BAD_SHAPE},
      {"kv_lens entry > kv_len", [](qkv_sdpa_desc& d, const std::size_t* l) { d.kv_lens = l; }, too_long_kv,
       QKV_ERR_BAD_SHAPE},
      {"kv_lens entry SIZE_MAX", [](qkv_sdpa_desc& d, const std::size_t* l) { d.kv_lens = l; }, huge,
       QKV_ERR_BAD_SHAPE},
      {"q_lens entry > q_len", [](qkv_sdpa_desc& d, const std::size_t* l) { d.q_lens = l; }, too_long_q,
       QKV_ERR_BAD_SHAPE},
      {"q_lens entry SIZE_MAX", [](qkv_sdpa_desc& d, const std::size_t* l) { d.q_lens = l; }, huge,
       QKV_ERR_BAD_SHAPE},
      {"mask NULL, batch stride",
       [](qkv_sdpa_desc& d, const std::size_t*) {
         d.mask = nullptr;
         d.mask_strides = {1, 0, 0};
       },
       nullptr, QKV_ERR_BAD_ARGUMENT},
      {"mask NULL, head stride",
       [](qkv_sdpa_desc& d, const std::size_t*) {
         d.mask = nullptr;
         d.mask_strides = {0, 1, 0};
       },
       nullptr, QKV_ERR_BAD_ARGUMENT},
      {"mask NULL, token stride",
       [](qkv_sdpa_desc& d, const std::size_t*) {
         d.mask = nullptr;
         d.mask_strides = {0, 0, 11};
       },
       nullptr, QKV_ERR_BAD_ARGUMENT},
      {"softcap -1", [](qkv_sdpa_desc& d, const std::size_t*) { d.softcap = -1.f; }, nullptr, QKV_ERR_BAD_ARGUMENT},
      {"softcap -FLT_MIN",
       [](qkv_sdpa_desc& d, const std::size_t*) { d.softcap = -std::numeric_limits<float>::min(); }, nullptr,
       QKV_ERR_BAD_ARGUMENT},
      {"softcap +INFINITY", [](qkv_sdpa_desc& d, const std::size_t*) { d.softcap = kInf; }, nullptr,
       QKV_ERR_BAD_ARGUMENT},
      {"softcap -INFINITY", [](qkv_sdpa_desc& d, const std::size_t*) { d.softcap = -kInf; }, nullptr,
       QKV_ERR_BAD_ARGUMENT},
      {"softcap NaN", [](qkv_sdpa_desc& d, const std::size_t*) { d.softcap = std::nanf(""); }, nullptr,
       QKV_ERR_BAD_ARGUMENT},
  };
  std::vector<unsigned char> ws(std::size_t(8) << 20);  // ample for any of them
  for (qkv_sdpa_algo algo : {QKV_SDPA_AUTO, QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {  // unedited: accepted
    const qkv_sdpa_desc d = valid(algo);
    std::size_t n = 0;
    REQUIRE(qkv_sdpa_workspace_size(&d, 1, &n) == QKV_OK);
    REQUIRE(n <= ws.size());
    REQUIRE(qkv_sdpa_backward_workspace_size(&d, 2, &n) == QKV_OK);
    REQUIRE(n <= ws.size());
    REQUIRE(qkv_sdpa_backward_workspace_size_ex(&d, QKV_DTYPE_F16, 1, &n) == QKV_OK);
    REQUIRE(n <= ws.size());
  }
  for (const bad& c : cases)
    for (qkv_sdpa_algo algo : {QKV_SDPA_AUTO, QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
      INFO(c.what << ", algo " << int(algo));
      qkv_sdpa_desc d = valid(algo);
      c.edit(d, c.lens);
      std::size_t n = 12345;
      CHECK(qkv_sdpa_workspace_size(&d, 1, &n) == c.want);
      CHECK(qkv_sdpa_backward_workspace_size(&d, 2, &n) == c.want);
      CHECK(qkv_sdpa_workspace_size_ex(&d, QKV_DTYPE_BF16, 1, &n) == c.want);
      CHECK(qkv_sdpa_backward_workspace_size_ex(&d, QKV_DTYPE_F16, 1, &n) == c.want);
      CHECK(n == 12345);
      std::vector<float> out(p.no, kCanary), lse(s.B * s.H * s.Tq, kCanary), dq(p.nq, kCanary), dk(nkv, kCanary),
          dv(nkv, kCanary);
      CHECK(qkv_sdpa_forward(&d, p.q.data(), k.data(), v.data(), out.data(), lse.data(), ws.data(), ws.size()) ==
            c.want);
      CHECK(qkv_sdpa_backward(&d, p.q.data(), k.data(), v.data(), p.o.data(), p.lse.data(), p.dout.data(),
                              dq.data(), dk.data(), dv.data(), ws.data(), ws.size()) == c.want);
      // The typed entry points: the same descriptor checks (F32 buffers
      // reinterpreted as 16-bit ones are large enough).
      CHECK(qkv_sdpa_forward_ex(&d, QKV_DTYPE_BF16, p.q.data(), k.data(), v.data(), out.data(), lse.data(),
                                ws.data(), ws.size()) == c.want);
      CHECK(qkv_sdpa_backward_ex(&d, QKV_DTYPE_BF16, p.q.data(), k.data(), v.data(), p.o.data(), p.lse.data(),
                                 p.dout.data(), dq.data(), dk.data(), dv.data(), ws.data(), ws.size()) == c.want);
      for (const auto* buf : {&out, &lse, &dq, &dk, &dv})
        for (float x : *buf) REQUIRE(x == kCanary);
    }
}

namespace {

void check_bf16_entry_points(const variant& s, std::uint64_t seed) {
  problem p(s, seed);
  const qkv_dtype type = QKV_DTYPE_BF16;
  // The stored values: rounded to bf16 by the test (the mask stays fp32).
  auto store = [&](std::vector<float>& x) {
    std::vector<std::uint16_t> bits(x.size());
    REQUIRE(qkv_convert(x.size(), QKV_DTYPE_F32, x.data(), type, bits.data()) == QKV_OK);
    REQUIRE(qkv_convert(x.size(), type, bits.data(), QKV_DTYPE_F32, x.data()) == QKV_OK);
    return bits;
  };
  const auto qb = store(p.q), kb = store(p.k), vb = store(p.v), gb = store(p.dout);
  // The oracle on the stored values, with the mass sum_j P*_ij |V_jf| of the bound.
  const qkv_sdpa_desc d0 = p.desc();
  const qkv_test::ref_dims n(d0);
  std::vector<double> ro(n.B * n.H * n.Tq * n.Dv), rl(n.B * n.H * n.Tq), mass(ro.size()), scratch(n.Tk);
  qkv_ref_sdpa_forward(&d0, p.q.data(), p.k.data(), p.v.data(), qkv_test::ref_dropout, ro.data(), rl.data(),
                       mass.data(), scratch.data());
  auto widen = [&](std::uint16_t h) {
    float f;
    REQUIRE(qkv_convert(1, type, &h, QKV_DTYPE_F32, &f) == QKV_OK);
    return f;
  };
  qkv_test::for_each_isa([&](qkv_isa) {
    for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
      INFO((algo == QKV_SDPA_FUSED ? "fused" : "reference"));
      const qkv_sdpa_desc d = p.desc(algo);
      std::size_t bytes = 0;
      REQUIRE(qkv_sdpa_workspace_size_ex(&d, type, 1, &bytes) == QKV_OK);
      std::vector<unsigned char> ws(bytes);
      std::vector<std::uint16_t> o(p.no, 0x7c01);  // a canary no rounding produces
      std::vector<float> lse(n.B * n.H * n.Tq);
      REQUIRE(qkv_sdpa_forward_ex(&d, type, qb.data(), kb.data(), vb.data(), o.data(), lse.data(), ws.data(), bytes) ==
              QKV_OK);
      // The header's bound: |O - O*| <= u |O*| + (u_p + e) mass, u = u_p =
      // 2^-8 (bf16; P may be rounded to bf16), e the fp32 error of
      // check_forward (2 score errors plus (Tk + 16) eps). lse as fp32's.
      const double se = p.score_err(), e = 2 * se + (double(n.Tk) + 16) * kEps, u = 0x1p-8;
      std::vector<bool> owned(o.size(), false);
      for (std::size_t b = 0; b < n.B; ++b)
        for (std::size_t h = 0; h < n.H; ++h)
          for (std::size_t i = 0; i < n.Tq; ++i) {
            const std::size_t row = (b * n.H + h) * n.Tq + i;
            INFO("b " << b << " h " << h << " i " << i);
            if (std::isinf(rl[row]))
              REQUIRE(lse[row] == -kInf);
            else
              REQUIRE(std::fabs(lse[row] - rl[row]) <= se + (double(n.Tk) + 16 + std::fabs(rl[row])) * kEps);
            for (std::size_t f = 0; f < n.Dv; ++f) {
              const std::size_t at = b * d.o.batch + h * d.o.head + i * d.o.token + f;
              owned[at] = true;
              const double want = ro[row * n.Dv + f], got = widen(o[at]);
              const double tol = u * std::fabs(want) + (u + e) * mass[row * n.Dv + f] + 1e-30;
              if (std::isinf(rl[row])) REQUIRE(got == 0.0);
              if (!(std::fabs(got - want) <= tol)) {
                INFO("f " << f << " got " << got << " want " << want << " tol " << tol);
                REQUIRE(false);
              }
            }
          }
      for (std::size_t at = 0; at < o.size(); ++at)
        if (!owned[at]) REQUIRE(o[at] == 0x7c01);

      // The backward: the fp32 backward of the widened tensors, rounded once
      // (what the header defines it to be), bit for bit; in bf16 mode (P
      // and dS rounded to bf16 as well: u relative each, plus the output
      // rounding) within 4u of it normwise (measured below 1u).
      const bool in_bf16 = qkv_test::sdpa_ex_backward_in_bf16(d, type);
      std::vector<float> of(o.size());
      for (std::size_t at = 0; at < o.size(); ++at) of[at] = owned[at] ? widen(o[at]) : 0.f;
      std::vector<std::uint16_t> obits(o);
      for (std::size_t at = 0; at < o.size(); ++at)
        if (!owned[at]) obits[at] = 0;
      REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &bytes) == QKV_OK);
      ws.assign(bytes, 0);
      std::vector<float> dq(p.nq, 0.f), dk(p.nk, 0.f), dv(p.nv, 0.f);
      REQUIRE(qkv_sdpa_backward(&d, p.q.data(), p.k.data(), p.v.data(), of.data(), lse.data(), p.dout.data(),
                                dq.data(), dk.data(), dv.data(), ws.data(), bytes) == QKV_OK);
      REQUIRE(qkv_sdpa_backward_workspace_size_ex(&d, type, 1, &bytes) == QKV_OK);
      ws.assign(bytes, 0);
      std::vector<std::uint16_t> tq(p.nq, 0x7c01), tk(p.nk, 0x7c01), tv(p.nv, 0x7c01);
      REQUIRE(qkv_sdpa_backward_ex(&d, type, qb.data(), kb.data(), vb.data(), obits.data(), lse.data(), gb.data(),
                                   tq.data(), tk.data(), tv.data(), ws.data(), bytes) == QKV_OK);
      auto same = [&](const std::vector<float>& ref, const std::vector<std::uint16_t>& got,
                      const qkv_sdpa_strides& st, std::size_t H, std::size_t T, std::size_t F) {
        std::vector<bool> in(got.size(), false);
        problem::for_each(st, n.B, H, T, F, [&](std::size_t off, std::size_t) { in[off] = true; });
        std::vector<float> r(ref);
        const auto bits = store(r);
        if (in_bf16) {
          for (std::size_t e2 = 0; e2 < got.size(); ++e2)
            if (!in[e2]) REQUIRE(got[e2] == 0x7c01);
          const double err = qkv_test::sdpa_rel_error(ref, got, in, [&](std::uint16_t x) { return widen(x); });
          INFO("bf16 mode: normwise error / u = " << err * 256);
          REQUIRE(err <= 4.0 / 256);
          return;
        }
        for (std::size_t e2 = 0; e2 < got.size(); ++e2) REQUIRE(got[e2] == (in[e2] ? bits[e2] : 0x7c01));
      };
      same(dq, tq, d.q, n.H, n.Tq, n.D);
      same(dk, tk, d.k, n.KVH, n.Tk, n.D);
      same(dv, tv, d.v, n.KVH, n.Tk, n.Dv);
    }
  });
}

}  // namespace

TEST_CASE("sdpa variants: bf16 entry points on GQA + window + ragged + mask", "[sdpa][variants][lowp]") {
  check_bf16_entry_points({2, 6, 2, 65, 70, 16, 16, 1, 20, BTHD, 2, {65, 30}, {70, 0}, mask_kind::per_head, 0.f}, 600);
}

// ---- logit soft-capping (qkv_sdpa_desc::softcap, since 0.7) -----------------

TEST_CASE("sdpa softcap: caps 1, 5 and 50 with causal, mask, GQA, window, ragged, dropout, odd sizes",
          "[sdpa][variants][softcap]") {
  // Forward and backward, fused (tile and decode paths) and reference, on
  // every ISA, against the oracle with the cap; fully masked rows (the mask
  // kinds hide row Tq / 2) must give exact zeros. Scores reach 4 D scale
  // (up to 32 here): cap 1 and 5 saturate many of them, 50 barely bends them.
  check_all(lean({
                {1, 6, 2, 7, 7, 8, 8, 0, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f, 1.f},
                {2, 6, 2, 65, 130, 16, 16, 1, 0, BHTD, 3, kNone, kNone, mask_kind::per_head, 0.f, 5.f},
                {1, 7, 1, 17, 33, 32, 16, 1, 9, BTHD, 1, {17}, {30}, mask_kind::full, 0.25f, 50.f},
                {1, 4, 2, 1, 130, 16, 16, 1, 0, BTHD, 0, kNone, kNone, mask_kind::shared, 0.f, 1.f},   // decode
                {1, 4, 2, 3, 130, 16, 16, 1, 3, BTHD, 0, kNone, kNone, mask_kind::none, 0.f, 5.f},     // decode
                {2, 3, 0, 9, 11, 8, 8, 0, 0, BHTD, 0, kNone, kNone, mask_kind::row, 0.f, 50.f},
                {1, 2, 0, 33, 17, 1, 7, 0, 0, BHTD, 0, kNone, kNone, mask_kind::full, 0.f, 1.f},       // D 1
                {3, 4, 2, 9, 11, 64, 64, 1, 0, BTHD, 0, {9, 0, 5}, {11, 6, 11}, mask_kind::per_batch, 0.3f, 5.f},
                {1, 2, 1, 130, 130, 64, 64, 1, 64, BTHD, 0, kNone, kNone, mask_kind::none, 0.f, 50.f},
                {1, 3, 0, 65, 70, 32, 32, 0, 0, BHTD, 0, kNone, kNone, mask_kind::none, 0.f, 0.f},     // cap off
            }),
            900);
}

TEST_CASE("sdpa softcap: saturated rows (scores ~1e4, cap 1) stay finite and match the oracle",
          "[sdpa][variants][softcap]") {
  // scale 1000: |scale q.k| up to 3e4, so tanh(s / c) is +-1 exactly for
  // almost every key (1 - tanh^2 = 0: dQ, dK from those keys vanish) and
  // the weights of a row are near-uniform over its positive keys. Nothing
  // may overflow into NaN.
  check_all(lean({
                {1, 4, 2, 7, 9, 8, 8, 1, 0, BTHD, 0, kNone, kNone, mask_kind::per_head, 0.f, 1.f, 1000.f},
                {1, 4, 2, 1, 70, 8, 8, 1, 0, BTHD, 0, kNone, kNone, mask_kind::none, 0.f, 1.f, 1000.f},  // decode
                {1, 2, 0, 65, 70, 16, 16, 0, 0, BHTD, 0, kNone, kNone, mask_kind::none, 0.2f, 5.f, 1000.f},
            }),
            950);
}

TEST_CASE("sdpa softcap: gradients match central differences of the capped oracle", "[sdpa][variants][softcap]") {
  // Cap 1 with scores up to 4 D scale ~ 7: every regime of tanh, linear to
  // saturated. The third derivative of the loss grows like (scale |k| / c)^3
  // ~ 1.5 here: h = 1e-2 keeps the truncation near 1e-5.
  check_central_differences({2, 4, 2, 5, 7, 3, 4, 1, 3, BTHD, 1, {5, 3}, {7, 4}, mask_kind::per_head, 0.f, 1.f}, 17);
  if (!qkv_test::small_tests())  // emulated: the first case only
    check_central_differences({1, 2, 1, 6, 6, 4, 3, 0, 0, BHTD, 0, kNone, kNone, mask_kind::none, 0.2f, 5.f}, 18);
}

TEST_CASE("sdpa softcap: bf16 entry points", "[sdpa][variants][softcap][lowp]") {
  if (qkv_test::small_tests())  // emulated: a smaller shape (the dot-product path needs avx512_bf16 hardware anyway)
    check_bf16_entry_points({1, 4, 2, 17, 20, 16, 16, 1, 5, BTHD, 1, {17}, {20}, mask_kind::per_head, 0.f, 5.f}, 601);
  else
    check_bf16_entry_points({2, 6, 2, 65, 70, 16, 16, 1, 20, BTHD, 2, {65, 30}, {70, 0}, mask_kind::per_head, 0.f, 5.f},
                            601);
}

TEST_CASE("sdpa softcap: 0 gives exactly the bits of a description without it", "[sdpa][variants][softcap]") {
  // The field is at the end of the struct: a caller that zero-initializes
  // and never sets it gets the pre-0.7 behaviour; and a cap that changes
  // the result is really applied (cap 50 on scores up to ~8 moves O).
  const variant s{1, 4, 2, 33, 40, 16, 16, 1, 0, BTHD, 0, kNone, kNone, mask_kind::shared, 0.f};
  variant c = s;
  c.softcap = 50.f;
  const problem p(s, 31), pc(c, 31);
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> o, l, oc, lc;
    REQUIRE(p.forward(QKV_SDPA_FUSED, o, l) == QKV_OK);
    REQUIRE(pc.forward(QKV_SDPA_FUSED, oc, lc) == QKV_OK);
    CHECK(std::memcmp(o.data(), oc.data(), o.size() * sizeof(float)) != 0);
    problem z = pc;
    z.base.softcap = 0.f;
    std::vector<float> oz, lz;
    REQUIRE(z.forward(QKV_SDPA_FUSED, oz, lz) == QKV_OK);
    CHECK(std::memcmp(o.data(), oz.data(), o.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(l.data(), lz.data(), l.size() * sizeof(float)) == 0);
  });
}
