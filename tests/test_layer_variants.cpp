// SPDX-License-Identifier: MIT
// The layer's 0.5 features - grouped-query heads (num_kv_heads), sliding
// window, RoPE on Q and K - and their combinations, through the C API,
// against the double oracle (tests/ref/ref_layer.h):
//  - forward (inference and training with dropout) on every ISA, fp32 and
//    one bf16 compute case;
//  - every parameter gradient and dX against central differences of the
//    oracle, on every ISA;
//  - decoding token by token (rope + GQA + window) equals the oracle's rows,
//    past a ring capacity, and with ragged state.lengths;
//  - 1, 2 and 3 threads give the same bits, forward and backward;
//  - bad descriptions are refused with the documented statuses, nothing written;
//  - logit soft-capping (softcap, since 0.7) through all of the above.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_layer.hpp"
#include "support/teams.hpp"

namespace {

struct spec {
  std::size_t din, dout, heads, kv_heads, window;
  int causal, bias, proj, rope;
  qkv_rope_layout layout;
  std::size_t rope_dim;
  float theta, dropout;
};

qkv_mha_desc make(const spec& s) {
  qkv_mha_desc d{};
  d.d_in = s.din, d.d_out = s.dout, d.num_heads = s.heads, d.num_kv_heads = s.kv_heads, d.window = s.window;
  d.causal = s.causal, d.qkv_bias = s.bias, d.out_proj = s.proj;
  d.rope = s.rope, d.rope_layout = s.layout, d.rope_dim = s.rope_dim, d.rope_theta = s.theta;
  d.dropout_p = s.dropout, d.dropout_seed = 99;
  return d;
}

struct variant {
  const char* name;
  qkv_mha_desc d;
  std::size_t B, T;
};

qkv_mha_desc with_softcap(qkv_mha_desc d, float c) {
  d.softcap = c;
  return d;
}

// d_head 4 unless said (rotary dims >= 4: with 2 the two layouts are one pair). Windows 1, 3 and longer than T; GQA 6/2 and 7/1;
// both RoPE layouts, rope_dim < d_head, theta 500; causal and not.
const variant kVariants[] = {
    {"GQA 6/2, window 3, causal, rope half, bias, out_proj",
     make({5, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 0.f, 0.f}), 2, 7},
    {"MQA 7/1, no window, causal, rope interleaved theta 500, out_proj, dropout",
     make({6, 28, 7, 1, 0, 1, 0, 1, 1, QKV_ROPE_INTERLEAVED, 0, 500.f, 0.2f}), 2, 6},
    {"GQA 6/2, d_head 6, window 1, causal, rope half rope_dim 4 theta 500, bias",
     make({4, 36, 6, 2, 1, 1, 1, 0, 1, QKV_ROPE_HALF, 4, 500.f, 0.f}), 1, 6},
    {"GQA 6/3, d_head 6, window 3, non-causal, rope interleaved rope_dim 4, bias, out_proj",
     make({5, 36, 6, 3, 3, 0, 1, 1, 1, QKV_ROPE_INTERLEAVED, 4, 0.f, 0.f}), 2, 6},
    {"MQA 7/1, window 50 > T, causal, no rope, bias", make({3, 28, 7, 1, 50, 1, 1, 0, 0, QKV_ROPE_HALF, 0, 0.f, 0.f}),
     2, 7},
    {"MHA 2 heads d_head 6, non-causal, rope half rope_dim 4, bias, out_proj",
     make({4, 12, 2, 0, 0, 0, 1, 1, 1, QKV_ROPE_HALF, 4, 0.f, 0.f}), 2, 5},
    // Cap 0.2: the layer's scores (|s| up to ~1 at this init) meet every
    // regime of tanh, not only its linear part.
    {"GQA 6/2, window 3, causal, rope half, bias, out_proj, softcap 0.2, dropout",
     with_softcap(make({5, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 0.f, 0.1f}), 0.2f), 2, 7},
};

// One layer's buffers, sized by the library's own queries.
struct layer_run {
  qkv_mha_desc d;
  qkv_mha_layout lay{};
  std::size_t B, T;
  std::vector<float> params, x, y, cache, fws, bws, grads, dx;

