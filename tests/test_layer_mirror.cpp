// SPDX-License-Identifier: MIT
// bf16 weight mirrors (since 0.9): qkv_adamw_step_mirror writes the updated
// params rounded to bf16, and qkv_mha_forward_mirror / qkv_mha_backward_mirror
// read the layer's weights from such a mirror instead of rounding the fp32
// params per call. With the mirror equal to qkv_convert's rounding of the
// params, every result is bitwise that of the calls without a mirror: on
// every ISA, for 1, 2 and 3 threads, over several training steps. Bad
// arguments return their status and write nothing.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "qkv/qkv.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"

namespace {

using u16v = std::vector<std::uint16_t>;

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

u16v to_bf16(const std::vector<float>& v) {
  u16v h(v.size());
  REQUIRE(qkv_convert(v.size(), QKV_DTYPE_F32, v.data(), QKV_DTYPE_BF16, h.data()) == QKV_OK);
  return h;
}

qkv_mha_desc layer(std::size_t din, std::size_t dout, std::size_t heads, std::size_t kv_heads, int bias, int proj,
                   float dropout) {
  qkv_mha_desc d{};
  d.d_in = din;
  d.d_out = dout;
  d.num_heads = heads;
  d.num_kv_heads = kv_heads;
  d.causal = 1;
  d.qkv_bias = bias;
  d.out_proj = proj;
  d.dropout_p = dropout;
  d.dropout_seed = 99;
  d.compute_type = QKV_DTYPE_BF16;
  return d;
}

// One layer's buffers and a training run of `steps` AdamW steps, with or
// without mirrors: the forward's Y, the backward's dX, the gradients and the
// params after each step are recorded.
struct trainer {
  qkv_mha_desc d;
  std::size_t B, T, n = 0;
  std::vector<float> params, state, grads, x, y, dx, cache, fws, bws;
  u16v mirror;
  std::vector<float> ys, dxs, gs;  // every step's, concatenated

  trainer(const qkv_mha_desc& desc, std::size_t b, std::size_t t) : d(desc), B(b), T(t) {
    REQUIRE(qkv_mha_param_count(&d, &n) == QKV_OK);
    params.resize(n);
    REQUIRE(qkv_mha_init(&d, params.data(), 5) == QKV_OK);
    state.assign(2 * n, 0.f);
    grads.assign(n, 0.f);
    x = qkv_test::random_vector(B * T * d.d_in, 6);
    y.assign(B * T * d.d_out, 0.f);
    dx.assign(B * T * d.d_in, 0.f);
    std::size_t cb = 0, fb = 0, bb = 0;
    REQUIRE(qkv_mha_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, 3, &fb) == QKV_OK);
    REQUIRE(qkv_mha_backward_workspace_size(&d, B, T, 3, &bb) == QKV_OK);
    cache.assign(cb / 4 + 16, 0.f);
    fws.assign(fb / 4 + 1, 0.f);
    bws.assign(bb / 4 + 1, 0.f);
    mirror = to_bf16(params);  // the mirror of the initial params, as a caller makes it once
  }

  void run(int steps, bool mirrored) {
    const qkv_adamw_config c{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    for (int s = 1; s <= steps; ++s) {
      const std::vector<float> dy = qkv_test::random_vector(B * T * d.d_out, 40 + std::uint64_t(s));
      if (mirrored) {
        REQUIRE(qkv_mha_forward_mirror(&d, params.data(), mirror.data(), B, T, x.data(), y.data(), 1, cache.data(),
                                       cache.size() * 4, fws.data(), fws.size() * 4) == QKV_OK);
        REQUIRE(qkv_mha_backward_mirror(&d, params.data(), mirror.data(), B, T, x.data(), cache.data(),
                                        cache.size() * 4, dy.data(), dx.data(), grads.data(), bws.data(),
                                        bws.size() * 4) == QKV_OK);
      } else {
        REQUIRE(qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), 1, cache.data(), cache.size() * 4,
                                fws.data(), fws.size() * 4) == QKV_OK);
        REQUIRE(qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * 4, dy.data(),
                                 dx.data(), grads.data(), bws.data(), bws.size() * 4) == QKV_OK);
      }
      ys.insert(ys.end(), y.begin(), y.end());
      dxs.insert(dxs.end(), dx.begin(), dx.end());
      gs.insert(gs.end(), grads.begin(), grads.end());
      const std::uint64_t t = std::uint64_t(s);
      if (mirrored)
        REQUIRE(qkv_adamw_step_mirror(&c, t, 1.f, 1, n, params.data(), grads.data(), state.data(), mirror.data()) ==
                QKV_OK);
      else
        REQUIRE(qkv_adamw_step_ex(&c, t, 1.f, 1, n, params.data(), grads.data(), state.data()) == QKV_OK);
    }
  }
};

}  // namespace

