// SPDX-License-Identifier: MIT
// Numerical robustness: extreme but finite inputs (+-1e4 logits, denormals,
// zeros) never turn into NaN or Inf, and non-finite inputs do what the
// headers promise. Every runnable ISA.
#include <cmath>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenorm = 1e-40f;

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
}  // namespace

TEST_CASE("vector routines: denormals and huge values stay exact where exact", "[robustness][vector]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    std::vector<float> x(67, kDenorm), y(67, 0.f);
    float r = -1.f;
    REQUIRE(qkv_sdot(x.size(), x.data(), x.data(), &r) == QKV_OK);
    CHECK(r == 0.f);  // 1e-80 underflows to +0, never NaN
    REQUIRE(qkv_saxpy(y.size(), 1.f, x.data(), y.data()) == QKV_OK);
    // Denormals are not flushed, except by armv7 NEON, whose vector unit
    // always flushes them to zero (an architecture rule, cross-notes P7).
    for (float v : y) CHECK((v == kDenorm || (isa == QKV_ISA_NEON && v == 0.f)));
    std::vector<float> big(33, 1e19f);
    REQUIRE(qkv_sdot(big.size(), big.data(), big.data(), &r) == QKV_OK);
    CHECK(r == kInf);  // overflow is +Inf, as IEEE says, never NaN
  });
}

#if __has_include("ops/softmax.hpp")
TEST_CASE("softmax: extreme logits, denormals, zeros and non-finite input", "[robustness][softmax]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : {1, 3, 8, 17, 33, 100}) {
      INFO("n = " << n);
      std::vector<float> y(n), z(n);
      // +-1e4: one winner takes all, exactly, never NaN.
      std::vector<float> x(n, -1e4f);
      x[n / 2] = 1e4f;
      REQUIRE(qkv_softmax(1, n, 1.f, x.data(), n, y.data(), n) == QKV_OK);
      REQUIRE(qkv_log_softmax(1, n, 1.f, x.data(), n, z.data(), n) == QKV_OK);
      for (std::size_t j = 0; j < n; ++j) {
        CHECK(y[j] == (j == n / 2 ? 1.f : 0.f));
        CHECK(std::isfinite(z[j]));
        CHECK(z[j] == (j == n / 2 ? 0.f : -2e4f));
      }
      // Scale 1e3 on 1e4 logits (1e7 after scaling): still finite.
      REQUIRE(qkv_softmax(1, n, 1e3f, x.data(), n, y.data(), n) == QKV_OK);
      CHECK(all_finite(y));
      // Zeros and denormals: uniform.
      for (float v : {0.f, kDenorm, -kDenorm}) {
        std::vector<float> u(n, v);
        REQUIRE(qkv_softmax(1, n, 1.f, u.data(), n, y.data(), n) == QKV_OK);
        REQUIRE(qkv_log_softmax(1, n, 1.f, u.data(), n, z.data(), n) == QKV_OK);
        for (std::size_t j = 0; j < n; ++j) {
          CHECK(std::fabs(y[j] - 1.0 / double(n)) <= 4e-7 / double(n) * 8);
          CHECK(std::fabs(z[j] + std::log(double(n))) <= 1e-6 * (1 + std::log(double(n))));
        }
      }
      // -inf masks; an all -inf row is zeros / -inf.
      std::vector<float> m(n, -kInf);
      REQUIRE(qkv_softmax(1, n, 1.f, m.data(), n, y.data(), n) == QKV_OK);
      REQUIRE(qkv_log_softmax(1, n, 1.f, m.data(), n, z.data(), n) == QKV_OK);
      for (std::size_t j = 0; j < n; ++j) {
        CHECK(y[j] == 0.f);
        CHECK(z[j] == -kInf);
      }
      m[0] = 3.f;
      REQUIRE(qkv_softmax(1, n, 1.f, m.data(), n, y.data(), n) == QKV_OK);
      CHECK(y[0] == 1.f);
      // NaN or +inf anywhere: the whole row is NaN (softmax.h); other rows unaffected.
      for (float bad : {kNaN, kInf}) {
        std::vector<float> two(2 * n, 0.5f), out(2 * n);
        two[n - 1] = bad;
        REQUIRE(qkv_softmax(2, n, 1.f, two.data(), n, out.data(), n) == QKV_OK);
        for (std::size_t j = 0; j < n; ++j) {
          CHECK(std::isnan(out[j]));
          CHECK(std::isfinite(out[n + j]));
        }
        REQUIRE(qkv_log_softmax(2, n, 1.f, two.data(), n, out.data(), n) == QKV_OK);
        for (std::size_t j = 0; j < n; ++j) CHECK(std::isnan(out[j]));
      }
    }
  });
}
#endif

