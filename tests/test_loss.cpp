// SPDX-License-Identifier: MIT
// Cross-entropy loss: forward and backward against a double-precision
// reference on every ISA, finite differences, ignore_index, stability for
// huge logits, in-place backward, 1 vs 2 threads bitwise, and validation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_loss.hpp"
#include "support/teams.hpp"

namespace {

constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr std::int32_t kIgnore = -100;

struct problem {
  std::size_t rows, classes, ld;
  std::vector<float> logits;
  std::vector<std::int32_t> targets;
};

// Random logits in [-scale, scale], targets in range, every `ignore_every`-th row ignored.
problem make_problem(std::size_t rows, std::size_t classes, std::size_t pad, std::uint64_t seed, float scale,
                     std::size_t ignore_every) {
  problem p{rows, classes, classes + pad, qkv_test::random_vector(rows * (classes + pad), seed, -scale, scale), {}};
  qkv_test::rng r(seed + 1);
  for (std::size_t i = 0; i < rows; ++i) {
    const bool ignored = ignore_every && i % ignore_every == ignore_every - 1;
    p.targets.push_back(ignored ? kIgnore : static_cast<std::int32_t>(r.next() % classes));
  }
  return p;
}

// Reference loss (mean over counted rows) and, with grad, its gradient
// (tests/ref/ref_loss.h).
double ref_loss(const problem& p, std::vector<double>* grad = nullptr, double dloss = 1.0) {
  return qkv_test::ref_cross_entropy(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore, grad, dloss);
}

struct shape {
  std::size_t rows, classes, pad, ignore_every;
};
// Classes around every vector width and the 4x unrolled sum (64); padded ld.
const shape kShapes[] = {{1, 1, 0, 0},  {1, 2, 0, 0},   {3, 7, 1, 0},   {4, 16, 0, 3},  {5, 17, 3, 2},
                         {2, 31, 0, 0}, {6, 33, 5, 4},  {3, 64, 0, 0},  {7, 65, 2, 3},  {9, 100, 7, 5},
                         {2, 1000, 0, 0}, {33, 257, 1, 7}};

}  // namespace

TEST_CASE("cross-entropy forward and backward match a double reference on every ISA", "[loss]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& sh : kShapes) {
      for (float scale : {1.f, 30.f}) {
        const auto p = make_problem(sh.rows, sh.classes, sh.pad, 3 * sh.rows + sh.classes, scale, sh.ignore_every);
        INFO("rows " << sh.rows << " classes " << sh.classes << " ld " << p.ld << " scale " << scale);
        std::vector<double> gref;
        const double dloss = 0.75;
        const double ref = ref_loss(p, &gref, dloss);
        float loss = -1.f;
        REQUIRE(qkv_cross_entropy_forward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore,
                                          &loss) == QKV_OK);
        // Per row: the fp32 sum of `classes` exponentials (each within ~1 ulp)
        // carries a relative error <= (classes + 4) eps, which log turns into
        // the same absolute error; the max, the difference and the mean are
        // exact or in double; the final fp32 rounding adds eps*|loss|.
        CHECK(std::fabs(loss - ref) <= double(p.classes + 4) * kEps + 2 * kEps * std::fabs(ref));

        std::vector<float> d(p.rows * p.ld + 1, 555.f);  // canary after the last row, and in the ld padding
        REQUIRE(qkv_cross_entropy_backward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore,
                                           float(dloss), d.data(), p.ld) == QKV_OK);
        std::size_t count = 0;
        for (auto t : p.targets) count += t != kIgnore;
        // Softmax entries carry the same (classes + 4) eps relative error
        // through the sum; scaling by dloss/count and subtracting it for the
        // target add two roundings of size dloss/count.
        const double unit = dloss / double(count);
        for (std::size_t r = 0; r < p.rows; ++r) {
          for (std::size_t j = 0; j < p.classes; ++j) {
            const double want = gref[r * p.classes + j];
            const double tol = (double(p.classes + 4) * kEps) * std::fabs(want) + 4 * kEps * unit;
            if (std::fabs(d[r * p.ld + j] - want) > tol) {
              INFO("r " << r << " j " << j << " got " << d[r * p.ld + j] << " want " << want);
              REQUIRE(std::fabs(d[r * p.ld + j] - want) <= tol);
            }
          }
          for (std::size_t j = p.classes; j < p.ld && r + 1 < p.rows; ++j) CHECK(d[r * p.ld + j] == 555.f);
        }
        CHECK(d.back() == 555.f);
      }
    }
  });
}