  layer_run(const qkv_mha_desc& desc, std::size_t b, std::size_t t, std::uint64_t seed, int threads = 3)
      : d(desc), B(b), T(t) {
    REQUIRE(qkv_mha_param_layout(&d, &lay) == QKV_OK);
    params.resize(lay.count);
    REQUIRE(qkv_mha_init(&d, params.data(), seed) == QKV_OK);
    x = qkv_test::random_vector(B * T * d.d_in, seed + 7);
    y.assign(B * T * d.d_out, 0.f);
    std::size_t cb = 0, fb = 0, bb = 0;
    REQUIRE(qkv_mha_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, threads, &fb) == QKV_OK);
    REQUIRE(qkv_mha_backward_workspace_size(&d, B, T, threads, &bb) == QKV_OK);
    cache.resize(cb / sizeof(float) + 16);  // + 16: room to 64-byte align
    fws.resize(fb / sizeof(float) + 1);
    bws.resize(bb / sizeof(float) + 1);
    grads.assign(lay.count, 0.f);
    dx.assign(B * T * d.d_in, 0.f);
  }
  float* aligned_cache() {
    const auto a = reinterpret_cast<std::uintptr_t>(cache.data());
    return cache.data() + ((64 - a % 64) % 64) / sizeof(float);
  }
  std::size_t cache_bytes() const { return (cache.size() - 16) * sizeof(float); }
  qkv_status forward(bool training) {
    return qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), training ? 1 : 0, aligned_cache(),
                           cache_bytes(), fws.data(), fws.size() * sizeof(float));
  }
  qkv_status backward(const std::vector<float>& dy) {
    return qkv_mha_backward(&d, params.data(), B, T, x.data(), aligned_cache(), cache_bytes(), dy.data(), dx.data(),
                            grads.data(), bws.data(), bws.size() * sizeof(float));
  }
};

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

std::size_t d_kv(const qkv_mha_desc& d) {
  return (d.num_kv_heads ? d.num_kv_heads : d.num_heads) * (d.d_out / d.num_heads);
}

// A C caller may store any int in the enum: its bits, as test_rope.cpp does.
void set_layout(qkv_mha_desc& d, int v) {
  static_assert(sizeof(int) == sizeof(qkv_rope_layout), "enum of int size");
  std::memcpy(&d.rope_layout, &v, sizeof v);
}

constexpr double kU = 1.0 / 256;  // bf16 unit roundoff, 2^-8

// Per-element magnitude of the layer's output for the bf16 bound (as in
// test_layer_bf16.cpp, with the K/V head of each query head): each attention
// output row is a convex combination of V rows of its K/V head (no dropout),
// so |A(t, h*dh + f)| <= max_t' |V(t', g*dh + f)|; with out_proj
// M(t, j) = sum_k maxA(k) |W_o(k, j)| + |b_o(j)|. RoPE rotates Q and K only.
std::vector<double> output_magnitude(const layer_run& r) {
  const qkv_mha_desc& d = r.d;
  const std::size_t dh = d.d_out / d.num_heads, Dkv = d_kv(d);
  const std::size_t group = d.num_heads / (d.num_kv_heads ? d.num_kv_heads : d.num_heads);
  std::vector<double> M(r.B * r.T * d.d_out);
  for (std::size_t b = 0; b < r.B; ++b) {
    std::vector<double> vmax(Dkv, 0.0), amax(d.d_out);
    for (std::size_t t = 0; t < r.T; ++t)
      for (std::size_t j = 0; j < Dkv; ++j) {
        double v = d.qkv_bias ? r.params[r.lay.b_v + j] : 0.0;
        for (std::size_t k = 0; k < d.d_in; ++k)
          v += double(r.x[(b * r.T + t) * d.d_in + k]) * r.params[r.lay.w_v + k * Dkv + j];
        vmax[j] = std::max(vmax[j], std::fabs(v));
      }
    for (std::size_t c = 0; c < d.d_out; ++c) amax[c] = vmax[(c / dh / group) * dh + c % dh];
    for (std::size_t j = 0; j < d.d_out; ++j) {
      double m = amax[j];
      if (d.out_proj) {
        m = std::fabs(r.params[r.lay.b_o + j]);
        for (std::size_t k = 0; k < d.d_out; ++k) m += amax[k] * std::fabs(r.params[r.lay.w_o + k * d.d_out + j]);
      }
      for (std::size_t t = 0; t < r.T; ++t) M[(b * r.T + t) * d.d_out + j] = m;
    }
  }
  return M;
}

}  // namespace

