// SPDX-License-Identifier: MIT
// The soft-capping kernel of kernels/attn/attn.hpp (softcap: s <- c tanh(s/c)
// and 1 - tanh^2, softcap_math.hpp), on each ISA's table directly, against
// double tanh: the error bounds its header states (tanh within 3 ulp, its
// derivative within 4), saturation (exactly +-1 and 0, never NaN), odd
// signs and zeros, and bits that do not depend on n or on an element's
// place in the row (vector tails). The attention through it is checked in
// test_sdpa_variants.cpp ([softcap]), the layer and block in theirs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/attn/attn.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

// ulps of |got - want| at want's magnitude (float spacing at |want|, at
// least the smallest normal's).
double ulps(float got, double want) {
  const double a = std::fabs(want);
  const double m = a < double(std::numeric_limits<float>::min()) ? double(std::numeric_limits<float>::min()) : a;
  int e = 0;
  std::frexp(m, &e);
  return std::fabs(double(got) - want) / std::ldexp(1.0, e - 24);
}

// x from 1e-7 to 40 (logarithmically, both signs), and the points around
// the polynomial's edge |x| = 0.625.
std::vector<float> sweep() {
  std::vector<float> xs;
  for (double l = -7; l <= std::log10(40.0); l += 0.001) {
    xs.push_back(float(std::pow(10.0, l)));
    xs.push_back(-float(std::pow(10.0, l)));
  }
  float e = 0.625f;
  for (int i = 0; i < 64; ++i) {
    xs.push_back(e), xs.push_back(-e);
    e = std::nextafter(e, 0.f);
  }
  e = 0.625f;
  for (int i = 0; i < 64; ++i) xs.push_back(e = std::nextafter(e, 1.f));
  return xs;
}

}  // namespace

TEST_CASE("softcap kernel: tanh within 3 ulp and 1 - tanh^2 within 4 ulp, every ISA", "[softcap][kernels]") {
  const std::vector<float> xs = sweep();
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO(qkv_isa_name(isa));
    const auto& k = qkv::kern::attn_for(isa);
    std::vector<float> s(xs), d(xs.size());
    k.softcap(s.size(), 1.0f, s.data(), d.data());  // cap 1: s / c is x exactly, c tanh is tanh
    double worst_t = 0, worst_d = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double t = std::tanh(double(xs[i]));
      worst_t = std::max(worst_t, ulps(s[i], t));
      const double sech = 1.0 / std::cosh(double(xs[i]));  // 1 - t^2 without cancellation
      worst_d = std::max(worst_d, ulps(d[i], sech * sech));
    }
    INFO("worst tanh " << worst_t << " ulp, worst 1 - tanh^2 " << worst_d << " ulp");
    CHECK(worst_t <= 3.0);
    CHECK(worst_d <= 4.0);
  }
}

TEST_CASE("softcap kernel: saturation, zeros and non-finite inputs", "[softcap][kernels]") {
  const float inf = std::numeric_limits<float>::infinity(), big = std::numeric_limits<float>::max();
  // Saturated pairs: |s / c| > 43.7 for every cap below (e^-2|x| flushes to 0).
  const float in[] = {0.f, -0.f, 2500.f, -2500.f, 1e4f, -1e4f, big, -big, inf, -inf, std::nanf("")};
  const std::size_t n = sizeof in / sizeof in[0];
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO(qkv_isa_name(isa));
    const auto& k = qkv::kern::attn_for(isa);
    for (float c : {1.f, 5.f, 50.f}) {
      INFO("cap " << c);
      std::vector<float> s(in, in + n), d(n, -1.f);
      k.softcap(n, c, s.data(), d.data());
      CHECK((s[0] == 0.f && s[1] == 0.f));
      CHECK((d[0] == 1.f && d[1] == 1.f));
      for (std::size_t i = 2; i + 1 < n; i += 2) {  // saturated: +-c exactly, slope 0 or tiny, no NaN
        INFO("x " << in[i]);
        CHECK(s[i] == c);
        CHECK(s[i + 1] == -c);
        CHECK((d[i] == 0.f && d[i + 1] == 0.f));
      }
      CHECK(std::isnan(s[n - 1]));  // NaN propagates
    }
  }
}

TEST_CASE("softcap kernel: bits independent of n and of an element's place; dtanh optional", "[softcap][kernels]") {
  const std::vector<float> x = qkv_test::random_vector(67, 5, -30.f, 30.f);
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO(qkv_isa_name(isa));
    const auto& k = qkv::kern::attn_for(isa);
    std::vector<float> all(x), dall(x.size());
    k.softcap(all.size(), 5.f, all.data(), dall.data());
    for (std::size_t n : {std::size_t(1), std::size_t(3), std::size_t(7), std::size_t(16), std::size_t(17),
                          std::size_t(33)})
      for (std::size_t off : {std::size_t(0), std::size_t(1), std::size_t(5)}) {
        INFO("n " << n << " offset " << off);
        std::vector<float> part(x.begin() + off, x.begin() + off + n), canary(n + 1, 12345.f);
        k.softcap(n, 5.f, part.data(), canary.data());
        CHECK(std::memcmp(part.data(), all.data() + off, n * sizeof(float)) == 0);
        CHECK(std::memcmp(canary.data(), dall.data() + off, n * sizeof(float)) == 0);
        CHECK(canary[n] == 12345.f);  // nothing written past n
        std::vector<float> nod(x.begin() + off, x.begin() + off + n);
        k.softcap(n, 5.f, nod.data(), nullptr);
        CHECK(std::memcmp(nod.data(), part.data(), n * sizeof(float)) == 0);
      }
  }
}
