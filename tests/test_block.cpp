// SPDX-License-Identifier: MIT
// The decoder block (qkv/block.h) through the C API, against the double
// oracle (tests/ref/ref_block.h):
//  - forward, inference and training with both dropouts, pre- and
//    post-norm, LayerNorm and RMSNorm, every FFN kind, GQA, RoPE, windows,
//    on every ISA;
//  - every parameter gradient and dX against central differences of the
//    oracle (dropout included), on every ISA; dx NULL, dx == dy, gradient
//    accumulation;
//  - decoding token by token equals the inference forward's rows;
//  - 1, 2 and 3 threads give the same bits, forward and backward;
//  - bad descriptions and buffers are refused, nothing written;
//  - the attention's logit soft-capping (softcap, since 0.7): a Gemma-2-like
//    variant in the forward, gradient and decode checks, bad values refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qkv/block.h"
#include "qkv/runtime.h"
#include "ref/ref_block.h"
#include "support/isa.hpp"
#include "support/block_run.hpp"
#include "support/random.hpp"
#include "support/ref_attention.hpp"  // ref_dropout
#include "support/teams.hpp"

namespace {

struct spec {
  std::size_t d, heads, kv_heads, ff;
  qkv_norm_type norm;
  qkv_ffn_type ffn;
  int pre, bias, causal, rope;
  std::size_t window;
  float attn_drop, resid_drop;
};

qkv_block_desc make(const spec& s) {
  qkv_block_desc d{};
  d.d_model = s.d, d.num_heads = s.heads, d.num_kv_heads = s.kv_heads, d.d_ff = s.ff;
  d.norm = s.norm, d.ffn = s.ffn, d.pre_norm = s.pre, d.bias = s.bias, d.causal = s.causal;
  d.rope = s.rope, d.rope_layout = QKV_ROPE_HALF, d.window = s.window;
  d.attn_dropout = s.attn_drop, d.resid_dropout = s.resid_drop, d.dropout_seed = 1234;
  return d;
}

struct variant {
  const char* name;
  qkv_block_desc d;
  std::size_t B, T;
};

qkv_block_desc with_softcap(qkv_block_desc d, float c) {
  d.softcap = c;
  return d;
}

// Odd sizes: d_ff prime or around a vector width, heads 3 and GQA 6/2, T 7.
const variant kVariants[] = {
    {"GPT-2: pre-LN, GELU tanh, biases, causal", make({12, 3, 0, 17, QKV_NORM_LAYER, QKV_FFN_GELU_TANH, 1, 1, 1, 0, 0, 0.f, 0.f}), 2, 7},
    {"Llama: pre-RMS, SwiGLU, no bias, GQA 6/2, RoPE, window 3",
     make({24, 6, 2, 33, QKV_NORM_RMS, QKV_FFN_SWIGLU, 1, 0, 1, 1, 3, 0.f, 0.f}), 2, 7},
    {"post-LN (BERT), ReLU, biases, not causal", make({8, 2, 0, 16, QKV_NORM_LAYER, QKV_FFN_RELU, 0, 1, 0, 0, 0, 0.f, 0.f}), 2, 5},
    {"pre-LN, GELU erf, both dropouts", make({12, 2, 0, 15, QKV_NORM_LAYER, QKV_FFN_GELU_ERF, 1, 1, 1, 0, 0, 0.2f, 0.3f}), 2, 6},
    {"post-RMS, SiLU, biases, residual dropout, MQA 4/1",
     make({16, 4, 1, 9, QKV_NORM_RMS, QKV_FFN_SILU, 0, 1, 1, 0, 0, 0.f, 0.25f}), 1, 7},
    {"pre-RMS, SwiGLU with biases, MHA", make({8, 2, 0, 5, QKV_NORM_RMS, QKV_FFN_SWIGLU, 1, 1, 1, 0, 0, 0.f, 0.f}), 3, 4},
    // Gemma-2-like (its cap 50 scaled down to this init's scores, |s| ~1).
    {"pre-RMS, GELU tanh, GQA 4/2, RoPE, softcap 0.3, attention dropout",
     with_softcap(make({16, 4, 2, 11, QKV_NORM_RMS, QKV_FFN_GELU_TANH, 1, 0, 1, 1, 0, 0.1f, 0.f}), 0.3f), 2, 7},
};

using qkv_test::block_run;

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

std::vector<double> ref_forward(const qkv_block_desc& d, const qkv_block_layout& lay, std::size_t B, std::size_t T,
                                const std::vector<double>& prm, const std::vector<double>& x, bool training) {
  std::vector<double> y(B * T * d.d_model), scratch(qkv_ref_block_scratch_doubles(&d, B, T));
  qkv_ref_block_forward(&d, &lay, B, T, prm.data(), x.data(), training, qkv_test::ref_dropout, y.data(),
                        scratch.data());
  return y;
}

// A C caller may store any int in an enum: its bits.
template <class E>
void set_enum(E& e, int v) {
  static_assert(sizeof(int) == sizeof(E), "enum of int size");
  std::memcpy(&e, &v, sizeof v);
}

}  // namespace

