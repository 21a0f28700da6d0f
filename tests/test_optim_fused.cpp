// SPDX-License-Identifier: MIT
// The one-pass optimizer step (qkv/optim.h since 0.9): qkv_grad_clip_scale
// followed by qkv_adamw_step_ex must give, bit for bit, what
// qkv_clip_grad_norm, qkv_adamw_step and zeroing the gradients give, on every
// ISA, for 1, 2 and 3 threads, whole or in pieces, with non-finite gradients
// too; and the two calls validate their arguments and write nothing on error.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qkv/qkv.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Parameters, state and gradients after `steps` training steps, each with
// fresh gradients g(t) (grads start as g(t), as a backward leaves them).
struct run_state {
  std::vector<float> p, s, g;
  float norm = 0.f;
};

std::vector<float> grads_at(std::size_t n, std::uint64_t t, float poison) {
  auto g = qkv_test::random_vector(n, 500 + t, -3.f, 3.f);
  if (poison != 0.f && n > 7) g[n / 2 + 3] = poison;  // NaN or an infinity in one step
  return g;
}

// The three separate passes on a copy of the gradient; r.g: the gradient as
// the one-pass calls must leave it (zeros, or untouched without zero).
run_state separate(std::size_t n, float max_norm, bool zero, float poison, int steps) {
  const auto c = qkv_adamw_config{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
  run_state r{qkv_test::random_vector(n, 77), std::vector<float>(2 * n, 0.f), {}};
  for (int t = 1; t <= steps; ++t) {
    r.g = grads_at(n, std::uint64_t(t), t == 2 ? poison : 0.f);
    auto clipped = r.g;
    REQUIRE(qkv_clip_grad_norm(clipped.data(), n, max_norm, &r.norm) == QKV_OK);
    REQUIRE(qkv_adamw_step(&c, std::uint64_t(t), n, r.p.data(), clipped.data(), r.s.data()) == QKV_OK);
    if (zero) std::fill(r.g.begin(), r.g.end(), 0.f);
  }
  return r;
}

// The same with the one-pass calls, the buffer cut at `cut` (cut == n: whole).
run_state fused(std::size_t n, float max_norm, bool zero, float poison, int steps, std::size_t cut) {
  const auto c = qkv_adamw_config{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
  run_state r{qkv_test::random_vector(n, 77), std::vector<float>(2 * n, 0.f), {}};
  std::vector<float> sa(2 * cut), sb(2 * (n - cut));  // pieces have their own states
  for (int t = 1; t <= steps; ++t) {
    r.g = grads_at(n, std::uint64_t(t), t == 2 ? poison : 0.f);
    float scale = -1.f;
    REQUIRE(qkv_grad_clip_scale(r.g.data(), n, max_norm, &r.norm, &scale) == QKV_OK);
    if (cut == n) {
      REQUIRE(qkv_adamw_step_ex(&c, std::uint64_t(t), scale, zero, n, r.p.data(), r.g.data(), r.s.data()) == QKV_OK);
    } else {
      REQUIRE(qkv_adamw_step_ex(&c, std::uint64_t(t), scale, zero, cut, r.p.data(), r.g.data(), sa.data()) == QKV_OK);
      REQUIRE(qkv_adamw_step_ex(&c, std::uint64_t(t), scale, zero, n - cut, r.p.data() + cut, r.g.data() + cut,
                                sb.data()) == QKV_OK);
    }
  }
  if (cut < n) {  // the pieces' states in the whole buffer's layout (m then v)
    for (std::size_t i = 0; i < n; ++i) {
      r.s[i] = i < cut ? sa[i] : sb[i - cut];
      r.s[n + i] = i < cut ? sa[cut + i] : sb[(n - cut) + (i - cut)];
    }
  }
  return r;
}

}  // namespace

TEST_CASE("clip scale + AdamW_ex equal clip + AdamW + zeroing bitwise on every ISA and thread count",
          "[optim][fused][threads]") {
  // Several 16 Ki-float chunks and enough work for a team of two (AdamW 32
  // flops an element: 3.2 M at the small scale of emulated runs).
  const std::size_t n = qkv_test::small_tests() ? 100003 : 350001, cut = 30011;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  qkv_test::for_each_isa([&](qkv_isa) {
    struct variant {
      float max_norm;  // 1: clipped (the norm is ~1000); 1e9: not clipped (scale 1)
      bool zero;
      float poison;  // a NaN or an infinity in step 2's gradient (norm NaN / inf: scale NaN / 0)
    };
    const variant vs[] = {{1.f, true, 0.f}, {1.f, false, 0.f}, {1e9f, true, 0.f}, {1e9f, false, 0.f},
                          {1.f, true, nan}, {1.f, true, inf}, {1e9f, false, -inf}};
    for (const variant& v : vs) {
      INFO("max_norm " << v.max_norm << " zero " << v.zero << " poison " << v.poison);
      const run_state want = separate(n, v.max_norm, v.zero, v.poison, 3);
      for (int threads = 1; threads <= 3; ++threads) {
        INFO("threads " << threads);
        qkv_test::threads_scope ts(threads);
        qkv_test::team_watch watch;
        const run_state got = fused(n, v.max_norm, v.zero, v.poison, 3, n);
        if (threads > 1) QKV_CHECK_TEAM(watch);
        CHECK(same_bits(got.p, want.p));
        CHECK(same_bits(got.s, want.s));
        CHECK(same_bits(got.g, want.g));
        CHECK(std::memcmp(&got.norm, &want.norm, sizeof(float)) == 0);
      }
      const run_state pieces = fused(n, v.max_norm, v.zero, v.poison, 3, cut);
      CHECK(same_bits(pieces.p, want.p));
      CHECK(same_bits(pieces.s, want.s));
      CHECK(same_bits(pieces.g, want.g));
    }
  });
}

TEST_CASE("qkv_grad_clip_scale gives qkv_clip_grad_norm's norm and factor and leaves the gradient alone",
          "[optim][fused]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{5000}, std::size_t{70001}}) {
      INFO("n = " << n);
      const auto g0 = qkv_test::random_vector(n, 900 + n);
      for (float max_norm : {1e-3f, 0.5f, 1e6f}) {
        auto g = g0, clipped = g0;
        float norm = -1.f, scale = -1.f, want_norm = -2.f;
        REQUIRE(qkv_grad_clip_scale(g.data(), n, max_norm, &norm, &scale) == QKV_OK);
        REQUIRE(qkv_clip_grad_norm(clipped.data(), n, max_norm, &want_norm) == QKV_OK);
        CHECK(same_bits(g, g0));
        CHECK(std::memcmp(&norm, &want_norm, sizeof(float)) == 0);
        CHECK(((scale > 0.f && scale < 1.f) || scale == 1.f));
        if (scale == 1.f) CHECK(same_bits(clipped, g0));
        for (std::size_t i = 0; i < n; ++i) {
          volatile float want = g0[i] * scale;  // one rounding to float, also on x87 (i686)
          REQUIRE(clipped[i] == want);
        }
        float only_scale = -1.f;
        REQUIRE(qkv_grad_clip_scale(g.data(), n, max_norm, nullptr, &only_scale) == QKV_OK);
        CHECK(only_scale == scale);
      }
    }
    // By hand: |(3, 4)| = 5, max_norm 1: 1 / (5 + 1e-6) in float.
    const float g[2] = {3.f, 4.f};
    float norm = 0.f, scale = 0.f;
    REQUIRE(qkv_grad_clip_scale(g, 2, 1.f, &norm, &scale) == QKV_OK);
    CHECK(norm == 5.f);
    volatile float want = static_cast<float>(1.0 / (5.0 + 1e-6));  // rounded to float, also on x87
    CHECK(scale == want);
    // Non-finite gradients: an infinite norm gives 0, a NaN norm NaN.
    const float inf = std::numeric_limits<float>::infinity();
    const float gi[2] = {1.f, inf}, gn[2] = {1.f, std::numeric_limits<float>::quiet_NaN()};
    REQUIRE(qkv_grad_clip_scale(gi, 2, 1.f, &norm, &scale) == QKV_OK);
    CHECK((norm == inf && scale == 0.f));
    REQUIRE(qkv_grad_clip_scale(gn, 2, 1.f, &norm, &scale) == QKV_OK);
    CHECK((std::isnan(norm) && std::isnan(scale)));
  });
}

