// SPDX-License-Identifier: MIT
// Row-wise softmax and log-softmax: the vectorized exp against std::exp in
// double, the C API against a double reference on every ISA, and the
// properties the contract promises (rows sum to 1, shift invariance, extreme
// logits, fully masked rows, one column, 1 vs 2 threads bitwise).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/softmax/softmax.hpp"
#include "ref/ref_softmax.h"
#include "support/isa.hpp"
#include "support/teams.hpp"
#include "support/random.hpp"

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr float kCanary = -777.25f;

// Columns around every vector width (4, 8, 16) and the 2x unrolled blocks.
const std::size_t kCols[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 1000};

// Double reference of one row (tests/ref/ref_softmax.h): softmax or
// log-softmax of scale * x.
std::vector<double> ref_row(const float* x, std::size_t n, double scale, bool log) {
  std::vector<double> y(n);
  qkv_ref_softmax_row(x, n, scale, log, y.data());
  return y;
}

// Distance in float ulps at the reference value.
double ulps(float got, double ref) {
  if (ref == 0.0) return got == 0.0f ? 0.0 : 1e9;
  int e;
  std::frexp(ref, &e);
  return std::fabs(double(got) - ref) / std::ldexp(1.0, e - 24);
}

}  // namespace

TEST_CASE("vectorized exp is within 2 ulp of exp on [-87, 88] on every ISA", "[softmax][exp]") {
  const std::size_t n = qkv_test::small_tests() ? 20000 : 200000;
  std::vector<float> x(n), y(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = -87.0f + 175.0f * float(i) / float(n - 1);  // includes 0 region
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const auto& k = qkv::kern::softmax_for(isa);
    k.exp(n, x.data(), y.data());
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, ulps(y[i], std::exp(double(x[i]))));
    CHECK(worst <= 2.0);
    // Special values: masked (-inf) gives 0, below the normal range flushes to
    // 0, overflow gives +inf, NaN stays NaN, exp(0) is exact.
    const float sx[] = {-kInf, -1e4f, -88.0f, 0.0f, 89.0f, kInf, std::nanf("")};
    float sy[7];
    k.exp(7, sx, sy);
    CHECK(sy[0] == 0.0f);
    CHECK(sy[1] == 0.0f);
    CHECK(sy[2] == 0.0f);
    CHECK(sy[3] == 1.0f);
    CHECK(sy[4] == kInf);
    CHECK(sy[5] == kInf);
    CHECK(std::isnan(sy[6]));
  });
}

TEST_CASE("softmax and log-softmax match a double reference on every ISA", "[softmax]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (bool log : {false, true})
      for (std::size_t cols : kCols) {
        const std::size_t rows = 3, ldx = cols + 5, ldy = cols + 2;
        const float scale = 0.37f;
        auto x = qkv_test::random_vector(rows * ldx, 10 + cols, -8.f, 8.f);
        std::vector<float> y(rows * ldy + 1, kCanary);
        REQUIRE((log ? qkv_log_softmax : qkv_softmax)(rows, cols, scale, x.data(), ldx, y.data(), ldy) == QKV_OK);
        INFO("cols = " << cols << " log = " << log);
        for (std::size_t r = 0; r < rows; ++r) {
          const auto ref = ref_row(x.data() + r * ldx, cols, scale, log);
          double sum = 0;
          for (std::size_t j = 0; j < cols; ++j) {
            const double got = y[r * ldy + j];
            sum += got;
            // softmax: exp (2 ulp) of an argument rounded once (|arg| <= 6, so
            // <= 6*eps/2 absolute = relative in the result), a sum of cols
            // terms (cols*eps relative), one reciprocal and one multiply.
            // log-softmax: absolute error of the shift ~ (|m| + |log sum|)*eps.
            const double tol = log ? 4 * kEps * (std::fabs(ref[j]) + 8 + std::log(double(cols)))
                                   : (8 + double(cols)) * kEps * ref[j] + 1e-30;
            REQUIRE(std::fabs(got - ref[j]) <= tol);
          }
          if (!log) CHECK(std::fabs(sum - 1.0) <= (8 + double(cols)) * kEps);
          for (std::size_t j = cols; j < ldy && r + 1 < rows; ++j) CHECK(y[r * ldy + j] == kCanary);
        }
        CHECK(y.back() == kCanary);
      }
  });
}

