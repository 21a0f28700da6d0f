// SPDX-License-Identifier: MIT
// The attention layer against a double-precision oracle: forward, every
// gradient by central differences, multi-head = concatenated heads, dropout,
// determinism, KV-cache decoding, bad arguments.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"
#include "support/ref_layer.hpp"
#include "qkv/optim.h"

namespace {

struct layer_case {
  const char* name;
  qkv_mha_desc d;
};

qkv_mha_desc make(std::size_t din, std::size_t dout, std::size_t heads, int causal, int bias, int proj, float p = 0.f) {
  qkv_mha_desc d{};
  d.d_in = din;
  d.d_out = dout;
  d.num_heads = heads;
  d.causal = causal;
  d.qkv_bias = bias;
  d.out_proj = proj;
  d.dropout_p = p;
  d.dropout_seed = 1234;
  return d;
}

// Everything one layer call needs, sized by the library's own queries.
struct layer_run {
  qkv_mha_desc d;
  qkv_mha_layout lay{};
  std::size_t B, T;
  std::vector<float> params, x, y, cache, ws, grads, dx, bws;

  layer_run(const qkv_mha_desc& desc, std::size_t b, std::size_t t, std::uint64_t seed) : d(desc), B(b), T(t) {
    REQUIRE(qkv_mha_param_layout(&d, &lay) == QKV_OK);
    params.resize(lay.count);
    REQUIRE(qkv_mha_init(&d, params.data(), seed) == QKV_OK);
    // Make the biases visible: nn.Linear init keeps them small but non-zero already.
    x = qkv_test::random_vector(B * T * d.d_in, seed + 7);
    y.assign(B * T * d.d_out, 0.f);
    std::size_t cb = 0, fb = 0, bb = 0;
    REQUIRE(qkv_mha_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, 2, &fb) == QKV_OK);
    REQUIRE(qkv_mha_backward_workspace_size(&d, B, T, 2, &bb) == QKV_OK);
    cache.resize(cb / sizeof(float) + 1);
    ws.resize(fb / sizeof(float) + 1);
    bws.resize(bb / sizeof(float) + 1);
    grads.assign(lay.count, 0.f);
    dx.assign(B * T * d.d_in, 0.f);
  }
  qkv_status forward(bool training) {
    return qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), training ? 1 : 0, cache.data(),
                           cache.size() * sizeof(float), ws.data(), ws.size() * sizeof(float));
  }
  qkv_status backward(const std::vector<float>& dy) {
    return qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * sizeof(float), dy.data(),
                            dx.data(), grads.data(), bws.data(), bws.size() * sizeof(float));
  }
};

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

const layer_case kCases[] = {
    {"self-attention (1 head, no out_proj)", make(3, 2, 1, 0, 0, 0)},
    {"causal attention with dropout", make(5, 4, 1, 1, 0, 0, 0.25f)},
    {"multi-head with qkv bias", make(6, 8, 2, 1, 1, 1)},
    {"multi-head, no bias, non-causal", make(7, 9, 3, 0, 0, 1)},
    {"multi-head, causal, dropout, bias", make(4, 6, 3, 1, 1, 1, 0.3f)},
};

}  // namespace

TEST_CASE("layer forward matches the double oracle on every ISA", "[layer]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& c : kCases) {
      for (bool training : {false, true}) {
        INFO(c.name << (training ? " training" : " inference"));
        layer_run run(c.d, 2, 7, 5);
        REQUIRE(run.forward(training) == QKV_OK);
        const qkv_test::ref_layer ref{c.d, run.lay, run.B, run.T};
        const auto want = ref.forward(to_double(run.params), to_double(run.x), training);
        // Each output is a few dot products of length <= max(d_in, d_out, T)
        // deep (projection, attention, projection): 1e-5 of the output scale
        // is ~100 ulp of headroom for 3 chained fp32 reductions of length < 16.
        const double tol = 1e-5 * (1 + max_abs(want));
        for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(std::fabs(run.y[i] - want[i]) <= tol);
      }
    }
  });
}