TEST_CASE("cross-entropy gradient matches central finite differences", "[loss][fd]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const shape sh : {shape{3, 5, 2, 2}, shape{4, 19, 0, 3}}) {
      auto p = make_problem(sh.rows, sh.classes, sh.pad, 77 + sh.classes, 2.f, sh.ignore_every);
      std::vector<float> d(p.rows * p.ld);
      REQUIRE(qkv_cross_entropy_backward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore, 1.f,
                                         d.data(), p.ld) == QKV_OK);
      std::vector<double> gref;
      ref_loss(p, &gref);
      for (std::size_t r = 0; r < p.rows; ++r)
        for (std::size_t j = 0; j < p.classes; ++j) {
          float& x = p.logits[r * p.ld + j];
          const float x0 = x;
          // The reference's own derivative by central differences in double
          // (h = 1e-3 on the fp32 input: truncation ~h^2 |f'''| ~ 1e-7).
          const float h = 1e-3f;
          x = x0 + h;
          const double rp = ref_loss(p);
          float lp = 0;
          REQUIRE(qkv_cross_entropy_forward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore,
                                            &lp) == QKV_OK);
          x = x0 - h;
          const double rm = ref_loss(p);
          float lm = 0;
          REQUIRE(qkv_cross_entropy_forward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore,
                                            &lm) == QKV_OK);
          x = x0;
          const double step = double(x0 + h) - double(x0 - h);  // the step actually taken in fp32
          CHECK(std::fabs((rp - rm) / step - gref[r * p.classes + j]) <= 1e-6);
          // The library's forward differenced: its fp32 loss has ~(classes+4) eps
          // absolute error, so the quotient is good to ~2 * that / step ~ 3e-4.
          CHECK(std::fabs((double(lp) - double(lm)) / step - d[r * p.ld + j]) <= 5e-4);
        }
    }
  });
}

TEST_CASE("cross-entropy is stable for huge logits and handles ignored rows", "[loss]") {
  qkv_test::for_each_isa([](qkv_isa) {
    // Logits of +-1e4 and 1e30: exp would overflow without the max shift.
    const float logits[2][3] = {{1e4f, -1e4f, 0.f}, {1e30f, 1e30f, -1e30f}};
    const std::int32_t targets[2] = {1, 0};
    float loss = 0;
    REQUIRE(qkv_cross_entropy_forward(2, 3, &logits[0][0], 3, targets, kIgnore, &loss) == QKV_OK);
    // Row 0: 2e4 (log(1 + e^-1e4 + ...) = 0 in fp32); row 1: log 2.
    CHECK(std::fabs(loss - (2e4 + std::log(2.0)) / 2) <= 4 * kEps * 1e4);
    float d[6];
    REQUIRE(qkv_cross_entropy_backward(2, 3, &logits[0][0], 3, targets, kIgnore, 1.f, d, 3) == QKV_OK);
    const double want[6] = {0.5, -0.5, 0, -0.25, 0.25, 0};
    for (int i = 0; i < 6; ++i) CHECK(std::fabs(d[i] - want[i]) <= 4 * kEps);

    // All rows ignored: loss 0 and zero gradient (documented; PyTorch gives NaN).
    const std::int32_t none[2] = {kIgnore, kIgnore};
    loss = 7.f;
    REQUIRE(qkv_cross_entropy_forward(2, 3, &logits[0][0], 3, none, kIgnore, &loss) == QKV_OK);
    CHECK(loss == 0.f);
    for (float& x : d) x = 9.f;
    REQUIRE(qkv_cross_entropy_backward(2, 3, &logits[0][0], 3, none, kIgnore, 1.f, d, 3) == QKV_OK);
    for (float x : d) CHECK(x == 0.f);

    // An ignore_index inside [0, classes) ignores that class's rows.
    const float l2[2][2] = {{0.f, 1.f}, {2.f, 0.f}};
    const std::int32_t t2[2] = {1, 0};
    REQUIRE(qkv_cross_entropy_forward(2, 2, &l2[0][0], 2, t2, 0, &loss) == QKV_OK);
    CHECK(std::fabs(loss - std::log(1.0 + std::exp(-1.0))) <= 4 * kEps);
  });
}

TEST_CASE("cross-entropy fused and in-place calls equal the separate ones bitwise", "[loss]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const auto p = make_problem(13, 37, 3, 5, 4.f, 4);
    float loss = 0, fused_loss = 0, inplace_loss = 0;
    std::vector<float> d(p.rows * p.ld, 0.f), fused(p.rows * p.ld, 0.f), inplace = p.logits, back = p.logits;
    REQUIRE(qkv_cross_entropy_forward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore, &loss) ==
            QKV_OK);
    REQUIRE(qkv_cross_entropy_backward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore, 2.f,
                                       d.data(), p.ld) == QKV_OK);
    REQUIRE(qkv_cross_entropy_forward_backward(p.rows, p.classes, p.logits.data(), p.ld, p.targets.data(), kIgnore,
                                               2.f, &fused_loss, fused.data(), p.ld) == QKV_OK);
    REQUIRE(qkv_cross_entropy_forward_backward(p.rows, p.classes, inplace.data(), p.ld, p.targets.data(), kIgnore,
                                               2.f, &inplace_loss, inplace.data(), p.ld) == QKV_OK);
    REQUIRE(qkv_cross_entropy_backward(p.rows, p.classes, back.data(), p.ld, p.targets.data(), kIgnore, 2.f,
                                       back.data(), p.ld) == QKV_OK);
    CHECK(std::memcmp(&loss, &fused_loss, sizeof loss) == 0);
    CHECK(std::memcmp(&loss, &inplace_loss, sizeof loss) == 0);
    for (std::size_t r = 0; r < p.rows; ++r) {
      CHECK(std::memcmp(&d[r * p.ld], &fused[r * p.ld], p.classes * sizeof(float)) == 0);
      CHECK(std::memcmp(&d[r * p.ld], &inplace[r * p.ld], p.classes * sizeof(float)) == 0);
      CHECK(std::memcmp(&d[r * p.ld], &back[r * p.ld], p.classes * sizeof(float)) == 0);
    }
  });
}