TEST_CASE("GQA / window / RoPE layer forward matches the double oracle on every ISA", "[layer][variants]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& c : kVariants) {
      for (bool training : {false, true}) {
        INFO(c.name << (training ? " training" : " inference"));
        layer_run run(c.d, c.B, c.T, 5);
        REQUIRE(run.forward(training) == QKV_OK);
        const qkv_test::ref_layer ref{c.d, run.lay, run.B, run.T};
        const auto want = ref.forward(to_double(run.params), to_double(run.x), training);
        // As test_layer.cpp: three chained fp32 reductions of length < 40
        // (projection, attention, projection); RoPE adds one rotation with
        // cos/sin rounded to fp32, within 4 * 2^-24 of |x1| + |x2|
        // (qkv/rope.h). 1e-5 of the output scale is ~100 ulp of headroom.
        const double tol = 1e-5 * (1 + max_abs(want));
        double worst = 0;
        for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(run.y[i] - want[i]));
        INFO("worst " << worst << " tol " << tol);
        CHECK(worst <= tol);
      }
    }
  });
}

TEST_CASE("RoPE actually rotates: the layer with rope differs from the one without, theta matters",
          "[layer][variants]") {
  // Guards the oracle comparison above against a rope field both sides
  // ignore: the outputs move by far more than the tolerance.
  qkv_mha_desc d = kVariants[0].d;
  layer_run a(d, 2, 7, 5);
  REQUIRE(a.forward(false) == QKV_OK);
  d.rope = 0;
  layer_run b(d, 2, 7, 5);
  REQUIRE(b.forward(false) == QKV_OK);
  d.rope = 1, d.rope_theta = 500.f;
  layer_run c(d, 2, 7, 5);
  REQUIRE(c.forward(false) == QKV_OK);
  double ab = 0, ac = 0;
  for (std::size_t i = 0; i < a.y.size(); ++i) {
    ab = std::max(ab, double(std::fabs(a.y[i] - b.y[i])));
    ac = std::max(ac, double(std::fabs(a.y[i] - c.y[i])));
  }
  CHECK(ab > 1e-3);
  CHECK(ac > 1e-4);
  // Token 0 is at position 0: no rotation, so its rows agree (causal).
  for (std::size_t bb = 0; bb < 2; ++bb)
    for (std::size_t j = 0; j < d.d_out; ++j) CHECK(a.y[bb * 7 * d.d_out + j] == Approx(b.y[bb * 7 * d.d_out + j]).margin(1e-6));
}

TEST_CASE("bf16 compute with GQA, window and RoPE stays within layer.h's bf16 bound of the oracle",
          "[layer][variants][bf16]") {
  qkv_mha_desc d = make({9, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 500.f, 0.f});
  d.compute_type = QKV_DTYPE_BF16;
  qkv_test::for_each_isa([&](qkv_isa) {
    layer_run run(d, 2, 9, 15);
    REQUIRE(run.forward(false) == QKV_OK);
    const qkv_test::ref_layer ref{d, run.lay, run.B, run.T};
    const auto want = ref.forward(to_double(run.params), to_double(run.x), false);
    const auto M = output_magnitude(run);
    // layer.h: each projection is within ~2^-7 of sum_k |a||b|. Y carries
    // three levels (Q, K, V through attention, then A and W_o rounded and
    // multiplied): ~8u of the output magnitude M to first order, the bound
    // test_layer_bf16.cpp uses against the fp32 layer (the fp32 layer's own
    // error, ~1e-6 relative, is negligible next to u = 2^-8).
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(run.y[i] - want[i]) / (kU * M[i]));
    INFO("worst |dy| / (u M) = " << worst);
    CHECK(worst <= 8.0);
    CHECK(worst > 0.0);  // really rounded: not the fp32 layer
  });
}