TEST_CASE("layer backward matches central differences for every parameter and input", "[layer][grad]") {
  for (const auto& c : kCases) {
    INFO(c.name);
    layer_run run(c.d, 2, 5, 9);
    const std::vector<float> dy = qkv_test::random_vector(run.B * run.T * c.d.d_out, 77);
    REQUIRE(run.forward(true) == QKV_OK);
    REQUIRE(run.backward(dy) == QKV_OK);

    const qkv_test::ref_layer ref{c.d, run.lay, run.B, run.T};
    std::vector<double> prm = to_double(run.params), x = to_double(run.x);
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
    // The library computes in fp32: gradients carry ~1e-6 relative error per
    // reduction; FD in double is exact to ~1e-9. 1e-4 of the gradient scale.
    std::vector<double> g_fd(prm.size());
    for (std::size_t i = 0; i < prm.size(); ++i) g_fd[i] = fd(prm, i);
    const double gscale = 1 + max_abs(g_fd);
    for (std::size_t i = 0; i < prm.size(); ++i) {
      INFO("param " << i);
      REQUIRE(std::fabs(run.grads[i] - g_fd[i]) <= 1e-4 * gscale);
    }
    std::vector<double> dx_fd(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) dx_fd[i] = fd(x, i);
    const double xscale = 1 + max_abs(dx_fd);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(std::fabs(run.dx[i] - dx_fd[i]) <= 1e-4 * xscale);

    // Gradients accumulate: a second backward doubles them.
    const std::vector<float> once = run.grads;
    REQUIRE(run.backward(dy) == QKV_OK);
    for (std::size_t i = 0; i < once.size(); ++i) REQUIRE(run.grads[i] == Approx(2 * once[i]).margin(1e-6));
    REQUIRE(qkv_mha_zero_grads(&run.d, run.grads.data()) == QKV_OK);
    REQUIRE(std::all_of(run.grads.begin(), run.grads.end(), [](float g) { return g == 0.f; }));
  }
}

TEST_CASE("multi-head equals its heads computed alone, concatenated, projected", "[layer]") {
  const std::size_t B = 2, T = 6, din = 5, H = 3, dh = 4, dout = H * dh;
  layer_run mh(make(din, dout, H, 1, 1, 1), B, T, 21);
  REQUIRE(mh.forward(false) == QKV_OK);
  std::vector<double> concat(B * T * dout, 0.0);
  for (std::size_t h = 0; h < H; ++h) {
    layer_run one(make(din, dh, 1, 1, 1, 0), B, T, 22);
    one.x = mh.x;
    for (std::size_t i = 0; i < din; ++i)
      for (std::size_t j = 0; j < dh; ++j) {
        one.params[one.lay.w_q + i * dh + j] = mh.params[mh.lay.w_q + i * dout + h * dh + j];
        one.params[one.lay.w_k + i * dh + j] = mh.params[mh.lay.w_k + i * dout + h * dh + j];
        one.params[one.lay.w_v + i * dh + j] = mh.params[mh.lay.w_v + i * dout + h * dh + j];
      }
    for (std::size_t j = 0; j < dh; ++j) {
      one.params[one.lay.b_q + j] = mh.params[mh.lay.b_q + h * dh + j];
      one.params[one.lay.b_k + j] = mh.params[mh.lay.b_k + h * dh + j];
      one.params[one.lay.b_v + j] = mh.params[mh.lay.b_v + h * dh + j];
    }
    REQUIRE(one.forward(false) == QKV_OK);
    for (std::size_t r = 0; r < B * T; ++r)
      for (std::size_t j = 0; j < dh; ++j) concat[r * dout + h * dh + j] = one.y[r * dh + j];
  }
  for (std::size_t r = 0; r < B * T; ++r)
    for (std::size_t j = 0; j < dout; ++j) {
      double s = mh.params[mh.lay.b_o + j];
      for (std::size_t i = 0; i < dout; ++i) s += concat[r * dout + i] * mh.params[mh.lay.w_o + i * dout + j];
      REQUIRE(std::fabs(mh.y[r * dout + j] - s) <= 1e-5 * (1 + std::fabs(s)));
    }
}