TEST_CASE("AdamW with a bf16 mirror: the step_ex bits, and the mirror is qkv_convert of the new params",
          "[optim][mirror][threads]") {
  // Several 16 Ki-float chunks and a team of two (as the fused optimizer test).
  const std::size_t n = qkv_test::small_tests() ? 100003 : 350001;
  const qkv_adamw_config c{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> p0 = qkv_test::random_vector(n, 7), s0(2 * n, 0.f);
    std::vector<float> want_p = p0, want_s = s0, want_g = qkv_test::random_vector(n, 8);
    const std::vector<float> g0 = want_g;
    for (int t = 1; t <= 2; ++t)
      REQUIRE(qkv_adamw_step_ex(&c, std::uint64_t(t), 0.5f, t == 2, n, want_p.data(), want_g.data(),
                                want_s.data()) == QKV_OK);
    for (int threads = 1; threads <= 3; ++threads) {
      INFO("threads " << threads);
      qkv_test::threads_scope ts(threads);
      qkv_test::team_watch watch;
      std::vector<float> p = p0, s = s0, g = g0;
      u16v m(n, 0xFFFF);
      for (int t = 1; t <= 2; ++t)
        REQUIRE(qkv_adamw_step_mirror(&c, std::uint64_t(t), 0.5f, t == 2, n, p.data(), g.data(), s.data(),
                                      m.data()) == QKV_OK);
      if (threads > 1) QKV_CHECK_TEAM(watch);
      CHECK(same_bits(p, want_p));
      CHECK(same_bits(s, want_s));
      CHECK(same_bits(g, want_g));
      CHECK(same_bits(m, to_bf16(want_p)));
    }
  });
}

TEST_CASE("layer with a bf16 mirror: forward, backward and training steps bitwise those without, every ISA",
          "[layer][bf16][mirror][threads]") {
  const bool small = qkv_test::small_tests();
  struct shape {
    std::size_t din, dout, heads, kv_heads;
    int bias, proj;
    float dropout;
  };
  // MHA with biases and W_o; GQA with dropout; no W_o (Y is the attention output).
  const shape shapes[] = {{small ? 64u : 96u, small ? 64u : 96u, 4, 0, 1, 1, 0.f},
                          {48, 64, 4, 2, 0, 1, 0.1f},
                          {40, 32, 2, 0, 1, 0, 0.f}};
  const std::size_t B = 2, T = small ? 17 : 33;
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const shape& s : shapes) {
      const qkv_mha_desc d = layer(s.din, s.dout, s.heads, s.kv_heads, s.bias, s.proj, s.dropout);
      INFO("d_in " << s.din << " d_out " << s.dout << " kv_heads " << s.kv_heads << " out_proj " << s.proj);
      trainer want(d, B, T);
      want.run(3, false);
      for (int threads : {1, 2, 3}) {
        if (small && threads == 2) continue;  // emulated: one even and one odd team
        INFO("threads " << threads);
        qkv_test::threads_scope ts(threads);
        trainer got(d, B, T);
        got.run(3, true);
        CHECK(same_bits(got.ys, want.ys));
        CHECK(same_bits(got.dxs, want.dxs));
        CHECK(same_bits(got.gs, want.gs));
        CHECK(same_bits(got.params, want.params));
        CHECK(same_bits(got.mirror, to_bf16(got.params)));
        // Inference (no cache) from the trained params: the same Y as rounding per call.
        std::vector<float> y_mirror(got.y.size()), y_round(got.y.size());
        REQUIRE(qkv_mha_forward_mirror(&d, got.params.data(), got.mirror.data(), B, T, got.x.data(), y_mirror.data(),
                                       0, nullptr, 0, got.fws.data(), got.fws.size() * 4) == QKV_OK);
        REQUIRE(qkv_mha_forward(&d, got.params.data(), B, T, got.x.data(), y_round.data(), 0, nullptr, 0,
                                got.fws.data(), got.fws.size() * 4) == QKV_OK);
        CHECK(same_bits(y_mirror, y_round));
      }
    }
  });
}