#if __has_include("ops/sdpa_forward.hpp")
TEST_CASE("sdpa: huge scores, denormal and zero inputs stay finite", "[robustness][sdpa]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (int algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
      const std::size_t T = 19, D = 8;
      qkv_sdpa_desc d{};
      d.batch = 1, d.heads = 1, d.q_len = T, d.kv_len = T, d.head_dim = D;
      d.q = d.k = d.v = d.o = {T * D, T * D, D};
      d.algo = static_cast<qkv_sdpa_algo>(algo);
      d.causal = 1;
      auto v = qkv_test::random_vector(T * D, 5);
      std::size_t ws = 0;
      REQUIRE(qkv_sdpa_workspace_size(&d, 1, &ws) == QKV_OK);
      std::vector<unsigned char> w(ws + 1);
      std::vector<float> o(T * D), lse(T);
      INFO("algo = " << algo);
      for (float mag : {1e2f, 1e4f, 0.f, kDenorm}) {
        INFO("magnitude = " << mag);
        // Scores up to +-mag^2 * D / sqrt(D): +-3e9 at 1e4, far beyond exp's range.
        auto q = qkv_test::random_vector(T * D, 6, -mag, mag), k = qkv_test::random_vector(T * D, 7, -mag, mag);
        REQUIRE(qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), w.data(), ws) == QKV_OK);
        CHECK(all_finite(o));
        CHECK(all_finite(lse));
#if __has_include("ops/sdpa_backward.hpp")
        std::size_t wsb = 0;
        REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &wsb) == QKV_OK);
        std::vector<unsigned char> wb(wsb + 1);
        auto dout = qkv_test::random_vector(T * D, 8);
        std::vector<float> dq(T * D), dk(T * D), dv(T * D);
        REQUIRE(qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(), dq.data(),
                                  dk.data(), dv.data(), wb.data(), wsb) == QKV_OK);
        CHECK(all_finite(dq));
        CHECK(all_finite(dk));
        CHECK(all_finite(dv));
#endif
        if (mag == 0.f || mag == kDenorm) {
          // Uniform weights over the visible keys: row i is the mean of v[0..i].
          for (std::size_t i = 0; i < T; ++i)
            for (std::size_t f = 0; f < D; ++f) {
              double mean = 0;
              for (std::size_t j = 0; j <= i; ++j) mean += v[j * D + f];
              mean /= double(i + 1);
              CHECK(std::fabs(o[i * D + f] - mean) <= 1e-5);
            }
        }
      }
      // Non-finite input (attention.h): NaN in head 0's V stays in head 0.
      qkv_sdpa_desc d2 = d;
      d2.heads = 2;
      d2.q = d2.k = d2.v = d2.o = {2 * T * D, T * D, D};
      auto q = qkv_test::random_vector(2 * T * D, 9), k = qkv_test::random_vector(2 * T * D, 10);
      auto vn = qkv_test::random_vector(2 * T * D, 11);
      vn[(T - 1) * D] = kNaN;  // head 0, last key: the last query of head 0 sees it
      std::vector<float> o2(2 * T * D), lse2(2 * T);
      REQUIRE(qkv_sdpa_workspace_size(&d2, 1, &ws) == QKV_OK);
      w.assign(ws + 1, 0);
      REQUIRE(qkv_sdpa_forward(&d2, q.data(), k.data(), vn.data(), o2.data(), lse2.data(), w.data(), ws) == QKV_OK);
      for (std::size_t i = T * D; i < 2 * T * D; ++i) CHECK(std::isfinite(o2[i]));
      CHECK(std::isnan(o2[(T - 1) * D]));
    }
  });
}
#endif

#if __has_include("qkv/loss.h") && __has_include("ops/loss.hpp")
TEST_CASE("cross-entropy: +-1e4 logits give a finite loss and gradient", "[robustness][loss]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const std::size_t rows = 4, V = 37;
    std::vector<float> logits(rows * V, -1e4f), g(rows * V);
    const std::int32_t t[rows] = {0, 5, 36, 7};
    for (std::size_t r = 0; r < rows; ++r) logits[r * V + (r * 11) % V] = 1e4f;
    float loss = -1.f;
    REQUIRE(qkv_cross_entropy_forward_backward(rows, V, logits.data(), V, t, -100, 1.f, &loss, g.data(), V) == QKV_OK);
    CHECK(std::isfinite(loss));
    CHECK(all_finite(g));
    // Row 0 predicts class 0 with certainty: loss 0; rows 1..3 miss by 2e4.
    CHECK(std::fabs(loss - 3 * 2e4 / 4) <= 1e-2);
    std::vector<float> z(rows * V, kDenorm);
    REQUIRE(qkv_cross_entropy_forward(rows, V, z.data(), V, t, -100, &loss) == QKV_OK);
    CHECK(std::fabs(loss - std::log(double(V))) <= 1e-5);
  });
}
#endif

#if __has_include("qkv/optim.h") && __has_include("ops/optim.hpp")
TEST_CASE("optimizers: zero and denormal gradients never give NaN", "[robustness][optim]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const std::size_t n = 37;
    for (float gval : {0.f, kDenorm, 1e30f}) {
      INFO("grad = " << gval);
      std::vector<float> p(n, 0.5f), g(n, gval), s(2 * n, 0.f);
      const qkv_adamw_config adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
      for (std::uint64_t t = 1; t <= 3; ++t) REQUIRE(qkv_adamw_step(&adam, t, n, p.data(), g.data(), s.data()) == QKV_OK);
      CHECK(all_finite(p));
      const qkv_sgd_config sgd{0.1f, 0.9f, 0.f, 0.f, 1};
      for (std::uint64_t t = 1; t <= 3; ++t) REQUIRE(qkv_sgd_step(&sgd, t, n, p.data(), g.data(), s.data()) == QKV_OK);
      CHECK(all_finite(p));
    }
  });
}
#endif
