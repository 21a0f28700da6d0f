// SPDX-License-Identifier: MIT
// Optimizers (SGD with momentum, AdamW) and parameter initialization:
// several steps against PyTorch's published update rules evaluated in double,
// hand-computed values, 1 vs 2 threads and whole vs piecewise updates bitwise,
// and argument validation (nothing written on error).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ref/ref_optim.h"
#include "ref/ref_vector.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"

namespace {

constexpr double kEps = std::numeric_limits<float>::epsilon();
// Around every vector width (4, 8, 16), and past the 16 Ki-float chunk of the driver.
const std::size_t kSizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 16385};
constexpr int kSteps = 5;

// Runs kSteps steps of the library and of the reference (tests/ref/
// ref_optim.h, PyTorch's update rules in double) on n elements with fresh
// gradients each step and compares every element after every step. ref(t, p,
// g, s1, s2, size) takes one reference step on the double parameters p and
// state s1, s2 and writes each element's update size (to scale the tolerance).
// Tolerance: each step rounds a handful of fp32 operations on p (relative to
// |p| and to the update), and the state carries the earlier steps' relative
// error forward, so the bound grows with t: 16 * t * eps * (|p| + sum of
// update sizes so far).
template <class Step, class Ref>
void run_steps(std::size_t n, std::size_t state_n, std::uint64_t seed, Step step, Ref ref) {
  auto p = qkv_test::random_vector(n, seed);
  std::vector<float> state(state_n + 2, 777.f);  // garbage state: step 1 must ignore it; canaries at ends
  std::vector<double> pd(p.begin(), p.end()), s1(n, 0.0), s2(n, 0.0), mag(n, 0.0), size(n);
  for (int t = 1; t <= kSteps; ++t) {
    const auto g = qkv_test::random_vector(n, seed * 31 + std::uint64_t(t), -2.f, 2.f);
    REQUIRE(step(t, p.data(), g.data(), state_n ? state.data() + 1 : nullptr) == QKV_OK);
    ref(t, pd.data(), g.data(), s1.data(), s2.data(), size.data());
    for (std::size_t i = 0; i < n; ++i) mag[i] += size[i];
    for (std::size_t i = 0; i < n; ++i) {
      const double tol = 16.0 * t * kEps * (std::fabs(pd[i]) + mag[i]);
      if (std::fabs(p[i] - pd[i]) > tol) {
        INFO("n = " << n << " step " << t << " i = " << i << " got " << p[i] << " want " << pd[i]);
        REQUIRE(std::fabs(p[i] - pd[i]) <= tol);
      }
    }
  }
  CHECK(state.front() == 777.f);
  CHECK(state.back() == 777.f);
}

qkv_sgd_config sgd(float lr, float momentum, float dampening, float wd, int nesterov) {
  qkv_sgd_config c;
  c.lr = lr;
  c.momentum = momentum;
  c.dampening = dampening;
  c.weight_decay = wd;
  c.nesterov = nesterov;
  return c;
}

qkv_adamw_config adamw(float lr, float b1, float b2, float eps, float wd) {
  qkv_adamw_config c;
  c.lr = lr;
  c.beta1 = b1;
  c.beta2 = b2;
  c.eps = eps;
  c.weight_decay = wd;
  return c;
}

}  // namespace

TEST_CASE("SGD matches PyTorch's update rule over several steps on every ISA", "[optim]") {
  const qkv_sgd_config configs[] = {
      sgd(0.1f, 0.f, 0.f, 0.f, 0),     // plain
      sgd(0.05f, 0.f, 0.f, 0.01f, 0),  // weight decay
      sgd(0.1f, 0.9f, 0.f, 0.f, 0),    // momentum
      sgd(0.1f, 0.9f, 0.1f, 1e-3f, 0), // momentum, dampening, weight decay
      sgd(0.1f, 0.9f, 0.f, 0.f, 1),    // nesterov
      sgd(0.02f, 0.5f, 0.f, 0.1f, 1),  // nesterov with weight decay
  };
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& c : configs) {
      INFO("momentum " << c.momentum << " dampening " << c.dampening << " wd " << c.weight_decay << " nesterov "
                       << c.nesterov);
      for (std::size_t n : kSizes) {
        if (qkv_test::small_tests() && n > 1000) continue;
        std::size_t state_n = 1;
        REQUIRE(qkv_sgd_state_floats(&c, n, &state_n) == QKV_OK);
        CHECK(state_n == (c.momentum != 0.f ? n : 0));
        run_steps(
            n, state_n, 11 + n,
            [&](int t, float* p, const float* g, float* s) { return qkv_sgd_step(&c, std::uint64_t(t), n, p, g, s); },
            [&](int t, double* p, const float* g, double* buf, double*, double* size) {
              // The update's size: |lr * g'|.
              qkv_ref_sgd_step(&c, std::uint64_t(t), n, p, g, buf, size);
              for (std::size_t i = 0; i < n; ++i) size[i] = std::fabs(double(c.lr) * size[i]);
            });
      }
    }
  });
}

