// SPDX-License-Identifier: MIT
// softcap_math.hpp - tanh and its derivative for the attention's logit
// soft-capping (y = c tanh(s / c)), written once over a policy P (P::T is
// float in attn_scalar.cpp, an xsimd batch in attn-inl.hpp through the
// activations' act_vops) that supplies exp, abs, div, a comparison and a
// select. Plain multiplies and adds (no contraction under -std=c++17), so
// the scalar and vector sets evaluate the same expressions; they differ
// only where their exp does. Internal linkage: each including object has
// its own copy.
//
// Forms (no cancellation anywhere, nothing overflows for finite x):
//   |x| <  0.625: tanh x = x + x z P(z), z = x^2, P Cephes tanhf's degree-4
//                 minimax polynomial (relative error 1.3e-7 in exact arithmetic);
//                 1 - tanh^2 x = 1 - t^2 (t^2 < 0.31: no cancellation);
//   |x| >= 0.625: e = exp(-2|x|) in (0, 0.29], tanh|x| = (1 - e) / (1 + e),
//                 1 - tanh^2 x = (1 - |t|)(1 + |t|) with 1 - |t| = 2e / (1 + e).
//                 e flushes to 0 for |x| > ~43.7: t = +-1 and 1 - t^2 = 0
//                 exactly (saturated, never NaN).
// Error: tanh within 3 ulp of the exact value on both sets, 1 - tanh^2 within
// 4 ulp (tests/test_sdpa_softcap.cpp measures both over a sweep of x).
#pragma once

namespace qkv::kern {
namespace {
namespace capc {
constexpr float kSmall = 0.625f;
constexpr float kP4 = -5.70498872745e-3f, kP3 = 2.06390887954e-2f, kP2 = -5.37397155531e-2f,
                kP1 = 1.33314422036e-1f, kP0 = -3.33332819422e-1f;
}  // namespace capc

// t = tanh x, d = 1 - tanh^2 x.
template <class P>
struct cap_tanh {
  typename P::T t, d;
};

template <class P>
inline cap_tanh<P> softcap_tanh(typename P::T x) noexcept {
  using T = typename P::T;
  using namespace capc;
  const T a = P::abs(x);
  const T z = x * x;
  T p = T(kP4) * z + T(kP3);
  p = p * z + T(kP2);
  p = p * z + T(kP1);
  p = p * z + T(kP0);
  const T ts = x + x * (z * p);
  const T e = P::exp(T(-2.0f) * a);    // (0, 1]; 0 for |x| > ~43.7
  const T r = P::div(T(1.0f), T(1.0f) + e);
  const T tb = (T(1.0f) - e) * r;      // tanh |x|
  const T ob = (T(2.0f) * e) * r;      // 1 - tanh |x|
  const auto small = P::lt(a, T(kSmall));
  const T tl = P::sel(P::lt(x, T(0.0f)), T(0.0f) - tb, tb);
  return {P::sel(small, ts, tl), P::sel(small, T(1.0f) - ts * ts, ob * (T(1.0f) + tb))};
}

}  // namespace
}  // namespace qkv::kern