TEST_CASE("qkv_adamw_step_ex takes any gradient scale as one rounded product, grads untouched", "[optim][fused]") {
  const std::size_t n = 1003;
  const auto c = qkv_adamw_config{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
  qkv_test::for_each_isa([&](qkv_isa) {
    for (float scale : {1.f / 1024.f, 3.7f, -0.5f, 0.f}) {  // loss scales, a sign flip, zero
      INFO("scale " << scale);
      std::vector<float> p = qkv_test::random_vector(n, 5), q = p, s(2 * n), sq(2 * n);
      for (std::uint64_t t = 1; t <= 3; ++t) {
        auto g = qkv_test::random_vector(n, 6 + t, -2.f, 2.f), h = g;
        for (float& x : h) x *= scale;
        REQUIRE(qkv_adamw_step_ex(&c, t, scale, 0, n, p.data(), g.data(), s.data()) == QKV_OK);
        REQUIRE(qkv_adamw_step(&c, t, n, q.data(), h.data(), sq.data()) == QKV_OK);
        CHECK(same_bits(g, qkv_test::random_vector(n, 6 + t, -2.f, 2.f)));  // grads untouched
      }
      CHECK(same_bits(p, q));
      CHECK(same_bits(s, sq));
    }
  });
}

TEST_CASE("The one-pass optimizer calls validate their arguments and write nothing on error", "[optim][fused][args]") {
  float p[3] = {1, 2, 3}, g[3] = {1, -1, 2}, s[6] = {0, 0, 0, 0, 0, 0};
  const float p0[3] = {1, 2, 3}, g0[3] = {1, -1, 2};
  const auto good = qkv_adamw_config{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f}, bad = qkv_adamw_config{1e-3f, 1.f, 0.999f, 1e-8f, 0.f};
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();

  CHECK(qkv_adamw_step_ex(nullptr, 1, 1.f, 1, 3, p, g, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step_ex(&good, 1, 1.f, 1, 3, nullptr, g, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step_ex(&good, 1, 1.f, 1, 3, p, nullptr, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step_ex(&good, 1, 1.f, 1, 3, p, g, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step_ex(&good, 0, 1.f, 1, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_adamw_step_ex(&bad, 1, 1.f, 1, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_adamw_step_ex(&good, 1, 1.f, 2, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_adamw_step_ex(&good, 1, 1.f, -1, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_adamw_step_ex(&good, 1, 0.5f, 1, SIZE_MAX / 2 + 1, p, g, s) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_adamw_step_ex(&good, 1, 0.5f, 1, 0, nullptr, nullptr, nullptr) == QKV_OK);  // n == 0: no-op

  float norm = 7.f, scale = 7.f;
  CHECK(qkv_grad_clip_scale(nullptr, 3, 1.f, &norm, &scale) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_grad_clip_scale(g, 3, 1.f, &norm, nullptr) == QKV_ERR_NULL_POINTER);
  for (float m : {0.f, -1.f, inf, nan}) CHECK(qkv_grad_clip_scale(g, 3, m, &norm, &scale) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_grad_clip_scale(g, SIZE_MAX, 1.f, &norm, &scale) == QKV_ERR_SIZE_OVERFLOW);
  CHECK((norm == 7.f && scale == 7.f));

  CHECK(std::memcmp(p, p0, sizeof p) == 0);
  CHECK(std::memcmp(g, g0, sizeof g) == 0);
  for (float x : s) CHECK(x == 0.f);

  REQUIRE(qkv_grad_clip_scale(nullptr, 0, 1.f, &norm, &scale) == QKV_OK);
  CHECK((norm == 0.f && scale == 1.f));
  // zero_grads 1 leaves +0 in every gradient it used.
  REQUIRE(qkv_adamw_step_ex(&good, 1, 0.5f, 1, 3, p, g, s) == QKV_OK);
  for (float x : g) CHECK((x == 0.f && !std::signbit(x)));
}
