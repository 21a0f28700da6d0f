// SPDX-License-Identifier: MIT
// Level-1 routines: the first kernels routed through dispatch, checked on
// every ISA against the double-precision reference (tests/ref/ref_vector.h).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ref/ref_vector.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {
// Sizes around every vector width (4, 8, 16) and the 4x unrolled block (64).
const std::size_t kSizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1000, 4099};
constexpr double kEps = std::numeric_limits<float>::epsilon();
}  // namespace

TEST_CASE("sdot matches a double reference on every ISA", "[vector]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : kSizes) {
      auto x = qkv_test::random_vector(n, 1 + n);
      auto y = qkv_test::random_vector(n, 2 + n);
      double mag = 0;
      const double ref = qkv_ref_sdot(n, x.data(), y.data(), &mag);
      float got = -1.f;
      REQUIRE(qkv_sdot(n, x.data(), y.data(), &got) == QKV_OK);
      // Recursive summation error is <= gamma_n * sum|x*y| with gamma_n ~ n*eps/2;
      // n*eps leaves room for the final lane reduction and products' rounding.
      INFO("n = " << n);
      CHECK(std::fabs(got - ref) <= double(n) * kEps * mag + 1e-30);
    }
  });
}

TEST_CASE("saxpy matches a double reference on every ISA", "[vector]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : kSizes) {
      auto x = qkv_test::random_vector(n, 3 + n);
      auto y = qkv_test::random_vector(n + 2, 4 + n);  // one canary each side
      const float canary = 12345.f;
      y.front() = canary;
      y.back() = canary;
      std::vector<double> ref(n), mag(n);
      qkv_ref_saxpy(n, -0.5f, x.data(), y.data() + 1, ref.data(), mag.data());
      REQUIRE(qkv_saxpy(n, -0.5f, x.data(), y.data() + 1) == QKV_OK);
      for (std::size_t i = 0; i < n; ++i) {
        // One multiply and one add (or one fma): at most 2 roundings.
        CHECK(std::fabs(y[i + 1] - ref[i]) <= 2 * kEps * mag[i]);
      }
      CHECK(y.front() == canary);
      CHECK(y.back() == canary);
    }
  });
}

TEST_CASE("vector routines reject NULL and leave outputs untouched", "[vector][args]") {
  float x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
  float r = 7.f;
  CHECK(qkv_sdot(3, nullptr, y, &r) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdot(3, x, nullptr, &r) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_sdot(3, x, y, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(r == 7.f);
  CHECK(qkv_sdot(0, nullptr, nullptr, &r) == QKV_OK);
  CHECK(r == 0.f);
  CHECK(qkv_saxpy(3, 1.f, nullptr, y) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_saxpy(3, 1.f, x, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(y[0] == 4.f);
  CHECK(qkv_saxpy(0, 1.f, nullptr, nullptr) == QKV_OK);
}