TEST_CASE("bf16 mirror entry points reject bad arguments, writing nothing", "[layer][optim][mirror][args]") {
  const qkv_mha_desc d = layer(16, 16, 2, 0, 1, 1, 0.f);
  trainer r(d, 1, 5);
  const std::vector<float> dy(r.y.size(), 0.5f);
  const std::vector<float> y0(r.y.size(), -7.f), g0(r.n, -7.f), dx0(r.dx.size(), -7.f);
  auto fwd = [&](const qkv_mha_desc& dd, const std::uint16_t* m) {
    r.y = y0;
    return qkv_mha_forward_mirror(&dd, r.params.data(), m, 1, 5, r.x.data(), r.y.data(), 1, r.cache.data(),
                                  r.cache.size() * 4, r.fws.data(), r.fws.size() * 4);
  };
  auto bwd = [&](const qkv_mha_desc& dd, const std::uint16_t* m) {
    r.grads = g0;
    r.dx = dx0;
    return qkv_mha_backward_mirror(&dd, r.params.data(), m, 1, 5, r.x.data(), r.cache.data(), r.cache.size() * 4,
                                   dy.data(), r.dx.data(), r.grads.data(), r.bws.data(), r.bws.size() * 4);
  };
  qkv_mha_desc f32 = d;
  f32.compute_type = QKV_DTYPE_F32;
  CHECK(fwd(d, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(fwd(f32, r.mirror.data()) == QKV_ERR_BAD_ARGUMENT);
  CHECK(r.y == y0);
  REQUIRE(fwd(d, r.mirror.data()) == QKV_OK);  // a cache for the backward's checks
  CHECK(bwd(d, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(bwd(f32, r.mirror.data()) == QKV_ERR_BAD_ARGUMENT);
  CHECK(r.grads == g0);
  CHECK(r.dx == dx0);
  CHECK(qkv_mha_forward_mirror(&d, nullptr, r.mirror.data(), 1, 5, r.x.data(), r.y.data(), 0, nullptr, 0,
                               r.fws.data(), r.fws.size() * 4) == QKV_ERR_NULL_POINTER);

  // AdamW: a NULL or overlapping mirror, a bad zero_grads.
  const qkv_adamw_config c{1e-2f, 0.9f, 0.95f, 1e-8f, 0.f};
  const std::size_t n = 64;
  std::vector<float> p(n, 1.f), g(n, 0.5f), s(2 * n, 0.f);
  const std::vector<float> p1 = p, g1 = g, s1 = s;
  u16v m(n, 0);
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 0, n, p.data(), g.data(), s.data(), nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 2, n, p.data(), g.data(), s.data(), m.data()) == QKV_ERR_BAD_ARGUMENT);
  auto* in_p = reinterpret_cast<std::uint16_t*>(p.data() + n - 1);  // last param's bytes and past them
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 0, n, p.data(), g.data(), s.data(), in_p) == QKV_ERR_BAD_ARGUMENT);
  auto* in_s = reinterpret_cast<std::uint16_t*>(s.data() + n);  // v's first floats
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 0, n, p.data(), g.data(), s.data(), in_s) == QKV_ERR_BAD_ARGUMENT);
  auto* in_g = reinterpret_cast<std::uint16_t*>(g.data()) + 1;
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 0, n, p.data(), g.data(), s.data(), in_g) == QKV_ERR_BAD_ARGUMENT);
  CHECK(same_bits(p, p1));
  CHECK(same_bits(g, g1));
  CHECK(same_bits(s, s1));
  CHECK(qkv_adamw_step_mirror(&c, 1, 1.f, 0, 0, nullptr, nullptr, nullptr, nullptr) == QKV_OK);  // n 0: no-op
}