TEST_CASE("AdamW matches PyTorch's update rule over several steps on every ISA", "[optim]") {
  const qkv_adamw_config configs[] = {
      adamw(1e-3f, 0.9f, 0.999f, 1e-8f, 0.f),   // Adam (no decay)
      adamw(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f), // PyTorch's AdamW defaults
      adamw(0.1f, 0.5f, 0.9f, 1e-3f, 0.1f),     // large steps, eps that matters
      adamw(0.01f, 0.f, 0.f, 1e-8f, 0.f),       // betas 0: sign-like steps
  };
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& c : configs) {
      INFO("lr " << c.lr << " betas " << c.beta1 << "," << c.beta2 << " eps " << c.eps << " wd " << c.weight_decay);
      for (std::size_t n : kSizes) {
        if (qkv_test::small_tests() && n > 1000) continue;
        std::size_t state_n = 0;
        REQUIRE(qkv_adamw_state_floats(n, &state_n) == QKV_OK);
        REQUIRE(state_n == 2 * n);
        run_steps(
            n, state_n, 5 + n,
            [&](int t, float* p, const float* g, float* s) { return qkv_adamw_step(&c, std::uint64_t(t), n, p, g, s); },
            [&](int t, double* p, const float* g, double* m, double* v, double* size) {
              // The update's size: |u| and the decay's |p| * lr * weight_decay.
              qkv_ref_adamw_step(&c, std::uint64_t(t), n, p, g, m, v, size, nullptr);
              for (std::size_t i = 0; i < n; ++i)
                size[i] = std::fabs(size[i]) + std::fabs(p[i]) * double(c.lr) * double(c.weight_decay);
            });
      }
    }
  });
}