TEST_CASE("dropout: p = 0 is no dropout, the mask rate is p, threads do not matter", "[layer][dropout]") {
  // p = 0 in training equals inference bitwise.
  layer_run a(make(6, 8, 2, 1, 1, 1, 0.f), 2, 9, 31);
  REQUIRE(a.forward(true) == QKV_OK);
  const auto train_y = a.y;
  REQUIRE(a.forward(false) == QKV_OK);
  REQUIRE(std::memcmp(train_y.data(), a.y.data(), train_y.size() * sizeof(float)) == 0);

  // The stream drops a fraction p: binomial, n = 2^20 draws, 6 sigma.
  namespace dr = qkv::ops::dropout;
  for (float p : {0.1f, 0.5f, 0.9f}) {
    std::size_t dropped = 0, n = 0;
    for (std::uint64_t i = 0; i < 1024; ++i) {
      const auto row = dr::row_key(42, i % 3, i % 5, i);
      for (std::uint64_t j = 0; j < 1024; ++j, ++n) dropped += dr::keep(row, j, dr::threshold(p)) ? 0 : 1;
    }
    const double sigma = std::sqrt(double(n) * p * (1 - p));
    CHECK(std::fabs(double(dropped) - double(n) * p) <= 6 * sigma);
  }

  // Same seed, 1 vs 2 threads: same bits, forward and backward. Large enough
  // (projections 2.4 MFLOP, attention 2.4) that two threads really run.
  layer_run b(make(32, 64, 4, 1, 1, 1, 0.4f), 2, 96, 32);
  const auto dy = qkv_test::random_vector(b.B * b.T * 64, 3);
  std::vector<float> y1, g1, dx1;
  {
    qkv_test::threads_scope t(1);
    REQUIRE(b.forward(true) == QKV_OK);
    REQUIRE(b.backward(dy) == QKV_OK);
    y1 = b.y, g1 = b.grads, dx1 = b.dx;
  }
  {
    qkv_test::threads_scope t(2);
    qkv_test::team_watch watch;
    std::fill(b.grads.begin(), b.grads.end(), 0.f);
    REQUIRE(b.forward(true) == QKV_OK);
    REQUIRE(b.backward(dy) == QKV_OK);
    QKV_CHECK_TEAM(watch);
  }
  CHECK(std::memcmp(y1.data(), b.y.data(), y1.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(g1.data(), b.grads.data(), g1.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(dx1.data(), b.dx.data(), dx1.size() * sizeof(float)) == 0);
}

TEST_CASE("KV-cache decoding token by token equals the full forward", "[layer][decode]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const std::size_t B = 2, T = 13;
    layer_run full(make(5, 8, 2, 1, 1, 1), B, T, 41);
    REQUIRE(full.forward(false) == QKV_OK);

    qkv_mha_kv_state st;
    REQUIRE(qkv_mha_kv_cache_init(&st, B, T) == QKV_OK);
    std::size_t kvb = 0;
    REQUIRE(qkv_mha_kv_cache_size(&full.d, B, T, &kvb) == QKV_OK);
    std::vector<float> kv(kvb / sizeof(float)), xt(B * 5), yt(B * 8);
    for (std::size_t t = 0; t < T; ++t) {
      // Feed 1 token, except a 3-token chunk in the middle (prefill-style).
      const std::size_t n = (t == 4) ? 3 : 1;
      xt.resize(B * n * 5);
      yt.resize(B * n * 8);
      for (std::size_t b = 0; b < B; ++b)
        std::memcpy(&xt[b * n * 5], &full.x[(b * T + t) * 5], n * 5 * sizeof(float));
      std::size_t wb = 0;
      REQUIRE(qkv_mha_decode_workspace_size(&full.d, &st, n, 1, &wb) == QKV_OK);
      std::vector<float> ws(wb / sizeof(float) + 1);
      REQUIRE(qkv_mha_decode(&full.d, full.params.data(), &st, kv.data(), kvb, n, xt.data(), yt.data(), ws.data(),
                             wb) == QKV_OK);
      // Bound: same arithmetic except the attention row is computed over a
      // different tiling; 1e-5 relative to the output scale (see forward test).
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t i = 0; i < n * 8; ++i)
          REQUIRE(std::fabs(yt[b * n * 8 + i] - full.y[(b * T + t) * 8 + i]) <= 1e-5f * (1 + std::fabs(full.y[(b * T + t) * 8 + i])));
      t += n - 1;
    }
    REQUIRE(st.length == T);
    // Full cache: a status, nothing changed.
    std::size_t wb = 0;
    CHECK(qkv_mha_decode_workspace_size(&full.d, &st, 1, 1, &wb) == QKV_ERR_CAPACITY);
    std::vector<float> ws(4096);
    const auto kv_before = kv;
    CHECK(qkv_mha_decode(&full.d, full.params.data(), &st, kv.data(), kvb, 1, xt.data(), yt.data(), ws.data(),
                         ws.size() * sizeof(float)) == QKV_ERR_CAPACITY);
    CHECK(st.length == T);
    CHECK(kv == kv_before);
  });
}