TEST_CASE("cross-entropy is bitwise identical for 1 and 2 threads", "[loss][threads]") {
  // 15 flops a logit by the driver's estimate: >= 2.1 M, two threads' worth.
  const std::size_t rows = qkv_test::small_tests() ? 140 : 300, classes = 1001;
  const auto p = make_problem(rows, classes, 0, 21, 3.f, 9);
  qkv_test::for_each_isa([&](qkv_isa) {
    float loss[2];
    std::vector<float> d[2];
    for (int t = 1; t <= 2; ++t) {
      qkv_test::threads_scope ts(t);
      qkv_test::team_watch watch;
      d[t - 1].assign(rows * classes, 0.f);
      REQUIRE(qkv_cross_entropy_forward(rows, classes, p.logits.data(), classes, p.targets.data(), kIgnore,
                                        &loss[t - 1]) == QKV_OK);
      REQUIRE(qkv_cross_entropy_backward(rows, classes, p.logits.data(), classes, p.targets.data(), kIgnore, 1.f,
                                         d[t - 1].data(), classes) == QKV_OK);
      float fused_loss = 0;
      std::vector<float> fused(rows * classes, 0.f);
      REQUIRE(qkv_cross_entropy_forward_backward(rows, classes, p.logits.data(), classes, p.targets.data(), kIgnore,
                                                 1.f, &fused_loss, fused.data(), classes) == QKV_OK);
      CHECK(fused_loss == loss[t - 1]);
      CHECK(fused == d[t - 1]);
      if (t == 2) QKV_CHECK_TEAM(watch);
    }
    CHECK(std::memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
    CHECK(std::memcmp(d[0].data(), d[1].data(), d[0].size() * sizeof(float)) == 0);
  });
}

TEST_CASE("cross-entropy rejects bad arguments and writes nothing", "[loss][args]") {
  const float x[6] = {1, 2, 3, 4, 5, 6};
  std::int32_t t[2] = {0, 2};
  float loss = 42.f, d[6] = {9, 9, 9, 9, 9, 9};
  auto untouched = [&] {
    CHECK(loss == 42.f);
    for (float v : d) CHECK(v == 9.f);
  };
  CHECK(qkv_cross_entropy_forward(2, 3, nullptr, 3, t, kIgnore, &loss) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_forward(2, 3, x, 3, nullptr, kIgnore, &loss) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_forward(2, 3, x, 3, t, kIgnore, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_forward(0, 3, x, 3, t, kIgnore, &loss) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_cross_entropy_forward(2, 0, x, 3, t, kIgnore, &loss) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_cross_entropy_forward(2, 3, x, 2, t, kIgnore, &loss) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_cross_entropy_forward(3, 3, x, SIZE_MAX / 2, t, kIgnore, &loss) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_cross_entropy_backward(2, 3, x, 3, t, kIgnore, 1.f, nullptr, 3) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_backward(2, 3, x, 3, t, kIgnore, 1.f, d, 2) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_cross_entropy_backward(2, 3, x, 3, t, kIgnore, std::numeric_limits<float>::infinity(), d, 3) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_cross_entropy_backward(2, 3, x, 3, t, kIgnore, std::numeric_limits<float>::quiet_NaN(), d, 3) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_cross_entropy_forward_backward(2, 3, x, 3, t, kIgnore, 1.f, nullptr, d, 3) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_forward_backward(2, 3, x, 3, t, kIgnore, 1.f, &loss, nullptr, 3) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_cross_entropy_forward_backward(2, 3, x, 3, t, kIgnore, 1.f, &loss, d, 1) == QKV_ERR_BAD_STRIDE);
  // In place needs the same leading dimension.
  float y[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  CHECK(qkv_cross_entropy_backward(2, 3, y, 3, t, kIgnore, 1.f, y, 4) == QKV_ERR_BAD_STRIDE);
  CHECK(y[0] == 9.f);
  untouched();
  // Targets out of [0, classes) that are not the ignore index; the second row is bad.
  for (std::int32_t bad : {3, -1, -100, 1 << 30}) {
    t[1] = bad;
    CHECK(qkv_cross_entropy_forward(2, 3, x, 3, t, -5, &loss) == QKV_ERR_BAD_TOKEN);
    CHECK(qkv_cross_entropy_backward(2, 3, x, 3, t, -5, 1.f, d, 3) == QKV_ERR_BAD_TOKEN);
    CHECK(qkv_cross_entropy_forward_backward(2, 3, x, 3, t, -5, 1.f, &loss, d, 3) == QKV_ERR_BAD_TOKEN);
  }
  untouched();
}