// Worked by hand from the formulas in the headers (PyTorch's documented rules),
// constant gradient 1 (SGD) or 0.5 (AdamW), p0 = 1, lr = 0.1.
TEST_CASE("Optimizer steps reproduce hand-computed values", "[optim]") {
  qkv_test::for_each_isa([](qkv_isa) {
    // 1e-6 is ~10 fp32 ulps of the values below: room for a few roundings per step.
    const double tol = 1e-6;
    SECTION("SGD momentum 0.9: buf 1, 1.9, 2.71 -> p 0.9, 0.71, 0.439") {
      const auto c = sgd(0.1f, 0.9f, 0.f, 0.f, 0);
      float p = 1.f, g = 1.f, buf = 0.f;
      const double want[] = {0.9, 0.71, 0.439};
      for (int t = 1; t <= 3; ++t) {
        REQUIRE(qkv_sgd_step(&c, std::uint64_t(t), 1, &p, &g, &buf) == QKV_OK);
        CHECK(std::fabs(p - want[t - 1]) <= tol);
      }
      CHECK(std::fabs(buf - 2.71) <= tol);
    }
    SECTION("SGD nesterov 0.9: g + 0.9 buf = 1.9, 2.71 -> p 0.81, 0.539") {
      const auto c = sgd(0.1f, 0.9f, 0.f, 0.f, 1);
      float p = 1.f, g = 1.f, buf = 0.f;
      const double want[] = {0.81, 0.539};
      for (int t = 1; t <= 2; ++t) {
        REQUIRE(qkv_sgd_step(&c, std::uint64_t(t), 1, &p, &g, &buf) == QKV_OK);
        CHECK(std::fabs(p - want[t - 1]) <= tol);
      }
    }
    SECTION("SGD weight decay 0.5: g = 1 + 0.5 p -> p 0.85, 0.7075") {
      const auto c = sgd(0.1f, 0.f, 0.f, 0.5f, 0);
      float p = 1.f, g = 1.f;
      REQUIRE(qkv_sgd_step(&c, 1, 1, &p, &g, nullptr) == QKV_OK);
      CHECK(std::fabs(p - 0.85) <= tol);
      REQUIRE(qkv_sgd_step(&c, 2, 1, &p, &g, nullptr) == QKV_OK);
      CHECK(std::fabs(p - 0.7075) <= tol);
    }
    SECTION("AdamW: constant gradient, so m_hat = g, v_hat = g^2 and p <- 0.99 p - 0.1 g/(|g| + eps)") {
      // Bias correction makes the corrected moments exactly the gradient for a
      // constant gradient: p1 = 0.99 - 0.1*0.5/(0.5+1e-8), p2 = 0.99 p1 - same, ...
      const auto c = adamw(0.1f, 0.9f, 0.999f, 1e-8f, 0.1f);
      float p = 1.f, g = 0.5f, state[2] = {123.f, 456.f};
      const double u = double(c.lr) * 0.5 / (0.5 + double(c.eps));
      const double decay = 1.0 - double(c.lr) * double(c.weight_decay);  // 0.99 up to fp32 rounding of lr
      double want = 1.0;
      for (int t = 1; t <= 4; ++t) {
        REQUIRE(qkv_adamw_step(&c, std::uint64_t(t), 1, &p, &g, state) == QKV_OK);
        want = decay * want - u;
        CHECK(std::fabs(p - want) <= tol);
      }
      // By hand: 0.89, 0.7811, 0.673289, 0.56655611 (eps and the fp32 lr, wd move it by < 1e-7).
      CHECK(std::fabs(want - 0.56655611) < 1e-6);
    }
  });
}

TEST_CASE("Optimizer steps are bitwise identical for 1 and 2 threads and whole or in pieces", "[optim][threads]") {
  // Several 16 Ki-float chunks and, by the driver's estimate (SGD 6 flops an
  // element, AdamW 32), over 2 MFLOP each: 2 threads really split the buffer.
  const std::size_t n = 350001, cut = 12345;
  const auto g = qkv_test::random_vector(n, 99, -1.f, 1.f);
  const auto p0 = qkv_test::random_vector(n, 98);
  const auto ca = adamw(1e-2f, 0.9f, 0.99f, 1e-6f, 0.05f);
  const auto cs = sgd(0.1f, 0.9f, 0.f, 0.01f, 1);
  qkv_test::for_each_isa([&](qkv_isa) {
    // AdamW over the whole buffer, and SGD whole (split == n) or in two
    // pieces cut off every vector width.
    auto run = [&](int threads, std::size_t split) {
      qkv_test::threads_scope ts(threads);
      std::vector<float> pa = p0, sa(2 * n, 0.f), ps = p0, sb(n, 0.f);
      for (std::uint64_t t = 1; t <= 3; ++t) {
        qkv_test::team_watch adam_watch;
        REQUIRE(qkv_adamw_step(&ca, t, n, pa.data(), g.data(), sa.data()) == QKV_OK);
        if (threads > 1) QKV_CHECK_TEAM(adam_watch);
        qkv_test::team_watch sgd_watch;
        REQUIRE(qkv_sgd_step(&cs, t, split, ps.data(), g.data(), sb.data()) == QKV_OK);
        if (threads > 1 && split == n) QKV_CHECK_TEAM(sgd_watch);
        if (split < n)
          REQUIRE(qkv_sgd_step(&cs, t, n - split, ps.data() + split, g.data() + split, sb.data() + split) ==
                  QKV_OK);
      }
      pa.insert(pa.end(), ps.begin(), ps.end());
      return pa;
    };
    const auto one = run(1, n), two = run(2, n), pieces = run(2, cut);
    CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(one.data() + n, pieces.data() + n, n * sizeof(float)) == 0);
  });
}