TEST_CASE("GQA / window / RoPE layer backward matches central differences of the oracle", "[layer][variants][grad]") {
  const bool small = qkv_test::small_tests();
  for (const auto& c : kVariants) {
    if (small && &c != &kVariants[0] && &c != &kVariants[3]) continue;  // emulated: two cases
    INFO(c.name);
    layer_run probe(c.d, c.B, c.T, 9);
    const std::vector<float> dy = qkv_test::random_vector(c.B * c.T * c.d.d_out, 77);
    const qkv_test::ref_layer ref{c.d, probe.lay, c.B, c.T};
    std::vector<double> prm = to_double(probe.params), x = to_double(probe.x);
    auto loss = [&]() {
      const auto y = ref.forward(prm, x, true);
      double s = 0;
      for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * dy[i];
      return s;
    };
    auto fd = [&](std::vector<double>& v, std::size_t i) {
      const double h = 1e-6, v0 = v[i];
      v[i] = v0 + h;
      const double lp = loss();
      v[i] = v0 - h;
      const double lm = loss();
      v[i] = v0;
      return (lp - lm) / (2 * h);
    };
    // Central differences in double: truncation ~h^2 |L'''|, roundoff
    // ~1e-16 |L| / h, both ~1e-10 here, far below the fp32 layer's ~1e-6
    // relative error per reduction. 1e-4 of the gradient scale (as
    // test_layer.cpp) leaves ~100x headroom for a few chained reductions.
    std::vector<double> g_fd(prm.size()), dx_fd(x.size());
    for (std::size_t i = 0; i < prm.size(); ++i) g_fd[i] = fd(prm, i);
    for (std::size_t i = 0; i < x.size(); ++i) dx_fd[i] = fd(x, i);
    const double gscale = 1 + max_abs(g_fd), xscale = 1 + max_abs(dx_fd);
    qkv_test::for_each_isa([&](qkv_isa) {
      layer_run run(c.d, c.B, c.T, 9);
      REQUIRE(run.forward(true) == QKV_OK);
      REQUIRE(run.backward(dy) == QKV_OK);
      const struct {
        const char* name;
        std::size_t off, n;
      } tensors[] = {{"W_q", run.lay.w_q, c.d.d_in * c.d.d_out},
                     {"W_k", run.lay.w_k, c.d.d_in * d_kv(c.d)},
                     {"W_v", run.lay.w_v, c.d.d_in * d_kv(c.d)},
                     {"b_q", run.lay.b_q, c.d.d_out},
                     {"b_k", run.lay.b_k, d_kv(c.d)},
                     {"b_v", run.lay.b_v, d_kv(c.d)},
                     {"W_o", run.lay.w_o, c.d.d_out * c.d.d_out},
                     {"b_o", run.lay.b_o, c.d.d_out}};
      std::size_t covered = 0;
      for (const auto& t : tensors) {
        if (t.off == SIZE_MAX) continue;
        covered += t.n;
        double worst = 0;
        for (std::size_t i = t.off; i < t.off + t.n; ++i) worst = std::max(worst, std::fabs(run.grads[i] - g_fd[i]));
        INFO(t.name << ": worst " << worst << ", scale " << gscale);
        CHECK(worst <= 1e-4 * gscale);
      }
      CHECK(covered == prm.size());
      double worst = 0;
      for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(run.dx[i] - dx_fd[i]));
      INFO("dX: worst " << worst << ", scale " << xscale);
      CHECK(worst <= 1e-4 * xscale);
    });
  }
}

