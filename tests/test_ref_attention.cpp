// SPDX-License-Identifier: MIT
// The attention oracle itself, checked against closed forms and finite
#include <catch2/catch.hpp>
// differences before anything is checked against it.
#include <cmath>
#include <vector>

#include "support/random.hpp"
#include "support/ref_attention.hpp"

namespace {
qkv_sdpa_desc bhtd_desc(std::size_t B, std::size_t H, std::size_t Tq, std::size_t Tk, std::size_t D, int causal) {
  qkv_sdpa_desc d{};
  d.batch = B; d.heads = H; d.q_len = Tq; d.kv_len = Tk; d.head_dim = D; d.causal = causal;
  d.q = {H * Tq * D, Tq * D, D};
  d.k = d.v = {H * Tk * D, Tk * D, D};
  d.o = d.q;
  return d;
}
}  // namespace

TEST_CASE("oracle: uniform scores average V; causal first row copies V0", "[ref]") {
  auto d = bhtd_desc(1, 1, 3, 3, 2, 0);
  std::vector<float> q(6, 0.f), k = qkv_test::random_vector(6, 1), v = {1, 2, 3, 4, 5, 6};
  std::vector<double> out, lse;
  qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), out, lse);
  CHECK(out[0] == Approx(3.0));
  CHECK(out[1] == Approx(4.0));
  CHECK(lse[0] == Approx(std::log(3.0)));
  d.causal = 1;
  qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), out, lse);
  CHECK(out[0] == Approx(1.0));
  CHECK(out[3] == Approx(3.0));  // row 1: mean of V0, V1 in feature 1
}

TEST_CASE("oracle: backward matches central differences of the forward", "[ref]") {
  for (int causal : {0, 1}) {
    auto d = bhtd_desc(1, 2, 4, 5, 3, causal);
    auto q = qkv_test::random_vector(2 * 4 * 3, 11), k = qkv_test::random_vector(2 * 5 * 3, 12),
         v = qkv_test::random_vector(2 * 5 * 3, 13), g = qkv_test::random_vector(2 * 4 * 3, 14);
    std::vector<double> dq, dk, dv, out, lse;
    qkv_test::ref_sdpa_backward(d, q.data(), k.data(), v.data(), g.data(), dq, dk, dv);
    auto loss = [&]() {
      qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), out, lse);
      double s = 0;
      for (std::size_t i = 0; i < out.size(); ++i) s += out[i] * g[i];
      return s;
    };
    auto check = [&](std::vector<float>& x, const std::vector<double>& grad) {
      for (std::size_t i = 0; i < x.size(); ++i) {
        const float x0 = x[i];
        const float h = 1e-2f;  // float inputs: a step the float grid represents exactly enough
        x[i] = x0 + h;
        const double lp = loss();
        x[i] = x0 - h;
        const double lm = loss();
        x[i] = x0;
        const double fd = (lp - lm) / (double(x0 + h) - double(x0 - h));
        CHECK(std::fabs(fd - grad[i]) <= 1e-4 * (1 + std::fabs(grad[i])));
      }
    };
    check(q, dq);
    check(k, dk);
    check(v, dv);
  }
}