TEST_CASE("AdamW over two pieces with their own states equals one call", "[optim]") {
  const std::size_t n = 1003, cut = 501;
  const auto g = qkv_test::random_vector(n, 7);
  const auto c = adamw(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f);
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> p = qkv_test::random_vector(n, 8), q = p, s(2 * n), sa(2 * cut), sb(2 * (n - cut));
    for (std::uint64_t t = 1; t <= 3; ++t) {
      REQUIRE(qkv_adamw_step(&c, t, n, p.data(), g.data(), s.data()) == QKV_OK);
      REQUIRE(qkv_adamw_step(&c, t, cut, q.data(), g.data(), sa.data()) == QKV_OK);
      REQUIRE(qkv_adamw_step(&c, t, n - cut, q.data() + cut, g.data() + cut, sb.data()) == QKV_OK);
    }
    CHECK(std::memcmp(p.data(), q.data(), n * sizeof(float)) == 0);
  });
}

TEST_CASE("Optimizers reject bad arguments and write nothing", "[optim][args]") {
  float p[3] = {1, 2, 3}, g[3] = {1, 1, 1}, s[6] = {0, 0, 0, 0, 0, 0};
  const float p0[3] = {1, 2, 3};
  const auto good_s = sgd(0.1f, 0.9f, 0.f, 0.f, 0);
  const auto good_a = adamw(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();

  CHECK(qkv_sgd_step(nullptr, 1, 3, p, g, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sgd_step(&good_s, 1, 3, nullptr, g, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sgd_step(&good_s, 1, 3, p, nullptr, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sgd_step(&good_s, 1, 3, p, g, nullptr) == QKV_ERR_NULL_POINTER);  // momentum needs state
  CHECK(qkv_sgd_step(&good_s, 0, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);        // t starts at 1
  const qkv_sgd_config bad_s[] = {sgd(-0.1f, 0.9f, 0.f, 0.f, 0), sgd(nan, 0.9f, 0.f, 0.f, 0),
                                  sgd(0.1f, -0.5f, 0.f, 0.f, 0), sgd(0.1f, 0.9f, 0.f, -1.f, 0),
                                  sgd(0.1f, 0.9f, inf, 0.f, 0),  sgd(0.1f, 0.9f, 0.1f, 0.f, 1),
                                  sgd(0.1f, 0.f, 0.f, 0.f, 1),   sgd(0.1f, 0.9f, 0.f, 0.f, 2)};
  for (const auto& c : bad_s) {
    size_t f = 99;
    CHECK(qkv_sgd_step(&c, 1, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
    CHECK(qkv_sgd_state_floats(&c, 3, &f) == QKV_ERR_BAD_ARGUMENT);
    CHECK(f == 99);
  }
  const auto plain = sgd(0.1f, 0.f, 0.f, 0.f, 0);
  CHECK(qkv_sgd_step(&plain, 1, 0, nullptr, nullptr, nullptr) == QKV_OK);  // n == 0: no-op

  CHECK(qkv_adamw_step(nullptr, 1, 3, p, g, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step(&good_a, 1, 3, p, g, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_adamw_step(&good_a, 0, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  const qkv_adamw_config bad_a[] = {adamw(-1e-3f, 0.9f, 0.999f, 1e-8f, 0.f), adamw(1e-3f, 1.f, 0.999f, 1e-8f, 0.f),
                                    adamw(1e-3f, 0.9f, 1.f, 1e-8f, 0.f),     adamw(1e-3f, -0.1f, 0.999f, 1e-8f, 0.f),
                                    adamw(1e-3f, 0.9f, nan, 1e-8f, 0.f),     adamw(1e-3f, 0.9f, 0.999f, -1e-8f, 0.f),
                                    adamw(1e-3f, 0.9f, 0.999f, 1e-8f, -0.1f), adamw(inf, 0.9f, 0.999f, 1e-8f, 0.f)};
  for (const auto& c : bad_a) CHECK(qkv_adamw_step(&c, 1, 3, p, g, s) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_adamw_step(&good_a, 1, 0, nullptr, nullptr, nullptr) == QKV_OK);

  CHECK(std::memcmp(p, p0, sizeof p) == 0);
  for (float x : s) CHECK(x == 0.f);

  size_t f = 5;
  CHECK(qkv_adamw_state_floats(SIZE_MAX / 2 + 1, &f) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_adamw_state_floats(3, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sgd_state_floats(&good_s, SIZE_MAX, &f) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(f == 5);
  CHECK(qkv_adamw_step(&good_a, 1, SIZE_MAX / 2 + 1, p, g, s) == QKV_ERR_SIZE_OVERFLOW);
}

TEST_CASE("qkv_clip_grad_norm matches torch.nn.utils.clip_grad_norm_ on every ISA", "[optim][clip]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{100}, std::size_t{5000}, std::size_t{70001}}) {
      const auto g0 = qkv_test::random_vector(n, 40 + n);
      const double want = std::sqrt(qkv_ref_sdot(n, g0.data(), g0.data(), nullptr));  // the norm in double
      // Pieces of up to 4096 squares are summed in fp32 (relative error
      // <= len * eps of a sum of positive terms), then added in double; the
      // square root halves the relative error.
      const double tol = double(std::min<std::size_t>(n, 4096)) * kEps * want;
      INFO("n = " << n);
      // max_norm above the norm: untouched, bitwise.
      auto g = g0;
      float norm = -1.f;
      REQUIRE(qkv_clip_grad_norm(g.data(), n, float(2 * want + 1), &norm) == QKV_OK);
      CHECK(std::fabs(norm - want) <= tol);
      CHECK(g == g0);
      // max_norm below: every entry scaled by max_norm / (norm + 1e-6).
      const float max_norm = float(want / 3);
      REQUIRE(qkv_clip_grad_norm(g.data(), n, max_norm, nullptr) == QKV_OK);
      const double coef = double(max_norm) / (want + 1e-6);
      double after = 0;
      for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(std::fabs(g[i] - g0[i] * coef) <= 2 * kEps * std::fabs(g0[i] * coef) + tol / want * std::fabs(g0[i]));
        after += double(g[i]) * g[i];
      }
      CHECK(std::sqrt(after) <= double(max_norm) * (1 + 4 * tol / want));
    }
  });
}

TEST_CASE("qkv_clip_grad_norm is bitwise identical for 1 and 2 threads", "[optim][clip][threads]") {
  const std::size_t n = 1100003;  // 2n "flops": enough for two threads
  const auto g0 = qkv_test::random_vector(n, 61);
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> g[2];
    float norm[2];
    for (int t = 1; t <= 2; ++t) {
      qkv_test::threads_scope ts(t);
      g[t - 1] = g0;
      qkv_test::team_watch watch;
      REQUIRE(qkv_clip_grad_norm(g[t - 1].data(), n, 1.f, &norm[t - 1]) == QKV_OK);
      if (t == 2) QKV_CHECK_TEAM(watch);
    }
    CHECK(std::memcmp(&norm[0], &norm[1], sizeof(float)) == 0);
    CHECK(std::memcmp(g[0].data(), g[1].data(), n * sizeof(float)) == 0);
  });
}

TEST_CASE("qkv_clip_grad_norm validates its arguments", "[optim][clip][args]") {
  float g[3] = {3, 4, 0}, norm = 7.f;
  CHECK(qkv_clip_grad_norm(nullptr, 3, 1.f, &norm) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_clip_grad_norm(g, 3, 0.f, &norm) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_clip_grad_norm(g, 3, -1.f, &norm) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_clip_grad_norm(g, 3, std::numeric_limits<float>::infinity(), &norm) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_clip_grad_norm(g, 3, std::numeric_limits<float>::quiet_NaN(), &norm) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_clip_grad_norm(g, SIZE_MAX, 1.f, &norm) == QKV_ERR_SIZE_OVERFLOW);
  CHECK((norm == 7.f && g[0] == 3.f && g[1] == 4.f));
  REQUIRE(qkv_clip_grad_norm(nullptr, 0, 1.f, &norm) == QKV_OK);
  CHECK(norm == 0.f);
  // By hand: |(3, 4, 0)| = 5; clipped to 1 -> (0.6, 0.8, 0) up to the 1e-6 guard.
  REQUIRE(qkv_clip_grad_norm(g, 3, 1.f, &norm) == QKV_OK);
  CHECK(norm == 5.f);
  CHECK(std::fabs(g[0] - 0.6) <= 1e-6);
  CHECK(std::fabs(g[1] - 0.8) <= 1e-6);
  CHECK(g[2] == 0.f);
}

TEST_CASE("qkv_init_uniform is reproducible, bounded and uniform", "[init]") {
  const std::size_t n = 200003;  // 10 flops an element: two threads' worth
  const float bound = 0.125f;
  std::vector<float> a(n + 2, 9.f), b(n, 0.f);
  {
    qkv_test::threads_scope ts(1);
    REQUIRE(qkv_init_uniform(a.data() + 1, n, bound, 42) == QKV_OK);
  }
  {
    qkv_test::threads_scope ts(2);
    qkv_test::team_watch watch;
    REQUIRE(qkv_init_uniform(b.data(), n, bound, 42) == QKV_OK);
    QKV_CHECK_TEAM(watch);
  }
  CHECK(a.front() == 9.f);
  CHECK(a.back() == 9.f);
  CHECK(std::memcmp(a.data() + 1, b.data(), n * sizeof(float)) == 0);  // thread count does not matter

  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = b[i];
    REQUIRE(std::fabs(x) < bound);
    sum += x;
    sq += x * x;
  }
  // Mean 0, variance bound^2/3. Standard errors: bound/sqrt(3n) for the mean,
  // ~0.9 * var / sqrt(n) for the variance; 6 sigma.
  const double var = double(bound) * bound / 3.0;
  CHECK(std::fabs(sum / double(n)) < 6.0 * bound / std::sqrt(3.0 * double(n)));
  CHECK(std::fabs(sq / double(n) - var) < 6.0 * var / std::sqrt(double(n)));

  // The stream is part of the contract: the same bits on every platform.
  // Golden values from this implementation: (2k + 1 - 2^23) / 2^23 * bound
  // with k the top 23 bits of splitmix64's finalizer of the counter.
  std::vector<float> c(4);
  REQUIRE(qkv_init_uniform(c.data(), 4, 1.f, 0) == QKV_OK);
  for (float x : c) {
    const double k2 = double(x) * 8388608.0;  // 2k + 1 - 2^23: an odd integer
    CHECK(k2 == std::floor(k2));
    CHECK(std::fmod(std::fabs(k2), 2.0) == 1.0);
  }
  std::vector<float> d(4);
  REQUIRE(qkv_init_uniform(d.data(), 4, 1.f, 1) == QKV_OK);
  CHECK(std::memcmp(c.data(), d.data(), sizeof(float) * 4) != 0);  // seeds differ
  // A prefix of a longer fill is the shorter fill.
  std::vector<float> e(7);
  REQUIRE(qkv_init_uniform(e.data(), 7, 1.f, 0) == QKV_OK);
  CHECK(std::memcmp(c.data(), e.data(), sizeof(float) * 4) == 0);
}

TEST_CASE("qkv_init_uniform and qkv_zero validate their arguments", "[init][args]") {
  float p[4] = {1, 2, 3, 4};
  CHECK(qkv_init_uniform(nullptr, 4, 1.f, 1) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_init_uniform(p, 4, -1.f, 1) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_init_uniform(p, 4, std::numeric_limits<float>::quiet_NaN(), 1) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_init_uniform(p, 4, std::numeric_limits<float>::infinity(), 1) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_init_uniform(p, SIZE_MAX, 1.f, 1) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_zero(nullptr, 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_zero(p, SIZE_MAX) == QKV_ERR_SIZE_OVERFLOW);
  CHECK((p[0] == 1.f && p[1] == 2.f && p[2] == 3.f && p[3] == 4.f));
  CHECK(qkv_init_uniform(nullptr, 0, 1.f, 1) == QKV_OK);
  CHECK(qkv_zero(nullptr, 0) == QKV_OK);
  REQUIRE(qkv_init_uniform(p, 4, 0.f, 1) == QKV_OK);  // bound 0: all zeros
  for (float x : p) CHECK(x == 0.f);
  p[2] = 5.f;
  REQUIRE(qkv_zero(p, 3) == QKV_OK);
  CHECK((p[0] == 0.f && p[1] == 0.f && p[2] == 0.f && p[3] == 0.f));
  CHECK(!std::signbit(p[0]));
}