namespace {

// Decodes sequence streams through qkv_mha_decode in the chunk sizes of
// `chunks` (repeated), with the cache of `cap` tokens, and compares every
// output row with the oracle's full forward of its sequence. `lengths`
// (ragged) or NULL. Returns the worst |error| / (1 + scale) seen.
double decode_vs_oracle(const qkv_mha_desc& d, std::size_t B, std::size_t T, std::size_t cap, bool ragged,
                        const std::vector<std::size_t>& chunks, std::uint64_t seed) {
  const std::size_t din = d.d_in, dout = d.d_out;
  qkv_mha_layout lay{};
  REQUIRE(qkv_mha_param_layout(&d, &lay) == QKV_OK);
  std::vector<float> params(lay.count);
  REQUIRE(qkv_mha_init(&d, params.data(), seed) == QKV_OK);
  const std::vector<float> x = qkv_test::random_vector(B * T * din, seed + 1);

  // Ragged: after a prefill of `pre` tokens for every sequence, sequence b
  // keeps only keep[b] of them (the rest was padding) and goes on from
  // there; its true stream is x[b][0..keep[b]) then x[b][pre..]: the padding
  // tokens are replaced by the later ones at the same positions. So the
  // oracle sees, for sequence b, tokens at positions p = 0, 1, ...:
  // x[b][p] for p < keep[b], x[b][pre + p - keep[b]] after.
  const std::size_t pre = ragged ? 3 : 0;
  std::vector<std::size_t> keep(B, 0), lengths(B, 0);
  for (std::size_t b = 0; b < B; ++b) keep[b] = ragged ? pre - b % (pre + 1) : 0;  // 3, 2, 1, 0, 3, ...
  std::vector<std::vector<float>> stream(B), got(B);
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t p = 0; p < keep[b]; ++p)
      stream[b].insert(stream[b].end(), &x[(b * T + p) * din], &x[(b * T + p + 1) * din]);
    stream[b].insert(stream[b].end(), x.begin() + (b * T + pre) * din, x.begin() + (b + 1) * T * din);
  }

  std::size_t kvb = 0;
  REQUIRE(qkv_mha_kv_cache_size(&d, B, cap, &kvb) == QKV_OK);
  std::vector<float> kv(kvb / sizeof(float));
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init(&st, B, cap) == QKV_OK);
  if (ragged) st.lengths = lengths.data();
  auto call = [&](std::size_t t, std::size_t n, bool record) {
    std::vector<float> xt(B * n * din), yt(B * n * dout);
    for (std::size_t b = 0; b < B; ++b) std::memcpy(&xt[b * n * din], &x[(b * T + t) * din], n * din * sizeof(float));
    std::size_t wb = 0;
    REQUIRE(qkv_mha_decode_workspace_size(&d, &st, n, 2, &wb) == QKV_OK);
    std::vector<float> ws(wb / sizeof(float) + 1);
    REQUIRE(qkv_mha_decode(&d, params.data(), &st, kv.data(), kvb, n, xt.data(), yt.data(), ws.data(), wb) == QKV_OK);
    for (std::size_t b = 0; b < B; ++b)
      if (record) got[b].insert(got[b].end(), yt.begin() + b * n * dout, yt.begin() + (b + 1) * n * dout);
    return yt;
  };
  std::size_t t = 0;
  if (ragged) {
    const auto yp = call(0, pre, false);
    for (std::size_t b = 0; b < B; ++b) {
      REQUIRE(lengths[b] == pre);
      lengths[b] = keep[b];  // drop the padding
      got[b].assign(yp.begin() + b * pre * dout, yp.begin() + (b * pre + keep[b]) * dout);
    }
    t = pre;
  }
  for (std::size_t k = 0; t < T; ++k) {
    const std::size_t n = std::min(chunks[k % chunks.size()], T - t);
    call(t, n, true);
    t += n;
  }
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t Tb = ragged ? keep[b] + T - pre : T;
    if (ragged) CHECK(lengths[b] == Tb);
    REQUIRE(got[b].size() == Tb * dout);
  }
  if (!ragged) CHECK(st.length == T);

  double worst = 0;
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t Tb = got[b].size() / dout;
    const qkv_test::ref_layer ref{d, lay, 1, Tb};
    const auto want = ref.forward(to_double(params), to_double(stream[b]), false);
    const double scale = 1 + max_abs(want);
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[b][i] - want[i]) / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("decode with RoPE + GQA + window equals the oracle's rows, past a ring capacity and ragged",
          "[layer][variants][decode]") {
  const std::size_t T = qkv_test::small_tests() ? 13 : 19;
  qkv_test::for_each_isa([&](qkv_isa) {
    // The oracle's full forward at every position; the same arithmetic as
    // the fp32 forward test, over other tilings: 1e-5 of the output scale.
    const double tol = 1e-5;
    {
      INFO("GQA 6/2, window 3, rope half theta 500, chunks 1, 2: ring of window + 2 - 1");
      const qkv_mha_desc d = make({5, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 500.f, 0.f});
      CHECK(decode_vs_oracle(d, 2, T, 3 + 2 - 1, false, {1, 2}, 3) <= tol);
      INFO("the same, token by token in a ring of exactly the window (window + 1 - 1)");
      CHECK(decode_vs_oracle(d, 2, T, 3, false, {1}, 3) <= tol);
    }
    {
      INFO("MQA 7/1, d_head 6, window 4, rope interleaved rope_dim 4: ring of window + 3 - 1, ragged");
      const qkv_mha_desc d = make({4, 42, 7, 1, 4, 1, 0, 1, 1, QKV_ROPE_INTERLEAVED, 4, 0.f, 0.f});
      CHECK(decode_vs_oracle(d, 3, T, 4 + 3 - 1, true, {1, 3, 1}, 4) <= tol);
    }
    {
      INFO("GQA 6/3, window 1, rope half rope_dim 4 of d_head 6: ring of 1 token");
      const qkv_mha_desc d = make({4, 36, 6, 3, 1, 1, 1, 0, 1, QKV_ROPE_HALF, 4, 0.f, 0.f});
      CHECK(decode_vs_oracle(d, 2, T, 1, false, {1}, 5) <= tol);
      INFO("the same, ragged (a prefill of 3: a ring of window + 3 - 1)");
      CHECK(decode_vs_oracle(d, 4, T, 1 + 3 - 1, true, {1}, 5) <= tol);
    }
    {
      INFO("softcap 0.2, GQA 6/2, window 3: the ring (kv_attention)");
      const qkv_mha_desc d = with_softcap(make({5, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 500.f, 0.f}), 0.2f);
      CHECK(decode_vs_oracle(d, 2, T, 3 + 2 - 1, false, {1, 2}, 7) <= tol);
      INFO("softcap 0.2, no window: the fused attention over the cache (its decode path), ragged");
      const qkv_mha_desc f = with_softcap(make({5, 24, 6, 2, 0, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 0.f, 0.f}), 0.2f);
      CHECK(decode_vs_oracle(f, 3, T, T, true, {1, 2}, 8) <= tol);
    }
    if (!qkv_test::small_tests()) {
      // One sequence, one token at a time: kv_attention splits the keys in
      // chunks of 512 (ops/kv_decode.cpp), merged by their softmax sums.
      INFO("one sequence, softcap 0.2, GQA 6/2, window 600 (two key chunks): a ring of 600 that wraps");
      const qkv_mha_desc d = with_softcap(make({5, 24, 6, 2, 600, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 500.f, 0.f}), 0.2f);
      CHECK(decode_vs_oracle(d, 1, 1150, 600, false, {1}, 9) <= tol);
    }
    {
      INFO("GQA 6/2, no window, rope half: cache as long as the sequence, ragged");
      const qkv_mha_desc d = make({5, 24, 6, 2, 0, 1, 1, 1, 1, QKV_ROPE_HALF, 0, 0.f, 0.f});
      CHECK(decode_vs_oracle(d, 3, T, T, true, {2, 1}, 6) <= tol);
    }
  });
}