TEST_CASE("layer rejects bad descriptions and short buffers, writing nothing", "[layer][args]") {
  qkv_mha_desc d = make(4, 6, 2, 1, 1, 1);
  std::size_t n = 0;
  CHECK(qkv_mha_validate(&d) == QKV_OK);
  CHECK(qkv_mha_validate(nullptr) == QKV_ERR_NULL_POINTER);
  auto bad = d;
  bad.num_heads = 4;  // 6 % 4 != 0
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_SHAPE);
  bad = d, bad.d_in = 0;
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_SHAPE);
  bad = d, bad.num_heads = 0;
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_SHAPE);
  bad = d, bad.causal = 2;
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_ARGUMENT);
  bad = d, bad.dropout_p = 1.f;
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_ARGUMENT);
  bad = d, bad.dropout_p = std::nanf("");
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_ARGUMENT);
  bad = d, bad.d_in = SIZE_MAX / 2;
  CHECK(qkv_mha_param_count(&bad, &n) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_mha_param_count(&d, nullptr) == QKV_ERR_NULL_POINTER);
  REQUIRE(qkv_mha_param_count(&d, &n) == QKV_OK);
  CHECK(n == 3 * 4 * 6 + 3 * 6 + 6 * 6 + 6);
  std::size_t bytes = 0;
  CHECK(qkv_mha_cache_size(&d, SIZE_MAX / 4, SIZE_MAX / 4, &bytes) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_mha_forward_workspace_size(&d, 1, 1, 0, &bytes) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_cache_size(&d, 0, 5, &bytes) == QKV_ERR_BAD_SHAPE);

  layer_run run(d, 1, 5, 1);
  std::fill(run.y.begin(), run.y.end(), 7.f);
  auto expect_untouched = [&]() { REQUIRE(std::all_of(run.y.begin(), run.y.end(), [](float v) { return v == 7.f; })); };
  CHECK(qkv_mha_forward(&d, run.params.data(), 1, 5, run.x.data(), run.y.data(), 1, run.cache.data(), 8,
                        run.ws.data(), run.ws.size() * 4) == QKV_ERR_WORKSPACE_TOO_SMALL);
  expect_untouched();
  CHECK(qkv_mha_forward(&d, run.params.data(), 1, 5, run.x.data(), run.y.data(), 0, nullptr, 0, run.ws.data(),
                        16) == QKV_ERR_WORKSPACE_TOO_SMALL);
  expect_untouched();
  CHECK(qkv_mha_forward(&d, nullptr, 1, 5, run.x.data(), run.y.data(), 0, nullptr, 0, run.ws.data(),
                        run.ws.size() * 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_forward(&d, run.params.data(), 1, 5, run.x.data(), run.y.data(), 2, nullptr, 0, run.ws.data(),
                        run.ws.size() * 4) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_forward(&d, run.params.data(), 0, 5, run.x.data(), run.y.data(), 0, nullptr, 0, run.ws.data(),
                        run.ws.size() * 4) == QKV_ERR_BAD_SHAPE);
  expect_untouched();
  const std::vector<float> dy(5 * 6, 1.f);
  std::fill(run.grads.begin(), run.grads.end(), 3.f);
  CHECK(qkv_mha_backward(&d, run.params.data(), 1, 5, run.x.data(), run.cache.data(), 4, dy.data(), run.dx.data(),
                         run.grads.data(), run.bws.data(), run.bws.size() * 4) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_mha_backward(&d, run.params.data(), 1, 5, run.x.data(), run.cache.data(), run.cache.size() * 4,
                         dy.data(), run.dx.data(), run.grads.data(), run.bws.data(), 8) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(std::all_of(run.grads.begin(), run.grads.end(), [](float v) { return v == 3.f; }));
  auto nc = d;
  nc.causal = 0;
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init(&st, 1, 4) == QKV_OK);
  CHECK(qkv_mha_decode(&nc, run.params.data(), &st, run.cache.data(), run.cache.size() * 4, 1, run.x.data(),
                       run.y.data(), run.ws.data(), run.ws.size() * 4) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_kv_cache_init(&st, 0, 4) == QKV_ERR_BAD_SHAPE);
  expect_untouched();

  // nn.Linear [out][in] -> [in][out].
  const float torch_w[6] = {1, 2, 3, 4, 5, 6};  // out = 2, in = 3
  float w[6] = {};
  REQUIRE(qkv_linear_weight_from_torch(2, 3, torch_w, w) == QKV_OK);
  const float expect[6] = {1, 4, 2, 5, 3, 6};
  CHECK(std::equal(w, w + 6, expect));
  CHECK(qkv_linear_weight_from_torch(2, 3, torch_w, const_cast<float*>(torch_w) + 1) == QKV_ERR_BAD_ARGUMENT);
}