TEST_CASE("softmax is shift invariant and exact at one column", "[softmax]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t cols : {5, 33, 100}) {
      auto x = qkv_test::random_vector(cols, 77 + cols, -4.f, 4.f);
      std::vector<float> xs(cols), y(cols), ys(cols);
      for (std::size_t j = 0; j < cols; ++j) xs[j] = x[j] + 64.0f;  // exact: |x| < 4 keeps 2^-18 spacing
      REQUIRE(qkv_softmax(1, cols, 1.0f, x.data(), cols, y.data(), cols) == QKV_OK);
      REQUIRE(qkv_softmax(1, cols, 1.0f, xs.data(), cols, ys.data(), cols) == QKV_OK);
      for (std::size_t j = 0; j < cols; ++j) CHECK(std::fabs(y[j] - ys[j]) <= 64 * kEps * y[j]);
    }
    float one = 3.5f, out = 0.f;
    REQUIRE(qkv_softmax(1, 1, 2.0f, &one, 1, &out, 1) == QKV_OK);
    CHECK(out == 1.0f);
    REQUIRE(qkv_log_softmax(1, 1, 2.0f, &one, 1, &out, 1) == QKV_OK);
    CHECK(out == 0.0f);
  });
}

TEST_CASE("softmax: extreme logits, masked entries, fully masked and NaN rows", "[softmax]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t cols : {2, 17, 40}) {
      // Row 0: +-1e4 logits; row 1: partly masked; row 2: fully masked; row 3: a NaN.
      std::vector<float> x(4 * cols);
      for (std::size_t j = 0; j < cols; ++j) {
        x[j] = j % 3 == 1 ? 1e4f : -1e4f;
        x[cols + j] = j % 2 ? -kInf : float(j);
        x[2 * cols + j] = -kInf;
        x[3 * cols + j] = j == cols / 2 ? std::nanf("") : 1.0f;
      }
      std::vector<float> y(x.size()), ly(x.size());
      REQUIRE(qkv_softmax(4, cols, 1.0f, x.data(), cols, y.data(), cols) == QKV_OK);
      REQUIRE(qkv_log_softmax(4, cols, 1.0f, x.data(), cols, ly.data(), cols) == QKV_OK);
      std::size_t big = 0;
      for (std::size_t j = 0; j < cols; ++j) big += j % 3 == 1;
      for (std::size_t j = 0; j < cols; ++j) {
        INFO("cols = " << cols << " j = " << j);
        CHECK(std::fabs(y[j] - (j % 3 == 1 ? 1.0 / double(big) : 0.0)) <= 2 * kEps);
        CHECK(std::isfinite(ly[j]));
        CHECK(std::fabs(ly[j] - (j % 3 == 1 ? -std::log(double(big)) : -2e4 - std::log(double(big)))) <=
              4 * kEps * 2e4);
        if (j % 2) {
          CHECK(y[cols + j] == 0.0f);
          CHECK(ly[cols + j] == -kInf);
        } else {
          CHECK(y[cols + j] > 0.0f);
        }
        CHECK(y[2 * cols + j] == 0.0f);
        CHECK(ly[2 * cols + j] == -kInf);
        CHECK(std::isnan(y[3 * cols + j]));
        CHECK(std::isnan(ly[3 * cols + j]));
      }
    }
  });
}