TEST_CASE("GQA / window / RoPE layer: 1, 2 and 3 threads give the same bits, forward and backward",
          "[layer][variants][threads]") {
  // Large enough that the library splits the work (~1 MFLOP per thread):
  // projections 2 * 192 * 32 * (64 + 2 * 16 + 64) ~ 2 MFLOP, attention ~1.
  const std::size_t T = qkv_test::small_tests() ? 80 : 96;
  qkv_mha_desc d = make({32, 64, 8, 2, 17, 1, 1, 1, 1, QKV_ROPE_HALF, 6, 500.f, 0.1f});
  layer_run r(d, 2, T, 32);
  const auto dy = qkv_test::random_vector(r.B * T * d.d_out, 3);
  std::vector<float> y1, g1, dx1;
  {
    qkv_test::threads_scope ts(1);
    REQUIRE(r.forward(true) == QKV_OK);
    REQUIRE(r.backward(dy) == QKV_OK);
    y1 = r.y, g1 = r.grads, dx1 = r.dx;
  }
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    qkv_test::threads_scope ts(threads);
    qkv_test::team_watch watch;
    std::fill(r.grads.begin(), r.grads.end(), 0.f);
    std::fill(r.y.begin(), r.y.end(), 0.f);
    REQUIRE(r.forward(true) == QKV_OK);
    REQUIRE(r.backward(dy) == QKV_OK);
    QKV_CHECK_TEAM(watch);
    CHECK(std::memcmp(y1.data(), r.y.data(), y1.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(g1.data(), r.grads.data(), g1.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dx1.data(), r.dx.data(), dx1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("bad GQA / RoPE descriptions are refused with the documented statuses, nothing written",
          "[layer][variants][args]") {
  const qkv_mha_desc good = make({4, 24, 6, 2, 3, 1, 1, 1, 1, QKV_ROPE_HALF, 2, 500.f, 0.f});  // d_head 4
  REQUIRE(qkv_mha_validate(&good) == QKV_OK);
  struct bad_case {
    const char* name;
    qkv_mha_desc d;
    qkv_status want;
  };
  std::vector<bad_case> cases;
  auto add = [&](const char* name, qkv_status want, auto&& edit) {
    qkv_mha_desc d = good;
    edit(d);
    cases.push_back({name, d, want});
  };
  add("num_kv_heads 4 does not divide 6", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) { d.num_kv_heads = 4; });
  add("num_kv_heads 12 > num_heads", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) { d.num_kv_heads = 12; });
  add("rope_dim odd", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) { d.rope_dim = 3; });
  add("rope_dim > d_head", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) { d.rope_dim = 6; });
  add("rope_dim 0 with an odd d_head", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) {
    d.d_out = 18, d.num_kv_heads = 3, d.rope_dim = 0;  // d_head 3
  });
  add("rope_theta negative", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.rope_theta = -1.f; });
  add("rope_theta NaN", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.rope_theta = std::nanf(""); });
  add("rope_theta infinite", QKV_ERR_BAD_ARGUMENT,
      [](qkv_mha_desc& d) { d.rope_theta = std::numeric_limits<float>::infinity(); });
  add("rope_layout 2", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { set_layout(d, 2); });
  add("rope_layout -1", QKV_ERR_BAD_ARGUMENT,
      [](qkv_mha_desc& d) { set_layout(d, -1); });
  add("rope 2", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.rope = 2; });
  add("rope -1", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.rope = -1; });
  add("softcap negative", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.softcap = -50.f; });
  add("softcap NaN", QKV_ERR_BAD_ARGUMENT, [](qkv_mha_desc& d) { d.softcap = std::nanf(""); });
  add("softcap infinite", QKV_ERR_BAD_ARGUMENT,
      [](qkv_mha_desc& d) { d.softcap = std::numeric_limits<float>::infinity(); });
  // The shape checks come first (qkv_mha_validate's documented order).
  add("num_kv_heads 4 and theta NaN: the shape first", QKV_ERR_BAD_SHAPE, [](qkv_mha_desc& d) {
    d.num_kv_heads = 4, d.rope_theta = std::nanf("");
  });

  // Valid ones, for contrast: rope off ignores the other rope fields.
  for (auto edit : {+[](qkv_mha_desc& d) { d.rope = 0, d.rope_dim = 3, d.rope_theta = -1.f; },
                    +[](qkv_mha_desc& d) { d.rope = 0, set_layout(d, 7); },
                    +[](qkv_mha_desc& d) { d.rope_dim = 4, d.rope_theta = 0.f; },
                    +[](qkv_mha_desc& d) { d.num_kv_heads = 6, d.rope_layout = QKV_ROPE_INTERLEAVED; },
                    +[](qkv_mha_desc& d) { d.num_kv_heads = 1, d.window = 1000; }}) {
    qkv_mha_desc d = good;
    edit(d);
    CHECK(qkv_mha_validate(&d) == QKV_OK);
  }

  // Buffers of the valid layer: large enough for any of the bad ones.
  layer_run run(good, 1, 5, 1);
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init(&st, 1, 8) == QKV_OK);
  std::vector<float> kv(4096, 5.f), big_ws(1 << 16);
  for (const auto& c : cases) {
    INFO(c.name);
    const qkv_mha_desc* d = &c.d;
    CHECK(qkv_mha_validate(d) == c.want);
    std::size_t n = 12345;
    CHECK(qkv_mha_param_count(d, &n) == c.want);
    CHECK(n == 12345);
    qkv_mha_layout l;
    std::memset(&l, 0x5A, sizeof l);
    const qkv_mha_layout l0 = l;
    CHECK(qkv_mha_param_layout(d, &l) == c.want);
    CHECK(std::memcmp(&l, &l0, sizeof l) == 0);
    for (auto q : {+[](const qkv_mha_desc* dd, std::size_t* b) { return qkv_mha_cache_size(dd, 1, 5, b); },
                   +[](const qkv_mha_desc* dd, std::size_t* b) { return qkv_mha_forward_workspace_size(dd, 1, 5, 1, b); },
                   +[](const qkv_mha_desc* dd, std::size_t* b) { return qkv_mha_backward_workspace_size(dd, 1, 5, 1, b); },
                   +[](const qkv_mha_desc* dd, std::size_t* b) { return qkv_mha_kv_cache_size(dd, 1, 8, b); }}) {
      std::size_t bytes = 777;
      CHECK(q(d, &bytes) == c.want);
      CHECK(bytes == 777);
    }
    std::size_t bytes = 777;
    CHECK(qkv_mha_decode_workspace_size(d, &st, 1, 1, &bytes) == c.want);
    CHECK(bytes == 777);

    std::vector<float> p(run.params.size(), 3.f);
    CHECK(qkv_mha_init(d, p.data(), 1) == c.want);
    CHECK(std::all_of(p.begin(), p.end(), [](float v) { return v == 3.f; }));
    std::fill(run.y.begin(), run.y.end(), 7.f);
    std::fill(run.cache.begin(), run.cache.end(), 9.f);
    CHECK(qkv_mha_forward(d, run.params.data(), 1, 5, run.x.data(), run.y.data(), 1, run.aligned_cache(),
                          run.cache_bytes(), big_ws.data(), big_ws.size() * sizeof(float)) == c.want);
    CHECK(std::all_of(run.y.begin(), run.y.end(), [](float v) { return v == 7.f; }));
    CHECK(std::all_of(run.cache.begin(), run.cache.end(), [](float v) { return v == 9.f; }));
    const std::vector<float> dy(5 * good.d_out, 1.f);
    std::fill(run.grads.begin(), run.grads.end(), 3.f);
    std::fill(run.dx.begin(), run.dx.end(), 3.f);
    CHECK(qkv_mha_backward(d, run.params.data(), 1, 5, run.x.data(), run.aligned_cache(), run.cache_bytes(),
                           dy.data(), run.dx.data(), run.grads.data(), big_ws.data(),
                           big_ws.size() * sizeof(float)) == c.want);
    CHECK(std::all_of(run.grads.begin(), run.grads.end(), [](float v) { return v == 3.f; }));
    CHECK(std::all_of(run.dx.begin(), run.dx.end(), [](float v) { return v == 3.f; }));
    CHECK(qkv_mha_zero_grads(d, run.grads.data()) == c.want);
    CHECK(std::all_of(run.grads.begin(), run.grads.end(), [](float v) { return v == 3.f; }));
    const qkv_mha_kv_state st0 = st;
    CHECK(qkv_mha_decode(d, run.params.data(), &st, kv.data(), kv.size() * sizeof(float), 1, run.x.data(),
                         run.y.data(), big_ws.data(), big_ws.size() * sizeof(float)) == c.want);
    CHECK(std::memcmp(&st, &st0, sizeof st) == 0);
    CHECK(std::all_of(kv.begin(), kv.end(), [](float v) { return v == 5.f; }));
    CHECK(std::all_of(run.y.begin(), run.y.end(), [](float v) { return v == 7.f; }));
  }
}