TEST_CASE("AdamW trains a layer to imitate a teacher layer", "[layer][train]") {
  // Synthetic regression: a student layer learns to reproduce a teacher layer
  // with other random weights on fixed inputs. Deterministic seeds; the MSE
  // must fall below 0.5 % of its starting value within 300 steps
  // (it reaches ~0.03 %: a 10x margin for ISA rounding differences).
  const qkv_mha_desc d = make(8, 8, 2, 1, 1, 1);
  layer_run teacher(d, 4, 6, 101), student(d, 4, 6, 202);
  student.x = teacher.x;
  REQUIRE(teacher.forward(false) == QKV_OK);
  std::size_t state_floats = 0;
  REQUIRE(qkv_adamw_state_floats(student.lay.count, &state_floats) == QKV_OK);
  std::vector<float> state(state_floats, 0.f), dy(teacher.y.size());
  const qkv_adamw_config opt{1e-2f, 0.9f, 0.999f, 1e-8f, 0.f};
  double first = 0, last = 0;
  for (std::uint64_t step = 1; step <= 300; ++step) {
    REQUIRE(student.forward(true) == QKV_OK);
    double mse = 0;
    for (std::size_t i = 0; i < dy.size(); ++i) {
      const double e = double(student.y[i]) - teacher.y[i];
      mse += e * e / double(dy.size());
      dy[i] = float(2 * e / double(dy.size()));
    }
    if (step == 1) first = mse;
    last = mse;
    REQUIRE(qkv_mha_zero_grads(&student.d, student.grads.data()) == QKV_OK);
    REQUIRE(student.backward(dy) == QKV_OK);
    REQUIRE(qkv_adamw_step(&opt, step, student.lay.count, student.params.data(), student.grads.data(),
                           state.data()) == QKV_OK);
  }
  INFO("mse " << first << " -> " << last);
  CHECK(last < 0.005 * first);
}