TEST_CASE("block forward matches the double oracle on every ISA", "[block]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& c : kVariants) {
      for (bool training : {false, true}) {
        INFO(c.name << (training ? " training" : " inference"));
        block_run run(c.d, c.B, c.T, 5);
        REQUIRE(run.forward(training) == QKV_OK);
        const auto want = ref_forward(c.d, run.lay, c.B, c.T, to_double(run.params), to_double(run.x), training);
        // Five chained fp32 stages (norm, attention layer, projection, norm,
        // two FFN GEMMs of length <= 33) each ~1e-6 relative; the
        // activations' own bounds are a few ulp. 2e-5 of the output scale.
        const double tol = 2e-5 * (1 + max_abs(want));
        double worst = 0;
        for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(run.y[i] - want[i]));
        INFO("worst " << worst << " tol " << tol);
        CHECK(worst <= tol);
      }
    }
  });
}

TEST_CASE("block forward in place (y == x) equals out of place; training and inference agree without dropout",
          "[block]") {
  const variant& c = kVariants[1];
  block_run run(c.d, c.B, c.T, 8);
  REQUIRE(run.forward(false) == QKV_OK);
  std::vector<float> inplace = run.x;
  REQUIRE(run.forward(false, inplace.data(), inplace.data()) == QKV_OK);
  CHECK(std::memcmp(inplace.data(), run.y.data(), run.n * sizeof(float)) == 0);
  std::vector<float> y_train(run.n);
  REQUIRE(run.forward(true, nullptr, y_train.data()) == QKV_OK);
  CHECK(std::memcmp(y_train.data(), run.y.data(), run.n * sizeof(float)) == 0);
}

TEST_CASE("block backward matches central differences of the oracle", "[block][grad]") {
  const bool small = qkv_test::small_tests();
  for (const auto& c : kVariants) {
    if (small && &c != &kVariants[4] && &c != &kVariants[5]) continue;  // emulated: the two smallest
    INFO(c.name);
    block_run probe(c.d, c.B, c.T, 9);
    const std::vector<float> dy = qkv_test::random_vector(probe.n, 77);
    std::vector<double> prm = to_double(probe.params), x = to_double(probe.x);
    auto loss = [&]() {
      const auto y = ref_forward(c.d, probe.lay, c.B, c.T, prm, x, true);
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
    // Central differences in double: truncation ~h^2 |L'''| and roundoff
    // ~1e-16 |L| / h, both ~1e-10, far below the fp32 block's ~1e-6
    // relative error per stage. ReLU's kink is met with probability ~0.
    // 2e-4 of the gradient scale leaves headroom for ~8 chained stages.
    std::vector<double> g_fd(prm.size()), dx_fd(x.size());
    for (std::size_t i = 0; i < prm.size(); ++i) g_fd[i] = fd(prm, i);
    for (std::size_t i = 0; i < x.size(); ++i) dx_fd[i] = fd(x, i);
    const double gscale = 1 + max_abs(g_fd), xscale = 1 + max_abs(dx_fd);
    qkv_test::for_each_isa([&](qkv_isa) {
      block_run run(c.d, c.B, c.T, 9);
      REQUIRE(run.forward(true) == QKV_OK);
      REQUIRE(run.backward(dy.data(), run.dx.data()) == QKV_OK);
      const qkv_block_layout& l = run.lay;
      const std::size_t offs[] = {l.norm1_g, l.norm1_b, l.w_q,     l.w_k,    l.w_v,  l.b_q,  l.b_k,    l.b_v,  l.w_o,
                                  l.b_o,     l.norm2_g, l.norm2_b, l.w_gate, l.b_gate, l.w_up, l.b_up, l.w_down, l.b_down};
      const char* names[] = {"norm1_g", "norm1_b", "W_q", "W_k", "W_v", "b_q", "b_k", "b_v", "W_o",
                             "b_o", "norm2_g", "norm2_b", "W_gate", "b_gate", "W_up", "b_up", "W_down", "b_down"};
      // Each tensor runs to the next present offset (or the end).
      std::vector<std::size_t> starts;
      for (std::size_t o : offs)
        if (o != SIZE_MAX) starts.push_back(o);
      std::sort(starts.begin(), starts.end());
      for (std::size_t k = 0; k < sizeof offs / sizeof offs[0]; ++k) {
        if (offs[k] == SIZE_MAX) continue;
        const auto it = std::upper_bound(starts.begin(), starts.end(), offs[k]);
        const std::size_t end = it == starts.end() ? prm.size() : *it;
        double worst = 0, mag = 0;
        for (std::size_t i = offs[k]; i < end; ++i) {
          worst = std::max(worst, std::fabs(run.grads[i] - g_fd[i]));
          mag = std::max(mag, std::fabs(g_fd[i]));
        }
        INFO(names[k] << ": worst " << worst << ", scale " << gscale << ", tensor max " << mag);
        CHECK(worst <= 2e-4 * gscale);
        // Every tensor really gets a gradient, but b_k's is 0: a constant
        // added to every key's score cancels in the softmax.
        if (offs[k] != l.b_k) CHECK(mag > 1e-3 * gscale);
      }
      double worst = 0;
      for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(run.dx[i] - dx_fd[i]));
      INFO("dX: worst " << worst << ", scale " << xscale);
      CHECK(worst <= 2e-4 * xscale);
    });
  }
}