TEST_CASE("softmax in place equals out of place, and 1 vs 2 threads are bitwise equal", "[softmax][threads]") {
  // 25 flops a logit by the driver's estimate: 2.3 M, enough for two threads.
  const std::size_t rows = 300, cols = 307;
  auto x = qkv_test::random_vector(rows * cols, 5, -20.f, 20.f);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (bool log : {false, true}) {
      auto fn = log ? qkv_log_softmax : qkv_softmax;
      std::vector<float> a(rows * cols), b(rows * cols), c = x;
      {
        qkv_test::threads_scope one(1);
        REQUIRE(fn(rows, cols, 0.5f, x.data(), cols, a.data(), cols) == QKV_OK);
      }
      {
        qkv_test::threads_scope two(2);
        qkv_test::team_watch watch;
        REQUIRE(fn(rows, cols, 0.5f, x.data(), cols, b.data(), cols) == QKV_OK);
        REQUIRE(fn(rows, cols, 0.5f, c.data(), cols, c.data(), cols) == QKV_OK);
        QKV_CHECK_TEAM(watch);
      }
      CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
    }
  });
}

TEST_CASE("softmax rejects bad arguments and writes nothing", "[softmax][args]") {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> y(8, kCanary);
  const size_t huge = std::numeric_limits<size_t>::max() / 2;
  for (auto fn : {qkv_softmax, qkv_log_softmax}) {
    CHECK(fn(2, 4, 1.f, nullptr, 4, y.data(), 4) == QKV_ERR_NULL_POINTER);
    CHECK(fn(2, 4, 1.f, x, 4, nullptr, 4) == QKV_ERR_NULL_POINTER);
    CHECK(fn(2, 4, 1.f, x, 3, y.data(), 4) == QKV_ERR_BAD_STRIDE);
    CHECK(fn(2, 4, 1.f, x, 4, y.data(), 3) == QKV_ERR_BAD_STRIDE);
    CHECK(fn(2, 4, 1.f, y.data(), 4, y.data(), 5) == QKV_ERR_BAD_STRIDE);  // in place, rows misaligned
    CHECK(fn(2, 4, 0.f, x, 4, y.data(), 4) == QKV_ERR_BAD_ARGUMENT);
    CHECK(fn(2, 4, -1.f, x, 4, y.data(), 4) == QKV_ERR_BAD_ARGUMENT);
    CHECK(fn(2, 4, kInf, x, 4, y.data(), 4) == QKV_ERR_BAD_ARGUMENT);
    CHECK(fn(2, 4, std::nanf(""), x, 4, y.data(), 4) == QKV_ERR_BAD_ARGUMENT);
    CHECK(fn(3, 4, 1.f, x, huge, y.data(), 4) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(fn(huge, 4, 1.f, x, 4, y.data(), 4) == QKV_ERR_SIZE_OVERFLOW);
    for (float v : y) CHECK(v == kCanary);
    CHECK(fn(0, 4, 1.f, nullptr, 4, nullptr, 4) == QKV_OK);  // empty: nothing to touch
    CHECK(fn(4, 0, 1.f, nullptr, 0, nullptr, 0) == QKV_OK);
  }
}

TEST_CASE("softmax: huge scaled logits keep the largest weight exact", "[softmax]") {
  // scale*max = 3e9 is not representable to the unit: an exponent formed as
  // fma(scale, x, -round(scale*max)) was off by hundreds and overflowed to
  // NaN. Exponents are scale*(x - max), so the largest is exactly 0.
  qkv_test::for_each_isa([](qkv_isa) {
    const float x[3] = {1e10f, 0.f, -3e38f};
    float y[3] = {-1.f, -1.f, -1.f};
    REQUIRE(qkv_softmax(1, 3, 0.3f, x, 3, y, 3) == QKV_OK);
    CHECK(y[0] == 1.f);
    CHECK(y[1] == 0.f);
    CHECK(y[2] == 0.f);
    REQUIRE(qkv_log_softmax(1, 3, 0.3f, x, 3, y, 3) == QKV_OK);
    CHECK(y[0] == 0.f);
    CHECK(y[1] == Approx(-3e9f).epsilon(1e-6));
    CHECK(std::isfinite(y[2]));  // 0.3 * (-3e38 - 1e10): finite, no overflow
    CHECK(y[2] == Approx(-9e37f).epsilon(1e-6));
  });
}