TEST_CASE("block backward: dx NULL, dx == dy, and accumulation give consistent bits", "[block][grad]") {
  for (const variant* c : {&kVariants[0], &kVariants[2], &kVariants[4]}) {
    INFO(c->name);
    block_run run(c->d, c->B, c->T, 21);
    const std::vector<float> dy = qkv_test::random_vector(run.n, 5);
    REQUIRE(run.forward(true) == QKV_OK);
    REQUIRE(run.backward(dy.data(), run.dx.data()) == QKV_OK);
    const std::vector<float> g1 = run.grads, dx1 = run.dx;
    // Twice: the gradients accumulate. The GEMMs fold the old value into
    // their sums (C + a1 b1 + a2 b2 ...), so 2 g1 to fp32 rounding.
    REQUIRE(run.backward(dy.data(), run.dx.data()) == QKV_OK);
    double gmax = 0;
    for (float v : g1) gmax = std::max(gmax, double(std::fabs(v)));
    for (std::size_t i = 0; i < g1.size(); ++i) REQUIRE(std::fabs(run.grads[i] - 2 * g1[i]) <= 1e-5 * gmax);
    CHECK(std::memcmp(run.dx.data(), dx1.data(), run.n * sizeof(float)) == 0);
    // dx NULL: the same parameter gradients.
    std::fill(run.grads.begin(), run.grads.end(), 0.f);
    REQUIRE(run.backward(dy.data(), nullptr) == QKV_OK);
    CHECK(std::memcmp(run.grads.data(), g1.data(), g1.size() * sizeof(float)) == 0);
    // dx == dy (in place).
    std::vector<float> io = dy;
    std::fill(run.grads.begin(), run.grads.end(), 0.f);
    REQUIRE(run.backward(io.data(), io.data()) == QKV_OK);
    CHECK(std::memcmp(io.data(), dx1.data(), run.n * sizeof(float)) == 0);
    CHECK(std::memcmp(run.grads.data(), g1.data(), g1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("block: 1, 2 and 3 threads give the same bits, forward and backward", "[block][threads]") {
  // Big enough that the GEMMs and row passes really split (teams.hpp).
  qkv_block_desc d = make({64, 4, 2, 160, QKV_NORM_LAYER, QKV_FFN_GELU_TANH, 1, 1, 1, 1, 0, 0.1f, 0.1f});
  for (int pre : {1, 0}) {
    d.pre_norm = pre;
    d.ffn = pre ? QKV_FFN_GELU_TANH : QKV_FFN_SWIGLU;
    INFO("pre_norm " << pre);
    std::vector<float> y0, g0, dx0;
    const int saved = [] {
      int t = 1;
      qkv_get_num_threads(&t);
      return t;
    }();
    for (int threads : {1, 2, 3}) {
      REQUIRE(qkv_set_num_threads(threads) == QKV_OK);
      block_run run(d, 2, 48, 31);
      const std::vector<float> dy = qkv_test::random_vector(run.n, 6);
      qkv_test::team_watch watch;
      REQUIRE(run.forward(true) == QKV_OK);
      REQUIRE(run.backward(dy.data(), run.dx.data()) == QKV_OK);
      if (threads > 1) QKV_CHECK_TEAM(watch);
      if (threads == 1) {
        y0 = run.y, g0 = run.grads, dx0 = run.dx;
        continue;
      }
      CHECK(std::memcmp(run.y.data(), y0.data(), y0.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(run.grads.data(), g0.data(), g0.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(run.dx.data(), dx0.data(), dx0.size() * sizeof(float)) == 0);
    }
    qkv_set_num_threads(saved);
  }
}

TEST_CASE("block decode token by token equals the inference forward's rows", "[block][decode]") {
  const variant* cases[] = {&kVariants[0], &kVariants[1], &kVariants[4], &kVariants[5], &kVariants[6]};
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const variant* c : cases) {
      INFO(c->name);
      block_run run(c->d, c->B, c->T, 13);
      REQUIRE(run.forward(false) == QKV_OK);  // the whole sequences at once
      const qkv_block_desc& d = run.d;
      const std::size_t D = d.d_model, B = run.B, T = run.T;
      std::size_t kvb = 0;
      REQUIRE(qkv_block_kv_cache_size(&d, B, T, QKV_KV_F32, &kvb) == QKV_OK);
      std::vector<float> kv(kvb / sizeof(float));
      qkv_mha_kv_state st;
      REQUIRE(qkv_mha_kv_cache_init(&st, B, T) == QKV_OK);
      std::vector<float> got(run.n);
      // Chunks of 1 and 2 tokens; the last call in place (y_new == x_new).
      for (std::size_t t = 0; t < T;) {
        const std::size_t n = std::min<std::size_t>(t % 2 ? 2 : 1, T - t);
        std::vector<float> xt(B * n * D), yt(B * n * D);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(&xt[b * n * D], &run.x[(b * T + t) * D], n * D * sizeof(float));
        std::size_t wb = 0;
        REQUIRE(qkv_block_decode_workspace_size(&d, &st, n, 2, &wb) == QKV_OK);
        std::vector<float> ws(wb / sizeof(float) + 1);
        const bool last = t + n == T;
        float* out = last ? xt.data() : yt.data();
        REQUIRE(qkv_block_decode(&d, run.params.data(), &st, kv.data(), kvb, n, xt.data(), out, ws.data(), wb) ==
                QKV_OK);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(&got[(b * T + t) * D], out + b * n * D, n * D * sizeof(float));
        t += n;
      }
      CHECK(st.length == T);
      // The same arithmetic over other tilings of the attention: within the
      // forward test's 2e-5 of the output scale.
      double worst = 0, scale = 1;
      for (float v : run.y) scale = std::max(scale, double(std::fabs(v)));
      for (std::size_t i = 0; i < run.n; ++i) worst = std::max(worst, double(std::fabs(got[i] - run.y[i])));
      INFO("worst " << worst << " scale " << scale);
      CHECK(worst <= 2e-5 * scale);
    }
  });
}

TEST_CASE("block: bad descriptions and buffers are refused, nothing written", "[block][args]") {
  const qkv_block_desc good = kVariants[0].d;
  block_run run(good, 2, 7, 3);
  const float sentinel = -7.25f;
  std::fill(run.y.begin(), run.y.end(), sentinel);
  auto untouched = [&] {
    return std::all_of(run.y.begin(), run.y.end(), [&](float v) { return v == sentinel; });
  };
  auto fwd = [&](const qkv_block_desc& d) {
    return qkv_block_forward(&d, run.params.data(), 2, 7, run.x.data(), run.y.data(), 1, run.aligned_cache(),
                             run.cache_bytes(), run.fws.data(), run.fws.size() * sizeof(float));
  };
  struct bad {
    const char* what;
    void (*edit)(qkv_block_desc&);
    qkv_status want;
  };
  const bad cases[] = {
      {"d_model 0", [](qkv_block_desc& d) { d.d_model = 0; }, QKV_ERR_BAD_SHAPE},
      {"d_ff 0", [](qkv_block_desc& d) { d.d_ff = 0; }, QKV_ERR_BAD_SHAPE},
      {"heads not dividing d_model", [](qkv_block_desc& d) { d.num_heads = 5; }, QKV_ERR_BAD_SHAPE},
      {"kv_heads not dividing heads", [](qkv_block_desc& d) { d.num_kv_heads = 2; }, QKV_ERR_BAD_SHAPE},
      {"norm 2", [](qkv_block_desc& d) { set_enum(d.norm, 2); }, QKV_ERR_BAD_ARGUMENT},
      {"ffn -1", [](qkv_block_desc& d) { set_enum(d.ffn, -1); }, QKV_ERR_BAD_ARGUMENT},
      {"ffn 5", [](qkv_block_desc& d) { set_enum(d.ffn, 5); }, QKV_ERR_BAD_ARGUMENT},
      {"pre_norm 2", [](qkv_block_desc& d) { d.pre_norm = 2; }, QKV_ERR_BAD_ARGUMENT},
      {"bias -1", [](qkv_block_desc& d) { d.bias = -1; }, QKV_ERR_BAD_ARGUMENT},
      {"causal 3", [](qkv_block_desc& d) { d.causal = 3; }, QKV_ERR_BAD_ARGUMENT},
      {"eps negative", [](qkv_block_desc& d) { d.norm_eps = -1e-5f; }, QKV_ERR_BAD_ARGUMENT},
      {"eps NaN", [](qkv_block_desc& d) { d.norm_eps = std::numeric_limits<float>::quiet_NaN(); }, QKV_ERR_BAD_ARGUMENT},
      {"resid dropout 1", [](qkv_block_desc& d) { d.resid_dropout = 1.f; }, QKV_ERR_BAD_ARGUMENT},
      {"attn dropout -0.1", [](qkv_block_desc& d) { d.attn_dropout = -0.1f; }, QKV_ERR_BAD_ARGUMENT},
      {"softcap -1", [](qkv_block_desc& d) { d.softcap = -1.f; }, QKV_ERR_BAD_ARGUMENT},
      {"softcap NaN", [](qkv_block_desc& d) { d.softcap = std::numeric_limits<float>::quiet_NaN(); },
       QKV_ERR_BAD_ARGUMENT},
      {"softcap inf", [](qkv_block_desc& d) { d.softcap = std::numeric_limits<float>::infinity(); },
       QKV_ERR_BAD_ARGUMENT},
      {"rope_dim odd", [](qkv_block_desc& d) { d.rope = 1, d.rope_dim = 3; }, QKV_ERR_BAD_SHAPE},
      {"size overflow", [](qkv_block_desc& d) { d.d_ff = SIZE_MAX / 2; }, QKV_ERR_SIZE_OVERFLOW},
  };
  for (const bad& b : cases) {
    INFO(b.what);
    qkv_block_desc d = good;
    b.edit(d);
    CHECK(qkv_block_validate(&d) == b.want);
    CHECK(fwd(d) == b.want);
    std::size_t sz = 123;
    CHECK(qkv_block_param_count(&d, &sz) == b.want);
    CHECK(sz == 123);
    CHECK(untouched());
  }
  CHECK(qkv_block_validate(nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_block_param_count(&good, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_block_forward(&good, run.params.data(), 0, 7, run.x.data(), run.y.data(), 0, nullptr, 0, run.fws.data(),
                          run.fws.size() * 4) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 2, run.aligned_cache(),
                          run.cache_bytes(), run.fws.data(), run.fws.size() * 4) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_block_forward(&good, nullptr, 2, 7, run.x.data(), run.y.data(), 0, nullptr, 0, run.fws.data(),
                          run.fws.size() * 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 1, nullptr, 0, run.fws.data(),
                          run.fws.size() * 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 1, run.aligned_cache() + 1,
                          run.cache_bytes() - 4, run.fws.data(), run.fws.size() * 4) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 1, run.aligned_cache(),
                          run.cache_bytes() - 64, run.fws.data(), run.fws.size() * 4) == QKV_ERR_WORKSPACE_TOO_SMALL);
  std::size_t need1 = 0;
  REQUIRE(qkv_block_forward_workspace_size(&good, 2, 7, 1, &need1) == QKV_OK);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 0, nullptr, 0, run.fws.data(),
                          need1 - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_block_forward(&good, run.params.data(), 2, 7, run.x.data(), run.y.data(), 0, nullptr, 0, nullptr,
                          need1) == QKV_ERR_NULL_POINTER);
  CHECK(untouched());
  // The backward: NULLs, a short cache, a short workspace; grads untouched.
  REQUIRE(run.forward(true) == QKV_OK);
  std::fill(run.grads.begin(), run.grads.end(), sentinel);
  std::fill(run.dx.begin(), run.dx.end(), sentinel);
  const std::vector<float> dy = qkv_test::random_vector(run.n, 1);
  auto bwd = [&](const float* dyp, float* g, std::size_t cache_bytes, std::size_t ws_bytes) {
    return qkv_block_backward(&good, run.params.data(), 2, 7, run.x.data(), run.aligned_cache(), cache_bytes, dyp,
                              run.dx.data(), g, run.bws.data(), ws_bytes);
  };
  const std::size_t wsb = run.bws.size() * sizeof(float);
  CHECK(bwd(nullptr, run.grads.data(), run.cache_bytes(), wsb) == QKV_ERR_NULL_POINTER);
  CHECK(bwd(dy.data(), nullptr, run.cache_bytes(), wsb) == QKV_ERR_NULL_POINTER);
  CHECK(bwd(dy.data(), run.grads.data(), run.cache_bytes() - 64, wsb) == QKV_ERR_WORKSPACE_TOO_SMALL);
  std::size_t bneed = 0;
  REQUIRE(qkv_block_backward_workspace_size(&good, 2, 7, 1, &bneed) == QKV_OK);
  CHECK(bwd(dy.data(), run.grads.data(), run.cache_bytes(), bneed - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(std::all_of(run.grads.begin(), run.grads.end(), [&](float v) { return v == sentinel; }));
  CHECK(std::all_of(run.dx.begin(), run.dx.end(), [&](float v) { return v == sentinel; }));
  // Decoding a non-causal block, or past the capacity.
  qkv_block_desc nc = good;
  nc.causal = 0;
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init(&st, 1, 4) == QKV_OK);
  std::size_t kvb = 0;
  REQUIRE(qkv_block_kv_cache_size(&good, 1, 4, QKV_KV_F32, &kvb) == QKV_OK);
  std::vector<float> kv(kvb / 4), xt(5 * good.d_model), yt(5 * good.d_model, sentinel), ws(1 << 16);
  CHECK(qkv_block_decode(&nc, run.params.data(), &st, kv.data(), kvb, 1, xt.data(), yt.data(), ws.data(),
                         ws.size() * 4) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_block_decode(&good, run.params.data(), &st, kv.data(), kvb, 5, xt.data(), yt.data(), ws.data(),
                         ws.size() * 4) == QKV_ERR_CAPACITY);
  CHECK(qkv_block_decode(&good, run.params.data(), &st, kv.data(), kvb - 4, 1, xt.data(), yt.data(), ws.data(),
                         ws.size() * 4) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(st.length == 0);
  CHECK(std::all_of(yt.begin(), yt.end(), [&](float v) { return v == sentinel; }));
}

TEST_CASE("block layout: the attention's tensors are a qkv_mha_layout at w_q; the tensors tile the buffer",
          "[block]") {
  for (const auto& c : kVariants) {
    INFO(c.name);
    qkv_block_layout l;
    REQUIRE(qkv_block_param_layout(&c.d, &l) == QKV_OK);
    qkv_mha_desc a;
    REQUIRE(qkv_block_attention_desc(&c.d, &a) == QKV_OK);
    CHECK(a.out_proj == 0);
    CHECK(a.qkv_bias == c.d.bias);
    qkv_mha_layout al;
    REQUIRE(qkv_mha_param_layout(&a, &al) == QKV_OK);
    CHECK(l.w_k - l.w_q == al.w_k);
    CHECK(l.w_v - l.w_q == al.w_v);
    CHECK(l.w_o - l.w_q == al.count);
    const bool ln = c.d.norm == QKV_NORM_LAYER, b = c.d.bias != 0, g = c.d.ffn == QKV_FFN_SWIGLU;
    CHECK((l.norm1_b != SIZE_MAX) == ln);
    CHECK((l.norm2_b != SIZE_MAX) == ln);
    CHECK((l.b_o != SIZE_MAX) == b);
    CHECK((l.b_down != SIZE_MAX) == b);
    CHECK((l.w_gate != SIZE_MAX) == g);
    CHECK((l.b_gate != SIZE_MAX) == (g && b));
    const std::size_t D = c.d.d_model, F = c.d.d_ff;
    std::size_t want = 2 * D * (ln ? 2 : 1) + al.count + D * D + (b ? D : 0) + (g ? 3 : 2) * D * F +
                       (b ? F * (g ? 2 : 1) + D : 0);
    CHECK(l.count == want);
  }
}
